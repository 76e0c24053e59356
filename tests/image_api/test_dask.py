"""Dask: lazy reads of a layer, writes of a dask array with its downsampled pyramid."""

from __future__ import annotations

import copy
import importlib
from pathlib import Path

import numpy as np
import pytest

from tests.image_api.conftest import Backend, make_layer, seg_array
from tests.interop.peers import cv_volume, ts_read
from voxelio import CloudVolume
from voxelio.dask import add_pyramid, from_cloudvolume, to_cloudvolume
from voxelio.window import MipArray

da = importlib.import_module("dask.array")
dask = importlib.import_module("dask")


def test_to_dask_reads_lazily_from_the_voxel_offset(backend: Backend) -> None:
    path, kw = backend("lazy")
    arr = seg_array()
    info = CloudVolume.create_new_info(
        1, "segmentation", "uint32", "raw", [4, 4, 40], [3, 5, 7], arr.shape, chunk_size=[16] * 3
    )
    vol = CloudVolume(path, info=info, **kw)
    vol.commit_info()
    vol[3:73, 5:65, 7:47] = arr
    lazy = vol.to_dask()
    assert lazy.shape == (*arr.shape, 1) and lazy.chunksize == (16, 16, 16, 1)
    assert np.array_equal(lazy[10:50, 3:20, 1:9, 0].compute(), arr[10:50, 3:20, 1:9])
    # processes ship the volume pickled (S3: fresh connections in each process)
    assert np.array_equal(lazy.compute(scheduler="processes")[..., 0], arr)
    other = from_cloudvolume(path, chunks=(32, 32, 8, 1), **kw)
    assert other.chunksize == (32, 32, 8, 1)
    assert np.array_equal(other.sum(axis=3).compute(scheduler="threads"), arr)


def test_a_later_to_dask_sees_later_writes(tmp_path: Path) -> None:
    vol = make_layer(f"file://{tmp_path}/seg", seg_array())
    before = vol.to_dask()
    vol[0:16, 0:16, 0:16] = np.full((16, 16, 16), 99, np.uint32)
    assert before.max().compute() == 99  # nothing was read before compute
    assert np.all(vol.to_dask()[:16, :16, :16].compute() == 99)


def _windows_reference(data: np.ndarray, fine: CloudVolume, mip: int, labels: bool) -> np.ndarray:
    """Scale ``mip`` from ``data`` (scale ``mip - 1``), voxel by voxel: the windows of the
    coarse grid cut by the fine scale's bounds."""
    lo0, lo1 = fine.mip_voxel_offset(mip - 1), fine.mip_voxel_offset(mip)
    ratio = np.asarray(fine.mip_resolution(mip)) / np.asarray(fine.mip_resolution(mip - 1))
    factor = np.rint(ratio).astype(int)
    size = tuple(int(v) for v in fine.mip_volume_size(mip))
    out = np.zeros((*size, data.shape[3]), data.dtype)
    for v in np.ndindex(*size):
        lo = [(int(o1) + t) * int(f) - int(o0) for o1, t, f, o0 in zip(lo1, v, factor, lo0)]
        sel = tuple(slice(max(a, 0), a + int(f)) for a, f in zip(lo, factor))
        for c in range(data.shape[3]):
            window = data[sel + (c,)].ravel(order="F")  # x, y, z order
            if labels:
                values, first, counts = np.unique(window, return_index=True, return_counts=True)
                out[v + (c,)] = values[
                    min(range(len(values)), key=lambda n: (-counts[n], first[n]))
                ]
            elif np.issubdtype(data.dtype, np.integer):  # exact, half up
                total = sum(int(x) for x in window)
                out[v + (c,)] = (2 * total + len(window)) // (2 * len(window))
            else:
                out[v + (c,)] = window.astype(np.float64).mean()
    return out


PYRAMIDS = [
    ("segmentation", np.uint64, 1, (3, 5, 7)),
    ("image", np.uint8, 2, (1, 0, 3)),
    ("image", np.float32, 1, (0, 0, 0)),
    ("image", np.uint64, 1, (0, 1, 0)),  # values near 2**64: exact means
    ("image", np.int16, 1, (2, 2, 2)),  # negative values: halves round up
]


