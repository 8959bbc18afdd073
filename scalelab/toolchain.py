"""Obtain the pinned control-plane binaries: cache, then official download, then build.

The kwok provider runs real Kubernetes processes, so it needs kube-apiserver,
kube-controller-manager, kube-scheduler, etcd, kwok/kwokctl and metrics-server
at the versions in :mod:`scalelab.versions`. Each component lands in
``<cache>/bin/<component>-<version>/`` and is only moved there once complete,
so an interrupted download or build never leaves a half-filled folder behind.

Where no release download is reachable (no internet, only package registries)
the binaries are built with Go through the module proxy. ``go install
k8s.io/kubernetes/cmd/...@v`` is refused because the main module pins its
staging modules at v0.0.0 through ``replace`` directives, so we build from a
small wrapper module that replaces each staging module with its published
``v0.<minor>.<patch>`` tag; etcd's server module gets the same treatment.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from scalelab import paths, versions
from scalelab.errors import BuildError, MissingToolError, ScaleLabError
from scalelab.filelock import held
from scalelab.progress import Progress

DOWNLOAD_TIMEOUT = 15.0


def go_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


@dataclass(frozen=True)
class Download:
    """One file of an official release. ``sha256_url`` is where the release publishes its checksum:
    tools/pin-downloads.py reads it when pinning; downloads are checked against the pin only."""

    url: str
    sha256_url: str | None = None
    member: str | None = None  # path inside a .tar.gz, when the release is an archive


@dataclass(frozen=True)
class Component:
    """A set of binaries that share a version and a way of being obtained."""

    name: str
    version: str
    binaries: tuple[str, ...]
    downloads: Callable[[str], Download | None] = field(compare=False)
    build: Callable[["Component", Path, Path, Progress], None] = field(compare=False)

    @property
    def dir(self) -> Path:
        return paths.bin_dir(self.name, self.version)

    def path(self, binary: str) -> Path:
        return self.dir / binary

    def cached(self) -> bool:
        return (self.dir / ".complete").exists() and all(self.path(b).exists() for b in self.binaries)


# --- official downloads -----------------------------------------------------------------


def _kubernetes_download(binary: str) -> Download:
    base = f"https://dl.k8s.io/release/{versions.KUBERNETES}/bin/linux/{go_arch()}/{binary}"
    return Download(base, base + ".sha256")


def _etcd_download(binary: str) -> Download:
    v, arch = versions.ETCD, go_arch()
    base = f"https://github.com/etcd-io/etcd/releases/download/{v}"
    return Download(f"{base}/etcd-{v}-linux-{arch}.tar.gz", f"{base}/SHA256SUMS", f"etcd-{v}-linux-{arch}/{binary}")


def _kwok_download(binary: str) -> Download:
    return Download(
        f"https://github.com/kubernetes-sigs/kwok/releases/download/{versions.KWOK}/{binary}-linux-{go_arch()}"
    )


def no_download(binary: str) -> None:
    """For components with no release binaries to fetch (metrics-server ships only images): always build."""
    return None


def _fetch(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ChecksumMismatch(ValueError):
    """A downloaded file whose sha256 is not the one pinned in versions.DOWNLOAD_SHA256."""


def try_download(component: Component, out: Path, progress: Progress,
                 pins: dict[str, str] | None = None) -> bool:
    """Fetch every binary of ``component`` from its release; False if any is unpinned or unreachable.

    Only files whose sha256 is pinned (``pins``, by default versions.DOWNLOAD_SHA256) are fetched, and a
    file that does not match its pin is deleted and refused: a build from source follows instead.
    """
    pins = versions.DOWNLOAD_SHA256 if pins is None else pins
    specs = [component.downloads(b) for b in component.binaries]
    if any(spec is None for spec in specs):
        return False
    unpinned = [spec.url for spec in specs if spec is not None and spec.url not in pins]
    if unpinned:
        progress.step(f"{component.name}: no pinned sha256 for {unpinned[0]} (scalelab/versions.py); "
                      "will build from source")
        return False
    fetched: dict[str, Path] = {}
    for binary, spec in zip(component.binaries, specs):
        assert spec is not None
        target = out / Path(spec.url).name
        try:
            if spec.url not in fetched:
                progress.tick(f"downloading {spec.url}")
                _fetch(spec.url, target)
                actual = _sha256(target)
                if actual != pins[spec.url]:
                    raise ChecksumMismatch(f"sha256 of {spec.url} is {actual}, pinned {pins[spec.url]}")
                fetched[spec.url] = target
            if spec.member:
                with tarfile.open(fetched[spec.url]) as archive:
                    member = archive.extractfile(spec.member)
                    if member is None:
                        raise ValueError(f"{spec.member} missing from {spec.url}")
                    (out / binary).write_bytes(member.read())
            elif fetched[spec.url] != out / binary:
                fetched[spec.url].rename(out / binary)
        except (OSError, ValueError) as exc:  # URLError is an OSError
            for leftover in out.iterdir():
                leftover.unlink()
            progress.step(f"{component.name}: official download unusable ({_reason(exc)}); will build from source")
            return False
        (out / binary).chmod(0o755)
    for spec in specs:  # the archives binaries were taken from
        if spec is not None and spec.member:
            fetched[spec.url].unlink(missing_ok=True)
    return True


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "reason", exc))


# --- building from source ---------------------------------------------------------------


def go_binary() -> str:
    """Path of a Go toolchain new enough for the pinned Kubernetes, or a MissingToolError."""
    go = shutil.which("go")
    need = ".".join(map(str, versions.GO_MINIMUM))
    fix = f"install Go {need} or newer (e.g. from your package manager), or use the kind provider"
    if go is None:
        raise MissingToolError("Go is not installed, and no release download of the binaries is reachable.", fix)
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    match = re.match(r"go(\d+)\.(\d+)", out)
    if not match or (int(match[1]), int(match[2])) < versions.GO_MINIMUM:
        raise MissingToolError(f"Go {need}+ is needed to build Kubernetes {versions.KUBERNETES}, found {out!r}.", fix)
    return go


def go_env() -> dict[str, str]:
    """Environment for builds: module and build caches inside Scale Lab's cache folder."""
    base = paths.cache_dir() / "go"
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(base / "mod"),
        GOCACHE=str(base / "build"),
        GOFLAGS="-mod=readonly -buildvcs=false",
        CGO_ENABLED="0",
        GOTOOLCHAIN="local",
    )
    return env


