"""`scalelab up | down | status | doctor | reset`: the tutorial cluster from a terminal."""

from __future__ import annotations

import argparse
import sys

from scalelab.errors import ScaleLabError
from scalelab.progress import Progress


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scalelab", description="Run the Scale Lab tutorial cluster.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument("--provider", choices=["auto", "kind", "kwok"], default="auto",
                         help="kind (Docker) or kwok (no Docker); auto reuses an existing cluster, "
                              "else picks kind when Docker runs")
        cmd.add_argument("--cluster", default=None, help="cluster name (default: $SCALELAB_CLUSTER or 'scalelab')")
        return cmd

    up = add("up", "Create or reuse the tutorial cluster and wait until the lessons can run.")
    up.add_argument("--config", default=None,
                    help="'default' (the fleet: on-prem and cloud pools in three zones; every lesson and lab runs "
                         "there), 'one-node' (for tiny laptops), or a config file path")
    up.add_argument("--timeout", type=float, default=600, help="seconds to wait for readiness (default 600)")
    add("down", "Delete the tutorial cluster.")
    add("status", "Show provider, context, version, nodes, metrics API and tutorial namespaces.")
    add("doctor", "Check every prerequisite and print the fix for each problem.")
    reset = add("reset", "Delete every tutorial namespace (and nothing else), or with --lab N return lab N "
                         "to its starting state.")
    reset.add_argument("--lab", type=int, default=None, help="reset only this lab (1-4) to its starting state")
    lab = sub.add_parser("lab", help="Instructor tools for a running lab: check a task, or apply its reference "
                         "solution to unblock an attendee.")
    lab.add_argument("number", type=int, help="lab number (1-4)")
    lab.add_argument("action", choices=["check", "solve", "hints"], help="check: run checks; solve: apply the "
                     "reference solution of TASK and check it; hints: print both hints of TASK")
    lab.add_argument("task", nargs="?", default=None, help="task id (default for check: every task)")
    binaries = sub.add_parser("binaries", help="Download or build the pinned control-plane binaries (kwok provider) "
                              "and print where they are; instructors run it once per machine before a workshop.")
    binaries.add_argument("--only", default=None, metavar="NAME[,NAME]",
                          help="only these components (kubernetes, etcd, kwok, metrics-server)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    progress = Progress(interval=30)
    try:
        return _run(args, progress)
    except ScaleLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace, progress: Progress) -> int:
    from scalelab import doctor, toolchain
    from scalelab.cluster import base, choose_provider

    if args.command == "binaries":
        only = None if args.only is None else [n.strip() for n in args.only.split(",") if n.strip()]
        for name, path in toolchain.ensure_all(progress, only).items():
            print(f"{name:<24} {path}")
        return 0

    if args.command == "lab" or (args.command == "reset" and args.lab is not None):
        return _lab_command(args)

    provider = choose_provider(args.provider, args.cluster, getattr(args, "config", None))
    if args.command == "up":
        provider.up(progress, timeout=args.timeout)
        print(f"\nReady. Try:  kubectl --context {provider.context} get nodes")
        return 0
    if args.command == "down":
        provider.down(progress)
        return 0
    if args.command == "status":
        status = provider.status()
        print(status.render())
        return 0 if status.running else 1
    if args.command == "doctor":
        checks = doctor.run_checks(provider)
        print(doctor.report(checks))
        return 1 if any(c.status == doctor.FAIL for c in checks) else 0
    if args.command == "reset":
        deleted = base.reset(provider.api(), progress)
        print(f"deleted {len(deleted)} tutorial namespace(s): {', '.join(deleted) or 'none'}")
        return 0
    raise AssertionError(args.command)


def _lab_command(args: argparse.Namespace) -> int:
    from scalelab.checks import Lab

    if args.command == "reset":
        Lab.join(args.lab).reset()
        return 0
    lab = Lab.join(args.number)
    if args.action == "check":
        results = [lab.check(args.task)] if args.task else lab.check_all()
        return 0 if all(r.passed for r in results) else 1
    if args.task is None:
        raise ScaleLabError(f"`scalelab lab {args.number} {args.action}` needs a task.",
                            f"name one: {', '.join(t.id for t in lab.spec.tasks)}")
    if args.action == "hints":
        lab.hint(args.task, 1)
        lab.hint(args.task, 2)
        return 0
    return 0 if lab.solve(args.task).passed else 1


if __name__ == "__main__":
    sys.exit(main())
