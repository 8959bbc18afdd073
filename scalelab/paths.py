"""Where Scale Lab keeps things outside the repository.

Everything lives under one cache folder (``SCALELAB_CACHE``, default
``~/.cache/scalelab``) so that "cold cache" means deleting one directory,
and binaries are keyed by version so a pin change never reuses a stale build.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("SCALELAB_CACHE", Path.home() / ".cache" / "scalelab"))


def bin_dir(component: str, version: str) -> Path:
    """Folder holding the binaries of one component at one version."""
    return cache_dir() / "bin" / f"{component}-{version}"


def logs_dir() -> Path:
    path = cache_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_dir() -> Path:
    """Which contexts Scale Lab created, scoreboards (``SCALELAB_STATE_DIR``: tests keep their own)."""
    override = os.environ.get("SCALELAB_STATE_DIR")
    path = Path(override) if override else cache_dir() / "state"
    path.mkdir(parents=True, exist_ok=True)
    return path


def locks_dir() -> Path:
    """Locks that every Scale Lab process on this machine shares (tests included)."""
    path = cache_dir() / "locks"
    path.mkdir(parents=True, exist_ok=True)
    return path


def project_root() -> Path:
    """The repository checkout (the package is installed editable from it)."""
    return Path(__file__).resolve().parent.parent