def run_logged(cmd: list[str], cwd: Path, log: Path, progress: Progress, what: str) -> None:
    """Run a build step, appending its output to ``log`` and showing a live count of lines."""
    count = 0
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=go_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            count += 1
            progress.tick(f"{what}: {count} packages/modules so far ({line.strip()[-60:]})")
        code = proc.wait()
    if code != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise BuildError(f"{what} failed (exit {code}). Last lines of {log}:\n{tail}",
                         f"read {log}; then retry with `scalelab up` (finished components stay cached)")


def _module_gomod(go: str, module: str, version: str, workdir: Path, log: Path, progress: Progress) -> str:
    """Text of a module's own go.mod, fetched through the module proxy."""
    out = subprocess.run([go, "mod", "download", "-json", f"{module}@{version}"], cwd=workdir, env=go_env(),
                         capture_output=True, text=True)
    with open(log, "a") as handle:
        handle.write(out.stdout + out.stderr)
    if out.returncode != 0:
        raise BuildError(f"could not fetch {module}@{version} through the Go module proxy:\n{out.stderr.strip()}",
                         "check that the Go module proxy is reachable (`go env GOPROXY`)")
    return Path(json.loads(out.stdout)["GoMod"]).read_text()


def local_replaces(gomod: str) -> list[str]:
    """Modules that a go.mod replaces with a local folder (these break `go install`)."""
    found = re.findall(r"^\s*(?:replace\s+)?(\S+)\s+=>\s+(\.{1,2}/\S+)\s*$", gomod, flags=re.M)
    # etcd marks modules it must never depend on with a FORBIDDEN_DEPENDENCY folder: not real replaces.
    return sorted({mod for mod, target in found if "FORBIDDEN" not in target})


def wrapper_gomod(module_name: str, require: str, version: str, replaces: dict[str, str]) -> str:
    """A go.mod that requires ``require@version`` and pins each replaced module to a real tag."""
    lines = [f"module {module_name}", "", "go 1.26.0", "", f"require {require} {version}", "", "replace ("]
    lines += [f"\t{mod} => {mod} {tag}" for mod, tag in sorted(replaces.items())]
    lines += [")", ""]
    return "\n".join(lines)


def staging_tag(kubernetes_version: str) -> str:
    """Staging modules are tagged v0.<minor>.<patch> for Kubernetes v1.<minor>.<patch>."""
    return "v0." + kubernetes_version.lstrip("v").split(".", 1)[1]


