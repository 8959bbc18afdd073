"""API clients for the tutorial cluster, always behind the context guard.

This is the only module that loads kubeconfig; everything else asks it for a
client, so no code path can reach a cluster the guard has not approved.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from scalelab import guard
from scalelab.errors import NoClusterError


def kubeconfig_path() -> Path:
    """The kubeconfig file kubectl would write to (first entry of KUBECONFIG, or ~/.kube/config)."""
    env = os.environ.get("KUBECONFIG", "")
    first = env.split(os.pathsep)[0] if env else ""
    return Path(first) if first else Path.home() / ".kube" / "config"


def kubeconfig_files() -> str:
    """KUBECONFIG as read now (the client library reads it only once, at import)."""
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def current_context() -> str | None:
    """Name of the current kube context, or None when there is no kubeconfig."""
    try:
        _, active = config.list_kube_config_contexts(config_file=kubeconfig_files())
    except (ConfigException, FileNotFoundError, TypeError):
        return None
    return active["name"] if active else None



def use_context(context: str) -> None:
    """`kubectl config use-context CONTEXT`, so kubectl in a second shell talks to the tutorial cluster."""
    import yaml

    path = kubeconfig_path()
    config_doc = yaml.safe_load(path.read_text()) or {}
    if config_doc.get("current-context") != context and any(
            c.get("name") == context for c in config_doc.get("contexts") or []):
        config_doc["current-context"] = context
        tmp = path.with_suffix(".scalelab-tmp")
        tmp.write_text(yaml.safe_dump(config_doc, default_flow_style=False))
        tmp.replace(path)


def api_client(context: str | None = None) -> client.ApiClient:
    """A client for ``context`` (default: the current one), after the guard approved it."""
    context = guard.check(context or current_context())
    try:
        return config.new_client_from_config(config_file=kubeconfig_files(), context=context)
    except (ConfigException, FileNotFoundError) as exc:
        raise NoClusterError(f"kube context '{context}' cannot be loaded: {exc}", "run `scalelab up`") from exc
