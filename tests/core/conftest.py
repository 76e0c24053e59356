import numpy as np
import pytest

from voxelio import CloudVolume
from voxelio.meta.info import DATA_TYPES

DTYPES = list(DATA_TYPES)  # every data_type the info accepts


def random_array(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.normal(0, 100, size=shape).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)


def new_volume(
    path,
    dtype="uint8",
    size=(100, 70, 30),
    offset=(3, 5, 7),
    chunk=(32, 32, 16),
    channels=1,
    encoding="raw",
    max_mip=0,
    **kwargs,
):
    info = CloudVolume.create_new_info(
        num_channels=channels,
        layer_type="image",
        data_type=dtype,
        encoding=encoding,
        resolution=[4, 4, 40],
        voxel_offset=list(offset),
        volume_size=list(size),
        chunk_size=list(chunk),
        max_mip=max_mip,
    )
    vol = CloudVolume(path, info=info, **kwargs)
    vol.commit_info()
    return vol


@pytest.fixture
def layer_path(tmp_path):
    return f"file://{tmp_path}/layer"
