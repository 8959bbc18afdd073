"""Every lesson keeps the promised shape, and is committed without stray outputs."""

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
