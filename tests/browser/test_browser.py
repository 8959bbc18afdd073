"""The lessons in a real browser: JupyterLab in Debian's Chromium, driven by playwright-core.

What a learner would see, asserted from the page itself (tests/browser/drive.mjs reads it and
records it in output/<case>/result.json; the assertions are here):

* lesson 05 in JupyterLab, against the session's kwok cluster: the scaling dashboard's plotly
  graph is drawn and its traces gain points while the replay runs; the ready-pod count in its
  caption changes once the spike starts; the pod board has one tile per pod (300 on the wide
  board, the cluster's 300 ready pods); no "Error displaying widget", no traceback, no uncaught
  JavaScript error; the cleanup cell runs and leaves no tutorial namespace;
* lesson 00 executed and exported with nbconvert: every snapshot is drawn by plotly.js, offline;
* the "steps" scenario that lab cases use (a wrong answer shows the hint, the right one passes).

To add a lab: a test marked ``@pytest.mark.cluster`` that calls :func:`lab_case` (see its
docstring). To add another scenario: an async function in drive.mjs, listed in its SCENARIOS,
called with :func:`drive`.

Screenshots of each asserted state go to tests/browser/output/ (ignored by git).
Needs: node, ``npm ci --prefix tests/browser`` (tools/test.sh does it) and /usr/bin/chromium
(.ci/run installs it). Kill switch for a quick local run: ``pytest -m "not browser"``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUTPUT = HERE / "output"
CHROMIUM = os.environ.get("SCALELAB_CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.browser


def _need_tools() -> str:
    node = shutil.which("node")
    problems = []
    if not node:
        problems.append("node is not on PATH (apt-get install nodejs)")
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        problems.append("playwright-core is not installed: npm ci --prefix tests/browser")
    if not os.access(CHROMIUM, os.X_OK):
        problems.append(f"{CHROMIUM} is missing: apt-get install -y chromium")
    if problems:
        pytest.fail("browser tests cannot run: " + "; ".join(problems), pytrace=False)
    return node


# --- JupyterLab ---------------------------------------------------------------------------


@dataclass
class Jupyter:
    base_url: str
    token: str
    root: Path  # the server's root folder: notebooks are copied here, never opened in place


SETTINGS = {
    # Draw every cell, even off-screen ones (JupyterLab 4 windowing would skip them).
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # The copies are scratch files: no autosave, no "file changed on disk" dialogs.
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    # No news or update pop-ups over the page (and no network calls for them).
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"checkForUpdates": False,
                                                                         "fetchNews": "false"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop JupyterLab and its kernels (their own process group, started by us)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """JupyterLab on loopback with token auth, from this environment, with its own scratch folders."""
    _need_tools()
    home = tmp_path_factory.mktemp("jupyterlab")
    root = home / "root"
    root.mkdir()
    settings = home / "settings"
    for name, values in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               # Where labs find the learner's answer files: the scratch copies, not the repository.
               SCALELAB_LABS_DIR=str(root / "labs"))
    # Lesson 05 replays at the learner's speed: at 3x (SCALELAB_FAST_FORWARD=60) the HPA cannot
    # follow a spike that lasts seconds, and the ready count the test watches for stayed at 2.
    env.pop("SCALELAB_FAST_FORWARD", None)
    env.pop("SCALELAB_LAB_SOLUTIONS", None)  # a learner's answers, not the reference solutions
    OUTPUT.mkdir(exist_ok=True)
    token = secrets.token_hex(16)
    proc = None
    for attempt in range(3):  # a free port can be taken between the check and the bind
        port = _free_port()
        log = open(OUTPUT / "jupyterlab.log", "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
             "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
             "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly",
             "--allow-root"],  # CI runs as root
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        base_url = f"http://127.0.0.1:{port}/"
        if _wait_ready(proc, base_url, token):
            break
        _stop(proc)
        proc = None
    if proc is None:
        pytest.fail(f"JupyterLab did not start; see {OUTPUT / 'jupyterlab.log'}", pytrace=False)
    try:
        yield Jupyter(base_url, token, root)
    finally:
        _stop(proc)


def _wait_ready(proc: subprocess.Popen, base_url: str, token: str, timeout: float = 240) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{base_url}api/status?token={token}", timeout=10) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


# --- the driver -----------------------------------------------------------------------------


def drive(scenario: str, case: str, *, jupyter: Jupyter | None = None, notebook: str | None = None,
          params: dict | None = None, timeout: float = 2400, cell_timeout: float = 600) -> dict:
    """Run one drive.mjs scenario; return its result.json (observations, page errors, screenshots).

    ``case`` names the output folder (tests/browser/output/<case>/). Fails the test with the
    driver's own reason and log when the scenario stops early.
    """
    node = _need_tools()
    out = OUTPUT / case
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    config = {"outputDir": str(out), "chromium": CHROMIUM, "cellTimeoutMs": int(cell_timeout * 1000),
              "params": params or {}}
    if jupyter:
        config.update(baseUrl=jupyter.base_url, token=jupyter.token, notebook=notebook)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    with open(out / "driver.log", "w") as log:
        try:
            proc = subprocess.run([node, str(HERE / "drive.mjs"), scenario, str(out / "config.json")], cwd=HERE,
                                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    result_file = out / "result.json"
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    if code != 0 or not result.get("ok"):
        tail = "\n".join((out / "driver.log").read_text().splitlines()[-40:])
        pytest.fail(f"browser scenario {scenario!r} ({case}) failed (exit {code}):\n"
                    f"{result.get('error') or 'no result'}\n--- last lines of {out / 'driver.log'}:\n{tail}",
                    pytrace=False)
    for warning in result.get("warnings", []):
        print(f"browser warning ({case}): {warning}")
    return result


def copy_notebook(jupyter: Jupyter, relative: str) -> str:
    """Copy a notebook of the repository into the server's root (same relative path); return that path.

    The copy is what the browser runs, so the committed notebook never gets outputs.
    """
    target = jupyter.root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / relative, target)
    return relative


def lab_case(jupyter: Jupyter, notebook: str, *, wrong: str, right: str, check: str, hint: str, passed: str,
             answer: str | None = None, answer_file: str | None = None, apply: str | None = None,
             cleanup: str = "lab.cleanup()", case: str | None = None) -> dict:
    """A lab in the browser: the learner gives a wrong answer and sees the hint, then fixes it and passes.

    notebook:    the lab in the repository, e.g. "labs/02-viral-spike/lab-02-viral-spike.ipynb"; its
                 whole folder is copied into the server's root (same relative path)
    answer:      text found in the cell the learner edits; ``wrong`` / ``right`` are its two sources
    answer_file: or a file of the lab the learner edits (repository-relative, e.g.
                 "labs/02-viral-spike/deployment.yaml"); ``wrong`` / ``right`` are its two contents,
                 saved through JupyterLab's contents API (the kernel sees them through
                 SCALELAB_LABS_DIR, set to the copies)
    apply:       text found in the cell that reads the answer (e.g. 'lab.apply("deployment.yaml")'),
                 run after each answer; defaults to the answer cell itself
    check:       text found in the check cell (e.g. 'lab.check("request")')
    hint/passed: text the check cell shows for the wrong / the right answer (e.g. "HINT", "PASS")
    cleanup:     text found in the lab's cleanup cell: run at the end (the lab's other tasks are
                 skipped), and after a failure
    Screenshots: tests/browser/output/<case>/lab-hint.png and lab-pass.png (case: the notebook's name).
    Mark the test @pytest.mark.cluster (and take the ``api`` fixture to check what is left).
    """
    if (answer is None) == (answer_file is None):
        raise ValueError("give exactly one of answer (a cell) or answer_file (a file)")
    source = ROOT / notebook
    shutil.copytree(source.parent, jupyter.root / source.parent.relative_to(ROOT), dirs_exist_ok=True)

    def give(text: str) -> list[dict]:
        if answer is not None:
            return [{"edit": answer, "source": text}, {"run": apply or answer}]
        return [{"write": answer_file, "content": text}, {"run": apply}]

    if answer_file is not None and apply is None:
        raise ValueError("answer_file needs apply: the cell that reads the file")
    first = answer if answer is not None else apply
    steps = ([{"runUntil": first}] + give(wrong) + [{"run": check, "expect": hint, "screenshot": "lab-hint"}]
             + give(right) + [{"run": check, "expect": passed, "screenshot": "lab-pass"}, {"run": cleanup}])
    result = drive("steps", case or source.stem, jupyter=jupyter, notebook=notebook,
                   params={"steps": steps, "cleanup": cleanup})
    assert result["pageErrors"] == [], f"uncaught JavaScript errors: {result['pageErrors']}"
    return result


# --- the cases ------------------------------------------------------------------------------


def _leftovers(api) -> list[str]:
    from scalelab.cluster.base import tutorial_namespaces

    return tutorial_namespaces(api)


def _clean_cluster(api) -> None:
    """Safety net after a failed browser run: what lesson 05's cleanup cell would have deleted."""
    from kubernetes import client

    from scalelab import k8s

    for ns in _leftovers(api):
        k8s.delete_namespace(api, ns, timeout=180)
    client.CoreV1Api(api).delete_collection_node(label_selector="scalelab.dev/pool=burst")


@pytest.mark.cluster
@pytest.mark.timeout(3000)
def test_release_day_lesson_live_in_jupyterlab(jupyter, api):
    notebook = copy_notebook(jupyter, "lessons/05-release-day.ipynb")
    try:
        result = drive("release-day", "lesson-05", jupyter=jupyter, notebook=notebook)
    finally:
        left = _leftovers(api)
        if left:
            _clean_cluster(api)
    obs = result["observations"]
    assert left == [], f"tutorial namespaces left behind: {left}"
    assert obs.get("cleanupRan") is True
    assert result["pageErrors"] == [], f"uncaught JavaScript errors: {result['pageErrors']}"
    assert obs.get("brokenOutputs", []) == []

    # The dashboard is drawn, and the live updates reach the browser: points arrive while the replay runs.
    samples = [s for s in obs["dashboardSamples"] if s["clock"]]
    assert samples, f"the dashboard caption never showed story time: {obs['dashboardSamples'][:3]}"
    assert all(s["svgs"] > 0 for s in samples)
    points = [s["points"] for s in samples]
    assert points[-1] > points[0] and len(set(points)) >= 3, f"dashboard points over time: {points}"
    assert samples[-1]["lineLength"] > samples[0]["lineLength"]
    assert samples[-1]["clock"] >= "18:40", f"the replay did not reach the end of the story: {samples[-1]}"

    # The replica count shown changes once the spike starts (18:00).
    before = [s["ready"] for s in samples if s["clock"] < "18:00"]
    after = {s["ready"] for s in samples if s["clock"] >= "18:00"}
    assert before, f"no sample before the spike: {samples[:3]}"
    assert after - {before[0]}, f"ready pods stayed at {before[0]} after the spike: {sorted(after)}"

    # The pod boards show a tile per pod: the lesson's board agrees with its caption, and the wide
    # board shows the 300 ready pods the cell waited for.
    board = obs["boardAfterReplay"]
    assert board["tiles"] == board["captionTotal"] >= 2, board
    assert board["drawnPoints"] == board["tiles"], board
    assert obs["wideBoard"]["readyTiles"] == 300 and obs["wideBoard"]["drawnPoints"] >= 300, obs["wideBoard"]
    # The three snapshots (dashboard, board, 300-pod board) are drawn as static plotly figures.
    assert obs["staticFigures"] >= 3, obs["staticFigures"]


def _static_figures(nb) -> int:
    return sum(1 for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
               if "scalelab-static-figure" in str(o.get("data", {}).get("text/html", "")))


@pytest.mark.cluster
@pytest.mark.timeout(1200)
def test_executed_lesson_exported_to_html_draws_its_snapshots(api):
    """Lesson 00 executed as nbconvert would, exported to HTML, opened offline: the snapshot is drawn."""
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    source = ROOT / "lessons" / "00-setup-and-tour.ipynb"
    nb = nbformat.read(source, as_version=4)
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(source.parent)}}).execute()
    finally:
        left = _leftovers(api)
        if left:
            _clean_cluster(api)
    assert left == []
    out = OUTPUT / "exported"  # not the driver's case folder, which it empties first
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / "lesson-00.executed.ipynb")
    body, _ = HTMLExporter().from_notebook_node(nb)
    html_file = out / "lesson-00.html"
    html_file.write_text(body, encoding="utf-8")

    figures = _static_figures(nb)
    assert figures >= 1, "the executed lesson has no static snapshot with an HTML form"
    # plotly.js travels once (in the first snapshot), not once per figure.
    assert len(re.findall(r"window\.__scalelabDefine = window\.define", body)) == 1

    result = drive("html", "lesson-00-html", params={"file": str(html_file), "figures": figures})
    drawn = result["observations"]["figures"]
    assert len(drawn) == figures
    assert all(f["plotly"] and f["svgs"] > 0 for f in drawn), drawn
    assert all(f["points"] + f["lines"] > 0 for f in drawn), drawn
    assert result["observations"]["plotlyLoaded"] is True
    assert result["pageErrors"] == [], f"uncaught JavaScript errors: {result['pageErrors']}"


