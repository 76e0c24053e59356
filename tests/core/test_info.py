import json

import numpy as np
import pytest

from voxelio import CloudVolume
from voxelio.errors import (
    CyclicRedirect,
    InfoError,
    InfoUnavailableError,
    ReadOnlyException,
    TooManyRedirects,
)
from voxelio.meta import create_new_info, validate_info


def make_info(**kw):
    args = dict(
        num_channels=1,
        layer_type="image",
        data_type="uint8",
        encoding="raw",
        resolution=[4, 4, 40],
        voxel_offset=[0, 0, 0],
        volume_size=[64, 64, 16],
        chunk_size=[32, 32, 8],
    )
    args.update(kw)
    return create_new_info(**args)


def test_create_new_info_all_parameters():
    info = make_info(
        mesh="mesh",
        skeletons="skel",
        max_mip=2,
        factor=(2, 2, 1),
        encoding="compressed_segmentation",
        data_type="uint32",
        layer_type="segmentation",
        compressed_segmentation_block_size=(4, 4, 4),
    )
    assert info["mesh"] == "mesh" and info["skeletons"] == "skel"
    assert [s["resolution"] for s in info["scales"]] == [[4, 4, 40], [8, 8, 40], [16, 16, 40]]
    assert [s["key"] for s in info["scales"]] == ["4_4_40", "8_8_40", "16_16_40"]
    assert info["scales"][2]["size"] == [16, 16, 16]
    assert info["scales"][0]["compressed_segmentation_block_size"] == [4, 4, 4]
    assert "redirect" not in info


def test_add_scale_and_reset(tmp_path):
    vol = CloudVolume(f"file://{tmp_path}", info=make_info())
    scale = vol.add_scale((2, 2, 2))
    assert scale["size"] == [32, 32, 8] and scale["resolution"] == [8, 8, 80]
    again = vol.add_scale((2, 2, 2))  # same resolution: replaced, not added twice
    assert again == scale and len(vol.available_mips) == 2
    assert vol.add_scale((4, 4, 1))["resolution"] == [16, 16, 40]  # relative to mip 0
    vol.mip = [8, 8, 80]
    assert vol.mip == 1
    vol.reset_scales()
    assert list(vol.available_mips) == [0] and vol.mip == 0


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda i: i.pop("scales"), "scales"),
        (lambda i: i.update(type="volume"), "type"),
        (lambda i: i.update(data_type="complex64"), "data_type"),
        (lambda i: i.update(num_channels=0), "num_channels"),
        (lambda i: i["scales"][0].update(size=[1, 2]), "size"),
        (lambda i: i["scales"][0].update(resolution=[0, 1, 1]), "resolution"),
        (lambda i: i["scales"][0].pop("chunk_sizes"), "chunk_sizes"),
        (lambda i: i["scales"][0].update(sharding=None), "sharding"),
        (lambda i: i.update(mesh=None), "mesh"),
    ],
)
def test_validation_names_the_field(mutate, field):
    info = make_info()
    mutate(info)
    with pytest.raises(InfoError, match=field):
        validate_info(info)


def test_commit_writes_no_nulls_and_keeps_unknown_keys(tmp_path):
    info = make_info()
    info["custom_key"] = {"a": 1}
    info["scales"][0]["my_extra"] = 5
    vol = CloudVolume(f"file://{tmp_path}", info=info)
    vol.commit_info()
    stored = json.loads((tmp_path / "info").read_text())
    assert stored["custom_key"] == {"a": 1} and stored["scales"][0]["my_extra"] == 5
    assert "null" not in (tmp_path / "info").read_text()
    vol.info["mesh"] = None
    with pytest.raises(InfoError, match="null"):
        vol.commit_info()
    assert json.loads((tmp_path / "info").read_text()) == stored  # old info intact


def test_refresh_info(tmp_path):
    vol = CloudVolume(f"file://{tmp_path}", info=make_info())
    vol.commit_info()
    other = CloudVolume(f"file://{tmp_path}")
    other.info["scales"][0]["new"] = 1
    other.commit_info()
    vol.refresh_info()
    assert vol.info["scales"][0]["new"] == 1


def test_provenance_round_trip(tmp_path):
    vol = CloudVolume(f"file://{tmp_path}", info=make_info())
    vol.commit_info()
    vol.provenance["description"] = "made by a test"
    vol.provenance["owners"] = ["someone@example.org"]
    vol.commit_provenance()
    again = CloudVolume(f"file://{tmp_path}")
    assert again.provenance["description"] == "made by a test"
    assert again.refresh_provenance()["owners"] == ["someone@example.org"]


