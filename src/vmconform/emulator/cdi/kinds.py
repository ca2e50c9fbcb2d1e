"""CDI's kinds as a real CDI install serves them (CRDs of cdi.kubevirt.io/v1beta1, printer columns included)."""

from __future__ import annotations

from ..resources import AGE, Column, ResourceType, dig
from .constants import CDI_GROUP

V1BETA1 = "v1beta1"

# printcolumns of DataVolume (types.go kubebuilder markers): Phase, Progress, Restarts, Age
DATAVOLUMES = ResourceType(
    CDI_GROUP, V1BETA1, "datavolumes", "datavolume", "DataVolume", True, ("dv", "dvs"), ("all",), custom=True,
    columns=(
        Column("Phase", "string", lambda o: dig(o, "status", "phase", default="")),
        Column("Progress", "string", lambda o: dig(o, "status", "progress", default="")),
        Column("Restarts", "integer", lambda o: dig(o, "status", "restartCount", default=0)),
        AGE,
    ),
)
DATASOURCES = ResourceType(
    CDI_GROUP, V1BETA1, "datasources", "datasource", "DataSource", True, ("das",), ("all",), custom=True,
    columns=(AGE,),
)
STORAGEPROFILES = ResourceType(
    CDI_GROUP, V1BETA1, "storageprofiles", "storageprofile", "StorageProfile", False, custom=True,
    columns=(AGE,),
)
CDIS = ResourceType(
    CDI_GROUP, V1BETA1, "cdis", "cdi", "CDI", False, ("cdi", "cdis"), custom=True,
    columns=(AGE, Column("Phase", "string", lambda o: dig(o, "status", "phase", default=""))),
)

CDI_KINDS: tuple[ResourceType, ...] = (DATAVOLUMES, DATASOURCES, STORAGEPROFILES, CDIS)
