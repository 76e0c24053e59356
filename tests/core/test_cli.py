import json
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
    assert img.available_mips == [0, 1] and seg.dtype == "uint64"
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
