#!/usr/bin/env python3
"""Print the sha256 pins of every release file Scale Lab may download, for scalelab/versions.py.

Run on a machine that reaches dl.k8s.io and GitHub after a version bump, compare with the release
notes, and paste the printed DOWNLOAD_SHA256 into scalelab/versions.py. Each checksum is read from
the file the release publishes beside its binaries (Kubernetes' .sha256 files, etcd's SHA256SUMS);
where a release publishes none (kwok), the file is downloaded and hashed, and the line says so:
check that digest against a second machine before committing it.

    python tools/pin-downloads.py
"""

from __future__ import annotations

import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalelab import toolchain  # noqa: E402

COMPONENTS = (*toolchain.ALL, toolchain.KUBERNETES_NODE)


def published(sha_url: str, filename: str) -> str:
    """The checksum for ``filename`` in a published checksum file (one digest, or `digest  name` lines)."""
    with urllib.request.urlopen(sha_url, timeout=30) as response:
        text = response.read().decode()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 1 or (len(parts) >= 2 and parts[-1].lstrip("*").endswith(filename)):
            return parts[0].lower()
    raise SystemExit(f"no checksum for {filename} in {sha_url}")


def hashed(url: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "file"
        toolchain._fetch(url, dest)
        return toolchain._sha256(dest)


def main() -> int:
    seen: set[str] = set()
    print("DOWNLOAD_SHA256: dict[str, str] = {")
    for component in COMPONENTS:
        for binary in component.binaries:
            spec = component.downloads(binary)
            if spec is None or spec.url in seen:
                continue
            seen.add(spec.url)
            if spec.sha256_url:
                digest, how = published(spec.sha256_url, Path(spec.url).name), f"from {spec.sha256_url}"
            else:
                digest, how = hashed(spec.url), "hashed here: no published checksum, confirm on a second machine"
            print(f'    "{spec.url}":\n        "{digest}",  # {how}')
    print("}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