@pytest.mark.cluster
@pytest.mark.timeout(900)
def test_lab_shows_the_hint_for_a_wrong_answer_then_passes(jupyter, api):
    """Lab 2 in JupyterLab: a deployment.yaml without a CPU request gets the hint naming that field;
    the corrected file, saved through JupyterLab, passes. (Without a limit either: a limit alone would give
    the pods a request equal to it, which the check rightly accepts.)"""
    folder = "labs/02-viral-spike"
    right = (ROOT / folder.replace("labs/", "labs/solutions/") / "deployment.yaml").read_text()
    wrong = re.sub(r"\n\s*(requests|limits): \{cpu: \d+m, memory: \d+Mi\}.*", "", right)
    assert wrong != right and "requests:" not in wrong and "limits:" not in wrong
    try:
        result = lab_case(jupyter, f"{folder}/lab-02-viral-spike.ipynb", answer_file=f"{folder}/deployment.yaml",
                          apply='lab.apply("deployment.yaml")', check='lab.check("request")',
                          wrong=wrong, right=right, hint="requests.cpu is not set", passed="[PASS] request")
    finally:
        left = _leftovers(api)
        if left:
            _clean_cluster(api)
    assert left == []
    shots = {Path(p).name for p in result.get("screenshots", [])}
    assert {"lab-hint.png", "lab-pass.png"} <= shots, shots
