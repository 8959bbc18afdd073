"""Every lesson keeps the promised shape, and is committed without stray outputs."""

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "lessons").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402


def test_there_are_six_lessons_numbered_00_to_05():
    assert [p.name[:2] for p in LESSONS] == ["00", "01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_has_objectives_time_recap_and_cleanup(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0].source
    assert first.startswith("# Lesson ") and "**Time:**" in first and "By the end you will be able to" in first
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "## Recap" in markdown and "## Cleanup" in markdown
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert "L.cleanup()" in code[-1]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_cluster_change_shows_its_kubectl_equivalent(path):
    nb = nbformat.read(path, as_version=4)
    changing = ("L.apply(", "L.scale(", "L.set_env(", ".patch_namespaced_deployment_scale(", ".delete_namespaced_pod(",
                "L.cleanup()")
    for cell in nb.cells:
        if cell.cell_type == "code" and any(call in cell.source for call in changing):
            assert "# $ kubectl" in cell.source, f"no kubectl equivalent in:\n{cell.source[:300]}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_committed_notebook_keeps_only_checked_outputs(path):
    assert notebooks.dirty(path) == []


LAB_NOTEBOOKS = sorted((ROOT / "labs").glob("*/lab-*.ipynb"))


def test_there_are_four_labs():
    assert [p.name[:6] for p in LAB_NOTEBOOKS] == ["lab-01", "lab-02", "lab-03", "lab-04"]


@pytest.mark.parametrize("path", LAB_NOTEBOOKS, ids=lambda p: p.stem)
def test_lab_has_objectives_time_summary_recap_and_cleanup(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0].source
    assert first.startswith("# Lab ") and "**Time:**" in first and "By the end you will be able to" in first
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert any("lab.summary()" in c and c.startswith("# NBVAL_CHECK_OUTPUT") for c in code)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "## Recap" in markdown and "## Cleanup" in markdown and "lab.cleanup()" in code[-1]


@pytest.mark.parametrize("path", LAB_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_lab_change_shows_its_kubectl_equivalent_and_outputs_are_clean(path):
    nb = nbformat.read(path, as_version=4)
    changing = ("lab.apply(", "Lab.start(", "lab3.ship(", "lab.cleanup()")
    for cell in nb.cells:
        if cell.cell_type == "code" and any(call in cell.source for call in changing):
            assert "# $ kubectl" in cell.source, f"no kubectl equivalent in:\n{cell.source[:300]}"
    assert notebooks.dirty(path) == []


# --- printed apply lines ----------------------------------------------------------------------
# The library applies as field manager `scalelab` with force (k8s.apply_objects; Lab.apply runs
# kubectl with the same flags): the line printed for it must carry both flags, or a learner who
# types it gets a different result (a conflict where the cell went through).
LIBRARY_APPLY = re.compile(r"kubectl apply --server-side --field-manager=scalelab --force-conflicts"
                           r"(?: -n (?P<ns><[^>]+>|\S+))? -f (?P<path>\S+)")
NOTEBOOKS = [*LESSONS, *LAB_NOTEBOOKS]
YAMLS = sorted([*(ROOT / "manifests").rglob("*.yaml"), *(ROOT / "labs").rglob("*.yaml")])


def printed_kubectl_lines(path: Path) -> list[tuple[str, str, str]]:
    """(where, printed line, the code line it stands for) for each `# $ kubectl apply|diff` comment,
    and (where, line, "") for each YAML comment line that is a `kubectl apply` command."""
    found = []
    if path.suffix == ".yaml":
        for number, line in enumerate(path.read_text().splitlines(), 1):
            command = line.lstrip("# ")
            if line.startswith("#") and command.startswith("kubectl apply"):  # a command, not prose about one
                found.append((f"{path.relative_to(ROOT)}:{number}", command, ""))
        return found
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        lines = cell.source.splitlines() if cell.cell_type == "code" else []
        for i, line in enumerate(lines):
            command = line.strip().removeprefix("# $ ")
            if command.startswith(("kubectl apply", "kubectl diff")):
                code = next((c.strip() for c in lines[i + 1:] if not c.strip().startswith("#")), "")
                found.append((f"{path.relative_to(ROOT)} cell {index}", command.split("   ")[0], code))
    return found


def test_every_printed_apply_line_carries_the_flags_the_code_applies_with():
    wrong = []
    for path in [*NOTEBOOKS, *YAMLS]:
        for where, line, code in printed_kubectl_lines(path):
            if "kubectl(" in code:  # the cell runs this very command: the line must be what it runs
                args = re.search(r"kubectl\(\"([^\"]+)\"", code)[1]
                ns = re.search(r"-n (\S+)", line)
                expected = f"kubectl {args.split(' -f ')[0]}{f' -n {ns[1]}' if ns else ''} -f {args.split(' -f ')[1]}"
                ok = line == expected
            else:  # the library's apply (or diff_file, which answers what that apply would change)
                match = LIBRARY_APPLY.fullmatch(line.replace("kubectl diff", "kubectl apply", 1))
                ok = match is not None and ("/" not in match["path"] or (ROOT / match["path"]).exists())
            if not ok:
                wrong.append(f"{where}: {line}")
    assert wrong == []


def test_the_printed_line_helper_is_the_form_the_test_expects():
    from scalelab import k8s

    assert LIBRARY_APPLY.fullmatch(k8s.apply_command("manifests/stream-api.yaml", "lesson-03"))
    assert LIBRARY_APPLY.fullmatch(k8s.apply_command("manifests/cluster/kwok-burst-pool.yaml"))
