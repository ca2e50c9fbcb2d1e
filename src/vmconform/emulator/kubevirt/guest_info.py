"""What the qemu guest agent reports (guestOSInfo, guestosinfo/userlist/filesystemlist bodies)."""

from __future__ import annotations

from typing import Any


Obj = dict[str, Any]

_OS: dict[str, Obj] = {
    "fedora": {"id": "fedora", "name": "Fedora Linux", "prettyName": "Fedora Linux 39 (Cloud Edition)",
               "version": "39 (Cloud Edition)", "versionId": "39", "kernelRelease": "6.5.6-300.fc39.x86_64",
               "kernelVersion": "#1 SMP PREEMPT_DYNAMIC Fri Oct  6 19:57:21 UTC 2023", "machine": "x86_64"},
    "alpine": {"id": "alpine", "name": "Alpine Linux", "prettyName": "Alpine Linux v3.19", "version": "3.19.1",
               "versionId": "3.19.1", "kernelRelease": "6.6.14-0-virt",
               "kernelVersion": "#1-Alpine SMP PREEMPT_DYNAMIC Fri, 26 Jan 2024 11:08:07 +0000",
               "machine": "x86_64"},
    "cirros": {"id": "cirros", "name": "CirrOS", "prettyName": "CirrOS 0.6.2", "version": "0.6.2",
               "versionId": "0.6.2", "kernelRelease": "5.15.0-71-generic", "kernelVersion": "#78-Ubuntu SMP",
               "machine": "x86_64"},
    "generic": {"id": "linux", "name": "Linux", "prettyName": "Linux", "version": "", "versionId": "",
                "kernelRelease": "6.1.0-generic", "kernelVersion": "#1 SMP", "machine": "x86_64"},
}
_USERS = {"fedora": "fedora", "cirros": "cirros"}


def os_family(image: str) -> str:
    low = image.lower()
    for key in ("fedora", "alpine", "cirros"):
        if key in low:
            return key
    return "generic"


def guest_os_info(image: str) -> Obj:
    return dict(_OS[os_family(image)])


def agent_info(image: str, hostname: str) -> Obj:
    """Body of GET …/guestosinfo (``VirtualMachineInstanceGuestAgentInfo``)."""
    return {
        "guestAgentVersion": "8.2.0",
        "supportedCommands": [{"name": n, "enabled": True} for n in (
            "guest-ping", "guest-info", "guest-get-osinfo", "guest-get-host-name", "guest-get-users",
            "guest-get-fsinfo", "guest-get-timezone", "guest-shutdown", "guest-fsfreeze-freeze",
            "guest-fsfreeze-thaw", "guest-exec")],
        "hostname": hostname,
        "os": guest_os_info(image),
        "timezone": "UTC, 0",
        "userList": user_list(image)["items"],
        "fsInfo": {"disks": filesystem_list()["items"]},
        "fsFreezeStatus": "thawed",
    }


def user_list(image: str) -> Obj:
    user = _USERS.get(os_family(image), "root")
    return {"items": [{"userName": user, "loginTime": 0.0}], "metadata": {}}


def filesystem_list() -> Obj:
    return {"items": [{"diskName": "vda1", "mountPoint": "/", "fileSystemType": "ext4",
                       "totalBytes": 4_294_967_296, "usedBytes": 1_073_741_824,
                       "disk": [{"busType": "virtio", "serial": ""}]}],
            "metadata": {}}
