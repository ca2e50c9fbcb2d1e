"""CDI's strings, read from kubevirt/containerized-data-importer v1.66.0 (docs/fidelity.md, section cdi)."""

from __future__ import annotations

CDI_GROUP = "cdi.kubevirt.io"
CDI_VERSION = "v1.66.0"  # the CDI release whose behaviour the emulator plays
CDI_NAMESPACE = "cdi"
CDI_CR_NAME = "cdi"
# where the emulated cluster keeps its boot sources (HCO's namespace on Kubernetes; OpenShift uses
# openshift-virtualization-os-images)
BOOT_SOURCE_NAMESPACE = "kubevirt-os-images"
OPENSHIFT_BOOT_SOURCE_NAMESPACE = "openshift-virtualization-os-images"

# DataVolume phases (staging/.../core/v1beta1/types.go DataVolumePhase)
PENDING = "Pending"
PVC_BOUND = "PVCBound"
IMPORT_SCHEDULED = "ImportScheduled"
IMPORT_IN_PROGRESS = "ImportInProgress"
CLONE_SCHEDULED = "CloneScheduled"
CLONE_IN_PROGRESS = "CloneInProgress"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
PENDING_POPULATION = "PendingPopulation"
PROGRESS_UNKNOWN = "N/A"

# DataVolume condition types (DataVolumeConditionType) and the reasons the emulator uses
COND_READY = "Ready"
COND_BOUND = "Bound"
COND_RUNNING = "Running"
REASON_BOUND = "Bound"
REASON_PENDING = "Pending"
REASON_CLONE_WITHOUT_SOURCE = "CloneWithoutSource"
REASON_COMPLETED = "Completed"
REASON_IN_PROGRESS = "InProgress"

# messages (pkg/controller/datavolume/clone-controller-base.go, import-controller.go)
MSG_CLONE_SCHEDULED = "Cloning from {src_ns}/{src} into {ns}/{name} scheduled"
MSG_CLONE_IN_PROGRESS = "Cloning from {src_ns}/{src} into {ns}/{name} in progress"
MSG_CLONE_SUCCEEDED = "Successfully cloned from {src_ns}/{src} into {ns}/{name}"
MSG_CLONE_WITHOUT_SOURCE = "The source {kind} {name} doesn't exist"
MSG_IMPORT_SCHEDULED = "Import into {name} scheduled"
MSG_IMPORT_IN_PROGRESS = "Import into {name} in progress"
MSG_IMPORT_SUCCEEDED = "Successfully imported into PVC {name}"

# DataSource Ready condition (pkg/controller/datasource-controller.go): reason, message
DS_READY = ("Ready", "DataSource is ready to be consumed")
DS_NO_SOURCE = ("NoSource", "No source PVC set")
DS_NOT_FOUND = ("NotFound", "PVC not found")

# StorageProfile Recognized condition (pkg/controller/storageprofile-controller.go)
SP_RECOGNIZED = ("RecognizedProvisioner", "Provisioner is recognized")
SP_UNRECOGNIZED = ("UnrecognizedProvisioner", "Provisioner is not recognized")

# annotations and labels
ANNO_DEFAULT_VIRT_CLASS = "storageclass.kubevirt.io/is-default-virt-class"
ANNO_IMPORT_ENDPOINT = "cdi.kubevirt.io/storage.import.endpoint"  # where an imported PVC's image came from
ANNO_POPULATED_FOR = "cdi.kubevirt.io/storage.populatedFor"
ANNO_CLONE_OF = "k8s.io/CloneOf"
LABEL_APP = "app"
APP = "containerized-data-importer"
LABEL_CREATED_BY = "kubevirt.io/created-by"  # KubeVirt's label on DataVolumes it made from templates
COMPONENT = "datavolume-controller"

# events (reasons) on DataVolumes
EV_CLONE_SCHEDULED = "CloneScheduled"
EV_CLONE_IN_PROGRESS = "CloneInProgress"
EV_CLONE_SUCCEEDED = "CloneSucceeded"
EV_IMPORT_SCHEDULED = "ImportScheduled"
EV_IMPORT_IN_PROGRESS = "ImportInProgress"
EV_IMPORT_SUCCEEDED = "ImportSucceeded"
EV_ERR_CLAIM_NOT_VALID = "ErrClaimNotValid"
PROGRESS_DONE = "100.0%"  # pkg/controller/common/util.go ProgressDone
