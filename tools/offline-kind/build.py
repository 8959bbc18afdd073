#!/usr/bin/env python3
"""Build a kind node image, and every image the lessons run, without any registry.

Where `docker pull` cannot reach a registry, nothing kind needs can be pulled:
not kindest/node, not registry.k8s.io/pause, not metrics-server or the e2e
resource-consumer. This script makes all of them from package registries only:

1. binaries through the Go module proxy (kubelet, kubeadm, kubectl, kube-proxy,
   the control plane, etcd at kubeadm's version, CoreDNS, containerd, the CNI
   plugins, kind itself, the resource-consumer) with Scale Lab's own cached
   builds (scalelab.toolchain), and the pause process with gcc;
2. a Debian root filesystem with debootstrap (the base of every image);
3. the workload and control-plane images, tagged as kubeadm and our manifests
   name them, with `docker build` from that base (or from scratch);
4. the node image: the Debian rootfs plus systemd, containerd, runc, kubelet,
   kind's node files (entrypoint, units; read from the kind module the Go proxy
   serves), our pod network (podnet.yaml) and the images above, which a boot
   unit imports into the node's containerd before the kubelet starts.

Every step is cached under <cache>/offline-kind and keyed by its inputs, so a
second run takes seconds. Usage: `python tools/offline-kind/build.py` (needs root
for debootstrap/chroot, and a running Docker engine: see docker-up.sh).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

import mounts  # noqa: E402  (tools/offline-kind/mounts.py)
from scalelab import paths, toolchain, versions  # noqa: E402
from scalelab.errors import BuildError, ScaleLabError  # noqa: E402
from scalelab.progress import Progress  # noqa: E402

MIRROR = os.environ.get("SCALELAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")  # Debian's package debian-archive-keyring
# In every image built on the base: iptables/nftables/conntrack for kube-proxy,
# stress for the resource-consumer's memory endpoint (as in its upstream image).
BASE_PACKAGES = ["ca-certificates", "iptables", "nftables", "conntrack", "stress", "iproute2", "procps"]
# Only in the node: what kind's own node image installs for systemd, the kubelet and runc.
NODE_PACKAGES = ["systemd", "systemd-sysv", "dbus", "runc", "libseccomp2", "ethtool", "util-linux", "mount",
                 "kmod", "e2fsprogs", "pigz", "bash", "jq", "socat", "ebtables"]
ETCD_TAG = versions.KUBEADM_ETCD.lstrip("v") + "-0"

# --- binaries -------------------------------------------------------------------------------

KIND = toolchain.Component("kind", versions.KIND, ("kind",), toolchain.no_download,
                           toolchain.go_install(["sigs.k8s.io/kind"]))
CONTAINERD = toolchain.Component(
    "containerd", versions.CONTAINERD, ("containerd", "containerd-shim-runc-v2", "ctr"), toolchain.no_download,
    toolchain.go_install([f"github.com/containerd/containerd/v2/cmd/{b}" for b in ("containerd", "containerd-shim-runc-v2", "ctr")],
                         "-X github.com/containerd/containerd/v2/version.Version={version}",
                         tags="no_aufs no_zfs no_btrfs no_devmapper"))
CNI = toolchain.Component(
    "cni-plugins", versions.CNI_PLUGINS, ("host-local", "loopback", "ptp", "portmap"), toolchain.no_download,
    toolchain.go_install([f"github.com/containernetworking/plugins/plugins/{p}"
                          for p in ("ipam/host-local", "main/loopback", "main/ptp", "meta/portmap")]))
COREDNS = toolchain.Component("coredns", versions.COREDNS, ("coredns",), toolchain.no_download,
                              toolchain.go_install(["github.com/coredns/coredns"]))
# The three the kwok provider shares first: a `scalelab binaries` beside this build (tools/suite.py)
# then waits for them instead of building them again, and starts its kwok layer sooner.
COMPONENTS = (toolchain.KUBERNETES, toolchain.ETCD, toolchain.METRICS_SERVER, toolchain.KUBERNETES_NODE, COREDNS,
              CONTAINERD, CNI, KIND)


def build_binaries(progress: Progress) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for component in COMPONENTS:
        folder = toolchain.ensure(component, progress)
        found.update({b: folder / b for b in component.binaries})
    pause = work_dir() / f"pause-{digest(HERE / 'pause.c')}" / "pause"
    if not pause.exists():
        pause.parent.mkdir(parents=True, exist_ok=True)
        run(["gcc", "-static", "-Os", "-o", str(pause), str(HERE / "pause.c")], "compiling pause")
    found["pause"] = pause
    return found


# --- helpers --------------------------------------------------------------------------------


def work_dir() -> Path:
    return paths.cache_dir() / "offline-kind"


def log_path() -> Path:
    return paths.logs_dir() / "offline-kind.log"


def run(cmd: list[str], what: str, **kwargs) -> None:
    """Run a step with its output appended to the build log; fail with the log's tail."""
    with open(log_path(), "a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs).returncode
    if code != 0:
        tail = "".join(log_path().read_text().splitlines(keepends=True)[-20:])
        raise BuildError(f"{what} failed (exit {code}). Last lines of {log_path()}:\n{tail}",
                         f"read {log_path()}, fix the cause, and run the build again (finished steps stay cached)")


def digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.read_bytes() if isinstance(part, Path) else str(part).encode())
    return h.hexdigest()[:12]