def test_missing_and_malformed_info(tmp_path):
    with pytest.raises(InfoUnavailableError, match="info"):
        CloudVolume(f"file://{tmp_path}/nothing")
    (tmp_path / "info").write_text("{not json")
    with pytest.raises(InfoError, match="malformed JSON"):
        CloudVolume(f"file://{tmp_path}")
    (tmp_path / "info").write_text(json.dumps({"type": "image"}))
    with pytest.raises(InfoError, match="data_type"):
        CloudVolume(f"file://{tmp_path}")


def _write_redirect(path, target):
    path.mkdir(parents=True, exist_ok=True)
    (path / "info").write_text(json.dumps({"redirect": target}))


def test_redirects(tmp_path):
    real = CloudVolume(f"file://{tmp_path}/real", info=make_info())
    real.commit_info()
    _write_redirect(tmp_path / "a", f"file://{tmp_path}/real")
    _write_redirect(tmp_path / "b", f"file://{tmp_path}/a")
    vol = CloudVolume(f"file://{tmp_path}/b")
    assert vol.cloudpath == f"file://{tmp_path}/real"
    with pytest.raises(ReadOnlyException):
        vol.commit_info()
    with pytest.raises(TooManyRedirects):
        CloudVolume(f"file://{tmp_path}/b", max_redirects=1)
    # max_redirects=0 reads the redirect info itself, which has no scales
    with pytest.raises(InfoError):
        CloudVolume(f"file://{tmp_path}/b", max_redirects=0)
    _write_redirect(tmp_path / "c", f"file://{tmp_path}/d")
    _write_redirect(tmp_path / "d", f"file://{tmp_path}/c")
    with pytest.raises(CyclicRedirect):
        CloudVolume(f"file://{tmp_path}/c")


def test_a_layer_reached_by_a_redirect_is_read_only(tmp_path):
    """As in cloud-volume: no chunk, deletion, skeleton or info is written through the
    redirect, and the layer it leads to keeps its data."""
    from voxelio import Skeleton

    info = make_info(layer_type="segmentation", skeletons="skeletons")
    real = CloudVolume(f"file://{tmp_path}/real", info=info)
    real.commit_info()
    real[:, :, :] = 3
    _write_redirect(tmp_path / "alias", f"file://{tmp_path}/real")
    vol = CloudVolume(f"file://{tmp_path}/alias")
    assert (vol[:4, :4, :4] == 3).all()
    writes = {
        "chunks": lambda: vol.__setitem__(np.s_[:32, :32, :8], 0),
        "upload": lambda: vol.upload(vol.bounds, np.zeros((64, 64, 16, 1), np.uint8)),
        "delete": lambda: vol.delete(vol.bounds),
        "skeleton": lambda: vol.skeleton.upload(
            Skeleton([[1, 1, 1], [2, 2, 2]], [[0, 1]], segid=4)
        ),
        "info": vol.commit_info,
    }
    for what, write in writes.items():
        with pytest.raises(ReadOnlyException, match="redirect|read-only"):
            write()
            pytest.fail(f"{what} was written through the redirect")
    assert (CloudVolume(f"file://{tmp_path}/real")[:, :, :] == 3).all()
    assert not (tmp_path / "real" / "skeletons").exists()


def test_set_encoding_keeps_only_the_new_encodings_parameters() -> None:
    from voxelio.meta.info import set_encoding

    scale = {"encoding": "zfpc", "zfpc_rate": 8, "zfpc_tolerance": 0.1, "key": "k",
             "chunk_sizes": [[8, 8, 8]], "sharding": {"@type": "x"},
             "jpeg_quality": 80}  # fmt: skip
    set_encoding(scale, "jpeg")
    assert scale == {"encoding": "jpeg", "key": "k", "chunk_sizes": [[8, 8, 8]],
                     "sharding": {"@type": "x"}, "jpeg_quality": 80}  # fmt: skip
    set_encoding(scale, "compressed_segmentation")
    assert scale["compressed_segmentation_block_size"] == [8, 8, 8]
    assert "jpeg_quality" not in scale
    scale["compressed_segmentation_block_size"] = [4, 4, 4]
    set_encoding(scale, "compressed_segmentation")  # its own blocks stay
    assert scale["compressed_segmentation_block_size"] == [4, 4, 4]
