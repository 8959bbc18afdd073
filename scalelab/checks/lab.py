"""What a lab notebook talks to: start, apply the learner's files, check, hint, solve, reset.

``Lab.start(1)`` checks the cluster (through :class:`~scalelab.lesson.Lesson`,
which also checks it has what lab 1 needs: its ``lab-1`` entry in
:data:`scalelab.needs.NEEDS`), gives the lab a fresh namespace ``lab-1`` with its starting state, and shows
the task board. :meth:`Lab.apply` is ``kubectl apply --server-side
--field-manager=scalelab --force-conflicts`` on a file of the lab's folder, all
or nothing: the whole file is validated by the API server first (a dry run with
strict field validation, kubectl's default, so a typo in a field name is an
error, not silently dropped), and only then applied.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from scalelab import k8s, kubectl, paths
from scalelab.checks.core import ERROR, PASS, LabSpec, Result, Task, run_check, solutions_enabled
from scalelab.errors import ScaleLabError
from scalelab.lesson import Lesson
from scalelab.names import FIELD_MANAGER

STATE_CONFIGMAP = "scalelab-lab-state"


def labs_dir() -> Path:
    """The labs folder: the repository's, or ``SCALELAB_LABS_DIR`` (a copy an attendee works in)."""
    override = os.environ.get("SCALELAB_LABS_DIR")
    return Path(override) if override else paths.project_root() / "labs"


def find_todos(node: Any, where: str = "") -> list[str]:
    """Dotted paths of every value still containing 'TODO' (a placeholder the learner must fill in)."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in find_todos(v, f"{where}.{k}" if where else str(k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in find_todos(v, f"{where}[{i}]")]
    return [where] if isinstance(node, str) and "TODO" in node else []


def read_answer(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of a learner's file, or an error that says which line and what to fix."""
    if not path.exists():
        raise ScaleLabError(f"{path} does not exist.", f"the lab's files are in {path.parent}; check the name")
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScaleLabError(f"{path.name} is not valid YAML{at}: {getattr(exc, 'problem', exc)}.",
                            "check the indentation there (spaces, not tabs) and that every `key: value` has a space "
                            "after the colon") from None
    if not docs:
        raise ScaleLabError(f"{path.name} is empty.", "write the object(s) the task asks for, then apply again")
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise ScaleLabError(f"{path.name} has a document without `apiVersion` and `kind`.",
                                "every object starts with apiVersion, kind and metadata.name")
        todos = find_todos(doc)
        if todos:
            name = doc.get("metadata", {}).get("name", "?")
            raise ScaleLabError(f"{path.name}: {doc['kind']} {name} still has TODO at {', '.join(todos)}.",
                                "replace each TODO with your value, save the file, and apply again")
    return docs


