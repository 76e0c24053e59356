import json
import os
import subprocess
import sys

import numpy as np
import pytest

from voxelio import AnnotationWriter, CloudVolume
from voxelio.cli import main


def test_help_lists_commands(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "demo" in out and "info" in out


def test_demo_writes_checkable_layers(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "d"), "--small"]) == 0
    out = capsys.readouterr().out
    assert "identical" in out
    img = CloudVolume(f"file://{tmp_path}/d/image")
    seg = CloudVolume(f"file://{tmp_path}/d/segmentation")
    assert list(img.available_mips) == [0, 1] and seg.dtype == "uint64"
    a = np.asarray(img[:, :, :])
    assert 60 < a.mean() < 200 and a.std() > 10  # EM-like, not constant
    assert len(np.unique(np.asarray(seg[:, :, :]))) >= 10


def test_info_command_and_errors(tmp_path, capsys):
    main(["demo", str(tmp_path / "d"), "--small"])
    capsys.readouterr()
    assert main(["info", f"file://{tmp_path}/d/image"]) == 0
    assert json.loads(capsys.readouterr().out)["type"] == "image"
    assert main(["info", f"file://{tmp_path}/missing"]) == 1
    assert "no info file" in capsys.readouterr().err
    writer = AnnotationWriter(f"file://{tmp_path}/ann", "line")
    writer.add([[[0, 1], [0, 1], [0, 1]]])
    writer.write()
    assert main(["info", f"file://{tmp_path}/ann"]) == 0
    assert json.loads(capsys.readouterr().out)["annotation_type"] == "LINE"


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "voxelio.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("voxelio ")


def test_pyramid_command_adds_scales(tmp_path, capsys):
    main(["demo", str(tmp_path / "d"), "--small"])
    capsys.readouterr()
    path = f"file://{tmp_path}/d/segmentation"
    before = CloudVolume(path)
    mips = len(before.info["scales"])
    assert main(["pyramid", path, "--mips", "2", "--factor", "2", "2", "2", "--progress"]) == 0
    out = capsys.readouterr().out
    assert f"mip {mips}:" in out and f"mip {mips + 1}:" in out
    vol = CloudVolume(path)
    assert len(vol.info["scales"]) == mips + 2
    top = np.asarray(vol.download(vol.mip_bounds(mips + 1), mip=mips + 1))
    assert set(np.unique(top)) <= set(np.unique(np.asarray(before[:, :, :])))  # labels, not means
    assert main(["pyramid", f"file://{tmp_path}/missing"]) == 1
    assert "no info file" in capsys.readouterr().err
    assert main(["pyramid", path, "--factor", "1", "1", "1"]) == 1
    assert "not all 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["pyramid", path, "--mips", "0"])
    assert exit_.value.code == 2 and "expected an integer >= 1" in capsys.readouterr().err


def _serve_until_ctrl_c(command: list[str], path: str, cors: bool = True) -> tuple[bytes, str]:
    """Start a serving process, GET ``path`` from the URL it prints, stop it with SIGINT;
    the body and everything it printed. The process must exit with status 0."""
    import re
    import signal
    import urllib.request

    unbuffered = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the URL line must arrive at once
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=unbuffered)  # fmt: skip
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        url = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert url, first
        with urllib.request.urlopen(url[0] + path, timeout=30) as resp:
            body = resp.read()
            assert not cors or resp.headers["Access-Control-Allow-Origin"] == "*"
        proc.send_signal(signal.SIGINT)
        rest = proc.stdout.read()  # type: ignore[union-attr]  (not communicate(): it would
        proc.wait(timeout=30)  # miss lines the text wrapper has buffered already)
    finally:
        proc.kill()
    assert proc.returncode == 0, first + rest
    return body, first + rest


def test_serve_command_serves_a_directory_of_layers(tmp_path, capsys):
    main(["demo", str(tmp_path / "d"), "--small"])
    assert "voxelio serve" in capsys.readouterr().out
    command = [sys.executable, "-m", "voxelio.cli", "serve", str(tmp_path / "d"), "--port", "0"]
    body, printed = _serve_until_ctrl_c(command, "/image/info")
    assert json.loads(body) == CloudVolume(f"file://{tmp_path}/d/image").info
    assert "/image" in printed and "/segmentation" in printed and "Traceback" not in printed


def test_viewer_serves_the_layer(tmp_path):
    main(["demo", str(tmp_path / "d"), "--small"])
    code = f"from voxelio import CloudVolume; CloudVolume('file://{tmp_path}/d/segmentation')" \
        ".viewer(port=0)"  # fmt: skip
    body, printed = _serve_until_ctrl_c([sys.executable, "-c", code], "/info")
    assert json.loads(body)["type"] == "segmentation"
    assert "precomputed://http://127.0.0.1:" in printed


def test_serve_refuses_a_bad_port_or_path(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["serve", ".", "--port", "70000"])
    assert "expected a port" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    for bad in (tmp_path / "missing", tmp_path / "file"):
        assert main(["serve", str(bad), "--port", "0"]) == 1
        assert "not a directory" in capsys.readouterr().err


def test_cutout_viewer_hands_the_cutout_to_microviewer(tmp_path):
    from tests.servers import free_port

    main(["demo", str(tmp_path / "d"), "--small"])
    path = f"file://{tmp_path}/d/segmentation"
    code = (f"from voxelio import CloudVolume; CloudVolume('{path}')[10:40, 5:25, 3:9]"
            f".viewer(port={free_port()}, browser=False)")  # fmt: skip
    body, _ = _serve_until_ctrl_c([sys.executable, "-c", code], "/parameters", cors=False)
    params = json.loads(body)
    assert params["layer_type"] == "segmentation" and params["data_types"] == ["uint64"]
    assert params["bounds"] == [10, 5, 3, 40, 25, 9]
