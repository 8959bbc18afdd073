"""Doctor output names a fix for each failure; the CLI turns errors into a message and exit 1."""

import pytest

from scalelab import cli, doctor, versions
from scalelab.errors import NoClusterError


def test_report_prints_fix_only_for_failures():
    text = doctor.report([
        doctor.Check("kubectl", doctor.OK, "/usr/bin/kubectl (1.36)", "never shown"),
        doctor.Check("cluster", doctor.FAIL, "'scalelab' (kwok) is stopped", "scalelab up"),
    ])
    assert "fix: scalelab up" in text and "never shown" not in text
    assert "1 problem(s) found." in text


def test_pins_are_read_from_the_installed_package():
    pins = doctor.pinned_versions()
    assert pins["kubernetes"].startswith("36.") and "jupyterlab" in pins


def test_busy_port_is_detected():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not doctor.port_free(sock.getsockname()[1])


def test_cli_reports_scalelab_errors_with_exit_1(monkeypatch, capsys):
    def boom(args, progress):
        raise NoClusterError("the tutorial cluster is not running.", "scalelab up")

    monkeypatch.setattr(cli, "_run", boom)
    assert cli.main(["status"]) == 1
    err = capsys.readouterr().err
    assert "not running" in err and "Fix: scalelab up" in err


@pytest.mark.parametrize("present, expected", [
    (set(), "INFO"),  # nothing yet: kind pulls it, or the offline build is named as the fix
    ({versions.OFFLINE_KIND_NODE_IMAGE}, "OK"),
])
def test_doctor_names_the_node_image_and_the_offline_build(monkeypatch, present, expected):
    from scalelab.cluster import kind

    monkeypatch.setattr(kind, "image_present", lambda image: image in present)
    monkeypatch.setattr(doctor, "image_present", kind.image_present)
    monkeypatch.delenv("SCALELAB_KIND_IMAGE", raising=False)
    check = doctor.check_node_image()
    assert check.status == getattr(doctor, expected)
    if present:
        assert versions.OFFLINE_KIND_NODE_IMAGE in check.detail and "offline" in check.detail
    else:
        assert "tools/offline-kind/build.py" in check.detail