@pytest.mark.parametrize(("layer_type", "dtype", "channels", "offset"), PYRAMIDS)
def test_to_cloudvolume_writes_every_scale_of_the_pyramid(
    tmp_path: Path, layer_type: str, dtype: type, channels: int, offset: tuple[int, int, int]
) -> None:
    """Odd sizes and offsets: windows cut by the bounds use the voxels they hold. Each
    scale is checked voxel by voxel, and read back by TensorStore and cloud-volume."""
    rng = np.random.default_rng(3)
    shape = (37, 30, 10, channels)
    if layer_type == "segmentation":
        data = rng.integers(0, 4, shape).astype(dtype)  # few labels: ties happen
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        data = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
        data[:3] = info.max  # whole windows at the top of the range
    else:
        data = (rng.random(shape) * 250).astype(dtype)
    src = da.from_array(
        data if channels > 1 else data[..., 0],
        chunks=(16, 16, 8)[:3] + ((channels,) if channels > 1 else ()),
    )
    path = tmp_path / "layer"
    assert to_cloudvolume(src, f"file://{path}", (4, 4, 40), offset, layer_type, max_mip=2) is None
    vol = CloudVolume(f"file://{path}")
    assert vol.provenance["processing"][-1]["method"] == "voxelio.dask.to_cloudvolume"
    level = data
    for mip in range(3):
        if mip:
            level = _windows_reference(level, vol, mip, layer_type == "segmentation")
        got = np.asarray(vol.download(vol.mip_bounds(mip), mip=mip))
        assert np.array_equal(got, level), mip
        assert np.array_equal(ts_read(path, mip), level), mip
    peer = cv_volume(path, mip=2)
    assert np.array_equal(np.asarray(peer[peer.bounds]), level)


@pytest.mark.parametrize("layer_type", ["segmentation", "image"])
def test_add_pyramid_downsamples_a_layer_from_its_last_scale(
    backend: Backend, layer_type: str
) -> None:
    path, kw = backend("pyramid")
    data = np.random.default_rng(7).integers(0, 5, (45, 38, 12, 1)).astype(np.uint16)
    info = CloudVolume.create_new_info(
        1, layer_type, "uint16", "raw", [4, 4, 40], [1, 3, 0], data.shape[:3], chunk_size=[16] * 3
    )
    vol = CloudVolume(path, info=info, **kw)
    vol.commit_info()
    vol[1:46, 3:41, 0:12] = data
    assert add_pyramid(path, mips=2, **kw) is None
    later = add_pyramid(path, mips=1, factor=(2, 2, 2), compute=False, **kw)
    vol = CloudVolume(path, **kw)
    assert len(vol.info["scales"]) == 4 and list(vol.mip_downsample_ratio(3)) == [8, 8, 2]
    dask.compute(later)
    vol = CloudVolume(path, **kw)
    level = data
    for mip in range(1, 4):
        level = _windows_reference(level, vol, mip, layer_type == "segmentation")
        got = np.asarray(vol.download(vol.mip_bounds(mip), mip=mip))
        assert np.array_equal(got, level), mip
    assert vol.provenance["processing"][-1]["method"] == "voxelio.dask.add_pyramid"
    with pytest.raises(ValueError, match="mips must be at least 1"):
        add_pyramid(path, mips=0, **kw)


