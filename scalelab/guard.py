"""The context guard: Scale Lab only touches the clusters it created, recognised by what they are.

A learner's kubeconfig may also hold a work cluster, and a context name proves
nothing: another kubeconfig file can hold a context called ``kind-scalelab``
that points at production. So ``scalelab up`` records, for each context it
makes, the cluster's API server URL and the SHA-256 fingerprint of its CA
certificate; every API client the library builds goes through :func:`check`,
which trusts a context only when its name, server and CA all match a record.

A learner may opt in to a practice cluster of their own by naming its context in
``SCALELAB_ALLOW_CONTEXT`` (comma-separated). That opens namespaced work in
tutorial namespaces only: such a client is marked (:func:`is_opted_in`), node
operations (cordon, drain) are refused (:func:`require_created`), and so is
deleting a namespace that does not carry the tutorial label. Scaling production
by accident should need a deliberate, typed-out decision, and even then it
cannot drain a production node.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from scalelab import paths
from scalelab.errors import ContextNotAllowedError
from scalelab.filelock import held

ALLOW_ENV = "SCALELAB_ALLOW_CONTEXT"
OPTED_IN_ATTRIBUTE = "scalelab_opted_in"  # set on API clients built for an opted-in context


@dataclass(frozen=True)
class Identity:
    """What a context points at: the API server, and the CA that vouches for it."""

    server: str
    ca_sha256: str  # of the CA certificate (DER); "" when the kubeconfig names no CA


def _state_file() -> Path:
    return paths.state_dir() / "contexts.json"


def _kubeconfig_files() -> list[Path]:
    env = os.environ.get("KUBECONFIG", "")
    files = [Path(p) for p in env.split(os.pathsep) if p] if env else [Path.home() / ".kube" / "config"]
    return [f for f in files if f.is_file()]


def _named(files: list[Path], section: str, name: str) -> dict[str, Any] | None:
    """The first entry called ``name`` in ``section`` over the kubeconfig files (kubectl's merge rule)."""
    for path in files:
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        for entry in doc.get(section) or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                return entry
    return None


def ca_fingerprint(pem: bytes) -> str:
    """SHA-256 of the first certificate in ``pem`` (whitespace and line breaks do not matter)."""
    text = pem.decode(errors="replace")
    start = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find("-----END CERTIFICATE-----")
    if start < 0 or end < 0:
        return hashlib.sha256(pem).hexdigest()
    der = ssl.PEM_cert_to_DER_cert(text[start:end + len("-----END CERTIFICATE-----")])
    return hashlib.sha256(der).hexdigest()


def identity_of(context: str) -> Identity | None:
    """Server and CA fingerprint of ``context`` in the kubeconfig (KUBECONFIG, else ~/.kube/config)."""
    files = _kubeconfig_files()
    ctx = _named(files, "contexts", context)
    cluster_name = ((ctx or {}).get("context") or {}).get("cluster")
    cluster = (_named(files, "clusters", cluster_name) or {}).get("cluster") if cluster_name else None
    if not cluster or not cluster.get("server"):
        return None
    pem = b""
    if cluster.get("certificate-authority-data"):
        pem = base64.b64decode(cluster["certificate-authority-data"])
    elif cluster.get("certificate-authority"):
        try:
            pem = Path(cluster["certificate-authority"]).expanduser().read_bytes()
        except OSError:
            return None
    return Identity(server=str(cluster["server"]).rstrip("/"), ca_sha256=ca_fingerprint(pem) if pem else "")


def created_contexts() -> dict[str, Identity]:
    """Contexts that ``scalelab up`` created on this machine, with what they pointed at."""
    try:
        data = json.loads(_state_file().read_text())
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(data, dict):  # the old format named contexts only: they must be recorded again
        return {}
    return {name: Identity(**entry) for name, entry in data.items()
            if isinstance(entry, dict) and set(entry) == {"server", "ca_sha256"}}


def _save(contexts: dict[str, Identity]) -> None:
    tmp = _state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps({name: asdict(ident) for name, ident in sorted(contexts.items())}, indent=1))
    tmp.replace(_state_file())


def _lock():
    return held(paths.state_dir() / "contexts.lock")


def remember(context: str) -> None:
    """Record ``context`` as Scale Lab's, with the server and CA the kubeconfig gives it now."""
    ident = identity_of(context)
    if ident is None:
        raise ContextNotAllowedError(f"kube context '{context}' has no cluster server in the kubeconfig.",
                                     "run `scalelab down`, then `scalelab up` again")
    with _lock():  # parallel `up`s (test workers) must not drop each other's entries
        _save({**created_contexts(), context: ident})


def forget(context: str) -> None:
    with _lock():
        _save({k: v for k, v in created_contexts().items() if k != context})


def opted_in() -> set[str]:
    return {c.strip() for c in os.environ.get(ALLOW_ENV, "").split(",") if c.strip()}


def created(context: str) -> bool:
    """Whether ``context`` is one ``scalelab up`` made: name, server and CA all as recorded."""
    recorded = created_contexts().get(context)
    return recorded is not None and identity_of(context) == recorded


def allowed(context: str) -> bool:
    return created(context) or context in opted_in()


def check(context: str | None) -> str:
    """Return ``context`` if Scale Lab may act on it, else raise with how to opt in."""
    if not context:
        raise ContextNotAllowedError(
            "No kube context is selected, so there is no tutorial cluster to act on.",
            "start one with `scalelab up`",
        )
    if allowed(context):
        return context
    recorded = created_contexts().get(context)
    if recorded is not None:
        now = identity_of(context)
        where = f"{now.server}" if now else "no cluster"
        raise ContextNotAllowedError(
            f"Refusing to act on kube context '{context}': it now points at {where}"
            f"{' with another CA' if now and now.server == recorded.server else ''}, not at the cluster "
            f"`scalelab up` made ({recorded.server}). Another kubeconfig file may hold a context of the same name.",
            "check KUBECONFIG, or recreate the tutorial cluster: `scalelab down`, then `scalelab up`",
        )
    raise ContextNotAllowedError(
        f"Refusing to act on kube context '{context}': Scale Lab did not create it, "
        "and it might be a real cluster.",
        f"switch to the tutorial cluster (`scalelab up`), or, if '{context}' really is a practice "
        f"cluster, opt in with: export {ALLOW_ENV}={context} (tutorial namespaces only; no node operations)",
    )


def is_opted_in(api: Any) -> bool:
    """Whether ``api`` was built for an opted-in context rather than one Scale Lab created."""
    return bool(getattr(api, OPTED_IN_ATTRIBUTE, False))


def require_created(api: Any, action: str) -> None:
    """Refuse ``action`` (a node operation) on a cluster Scale Lab did not create."""
    if is_opted_in(api):
        raise ContextNotAllowedError(
            f"Refusing to {action}: this cluster was opted in with {ALLOW_ENV}, not created by Scale Lab, "
            "and node operations there could disrupt other people's work.",
            "run this step on the tutorial cluster (`scalelab up`)",
        )
