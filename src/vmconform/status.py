"""KubeVirt's status strings, as constants (kubevirt-semantics.md §2.2, §3.1, §3.3, §4.2)."""

from __future__ import annotations

# VM printableStatus
STOPPED = "Stopped"
STARTING = "Starting"
RUNNING = "Running"
STOPPING = "Stopping"
PAUSED = "Paused"
MIGRATING = "Migrating"
TERMINATING = "Terminating"
ERROR_UNSCHEDULABLE = "ErrorUnschedulable"
ERROR_PVC_NOT_FOUND = "ErrorPvcNotFound"
CRASH_LOOP_BACKOFF = "CrashLoopBackOff"

# run strategies
ALWAYS = "Always"
HALTED = "Halted"
MANUAL = "Manual"
RERUN_ON_FAILURE = "RerunOnFailure"
ONCE = "Once"

# VMI phases
PHASE_PENDING = "Pending"
PHASE_SCHEDULING = "Scheduling"
PHASE_SCHEDULED = "Scheduled"
PHASE_RUNNING = "Running"
PHASE_SUCCEEDED = "Succeeded"
PHASE_FAILED = "Failed"
FINAL_PHASES = (PHASE_SUCCEEDED, PHASE_FAILED)

# conditions
COND_READY = "Ready"
COND_PAUSED = "Paused"
COND_LIVE_MIGRATABLE = "LiveMigratable"
REASON_PAUSED_BY_USER = "PausedByUser"
REASON_DISKS_NOT_LIVE_MIGRATABLE = "DisksNotLiveMigratable"

# migration phases
MIG_PENDING = "Pending"
MIG_RUNNING = "Running"
MIG_SUCCEEDED = "Succeeded"
MIG_FAILED = "Failed"

# pod phases
POD_RUNNING = "Running"
POD_SUCCEEDED = "Succeeded"
POD_FAILED = "Failed"

# labels KubeVirt puts on launcher pods
LABEL_CREATED_BY = "kubevirt.io/created-by"
LABEL_LAUNCHER = "kubevirt.io"
LABEL_MIGRATION_JOB_UID = "kubevirt.io/migrationJobUID"
LABEL_NODE_NAME = "kubevirt.io/nodeName"
SELECT_LAUNCHERS = "kubevirt.io=virt-launcher"
CONTAINER_COMPUTE = "compute"

# error messages of the subresources (§1.5)
MSG_ALREADY_RUNNING = "VM is already running"
MSG_NOT_RUNNING = "VM is not running"
MSG_ALREADY_PAUSED = "VMI is already paused"
MSG_VMI_NOT_RUNNING = "VMI is not running"
MSG_NOT_FOUND = "not found"
MSG_RWX_REQUIRED = "ReadWriteMany"
