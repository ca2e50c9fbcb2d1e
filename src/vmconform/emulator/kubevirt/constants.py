"""Exact strings of KubeVirt's API (kubevirt-semantics.md): phases, reasons, messages, labels."""

from __future__ import annotations

# The default release's values; what differs between releases is read from ctx.release (releases.py).
KUBEVIRT_VERSION = "v1.9.0"
KUBEVIRT_REGISTRY = "quay.io/kubevirt"
LAUNCHER_IMAGE = f"{KUBEVIRT_REGISTRY}/virt-launcher:{KUBEVIRT_VERSION}"
INSTALL_NAMESPACE = "kubevirt"
KUBEVIRT_CR_NAME = "kubevirt"
SUBRESOURCE_GROUP = "subresources.kubevirt.io"
SUBRESOURCE_VERSIONS = ("v1", "v1alpha3")
GROUP = "kubevirt.io"

# ---------------------------------------------------------------- run strategies
ALWAYS, HALTED, MANUAL, RERUN_ON_FAILURE, ONCE = "Always", "Halted", "Manual", "RerunOnFailure", "Once"
RUN_STRATEGIES = (ALWAYS, HALTED, MANUAL, RERUN_ON_FAILURE, ONCE)
START_REQUEST, STOP_REQUEST = "Start", "Stop"

# ---------------------------------------------------------------- VMI phases
PHASE_UNSET, PENDING, SCHEDULING, SCHEDULED, RUNNING = "", "Pending", "Scheduling", "Scheduled", "Running"
SUCCEEDED, FAILED, UNKNOWN = "Succeeded", "Failed", "Unknown"
FINAL_PHASES = (SUCCEEDED, FAILED)

# ---------------------------------------------------------------- VM printableStatus (§2.2)
PS_TERMINATING = "Terminating"
PS_STOPPING = "Stopping"
PS_MIGRATING = "Migrating"
PS_PAUSED = "Paused"
PS_RUNNING = "Running"
PS_PVC_NOT_FOUND = "ErrorPvcNotFound"
PS_DATAVOLUME_ERROR = "DataVolumeError"
PS_UNSCHEDULABLE = "ErrorUnschedulable"
PS_PROVISIONING = "Provisioning"
PS_WAITING_FOR_VOLUME_BINDING = "WaitingForVolumeBinding"
PS_ERR_IMAGE_PULL = "ErrImagePull"
PS_IMAGE_PULL_BACKOFF = "ImagePullBackOff"
PS_STARTING = "Starting"
PS_CRASH_LOOP = "CrashLoopBackOff"
PS_STOPPED = "Stopped"
PS_UNKNOWN = "Unknown"

# ---------------------------------------------------------------- condition types and reasons
COND_READY = "Ready"
COND_PAUSED = "Paused"
COND_LIVE_MIGRATABLE = "LiveMigratable"
COND_STORAGE_LIVE_MIGRATABLE = "StorageLiveMigratable"
COND_AGENT_CONNECTED = "AgentConnected"
COND_SYNCHRONIZED = "Synchronized"
COND_POD_SCHEDULED = "PodScheduled"
COND_FAILURE = "Failure"
COND_RESTART_REQUIRED = "RestartRequired"
COND_MANUAL_RECOVERY = "ManualRecoveryRequired"
COND_VOLUMES_CHANGE = "VolumesChange"

REASON_VMI_NOT_EXISTS = ("VMINotExists", "VMI does not exist")
REASON_VMI_COND_MISSING = ("VMIConditionMissing", "VMI is missing the Ready condition")
REASON_POD_NOT_EXISTS = ("PodNotExists", "virt-launcher pod has not yet been scheduled")
REASON_POD_TERMINATING = ("PodTerminating", "virt-launcher pod is terminating")
REASON_GUEST_NOT_RUNNING = ("GuestNotRunning", "Guest VM is not reported as running")
REASON_POD_COND_MISSING = ("PodConditionMissing", "virt-launcher pod is missing the Ready condition")
REASON_PAUSED_BY_USER = ("PausedByUser", "VMI was paused by user")
REASON_FAILED_PVC_NOT_FOUND = "FailedPvcNotFound"
REASON_UNSCHEDULABLE = "Unschedulable"
REASON_INTERFACE_NOT_MIGRATABLE = "InterfaceNotLiveMigratable"
REASON_DISKS_NOT_MIGRATABLE = "DisksNotLiveMigratable"
REASON_NOT_MIGRATABLE = "NotMigratable"