def version_ldflags(version: str) -> str:
    """Stamp the version an unstamped apiserver would report as v0.0.0-master."""
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion={version}", f"-X {pkg}.gitMajor={major}", f"-X {pkg}.gitMinor={minor}",
                  f"-X {pkg}.gitTreeState=clean"]
    return " ".join(flags)


# Binaries of k8s.io/kubernetes that live outside cmd/: the e2e load target the kind lessons run.
KUBERNETES_PACKAGES = {
    "resource-consumer": "k8s.io/kubernetes/test/images/resource-consumer",
    "consume-cpu": "k8s.io/kubernetes/test/images/resource-consumer/consume-cpu",
}


def kubernetes_package(binary: str) -> str:
    """Go package of a binary built from the k8s.io/kubernetes module."""
    return KUBERNETES_PACKAGES.get(binary, f"k8s.io/kubernetes/cmd/{binary}")


# The wrapper modules' go.mod, go.sum and source are committed (scalelab/gomod/, made by
# tools/gomod-update.py): builds run with -mod=readonly, so every module of Kubernetes' and etcd's
# dependency graph is checked against the go.sum we reviewed, and nothing is resolved anew.
GOMOD_DIR = Path(__file__).resolve().parent / "gomod"


def wrapper_dir(name: str) -> Path:
    """Committed wrapper module ``name`` (kubebuild, etcdbuild)."""
    return GOMOD_DIR / name


def copy_wrapper(name: str, work: Path) -> None:
    for item in wrapper_dir(name).iterdir():
        if item.is_file():
            shutil.copy2(item, work / item.name)


def write_wrapper(name: str, work: Path, progress: Progress) -> None:
    """Make wrapper module ``name`` afresh from the pinned versions (tools/gomod-update.py runs this, then
    `go mod tidy`): its go.mod requires the release and pins each locally replaced module to a real tag."""
    go, log = go_binary(), paths.logs_dir() / f"gomod-{name}.log"
    if name == "kubebuild":
        gomod = _module_gomod(go, "k8s.io/kubernetes", versions.KUBERNETES, work, log, progress)
        replaces = {mod: staging_tag(versions.KUBERNETES) for mod in local_replaces(gomod)}
        (work / "go.mod").write_text(wrapper_gomod("scalelab.local/kubebuild", "k8s.io/kubernetes",
                                                   versions.KUBERNETES, replaces))
        binaries = KUBERNETES.binaries + KUBERNETES_NODE.binaries
        imports = "\n".join(f'\t_ "{kubernetes_package(b)}"' for b in binaries)
        (work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n")
    elif name == "etcdbuild":
        gomod = _module_gomod(go, "go.etcd.io/etcd/server/v3", versions.ETCD, work, log, progress)
        replaces = {mod: versions.ETCD for mod in local_replaces(gomod)}
        (work / "go.mod").write_text(wrapper_gomod("scalelab.local/etcdbuild", "go.etcd.io/etcd/server/v3",
                                                   versions.ETCD, replaces))
        (work / "main.go").write_text(
            'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\n'
            "func main() { etcdmain.Main(os.Args) }\n"
        )
    else:
        raise ValueError(f"no wrapper module {name!r}")


def build_kubernetes(component: Component, work: Path, out: Path, progress: Progress) -> None:
    go, log = go_binary(), _log(component)
    copy_wrapper("kubebuild", work)
    pkgs = [kubernetes_package(b) for b in component.binaries]
    run_logged([go, "build", "-v", "-trimpath", "-ldflags", version_ldflags(component.version), "-o", str(out) + "/", *pkgs],
               work, log, progress, f"compiling Kubernetes {component.version}")


def build_etcd(component: Component, work: Path, out: Path, progress: Progress) -> None:
    go, log = go_binary(), _log(component)
    copy_wrapper("etcdbuild", work)
    run_logged([go, "build", "-v", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "etcd"), "."],
               work, log, progress, f"compiling etcd {component.version}")