def image_label(image: str) -> str | None:
    out = subprocess.run(["docker", "image", "inspect", "-f", '{{index .Config.Labels "scalelab.inputs"}}', image],
                         capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


# --- root filesystems -----------------------------------------------------------------------


def debootstrap_base(progress: Progress) -> Path:
    """The Debian rootfs every image starts from, as a folder (cached by suite and package list)."""
    key = digest(versions.DEBIAN_SUITE, MIRROR, BASE_PACKAGES)
    target = work_dir() / f"rootfs-base-{key}"
    if (target / ".complete").exists():
        return target
    progress.step(f"debootstrap {versions.DEBIAN_SUITE} (minbase + {len(BASE_PACKAGES)} packages) into {target}")
    mounts.remove_tree(target)
    tmp = target.with_name(target.name + ".partial")
    mounts.remove_tree(tmp)
    if not DEBIAN_KEYRING.exists():
        raise ScaleLabError(f"{DEBIAN_KEYRING} is missing, so debootstrap could not verify what it downloads.",
                            "apt-get install debian-archive-keyring")
    # An explicit keyring: debootstrap refuses a Release file whose signature it cannot verify.
    run(["debootstrap", f"--keyring={DEBIAN_KEYRING}", "--variant=minbase", "--include=" + ",".join(BASE_PACKAGES),
         versions.DEBIAN_SUITE, str(tmp), MIRROR], "debootstrap")
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (tmp / cache).glob("*"):
            if entry.is_file():
                entry.unlink()
    tmp.rename(target)
    (target / ".complete").write_text(key)
    return target


def docker_import(rootfs: Path, image: str, key: str, changes: list[str], progress: Progress) -> None:
    """`docker import` a folder as an image (skipped when an image with the same inputs exists)."""
    if image_label(image) == key:
        return
    progress.step(f"docker import {image}")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--exclude=./.complete", "-c", "."], stdout=subprocess.PIPE)
    cmd = ["docker", "import", *[a for c in [*changes, f"LABEL scalelab.inputs={key}"] for a in ("--change", c)],
           "-", image]
    with open(log_path(), "a") as log:
        code = subprocess.run(cmd, stdin=tar.stdout, stdout=log, stderr=subprocess.STDOUT).returncode
    tar.wait()
    if code != 0 or tar.returncode != 0:
        raise BuildError(f"docker import {image} failed", f"read {log_path()}")


# --- images ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    """An image made of a few binaries on the base (or on nothing, for static programs)."""

    name: str
    files: dict[str, str]  # path inside the image -> binary name from build_binaries()
    entrypoint: tuple[str, ...] = ()
    on_base: bool = False
    workdir: str = "/"


def images() -> list[Image]:
    k, cp = versions.KUBERNETES, "registry.k8s.io"
    control_plane = [Image(f"{cp}/{b}:{k}", {f"/usr/local/bin/{b}": b}) for b in
                     ("kube-apiserver", "kube-controller-manager", "kube-scheduler")]
    return [
        *control_plane,
        Image(f"{cp}/kube-proxy:{k}", {"/usr/local/bin/kube-proxy": "kube-proxy"}, on_base=True),
        Image(f"{cp}/etcd:{ETCD_TAG}", {"/usr/local/bin/etcd": "etcd"}),
        Image(f"{cp}/coredns/coredns:{versions.COREDNS}", {"/coredns": "coredns"}, ("/coredns",)),
        Image(f"{cp}/pause:{versions.PAUSE}", {"/pause": "pause"}, ("/pause",)),
        Image(versions.METRICS_SERVER_IMAGE, {"/metrics-server": "metrics-server"}, ("/metrics-server",)),
        # The e2e load target: same program and layout as upstream (consume-cpu beside it), from v1.36.1 source.
        Image("registry.k8s.io/e2e-test-images/resource-consumer:1.13",
              {"/consumer": "resource-consumer", "/consume-cpu/consume-cpu": "consume-cpu"}, ("/consumer",), on_base=True),
        # Our pod network agent (podnet.yaml): a shell loop with kubectl and ip.
        Image("docker.io/scalelab/podnet:v1", {"/usr/local/bin/kubectl": "kubectl"}, on_base=True),
    ]


HOST_PREFIX = "scalelab-offline/"


def host_name(official: str) -> str:
    """The name an image carries on the host's Docker: Scale Lab's, so it never shadows the official one.

    Only inside the kind node (through the archive :func:`save_images` writes) does
    it carry the official name that kubeadm and the manifests ask for.
    """
    return HOST_PREFIX + official


def retag_archive(source: Path, dest: Path, names: dict[str, str]) -> None:
    """Copy a `docker save` archive, renaming its images (``names``: host name → official name)."""
    def rename(ref: str) -> str:
        for host, official in names.items():
            if ref == host or ref == f"docker.io/{host}":
                return official
        return ref

    with tarfile.open(source) as src, tarfile.open(dest, "w") as out:
        for member in src:
            data = src.extractfile(member) if member.isfile() else None
            if member.name in ("manifest.json", "repositories") and data is not None:
                doc = json.loads(data.read())
                if member.name == "manifest.json":
                    for entry in doc:
                        entry["RepoTags"] = [rename(t) for t in entry.get("RepoTags") or []]
                else:
                    renamed: dict[str, dict[str, str]] = {}
                    for repo, tags in doc.items():
                        for tag, layer in tags.items():
                            new_repo, new_tag = rename(f"{repo}:{tag}").rsplit(":", 1)
                            renamed.setdefault(new_repo, {})[new_tag] = layer
                    doc = renamed
                body = json.dumps(doc).encode()
                member.size = len(body)
                out.addfile(member, io.BytesIO(body))
            else:
                out.addfile(member, data)


def base_image_name(key: str) -> str:
    return f"scalelab/debian-base:{versions.DEBIAN_SUITE}-{key}"


def build_image(image: Image, base: str, binaries: dict[str, Path], progress: Progress) -> None:
    key = digest(image, base, *[binaries[b] for b in image.files.values()])
    if image_label(host_name(image.name)) == key:
        return
    progress.step(f"docker build {host_name(image.name)}")
    ctx = work_dir() / "context"
    mounts.remove_tree(ctx)
    ctx.mkdir(parents=True)
    lines = [f"FROM {base if image.on_base else 'scratch'}",
             "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    for i, (dest, binary) in enumerate(image.files.items()):
        shutil.copy2(binaries[binary], ctx / f"f{i}")
        lines.append(f"COPY f{i} {dest}")
    lines += [f"WORKDIR {image.workdir}", f"LABEL scalelab.inputs={key}"]
    if image.entrypoint:
        lines.append("ENTRYPOINT " + json.dumps(list(image.entrypoint)))
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
    run(["docker", "build", "-q", "-t", host_name(image.name), str(ctx)], f"docker build {host_name(image.name)}",
        env={**os.environ, "DOCKER_BUILDKIT": "0"})


# --- the node -------------------------------------------------------------------------------


def kind_base_files() -> Path:
    """kind's node files (entrypoint, systemd units, containerd config) from the kind Go module."""
    out = subprocess.run([toolchain.go_binary(), "mod", "download", "-json", f"sigs.k8s.io/kind@{versions.KIND}"],
                         capture_output=True, text=True, env=toolchain.go_env(), cwd=work_dir())
    if out.returncode != 0:
        raise BuildError(f"could not fetch sigs.k8s.io/kind@{versions.KIND}: {out.stderr.strip()}",
                         "check that the Go module proxy is reachable (`go env GOPROXY`)")
    return Path(json.loads(out.stdout)["Dir"]) / "images" / "base" / "files"


def chroot(root: Path, script: str, what: str) -> None:
    """Run a shell script inside ``root`` with /proc, /sys and /dev mounted, unmounting after."""
    wanted = [("proc", "proc", "proc"), ("sysfs", "sys", "sysfs"), ("/dev", "dev", None)]
    try:
        for source, dest, fstype in wanted:
            point = root / dest
            point.mkdir(exist_ok=True)
            cmd = ["mount", "-t", fstype, source, str(point)] if fstype else ["mount", "--bind", source, str(point)]
            run(cmd, f"mount {dest}")
        shutil.copy2("/etc/resolv.conf", root / "etc" / "resolv.conf")
        run(["chroot", str(root), "/bin/sh", "-euxc", script], what)
    finally:
        left = mounts.unmount_all(root)  # ours, and any the script left behind
        if left:
            raise BuildError(f"could not unmount {', '.join(map(str, left))}", f"umount -R {root}")


def build_node_rootfs(base: Path, binaries: dict[str, Path], image_tars: list[Path], key: str,
                      progress: Progress) -> Path:
    root = work_dir() / f"rootfs-node-{key}"
    if (root / ".complete").exists():
        return root
    progress.step(f"node rootfs: {len(NODE_PACKAGES)} Debian packages, kind's node files, binaries, images")
    partial = root.with_name(root.name + ".partial")
    mounts.remove_tree(partial)
    run(["cp", "-a", str(base), str(partial)], "copy base rootfs")
    chroot(partial, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
           + " ".join(NODE_PACKAGES) + " && apt-get clean && rm -rf /var/lib/apt/lists/*", "apt-get install (node)")
    kind_files = kind_base_files()
    run(["cp", "-r", "--no-preserve=mode,ownership", f"{kind_files}/.", str(partial)], "copy kind's node files")
    for folder in ("usr/local/bin", "kind/bin"):
        for entry in (partial / folder).iterdir():
            entry.chmod(0o755)
    install = {"usr/bin": ("kubelet", "kubeadm", "kubectl"),
               "usr/local/bin": ("containerd", "containerd-shim-runc-v2", "ctr"),
               "opt/cni/bin": ("host-local", "loopback", "ptp", "portmap")}
    for folder, names in install.items():
        (partial / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy2(binaries[name], partial / folder / name)
    images_dir = partial / "kind" / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    for tar in image_tars:
        shutil.copy2(tar, images_dir / tar.name)
    manifests = partial / "kind" / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    shutil.copy2(HERE / "podnet.yaml", manifests / "default-cni.yaml")
    shutil.copy2(HERE / "storage.yaml", manifests / "default-storage.yaml")
    (partial / "kind" / "version").write_text(versions.KUBERNETES + "\n")
    shutil.copy2(HERE / "scalelab-preload.service", partial / "etc/systemd/system/scalelab-preload.service")
    chroot(partial, "\n".join([
        # As kind's base image does: a quiet systemd that only starts what a node needs.
        "find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete",
        "rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/*",
        "rm -f /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev*",
        "rm -f /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*",
        "echo ReadKMsg=no >> /etc/systemd/journald.conf",
        "ln -sf /usr/lib/systemd/systemd /sbin/init",
        "systemctl enable kubelet.service containerd.service undo-mount-hacks.service scalelab-preload.service",
        "systemctl mask systemd-binfmt.service",
        "mkdir -p /etc/kubernetes/manifests /var/lib/containerd",
        # The base runtime spec kind's containerd config points at (rlimits left to the runtime).
        "ctr oci spec | jq '.hooks.createContainer[.hooks.createContainer|length] |= . + "
        "{\"path\": \"/kind/bin/mount-product-files.sh\"}' | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json",
        # Point containerd's sandbox image at the pause tag kubeadm expects (and the node carries).
        f"sed -i 's#registry.k8s.io/pause:[0-9.]*\"#registry.k8s.io/pause:{versions.PAUSE}\"#' /etc/containerd/config.toml",
        f"grep -q 'sandbox_image = \"registry.k8s.io/pause:{versions.PAUSE}\"' /etc/containerd/config.toml",
        # This sandbox withholds CAP_SYS_RESOURCE, so runc cannot give a container a negative
        # oom_score_adj (pause asks for -998): keep each at or above containerd's own, as rootless does.
        "sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml",
        "grep -q 'restrict_oom_score_adj = true' /etc/containerd/config.toml",
        "containerd --version && runc --version && kubelet --version",
    ]), "configure node")
    (partial / "etc" / "resolv.conf").write_text("")
    partial.rename(root)
    (root / ".complete").write_text(key)
    return root


def finish_node_image(rootfs_image: str, key: str, progress: Progress) -> None:
    image = versions.OFFLINE_KIND_NODE_IMAGE
    if image_label(image) == key:
        return
    progress.step(f"docker build {image}")
    ctx = work_dir() / "context"
    mounts.remove_tree(ctx)
    ctx.mkdir(parents=True)
    (ctx / "Dockerfile").write_text("\n".join([
        f"FROM {rootfs_image}", "ENV container=docker", "STOPSIGNAL SIGRTMIN+3",
        'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]', f"LABEL scalelab.inputs={key}", ""]))
    run(["docker", "build", "-q", "-t", image, str(ctx)], f"docker build {image}",
        env={**os.environ, "DOCKER_BUILDKIT": "0"})


def save_images(names: list[str], key: str, progress: Progress) -> list[Path]:
    """One archive of the images (official names) for the node to import at boot."""
    out = work_dir() / f"images-{key}.tar"
    if not out.exists():
        progress.step(f"docker save {len(names)} images")
        saved, partial = out.with_suffix(".saved"), out.with_suffix(".partial")
        run(["docker", "save", "-o", str(saved), *[host_name(n) for n in names]], "docker save")
        retag_archive(saved, partial, {host_name(n): n for n in names})
        saved.unlink()
        partial.rename(out)
    return [out]


def host_tools(progress: Progress) -> None:
    """Root, a Docker engine, gcc, and debootstrap (installed from Debian's packages if missing)."""
    if os.geteuid() != 0:
        raise ScaleLabError("Building the node image needs root (debootstrap, chroot, mount).",
                            "run it as root: sudo python tools/offline-kind/build.py")
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        raise ScaleLabError("No Docker engine answers `docker info`.", "run tools/offline-kind/docker-up.sh first")
    if shutil.which("gcc") is None:
        raise ScaleLabError("gcc is missing (it compiles the pause process).", "apt-get install gcc libc6-dev")
    if shutil.which("debootstrap") is None:
        progress.step("installing Debian's debootstrap")
        run(["apt-get", "update", "-qq"], "apt-get update")
        run(["apt-get", "install", "-y", "-qq", "debootstrap"], "apt-get install debootstrap",
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def build(progress: Progress) -> str:
    started = time.monotonic()
    work_dir().mkdir(parents=True, exist_ok=True)
    host_tools(progress)
    # debootstrap waits on the network and the disk, the Go builds on the CPU: run them side by side.
    with ThreadPoolExecutor(max_workers=1) as pool:
        base_job = pool.submit(debootstrap_base, progress)
        binaries = build_binaries(progress)
        base_dir = base_job.result()
    base_key = (base_dir / ".complete").read_text()
    base = base_image_name(base_key)
    docker_import(base_dir, base, base_key, ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                  progress)
    wanted = images()
    for image in wanted:
        build_image(image, base, binaries, progress)
    names = [i.name for i in wanted]
    # "host-names": archives saved before images carried Scale Lab's names on the host are not reused.
    image_key = digest("host-names", *[image_label(host_name(n)) for n in names])
    tars = save_images(names, image_key, progress)
    node_inputs = [HERE / f for f in ("build.py", "podnet.yaml", "storage.yaml", "scalelab-preload.service")]
    node_key = digest(base_key, image_key, *node_inputs,
                      *[binaries[b] for b in ("kubelet", "kubeadm", "kubectl", "containerd", "ptp")])
    node = build_node_rootfs(base_dir, binaries, tars, node_key, progress)
    rootfs_image = versions.OFFLINE_KIND_NODE_IMAGE.replace("kind-node:", "kind-node-rootfs:")
    docker_import(node, rootfs_image, node_key, [], progress)
    # `docker import` takes no STOPSIGNAL: a one-line build on top sets systemd's stop signal.
    finish_node_image(rootfs_image, node_key, progress)
    progress.step(f"{versions.OFFLINE_KIND_NODE_IMAGE} ready in {time.monotonic() - started:.0f}s "
                  f"(log: {log_path()})")
    return versions.OFFLINE_KIND_NODE_IMAGE


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that unmount


def run_guarded(step: Callable[[], None]) -> int:
    """Run ``step`` (the build) so that neither an error nor SIGTERM/SIGINT leaves a mount under the build folder."""
    # SIGTERM (what `timeout` sends) would otherwise end the process without unwinding.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        step()
    except (ScaleLabError, mounts.StillMounted) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        # Whatever ended the build (an error, a signal, a mount a dying debootstrap left), nothing
        # stays mounted under the build folder.
        mounts.unmount_all(work_dir())
    return 0


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    return run_guarded(lambda: build(Progress()))


if __name__ == "__main__":
    sys.exit(main())