def test_add_pyramid_refuses_what_would_not_be_new_scales(tmp_path: Path) -> None:
    path = f"file://{tmp_path}/seg"
    data = seg_array()
    to_cloudvolume(da.from_array(data, chunks=16), path, (0.7, 0.7, 1), max_mip=1, factor=(3, 3, 1))
    info = CloudVolume(path).info
    for factor, message in [((1, 1, 1), "not all 1"), ((0, 2, 2), "integers >= 1")]:
        with pytest.raises(ValueError, match=message):
            add_pyramid(path, factor=factor)
    assert CloudVolume(path).info == info  # nothing changed
    unordered = CloudVolume(f"file://{tmp_path}/unordered", info=copy.deepcopy(info))
    unordered.add_scale([18, 18, 1])
    unordered.add_scale([9, 9, 1])  # the last scale; 2x2x1 from it is mip 2 already
    unordered.commit_info()
    with pytest.raises(ValueError, match=r"downsampled by \[18, 18, 1\] is mip 2 already"):
        add_pyramid(f"file://{tmp_path}/unordered")
    empty = f"file://{tmp_path}/empty"
    CloudVolume(empty, info=info).commit_info()
    with pytest.raises(ValueError, match="mip 1 holds no data"):
        add_pyramid(empty)
    # a ratio stored as 2.9999... (0.7 nm times 3) is 3: the new scale is 6x6x1, not 4x4x1
    add_pyramid(path, factor=(2, 2, 1))
    vol = CloudVolume(path)
    assert np.allclose(vol.mip_downsample_ratio(2), [6, 6, 1])
    level = data[..., None]
    for mip in (1, 2):
        level = _windows_reference(level, vol, mip, True)
    assert np.array_equal(np.asarray(vol.download(vol.mip_bounds(2), mip=2)), level)


def test_to_cloudvolume_later_and_stored(tmp_path: Path) -> None:
    data = seg_array()
    src = da.from_array(data, chunks=(16, 16, 16))
    later = to_cloudvolume(src, f"file://{tmp_path}/a", compute=False)
    vol = CloudVolume(f"file://{tmp_path}/a", fill_missing=True)
    assert not vol[:, :, :].any()  # the info only, until computed
    dask.compute(later)
    assert np.array_equal(vol[:, :, :][..., 0], data)
    stored = to_cloudvolume(src, f"file://{tmp_path}/b", return_stored=True, max_mip=1)
    assert len(stored) == 2 and np.array_equal(stored[0].compute(), data)  # read back
    assert stored[1].shape == (35, 30, 40, 1)


def test_to_cloudvolume_of_bool_and_of_channels_in_several_chunks(tmp_path: Path) -> None:
    mask = np.random.default_rng(4).random((20, 18, 6)) > 0.5
    to_cloudvolume(da.from_array(mask, chunks=8), f"file://{tmp_path}/mask", max_mip=1)
    vol = CloudVolume(f"file://{tmp_path}/mask")
    assert (vol.layer_type, vol.dtype) == ("segmentation", "uint8")
    assert np.array_equal(vol[:, :, :][..., 0], mask.astype(np.uint8))
    rgb = np.random.default_rng(5).integers(0, 255, (20, 18, 6, 3), dtype=np.uint8)
    to_cloudvolume(da.from_array(rgb, chunks=(8, 8, 6, 1)), f"file://{tmp_path}/rgb")
    assert np.array_equal(CloudVolume(f"file://{tmp_path}/rgb")[:, :, :], rgb)


def test_bad_arrays_and_keys(tmp_path: Path) -> None:
    irregular = da.from_array(seg_array(), chunks=((30, 40), 60, 40))
    with pytest.raises(ValueError, match="chunked irregularly"):
        to_cloudvolume(irregular, f"file://{tmp_path}/x")
    with pytest.raises(ValueError, match="3-D or 4-D, not 2-D"):
        to_cloudvolume(da.zeros((4, 4), chunks=2), f"file://{tmp_path}/x")
    with pytest.raises(ValueError, match="no layer type holds data_type complex64"):
        to_cloudvolume(da.zeros((4, 4, 4), dtype=np.complex64, chunks=2), f"file://{tmp_path}/x")
    window = MipArray(make_layer(f"file://{tmp_path}/seg", seg_array()))
    with pytest.raises(IndexError, match="step 1"):
        window[::2]
    with pytest.raises(IndexError, match="up to 4 slices or integers"):
        window[[1, 2]]
    with pytest.raises(IndexError, match="index 70 is out of range"):
        window[70]
    assert np.array_equal(window[-1, 2], np.asarray(seg_array()[-1, 2])[..., None])
    with pytest.raises(IndexError, match="every channel"):
        window[:, :, :, 0:0] = np.zeros((70, 60, 40, 0), np.uint32)
    assert window[5:5].shape == (0, 60, 40, 1)