def go_install(packages: list[str], ldflags: str = "", tags: str = "") -> Callable[[Component, Path, Path, Progress], None]:
    """Modules without local replaces install straight from the proxy (``ldflags`` may name {version})."""

    def build(component: Component, work: Path, out: Path, progress: Progress) -> None:
        go, log = go_binary(), _log(component)
        (work / "go.mod").write_text("module scalelab.local/install\n\ngo 1.26.0\n")
        env_bin = ["env", f"GOBIN={out}"]
        flags = ("-s -w " + ldflags.format(version=component.version)).strip()
        tag_args = ["-tags", tags] if tags else []
        run_logged([*env_bin, go, "install", "-v", "-trimpath", *tag_args, "-ldflags", flags,
                    *[f"{p}@{component.version}" for p in packages]],
                   work, log, progress, f"compiling {component.name} {component.version}")

    return build


def _log(component: Component) -> Path:
    return paths.logs_dir() / f"build-{component.name}-{component.version}.log"


KUBERNETES = Component("kubernetes", versions.KUBERNETES,
                       ("kube-apiserver", "kube-controller-manager", "kube-scheduler"),
                       _kubernetes_download, build_kubernetes)
# What a kind node image needs beyond the control plane (only built for the offline kind path).
KUBERNETES_NODE = Component("kubernetes-node", versions.KUBERNETES,
                            ("kubelet", "kubeadm", "kubectl", "kube-proxy", "resource-consumer", "consume-cpu"),
                            _kubernetes_download, build_kubernetes)
ETCD = Component("etcd", versions.ETCD, ("etcd",), _etcd_download, build_etcd)
KWOK = Component("kwok", versions.KWOK, ("kwok", "kwokctl"), _kwok_download,
                 go_install(["sigs.k8s.io/kwok/cmd/kwok", "sigs.k8s.io/kwok/cmd/kwokctl"]))
METRICS_SERVER = Component("metrics-server", versions.METRICS_SERVER, ("metrics-server",), no_download,
                           # kwokctl reads `metrics-server --version`; unstamped it says v0.0.0-master.
                           go_install(["sigs.k8s.io/metrics-server/cmd/metrics-server"],
                                       "-X k8s.io/client-go/pkg/version.gitVersion={version}"))
# In build order. kwok first: the offline kind node image builds the other three first
# (tools/offline-kind/build.py), so a `scalelab binaries` started beside it compiles kwok meanwhile
# and then mostly finds the rest built.
ALL = (KWOK, KUBERNETES, ETCD, METRICS_SERVER)


def ensure(component: Component, progress: Progress) -> Path:
    """Return the folder of ``component``'s binaries, downloading or building them if needed."""
    if component.cached():
        return component.dir
    # Another process (the offline kind build, a second `scalelab binaries`) may be building it now:
    # wait for it rather than compile the same thing twice.
    with held(component.dir.parent / f".{component.name}-{component.version}.lock"):
        if component.cached():
            progress.step(f"{component.name} {component.version}: built meanwhile by another process")
            return component.dir
        return _obtain(component, progress)


def _obtain(component: Component, progress: Progress) -> Path:
    component.dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=component.dir.parent, prefix=f".{component.name}-") as tmp:
        out = Path(tmp) / "bin"
        out.mkdir()
        progress.step(f"{component.name} {component.version}: not cached, trying the official release")
        if not try_download(component, out, progress):
            work = paths.cache_dir() / "build" / f"{component.name}-{component.version}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            progress.step(f"{component.name} {component.version}: building from source (log: {_log(component)})")
            component.build(component, work, out, progress)
            shutil.rmtree(work, ignore_errors=True)
        missing = [b for b in component.binaries if not (out / b).exists()]
        if missing:
            raise BuildError(f"{component.name}: {', '.join(missing)} missing after build", f"read {_log(component)}")
        (out / ".complete").write_text(json.dumps({"version": component.version, "seconds": round(time.monotonic() - started)}))
        shutil.rmtree(component.dir, ignore_errors=True)
        out.rename(component.dir)
    progress.step(f"{component.name} {component.version}: ready in {time.monotonic() - started:.0f}s")
    return component.dir


def ensure_all(progress: Progress, only: list[str] | None = None) -> dict[str, Path]:
    """Every binary the kwok provider needs (or those of the components named in ``only``), by binary name."""
    names = [c.name for c in ALL]
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        raise ScaleLabError(f"unknown component(s): {', '.join(unknown)}.", f"use one or more of {', '.join(names)}")
    found: dict[str, Path] = {}
    for component in (c for c in ALL if only is None or c.name in only):
        folder = ensure(component, progress)
        found.update({b: folder / b for b in component.binaries})
    return found


def missing() -> list[Component]:
    return [c for c in ALL if not c.cached()]