MSG_INTERFACE_NOT_MIGRATABLE = (
    "cannot migrate VMI which does not use masquerade or a migratable plugin to connect to the pod network"
)
MSG_PVC_NOT_SHARED = (
    "cannot migrate VMI: PVC {claim} is not shared, live migration requires that all PVCs must be shared "
    "(using ReadWriteMany access mode)"
)
MSG_PVC_UNKNOWN_SHARED = (
    "cannot migrate VMI: Unable to determine if PVC {claim} is shared, live migration requires that all PVCs "
    "must be shared (using ReadWriteMany access mode)"
)
MSG_HOSTDISK_NOT_SHARED = "cannot migrate VMI with non-shared HostDisk"

# ---------------------------------------------------------------- migration
MIG_PENDING, MIG_SCHEDULING, MIG_SCHEDULED = "Pending", "Scheduling", "Scheduled"
MIG_PREPARING_TARGET, MIG_TARGET_READY, MIG_RUNNING = "PreparingTarget", "TargetReady", "Running"
MIG_SUCCEEDED, MIG_FAILED = "Succeeded", "Failed"
MIG_FINAL = (MIG_SUCCEEDED, MIG_FAILED)
MIG_ACTIVE = (MIG_SCHEDULING, MIG_SCHEDULED, MIG_PREPARING_TARGET, MIG_TARGET_READY, MIG_RUNNING)
MIG_AFTER_HANDOFF = (MIG_PREPARING_TARGET, MIG_TARGET_READY, MIG_RUNNING)
LIVE_MIGRATION, BLOCK_MIGRATION = "LiveMigration", "BlockMigration"
MIGRATION_WEBHOOK = "migration-create-validator.kubevirt.io"
VM_WEBHOOK = "virtualmachine-validator.kubevirt.io"
VMI_WEBHOOK = "virtualmachineinstances-create-validator.kubevirt.io"
MIGRATE_GENERATE_NAME = "kubevirt-migrate-vm-"
FINALIZED_MIGRATIONS_KEPT = 5
UNSCHEDULABLE_TIMEOUT_S = 300
PENDING_TIMEOUT_S = 900

# ---------------------------------------------------------------- labels, annotations, finalizers
LABEL_APP = "kubevirt.io"
LABEL_CREATED_BY = "kubevirt.io/created-by"
LABEL_NODE_NAME = "kubevirt.io/nodeName"
LABEL_MIGRATION_TARGET_NODE = "kubevirt.io/migrationTargetNodeName"
LABEL_MIGRATION_JOB_UID = "kubevirt.io/migrationJobUID"
LABEL_VMI_NAME = "kubevirt.io/vmi-name"
LABEL_VM_NAME_DEPRECATED = "vm.kubevirt.io/name"
LABEL_VMI_ID = "vmi.kubevirt.io/id"
LABEL_SCHEDULABLE = "kubevirt.io/schedulable"
LABEL_HOSTNAME = "kubernetes.io/hostname"
ANNO_DOMAIN = "kubevirt.io/domain"
ANNO_MIGRATION_JOB_NAME = "kubevirt.io/migrationJobName"
ANNO_VM_GENERATION = "kubevirt.io/vm-generation"
ANNO_ALLOW_BRIDGE_MIGRATION = "kubevirt.io/allow-pod-bridge-network-live-migration"
ANNO_UNSCHEDULABLE_TIMEOUT = "kubevirt.io/migrationUnschedulablePodTimeoutSeconds"
ANNO_PENDING_TIMEOUT = "kubevirt.io/migrationPendingPodTimeoutSeconds"
ANNO_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
FINALIZER_VM_CONTROLLER = "kubevirt.io/virtualMachineControllerFinalize"
FINALIZER_VMI = "kubevirt.io/foregroundDeleteVirtualMachine"  # v1.7+; ctx.release.vmi_finalizer
FINALIZER_MIGRATION = "kubevirt.io/migrationJobFinalize"
FINALIZER_KUBEVIRT = "foregroundDeleteKubeVirt"
FINALIZER_PVC_PROTECTION = "kubernetes.io/pvc-protection"
FINALIZER_PV_PROTECTION = "kubernetes.io/pv-protection"
READINESS_GATE_UNPAUSED = "kubevirt.io/virtual-machine-unpaused"
LAUNCHER_VALUE = "virt-launcher"

