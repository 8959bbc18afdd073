"""Deleting build folders that a chroot once had mounts in, without ever deleting through a mount.

build.py mounts /proc, /sys and the host's /dev into a root filesystem it builds
(and debootstrap mounts some of its own). A build killed before it unmounts
leaves them there, and a plain recursive delete of that folder would then
delete the host's /dev. So every delete here first undoes each mount at or below
the folder (read from /proc/self/mountinfo, deepest first), refuses if one is
left, and never descends into a directory on another filesystem.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")


class StillMounted(RuntimeError):
    """A folder still has something mounted in it: deleting it would delete what is mounted."""


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040 …)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def mounts_under(folder: Path, mountinfo: str | None = None) -> list[Path]:
    """Mount points at or below ``folder``, deepest first."""
    real = os.path.realpath(folder)
    text = MOUNTINFO.read_text() if mountinfo is None else mountinfo
    points = {_unescape(line.split()[4]) for line in text.splitlines() if len(line.split()) > 4}
    inside = [Path(p) for p in points if p == real or p.startswith(real.rstrip("/") + "/")]
    return sorted(inside, key=lambda p: (len(p.parts), str(p)), reverse=True)


def unmount_all(folder: Path) -> list[Path]:
    """Undo every mount at or below ``folder`` (a lazy unmount where a busy one refuses); returns what is left."""
    for _ in range(3):  # a mount can hide another at the same point: look again
        points = mounts_under(folder)
        if not points:
            return []
        for point in points:
            if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(point)], capture_output=True)
    return mounts_under(folder)


def _other_filesystems(folder: Path) -> list[str]:
    """Directories below ``folder`` on another device than ``folder`` itself (a mount mountinfo did not show)."""
    device = os.lstat(folder).st_dev
    found = []
    for top, dirs, _ in os.walk(folder):
        for name in list(dirs):
            path = os.path.join(top, name)
            try:
                if os.lstat(path).st_dev != device:
                    found.append(path)
                    dirs.remove(name)
            except FileNotFoundError:
                continue
    return found


def remove_tree(folder: Path) -> None:
    """``rm -rf folder``, only once nothing is mounted in it; raises :class:`StillMounted` otherwise."""
    if not os.path.lexists(folder):
        return
    if folder.is_symlink() or not folder.is_dir():
        folder.unlink()
        return
    left = unmount_all(folder)
    crossing = [str(p) for p in left] + _other_filesystems(folder)
    if crossing:
        raise StillMounted(f"refusing to delete {folder}: still mounted inside it: {', '.join(crossing[:5])}. "
                           f"Unmount them (`umount -R {folder}`), then run the build again.")
    shutil.rmtree(folder)