class Lab:
    """One running lab: its namespace, the learner's folder, the task board and the last results."""

    def __init__(self, spec: LabSpec, lesson: Lesson, show: bool = True) -> None:
        self.spec = spec
        self.lesson = lesson
        self.results: dict[str, Result] = {}
        self.board = None
        if show:
            from scalelab.checks.board import TaskBoard

            self.board = TaskBoard(spec)
            lesson.show(self.board)

    # --- start and connection -------------------------------------------------------------

    @classmethod
    def start(cls, number: int, show: bool = True) -> "Lab":
        """Connect, give the lab a fresh namespace with its starting state, and show the task board."""
        spec = spec_for(number)
        lesson = Lesson.start(spec.namespace, need_metrics=spec.need_metrics)
        lab = cls(spec, lesson, show=show)
        lab._starting_state()
        if solutions_enabled():
            print(f"(instructor mode: apply() reads labs/solutions/{spec.folder}/)")
        return lab

    @classmethod
    def join(cls, number: int, show: bool = False) -> "Lab":
        """Attach to a lab that is already running (the CLI, tests), without resetting it."""
        spec = spec_for(number)
        lesson = Lesson.attach(spec.namespace)
        return cls(spec, lesson, show=show)

    def _starting_state(self) -> None:
        k8s.apply_file(self.api, paths.project_root() / "manifests" / "labs" / self.spec.starting_state,
                       self.namespace)
        if self.spec.prepare:
            self.spec.prepare(self)

    @property
    def api(self) -> client.ApiClient:
        return self.lesson.api

    @property
    def namespace(self) -> str:
        return self.spec.namespace

    @property
    def folder(self) -> Path:
        return labs_dir() / self.spec.folder

    @property
    def solutions_folder(self) -> Path:
        return labs_dir() / "solutions" / self.spec.folder

    def kubectl(self, command: str, check: bool = True) -> str:
        return self.lesson.kubectl(command, check=check)

    # --- the learner's answers ----------------------------------------------------------

    def answer_path(self, filename: str) -> Path:
        if solutions_enabled():
            return labs_dir() / "solutions" / self.spec.folder / filename
        return self.folder / filename

    def apply(self, filename: str | Path, quiet: bool = False) -> list[str]:
        """`kubectl apply --server-side --field-manager=scalelab --force-conflicts -n lab-N -f FILE`.

        Validated as a whole (a server-side dry run) before anything changes.
        """
        path = Path(filename) if Path(filename).is_absolute() else self.answer_path(str(filename))
        return self.apply_docs(read_answer(path), path.name, quiet=quiet)

    def apply_docs(self, docs: list[dict[str, Any]], label: str = "your objects", quiet: bool = False) -> list[str]:
        """Apply objects all-or-nothing: a server-side dry run (strict fields) of every one, then the real apply."""
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as tmp:
            yaml.safe_dump_all(docs, tmp)
        base = ["apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "--force-conflicts",
                "--validate=strict", "-o", "name", "-f", tmp.name]
        try:
            trial = self._kubectl_quiet([*base, "--dry-run=server"])
            if trial.returncode != 0:
                raise ScaleLabError(f"{label} was not applied (nothing changed): {_first_error(trial.stderr)}",
                                    "fix that field in the file, save it, and apply again")
            done = self._kubectl_quiet(base)
            if done.returncode != 0:
                raise ScaleLabError(f"applying {label} failed: {_first_error(done.stderr)}",
                                    f"read the message, fix the file and apply again (`scalelab reset --lab "
                                    f"{self.spec.number}` starts the lab afresh)")
        finally:
            Path(tmp.name).unlink(missing_ok=True)
        applied = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        if not quiet:
            for name in applied:
                print(f"{name} applied")
        return applied

    def _kubectl_quiet(self, args: list[str]) -> subprocess.CompletedProcess:
        return kubectl.run(args, self.lesson.context, self.namespace)

    def answer(self, key: str, value: str) -> str:
        """A value the learner types into a cell (a command, a name); TODO means "not answered yet".

        In instructor mode (``SCALELAB_LAB_SOLUTIONS``) the reference answer from
        ``labs/solutions/<folder>/answers.yaml`` is used instead.
        """
        if solutions_enabled():
            answers = yaml.safe_load((self.solutions_folder / "answers.yaml").read_text()) or {}
            if key not in answers:
                raise ScaleLabError(f"no reference answer '{key}' for lab {self.spec.number}.",
                                    f"add it to {self.solutions_folder / 'answers.yaml'}")
            return str(answers[key])
        if "TODO" in value:
            raise ScaleLabError(f"the answer '{key}' in this cell is still TODO.",
                                "replace the TODO text in the cell with your answer and run it again")
        return value.strip()

    # --- state a check needs later (survives a kernel restart) -------------------------

    def remember(self, key: str, value: Any) -> None:
        """Keep ``value`` under ``key``, next to what was remembered before.

        The whole map is applied: a server-side apply of ``{key: value}`` alone
        would drop the keys the same field manager applied earlier (lab 3's
        'ship-v2' vanished when 'ship-v3' was remembered).
        """
        data = {}
        try:
            cm = client.CoreV1Api(self.api).read_namespaced_config_map(STATE_CONFIGMAP, self.namespace)
            data = dict(cm.data or {})
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        data[key] = json.dumps(value)
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": STATE_CONFIGMAP}, "data": data}
        k8s.apply_objects(self.api, [body], self.namespace)

    def recall(self, key: str) -> Any:
        try:
            cm = client.CoreV1Api(self.api).read_namespaced_config_map(STATE_CONFIGMAP, self.namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        raw = (cm.data or {}).get(key)
        return None if raw is None else json.loads(raw)

    # --- checks and hints ----------------------------------------------------------------

    def check(self, task_id: str, quiet: bool = False) -> Result:
        """Run one task's check, show the verdict and update the board."""
        task = self.spec.task(task_id)
        judged = self._fingerprint(task)  # before the check: the state its verdict is about
        result = run_check(task, self)
        if judged is not None:
            result.details["fingerprint"] = judged
        self.results[task_id] = result
        if self.board is not None:
            self.board.update(result)
        if not quiet:
            print(result)
            if result.state not in (PASS, ERROR):
                print(f"  Stuck? lab.hint('{task_id}') gives a nudge, lab.hint('{task_id}', 2) nearly the answer.")
        return result

    def check_all(self, quiet: bool = False) -> list[Result]:
        return [self.check(t.id, quiet=quiet) for t in self.spec.tasks]

    def hint(self, task_id: str, level: int = 1) -> str:
        task = self.spec.task(task_id)
        if level not in (1, 2):
            raise ScaleLabError(f"hint level {level} does not exist.", "use 1 (a nudge) or 2 (nearly the answer)")
        text = task.hints[level - 1]
        print(f"Hint {level} for '{task_id}': {text}")
        return text

    def _fingerprint(self, task: Task) -> str | None:
        """The digest of what a slow task's check judges, or None (not a slow task, or nothing to read)."""
        if task.fingerprint is None:
            return None
        try:
            return task.fingerprint(self)
        except Exception:  # noqa: BLE001 - missing objects or an unreachable cluster: no digest, so it is checked
            return None

    def summary(self) -> str:
        """One line per task, each checked again now, and the total.

        A verdict is about the cluster as it was when checked; the learner may have
        changed it since. So every task is checked again, except a slow one (a
        replay, a drain) whose judged objects are unchanged since its last check.
        """
        lines = []
        for task in self.spec.tasks:
            last = self.results.get(task.id)
            now = self._fingerprint(task)
            if last is not None and now is not None and last.details.get("fingerprint") == now:
                result = last
            else:
                result = self.check(task.id, quiet=True)
            lines.append(f"  {'PASS' if result.passed else 'not yet'}  {task.id}: {task.title}")
        passed = sum(1 for t in self.spec.tasks if self.results[t.id].passed)
        text = f"Lab {self.spec.number} ({self.spec.title}): {passed}/{len(self.spec.tasks)} tasks pass\n" + "\n".join(lines)
        print(text)
        return text

    # --- instructor tools --------------------------------------------------------------------

    def solve(self, task_id: str, quiet: bool = False) -> Result:
        """Apply the reference solution of one task (an instructor unblocking someone), then check it."""
        task = self.spec.task(task_id)
        if callable(task.solution):
            task.solution(self)
        else:
            for name in task.solution:
                self.apply(self.solutions_folder / name, quiet=quiet)
        return self.check(task_id, quiet=quiet)

    def reset(self) -> None:
        """Back to the starting state: a fresh namespace with what the lab starts from."""
        k8s.delete_namespace(self.api, self.namespace, timeout=180)
        k8s.ensure_namespace(self.api, self.namespace)
        self._starting_state()
        self.results.clear()
        if self.board is not None:
            self.board.clear()
        print(f"lab {self.spec.number} reset: namespace {self.namespace} is back to its starting state")

    def cleanup(self) -> None:
        """Delete the lab's namespace (`kubectl delete namespace lab-N`)."""
        self.lesson.cleanup()


def _first_error(stderr: str) -> str:
    """kubectl's message, minus the noise; a misspelt field is named as such."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    text = " ".join(lines) if lines else "kubectl gave no message"
    text = re.sub(r"^Error from server( \([A-Za-z]+\))?: ", "", text).replace("error: ", "")
    typo = re.search(r"failed to create typed patch object \(([^)]*)\): (\S+): field not declared in schema", text)
    if typo:
        return f"unknown field {typo.group(2)} in {typo.group(1)}: is it misspelt, or at the wrong indentation?"
    return text[:600]


def spec_for(number: int) -> LabSpec:
    from scalelab.checks import LABS

    if number not in LABS:
        raise ScaleLabError(f"there is no lab {number}.", f"labs are numbered {', '.join(map(str, sorted(LABS)))}")
    return LABS[number]


__all__ = ["Lab", "read_answer", "find_todos", "labs_dir", "spec_for"]
