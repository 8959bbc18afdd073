"""Pick the provider: kind where Docker runs, kwok otherwise, and whatever already exists first."""

from __future__ import annotations

from pathlib import Path

from scalelab.cluster.base import Provider
from scalelab.errors import ScaleLabError
from scalelab.names import cluster_name

PROVIDERS = ("kind", "kwok")


def provider_by_name(name: str, cluster: str | None = None, config: str | Path | None = None) -> Provider:
    cluster = cluster or cluster_name()
    if name == "kind":
        from scalelab.cluster.kind import KindProvider

        return KindProvider(cluster, config)
    if name == "kwok":
        from scalelab.cluster.kwok import KwokProvider

        return KwokProvider(cluster, config)
    raise ScaleLabError(f"unknown provider '{name}'.", f"use one of: auto, {', '.join(PROVIDERS)}")


def choose_provider(preference: str = "auto", cluster: str | None = None, config: str | Path | None = None) -> Provider:
    """``auto`` reuses an existing tutorial cluster, else prefers kind when Docker and kind are there.

    kind counts as there wherever ``scalelab doctor`` finds it: on PATH or in the
    cache (tools/offline-kind/build.py puts it there), both through ``kind_binary``.
    """
    if preference != "auto":
        return provider_by_name(preference, cluster, config)
    from scalelab.cluster.kind import docker_running, kind_available

    kwok = provider_by_name("kwok", cluster, config)
    if kwok.exists():
        return kwok
    if kind_available() and docker_running():
        return provider_by_name("kind", cluster, config)
    return kwok


def provider_of_context(context: str | None) -> str | None:
    """Which provider made a context (by the prefix each writes), or None."""
    for name in PROVIDERS:
        if context and context.startswith(f"{name}-"):
            return name
    return None
