"""CDI (containerized-data-importer) for the emulated cluster: the cdi.kubevirt.io/v1beta1 kinds as CDI
v1.66.0 serves them, StorageProfiles per storage class, DataSources and boot sources, and DataVolumes that
clone or import with phases and progress. ``controllers()`` is what the emulator loads beside KubeVirt's.
"""

from __future__ import annotations

from typing import Any

from .kinds import CDI_KINDS, CDIS, DATASOURCES, DATAVOLUMES, STORAGEPROFILES

__all__ = ["CDI_KINDS", "CDIS", "DATASOURCES", "DATAVOLUMES", "STORAGEPROFILES", "controllers"]


def controllers() -> list[Any]:
    from .datasource import DataSourceController
    from .datavolume import DataVolumeController
    from .install import CDIInstall
    from .profiles import StorageProfileController

    return [CDIInstall(), StorageProfileController(), DataSourceController(), DataVolumeController()]
