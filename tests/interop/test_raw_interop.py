"""Raw-encoded layers cross-checked with TensorStore and cloud-volume, both directions."""

import numpy as np
import pytest

from tests.core.conftest import random_array
from tests.interop.peers import cv_volume, ts_add_scale, ts_create, ts_read
from voxelio import CloudVolume

pytestmark = pytest.mark.interop

# TensorStore supports these eight (format notes 1.1)
TS_DTYPES = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "float32"]
CASES = [(d, 1) for d in TS_DTYPES] + [("uint8", 3), ("float32", 2)]
SIZE, OFFSET, CHUNK = (100, 70, 30), (3, 5, 7), (64, 64, 16)


def write_voxelio(path, data, max_mip=1):
    info = CloudVolume.create_new_info(
        num_channels=data.shape[3],
        layer_type="image",
        data_type=data.dtype.name,
        encoding="raw",
        resolution=[4, 4, 40],
        voxel_offset=OFFSET,
        volume_size=SIZE,
        chunk_size=CHUNK,
        max_mip=max_mip,
    )
    vol = CloudVolume(f"file://{path}", info=info)
    vol.commit_info()
    vol[:, :, :] = data
    vol.mip = 1
    mip1 = data[::2, ::2]
    vol[:, :, :] = mip1
    return mip1


@pytest.mark.parametrize("dtype,channels", CASES)
def test_voxelio_writes_tensorstore_and_cloudvolume_read(tmp_path, dtype, channels):
    data = random_array(SIZE + (channels,), dtype)
    mip1 = write_voxelio(tmp_path, data)
    np.testing.assert_array_equal(ts_read(tmp_path, 0), data)
    np.testing.assert_array_equal(ts_read(tmp_path, 1), mip1)
    cv = cv_volume(tmp_path)
    np.testing.assert_array_equal(np.asarray(cv[:, :, :]), data)
    cv.mip = 1
    np.testing.assert_array_equal(np.asarray(cv[:, :, :]), mip1)
    cv.mip = 0
    # a partial, non-aligned box through the edge chunks
    np.testing.assert_array_equal(np.asarray(cv[60:103, 60:75, 20:37]), data[57:, 55:, 13:])


@pytest.mark.parametrize("dtype,channels", CASES)
def test_tensorstore_writes_voxelio_reads(tmp_path, dtype, channels):
    data = random_array(SIZE + (channels,), dtype, seed=1)
    ts_create(tmp_path, data, OFFSET, CHUNK)
    mip1 = np.ascontiguousarray(data[::2, ::2])
    ts_add_scale(tmp_path, mip1, (1, 2, 7), CHUNK, (8, 8, 40))
    vol = CloudVolume(f"file://{tmp_path}")
    np.testing.assert_array_equal(vol[:, :, :], data)
    vol.mip = 1
    np.testing.assert_array_equal(vol[:, :, :], mip1)
    vol.mip = 0
    np.testing.assert_array_equal(vol[60:103, 60:75, 20:37], data[57:, 55:, 13:])


@pytest.mark.parametrize("dtype,channels", CASES + [("uint64", 1), ("float64", 1)])
@pytest.mark.parametrize("compress", [None, "gzip"])
def test_cloudvolume_writes_voxelio_reads(tmp_path, dtype, channels, compress):
    from cloudvolume import CloudVolume as CV

    data = random_array(SIZE + (channels,), dtype, seed=2)
    info = CV.create_new_info(
        channels, "image", dtype, "raw", [4, 4, 40], OFFSET, SIZE, chunk_size=CHUNK, max_mip=1
    )
    cv = cv_volume(tmp_path, info=info, compress=compress if compress else False)
    cv.commit_info()
    cv[:, :, :] = data
    cv.mip = 1
    mip1 = data[::2, ::2]
    cv[:, :, :] = mip1
    if compress:  # cloud-volume's local gzip layout: NAME.gz files
        assert any(p.suffix == ".gz" for p in (tmp_path / "4_4_40").iterdir())
    vol = CloudVolume(f"file://{tmp_path}")
    np.testing.assert_array_equal(vol[:, :, :], data)
    vol.mip = 1
    np.testing.assert_array_equal(vol[:, :, :], mip1)
