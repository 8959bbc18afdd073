"""Snapshots stay visible in saved notebooks and their HTML export (no cluster, no browser)."""

import json

from scalelab import traffic, viz


def figure(title: str) -> viz.StaticFigure:
    return viz.profile_figure(traffic.album_release(base=150, peak=1000, release_minute=15),
                              capacity_per_pod=250, pods=[2, 4], title=title)


def test_bundle_has_plotly_json_for_jupyterlab_and_html_for_nbconvert(monkeypatch):
    monkeypatch.setattr(viz, "_plotlyjs_sent", False)
    first = figure("first")._repr_mimebundle_()
    second = figure("second </script> title")._repr_mimebundle_()
    for bundle in (first, second):
        assert set(bundle) == {"application/vnd.plotly.v1+json", "text/html", "text/plain"}
        assert json.dumps(bundle["application/vnd.plotly.v1+json"])  # JSON-serialisable as is
        assert "Plotly.newPlot" in bundle["text/html"]
    # plotly.js travels once per kernel: in the first figure's HTML only.
    assert len(first["text/html"]) > 1_000_000 > len(second["text/html"])
    # A "</script>" inside the figure's text must not end the script element early.
    assert second["text/html"].count("</script>") == 1
    assert second["text/plain"] == "<StaticFigure: second </script> title>"


def test_snapshot_helpers_return_static_figures():
    fig = figure("x")
    assert isinstance(fig, viz.StaticFigure)
    assert isinstance(fig.update_layout(title="y"), viz.StaticFigure)


def test_the_dashboard_marks_the_minutes_the_api_server_did_not_answer():
    from types import SimpleNamespace

    from scalelab.replay import Sample
    from scalelab.traffic import Capacity, Profile, Score
    from scalelab.viz import ScalingDashboard

    def sample(minute: float, gap: bool) -> Sample:
        return Sample(minute=minute, demand_rps=200, served_rps=200, dropped_rps=0, desired=3, current=3, ready=3,
                      cpu_per_pod_m=67, utilization=67, api_gap=gap)

    replay = SimpleNamespace(samples=[sample(0, False), sample(1, True), sample(2, True), sample(3, False)],
                             capacity=Capacity(), profile=Profile("flat", ((0, 200), (10, 200))),
                             score=Score("outage"), listeners=[])
    board = ScalingDashboard(replay)
    try:
        board._draw()
        marks = [t for t in board.figure.data if t.name == "API server did not answer"][0]
        assert list(marks.x) == [1, 2] and marks.showlegend
        assert "did not answer for 2 story minute(s)" in board.caption.value
        replay.samples = [sample(0, False)]
        board._draw()
        marks = [t for t in board.figure.data if t.name == "API server did not answer"][0]
        assert not marks.x and not marks.showlegend
    finally:
        board.close()
