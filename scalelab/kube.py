"""API clients for the tutorial cluster, always behind the context guard.

This is the only module that loads kubeconfig; everything else asks it for a
client, so no code path can reach a cluster the guard has not approved.
"""

from __future__ import annotations

import json
import os
import re
import stat
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
    """`kubectl config use-context CONTEXT`, so kubectl in a second shell talks to the tutorial cluster.

    Only the ``current-context:`` line of the file changes: comments, order and
    everything else stay as the learner had them, and so does the file's mode
    (a kubeconfig holds credentials: it must not become world-readable).
    """
    import yaml

    path = kubeconfig_path()
    text = path.read_text()
    doc = yaml.safe_load(text) or {}
    if doc.get("current-context") == context or not any(
            c.get("name") == context for c in doc.get("contexts") or []):
        return
    line = f"current-context: {json.dumps(context)}"
    text, found = re.subn(r"(?m)^current-context:.*$", lambda _: line, text, count=1)
    if not found:
        text = text.rstrip("\n") + "\n" + line + "\n"
    mode = stat.S_IMODE(path.stat().st_mode)
    tmp = path.with_name(path.name + ".scalelab-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    tmp.replace(path)


def api_client(context: str | None = None) -> client.ApiClient:
    """A client for ``context`` (default: the current one), after the guard approved it."""
    context = guard.check(context or current_context())
    try:
        api = config.new_client_from_config(config_file=kubeconfig_files(), context=context)
    except (ConfigException, FileNotFoundError) as exc:
        raise NoClusterError(f"kube context '{context}' cannot be loaded: {exc}", "run `scalelab up`") from exc
    # Marked so that node operations and deletes of unlabelled namespaces refuse (guard.require_created).
    setattr(api, guard.OPTED_IN_ATTRIBUTE, not guard.created(context))
    return api
