"""Label queries: unique, segids/renumber/label masks, points, files, exists, delete, cutouts."""

from __future__ import annotations

import numpy as np
import pytest

from tests.image_api.conftest import Backend, make_layer, seg_array
from voxelio import CloudVolume
from voxelio.errors import AlignmentError, EmptyVolumeException, OutOfBoundsError
from voxelio.image.labels import renumber


def test_label_queries(backend: Backend) -> None:
    path, kw = backend("seg")
    arr = seg_array()
    vol = make_layer(path, arr, **kw)
    assert vol.unique(vol.bounds) == set(np.unique(arr).tolist())
    assert vol.unique([3, 5, 7, 20, 21, 22]) == set(np.unique(arr[3:20, 5:21, 7:22]).tolist())
    mask = vol.download(vol.bounds, label=3)
    assert mask.dtype == bool and np.array_equal(mask[..., 0], arr == 3)
    kept = vol.download(vol.bounds, segids=[1, 2])[..., 0]
    assert np.array_equal(kept, np.where(np.isin(arr, [1, 2]), arr, 0))
    kept = vol.download(vol.bounds, segids=[1], preserve_zeros=True)[..., 0]
    expected = np.where(arr == 1, 1, np.where(arr == 0, 0, np.iinfo(np.uint32).max))
    assert np.array_equal(kept, expected)
    pts = [(1, 2, 3), (69, 59, 39), (16, 16, 16)]
    got = vol.scattered_points(pts)
    assert got == {p: arr[p] for p in pts}
    assert np.array_equal(vol[[1, 69], [2, 59], [3, 39]], [arr[1, 2, 3], arr[69, 59, 39]])


def test_renumber_never_gives_a_label_the_backgrounds_value() -> None:
    img = np.array([5, 6, 7, 2], dtype=np.uint64).reshape(4, 1, 1, 1)
    out, mapping = renumber(img, background=2)
    assert mapping == {2: 2, 5: 1, 6: 3, 7: 4}
    assert out.ravel().tolist() == [1, 3, 4, 2]
    assert renumber(img[:3], background=9)[1] == {9: 9, 5: 1, 6: 2, 7: 3}


def test_renumber_and_coord_resolution(tmp_path) -> None:
    arr = seg_array() * 1000 + 7
    arr[:5] = 0
    vol = make_layer(f"file://{tmp_path}/seg", arr)
    img, mapping = vol.download(vol.bounds, renumber=True)
    assert img.dtype == np.uint16 and mapping[0] == 0
    inverse = {v: k for k, v in mapping.items()}
    assert np.array_equal(np.vectorize(inverse.get)(img[..., 0]), arr)
    # coord_resolution: a box given in 8 nm units is half as large in 4 nm voxels
    part = vol.download([0, 0, 0, 8, 8, 1], coord_resolution=(8, 8, 80))
    assert part.shape == (16, 16, 2, 1) and np.array_equal(part[..., 0], arr[:16, :16, :2])
    assert vol.unique([0, 0, 0, 8, 8, 1], coord_resolution=(8, 8, 80)) == set(
        np.unique(arr[:16, :16, :2]).tolist()
    )


def test_files_exists_delete_has_data(backend: Backend) -> None:
    path, kw = backend("seg")
    arr = seg_array()
    vol = make_layer(path, arr, **kw)
    files = vol.download_files([0, 0, 0, 16, 16, 32])
    assert sorted(files) == ["4_4_40/0-16_0-16_0-16", "4_4_40/0-16_0-16_16-32"]
    decoded = np.frombuffer(files["4_4_40/0-16_0-16_0-16"], np.uint32).reshape((16,) * 3, order="F")
    assert np.array_equal(decoded, arr[:16, :16, :16])
    assert vol.image.has_data(0)
    vol.delete([0, 0, 0, 16, 16, 16])
    report = vol.exists([0, 0, 0, 32, 16, 16])
    assert sorted(report.values()) == [False, True]
    with pytest.raises(EmptyVolumeException):
        vol[0:16, 0:16, 0:16]
    with pytest.raises(AlignmentError):
        vol.delete([1, 0, 0, 16, 16, 16])
    empty = CloudVolume(path, info=vol.info, **kw)
    empty.add_scale((2, 2, 1))
    assert not empty.image.has_data(1)


def test_memory_cutout(tmp_path) -> None:
    arr = seg_array()
    vol = make_layer(f"file://{tmp_path}/seg", arr)
    cut = vol.memory_cutout([10, 10, 10, 40, 40, 30], encoding="compressed_segmentation")
    assert cut.cloudpath.startswith("mem://") and cut.encoding == "compressed_segmentation"
    assert np.array_equal(cut[10:40, 10:40, 10:30][..., 0], arr[10:40, 10:40, 10:30])


def test_bad_label_queries(tmp_path) -> None:
    vol = make_layer(f"file://{tmp_path}/seg", seg_array())
    with pytest.raises(OutOfBoundsError):
        vol.scattered_points([(1000, 0, 0)])
    with pytest.raises(ValueError):
        vol.scattered_points([(1, 2)])
    with pytest.raises(OutOfBoundsError):
        vol.unique([0, 0, 0, 100, 10, 10])
    with pytest.raises(OutOfBoundsError):
        vol.download([0, 0, 0, 10, 10, 10], coord_resolution=(100, 100, 1000))
    vol.delete([0, 0, 0, 16, 16, 16])
    with pytest.raises(EmptyVolumeException):
        vol.unique([0, 0, 0, 16, 16, 16])
    with pytest.raises(EmptyVolumeException):
        vol.scattered_points([(1, 1, 1)])
    filled = CloudVolume(vol.cloudpath, fill_missing=True)
    assert filled.unique([0, 0, 0, 16, 16, 16]) == {0}


def test_progress_bars(tmp_path, capsys) -> None:
    vol = make_layer(f"file://{tmp_path}/seg", seg_array())
    assert vol.progress is False  # off by default outside an interactive session
    loud = CloudVolume(vol.cloudpath, progress=True)
    loud.unique(loud.bounds)
    loud.transfer_to(f"file://{tmp_path}/copy", loud.bounds)
    err = capsys.readouterr().err
    assert "Unique" in err and "Transferring" in err
