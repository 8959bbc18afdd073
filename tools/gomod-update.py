#!/usr/bin/env python3
"""Regenerate the committed wrapper modules (scalelab/gomod/) after a version bump in scalelab/versions.py.

Kubernetes and etcd are built from small wrapper modules (scalelab.toolchain explains why). Their
go.mod, go.sum and source are committed, and builds run with -mod=readonly, so a build uses exactly
the dependency graph reviewed in the commit. This script makes each wrapper afresh and runs
`go mod tidy` (which checks every module against the Go checksum database), then copies the result
into scalelab/gomod/<name>/. Review the diff before committing it.

    python tools/gomod-update.py [kubebuild] [etcdbuild]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalelab import toolchain  # noqa: E402
from scalelab.progress import Progress  # noqa: E402

NAMES = ("kubebuild", "etcdbuild")


def update(name: str, progress: Progress) -> None:
    with tempfile.TemporaryDirectory(prefix=f"scalelab-{name}-") as tmp:
        work = Path(tmp)
        toolchain.write_wrapper(name, work, progress)
        env = {**toolchain.go_env(), "GOFLAGS": "-buildvcs=false"}  # tidy may write go.mod and go.sum
        subprocess.run([toolchain.go_binary(), "mod", "tidy"], cwd=work, env=env, check=True)
        dest = toolchain.wrapper_dir(name)
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for item in sorted(work.iterdir()):
            shutil.copy2(item, dest / item.name)
        progress.step(f"{name}: {', '.join(p.name for p in sorted(dest.iterdir()))} written to {dest}")


def main() -> int:
    names = sys.argv[1:] or list(NAMES)
    unknown = set(names) - set(NAMES)
    if unknown:
        print(f"unknown wrapper(s) {', '.join(sorted(unknown))}; choose from {', '.join(NAMES)}", file=sys.stderr)
        return 2
    progress = Progress()
    for name in names:
        update(name, progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