DEFAULT_GRACE_PERIOD_S = 30
LAUNCHER_GRACE_PADDING_S = 15

# ---------------------------------------------------------------- subresource messages (§1.5)
MSG_ALREADY_RUNNING = "VM is already running"
MSG_NOT_RUNNING = "VM is not running"
MSG_VMI_NOT_RUNNING = "VMI is not running"
MSG_VMI_NOT_PAUSED = "VMI is not paused"
MSG_VMI_ALREADY_PAUSED = "VMI is already paused"
MSG_VMI_PAUSED = "VMI is paused"
MSG_SNAPSHOT_IN_PROGRESS = "VM snapshot is in progress"
MSG_NO_AGENT = "VMI does not have guest agent connected"
MSG_NO_AGENT_NO_ACPI = "VMI neither have the agent connected nor the ACPI feature enabled"
MSG_PAUSE_LIVENESS = "Pausing VMIs with a non-GuestAgentPing LivenessProbe is not supported"
MSG_MANUAL_RECOVERY = (
    "VM recovery required: Volume migration failed, leaving some volumes pointing to non-consistent targets; "
    "manual intervention is needed to reassign them to their original volumes."
)
MSG_RERUN_FAILED = "RerunOnFailure does not support starting VM from failed state"
MSG_NO_MANUAL_START = "{strategy} does not support manual start requests"
MSG_HALTED_STOP = "Halted only supports manual stop requests with a shorter graceperiod"
MSG_NO_MANUAL_RESTART = "RunStategy {strategy} does not support manual restart requests"  # sic
MSG_RESTART_NOT_RUNNING = "VM is not running: Halted"
MSG_FORCE_RESTART_ONLY_ZERO = "For force restart, only gracePeriod=0 is supported for now"
MSG_GRACE_NEGATIVE = "gracePeriod has to be greater or equal to 0"
MSG_ALREADY_UNDERWAY = "unable to complete request: stop/start already underway"
MSG_UNMARSHAL = "Can not unmarshal Request body to struct, error: {err}"

# ---------------------------------------------------------------- VM admission (§1.4)
MSG_RUN_EXCLUSIVE = (
    "Running and RunStrategy are mutually exclusive. Note that Running is deprecated, please use RunStrategy instead"
)
MSG_RUN_REQUIRED = "RunStrategy must be specified"
MSG_RUN_INVALID = "Invalid RunStrategy ({value})"

# ---------------------------------------------------------------- VMIM admission (§4.3)
MSG_MIG_NO_VMI = 'the VMI "{namespace}/{name}" does not exist'
MSG_MIG_FINAL = "Cannot migrate VMI in finalized state."
MSG_MIG_NOT_MIGRATABLE = "Cannot migrate VMI, Reason: {reason}, Message: {message}"
MSG_MIG_IN_FLIGHT = (
    "in-flight migration detected. Active migration job ({uid}) is currently already in progress for VMI {name}."
)
MSG_MIG_VMI_NAME_MISSING = "vmiName is missing"
MSG_MIG_PRIORITY = "Migration priority queue, only virt-controller is allowed to set priority field"

# ---------------------------------------------------------------- events
EV_NORMAL, EV_WARNING = "Normal", "Warning"
COMPONENT_VM = "virtualmachine-controller"
COMPONENT_VMI = "virtualmachineinstance-controller"
COMPONENT_MIGRATION = "migration-controller"
COMPONENT_HANDLER = "virt-handler"
COMPONENT_SCHEDULER = "default-scheduler"
