"""Bad input gets a clear error naming the file, and loses nothing."""

import os

import numpy as np
import pytest

from tests.core.conftest import new_volume, random_array
from voxelio import CloudVolume
from voxelio.errors import DecodingError, PathError, StorageError
from voxelio.storage import FileStore


def test_truncated_and_oversized_raw_chunks(tmp_path):
    path = f"file://{tmp_path}"
    vol = new_volume(path, dtype="uint16")
    vol[:] = random_array((100, 70, 30, 1), "uint16")
    chunk = tmp_path / "4_4_40" / "3-35_5-37_7-23"
    good = chunk.read_bytes()
    chunk.write_bytes(good[:-10])
    with pytest.raises(DecodingError, match="3-35_5-37_7-23.*expected 32768 bytes, got 32758"):
        vol[3:10, 5:10, 7:10]
    chunk.write_bytes(good + b"\0\0")
    with pytest.raises(DecodingError, match="3-35_5-37_7-23"):
        vol[3:10, 5:10, 7:10]
    chunk.write_bytes(good[: 3 * 32 * 32 * 2])  # as long as the 3 z-planes the read needs
    with pytest.raises(DecodingError, match="3-35_5-37_7-23.*expected 32768 bytes, got 6144"):
        vol[3:10, 5:10, 7:10]
    vol.fill_missing = True  # fill_missing never hides corruption
    with pytest.raises(DecodingError):
        vol[3:10, 5:10, 7:10]


def test_corrupt_gzip_chunk_names_the_file(tmp_path):
    path = f"file://{tmp_path}"
    vol = new_volume(path, compress="gzip")
    vol[:] = 1
    plain = tmp_path / "4_4_40" / "3-35_5-37_7-23.gz"
    assert plain.exists()
    plain.write_bytes(b"\x1f\x8b" + os.urandom(64) + b"\0\0\0\0")
    with pytest.raises(DecodingError, match="3-35_5-37_7-23.gz"):
        vol[3:10, 5:10, 7:10]


def test_truncated_fpzip_chunk_is_an_error_not_a_crash(tmp_path):
    """fpzip's C decoder segfaults on this chunk; voxelio reports it and keeps running."""
    vol = new_volume(f"file://{tmp_path}", dtype="float32", encoding="fpzip")
    data = random_array((100, 70, 30, 1), "float32")
    vol[:] = data
    chunk = tmp_path / "4_4_40" / "3-35_5-37_7-23"
    chunk.write_bytes(chunk.read_bytes()[:40])
    with pytest.raises(DecodingError, match="3-35_5-37_7-23.*fpzip"):
        vol[3:10, 5:10, 7:10]
    assert np.array_equal(vol[40:60, 40:60, 20:30], data[37:57, 35:55, 13:23])


def test_failed_write_leaves_old_chunk_intact(tmp_path, monkeypatch):
    path = f"file://{tmp_path}"
    vol = new_volume(path)
    vol[:] = 5
    before = {p.name: p.read_bytes() for p in (tmp_path / "4_4_40").iterdir()}

    def boom(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(StorageError, match="disk full"):
        vol[:] = 6
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in (tmp_path / "4_4_40").iterdir()}
    assert after == before  # no temporary files left, nothing half written
    assert (CloudVolume(path)[:] == 5).all()


def test_keys_cannot_escape_the_layer(tmp_path):
    store = FileStore(tmp_path / "layer")
    for key in ("../outside", "/etc/passwd", "a/../../b", "", "a\\b"):
        with pytest.raises(PathError):
            store.put(key, b"x")
    assert not (tmp_path / "outside").exists()


def test_listing_a_missing_root_lists_nothing_above_it(tmp_path):
    (tmp_path / "info").write_text("{}")  # beside the root, not in it
    assert list(FileStore(tmp_path / "skeletons").list()) == []
    assert list(FileStore(tmp_path / "skeletons").list("in")) == []


def test_file_listing_takes_prefixes_as_the_memory_store_does(tmp_path):
    from voxelio.storage import open_store

    keys = ["a.txt", "a/x", "ab", "b/c/d", "bz/q", "b/cz"]
    disk, memory = FileStore(tmp_path / "l"), open_store(f"mem://{tmp_path.name}-listing")
    for key in keys:
        disk.put(key, b"1")
        memory.put(key, b"1")
    for prefix in ("", "a", "a/", "b", "b/c", "b/c/", "c", "zz/"):
        assert sorted(disk.list(prefix)) == sorted(memory.list(prefix)), prefix


def test_scale_key_cannot_escape(tmp_path):
    vol = new_volume(f"file://{tmp_path}/layer")
    vol.info["scales"][0]["key"] = "../../elsewhere"
    with pytest.raises(PathError, match="outside the layer root"):
        vol[:] = 1


