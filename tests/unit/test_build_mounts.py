"""The offline node build never deletes through a mount, even when it is killed inside its chroot step.

Real mounts (root only, as the build itself): a bind mount of a scratch folder
stands in for anything a build could leave mounted, and a chroot whose /bin/sh
is a tiny static program that sleeps stands in for a long chroot step.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools" / "offline-kind"
sys.path.insert(0, str(TOOLS))

import mounts  # noqa: E402

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root, as the build itself does")


def test_mount_points_below_a_folder_are_listed_deepest_first_with_escapes_read():
    info = textwrap.dedent("""\
        22 1 0:21 / / rw - ext4 /dev/sda1 rw
        30 22 0:5 / /build/root\\040fs/dev rw - devtmpfs udev rw
        31 22 0:22 / /build/root\\040fs/proc rw - proc proc rw
        32 30 0:23 / /build/root\\040fs/dev/pts rw - devpts devpts rw
        33 22 0:24 / /build/other rw - tmpfs tmpfs rw
        34 22 0:25 / /build/root\\040fsx rw - tmpfs tmpfs rw
        """)
    found = mounts.mounts_under(Path("/build/root fs"), info)
    assert found[0] == Path("/build/root fs/dev/pts")
    assert set(found) == {Path("/build/root fs/dev/pts"), Path("/build/root fs/dev"), Path("/build/root fs/proc")}


@needs_root
def test_deleting_a_folder_with_a_mount_inside_unmounts_first_and_spares_what_was_mounted(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep-me").write_text("host data")
    doomed = tmp_path / "rootfs"
    (doomed / "dev").mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(precious), str(doomed / "dev")], check=True)
    try:
        mounts.remove_tree(doomed)
    finally:
        subprocess.run(["umount", str(doomed / "dev")], capture_output=True)
    assert not doomed.exists()
    assert (precious / "keep-me").read_text() == "host data"


@needs_root
def test_a_build_killed_inside_its_chroot_unmounts_and_the_next_build_recovers(tmp_path):
    cache = tmp_path / "cache"
    root = cache / "offline-kind" / "rootfs-node-test.partial"
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    sleeper = tmp_path / "sleeper.c"
    sleeper.write_text("#include <unistd.h>\nint main(void) { sleep(60); return 0; }\n")
    subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / "sh"), str(sleeper)], check=True)
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(TOOLS)!r})
        import build
        sys.exit(build.run_guarded(lambda: build.chroot(Path({str(root)!r}), "sleep", "a long chroot step")))
        """)
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "SCALELAB_CACHE": str(cache)})
    try:
        deadline = time.monotonic() + 60
        while root / "dev" not in mounts.mounts_under(root) and time.monotonic() < deadline:
            assert proc.poll() is None, "the chroot step ended before it could be killed"
            time.sleep(0.2)
        assert root / "dev" in mounts.mounts_under(root), "the build never mounted /dev"
        time.sleep(0.5)  # inside `chroot … /bin/sh` now
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        left_by_the_build = mounts.mounts_under(root)
    finally:
        if proc.poll() is None:
            proc.kill()
        mounts.unmount_all(root)  # only if the build failed to: the assertion below says so
    assert code == 128 + signal.SIGTERM
    assert left_by_the_build == [], f"the killed build left {left_by_the_build} mounted"
    assert Path("/dev/null").is_char_device() and any(Path("/dev").iterdir())
    mounts.remove_tree(root)  # what the next build does first
    assert not root.exists() and Path("/dev/null").is_char_device()