def test_encoding_unknown_is_refused(tmp_path):
    vol = new_volume(f"file://{tmp_path}")
    vol.info["scales"][0]["encoding"] = "nonsense"
    with pytest.raises(Exception, match="nonsense"):
        vol[:] = 1


def test_out_of_bounds_write(tmp_path):
    vol = new_volume(f"file://{tmp_path}")
    from voxelio.errors import OutOfBoundsError

    with pytest.raises(OutOfBoundsError):
        vol[0:35, 5:37, 7:23] = np.zeros((35, 32, 16), dtype=np.uint8)


@pytest.mark.parametrize("value", [1.5, 255.9, float("nan"), np.float64(-3.2), 300, -1, "7"])
def test_a_scalar_the_layer_cannot_hold_is_refused(tmp_path, value):
    """An array of the wrong dtype is refused; so is a scalar that would change on the way in
    (1.5 written as 1, NaN as 0, -3.2 as 253), and the old data stays."""
    from voxelio.errors import EncodingError

    vol = new_volume(f"file://{tmp_path / 'v'}", size=(32, 32, 16), offset=(0, 0, 0),
                     non_aligned_writes=True)  # fmt: skip
    vol[:, :, :] = 9
    with pytest.raises(EncodingError, match="the value written.*(not a value of uint8|number)"):
        vol[:, :, :] = value
    assert (vol[:, :, :] == 9).all()
    vol[:, :, :] = 7.0  # whole numbers in range are the values they say
    vol[:16, :16, :8] = np.uint8(5)
    assert (vol[:16, :16, :8] == 5).all() and vol[16, 16, 8] == 7
    floats = new_volume(f"file://{tmp_path / 'f'}", "float32", (32, 32, 16), (0, 0, 0))
    floats[:, :, :] = float("nan")
    assert np.isnan(floats[:, :, :]).all()


@pytest.mark.parametrize("color", [-1, 256, float("nan"), 0.5])
def test_a_background_color_the_layer_cannot_hold_is_refused(tmp_path, color):
    from voxelio.errors import EncodingError

    new_volume(f"file://{tmp_path / 'v'}")
    with pytest.raises(EncodingError, match="background_color"):
        CloudVolume(f"file://{tmp_path / 'v'}", background_color=color, fill_missing=True)


def test_bad_boxes_slices_and_infos_raise_voxelios_errors(tmp_path):
    """Each names what is wrong with an error of voxelio's (they were bare ValueError or
    TypeError without a path, or blamed a chunk for the info)."""
    import json

    from voxelio import Bbox
    from voxelio.errors import (
        EncodingError,
        IndexingError,
        InfoError,
        ScaleUnavailableError,
        SubvoxelVolumeError,
    )

    url = f"file://{tmp_path / 'v'}"
    vol = new_volume(url, size=(64, 64, 32), offset=(0, 0, 0))
    with pytest.raises(SubvoxelVolumeError, match="inverted"):
        vol.download(Bbox((8, 0, 0), (4, 8, 8)))
    with pytest.raises(IndexingError, match="not finite"):
        vol.download(Bbox((float("nan"), 0, 0), (4.0, 8.0, 8.0)))
    with pytest.raises(IndexingError, match="axis x"):
        vol[float("nan") : 8, 0:8, 0:8]
    with pytest.raises(IndexingError, match="steps"):
        vol[0:64:2, :, :] = np.zeros((32, 64, 32, 1), np.uint8)
    for mip in ("a", [4, 4], 2.5):  # ScaleUnavailableError is an IndexError, as cloud-volume's
        with pytest.raises(ScaleUnavailableError, match="level or a resolution"):
            CloudVolume(url, mip=mip)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "info").write_text(json.dumps({"redirect": 42}))
    with pytest.raises(InfoError, match="r/info: redirect must be a path"):
        CloudVolume(f"file://{tmp_path / 'r'}")
    jpeg16 = new_volume(f"file://{tmp_path / 'j'}", dtype="uint16", encoding="jpeg")
    with pytest.raises(InfoError, match="j/info: scale .*'jpeg' cannot hold data_type 'uint16'"):
        jpeg16[:, :, :]
    quality = new_volume(f"file://{tmp_path / 'q'}", size=(32, 32, 16), offset=(0, 0, 0),
                         encoding="jpeg")  # fmt: skip
    quality.info["scales"][0]["jpeg_quality"] = "high"
    with pytest.raises(EncodingError, match="jpeg_quality must be a whole number"):
        quality[:, :, :] = np.zeros((32, 32, 16, 1), np.uint8)
