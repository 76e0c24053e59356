"""Open layers with the peer implementations (TensorStore, cloud-volume) for cross-checks."""

import numpy as np


def ts_spec(path, scale_index=0):
    return {
        "driver": "neuroglancer_precomputed",
        "kvstore": {"driver": "file", "path": str(path)},
        "scale_index": scale_index,
        "context": {"cache_pool": {"total_bytes_limit": 0}},
    }


def ts_read(path, scale_index=0):
    """Read a whole scale with TensorStore as ``[x, y, z, c]``."""
    import tensorstore as ts

    store = ts.open(ts_spec(path, scale_index), read=True).result()
    return np.asarray(store.read().result())


def ts_read_http(base_url):
    """Read a whole layer served at ``base_url`` with TensorStore's ``http`` kvstore, no cache."""
    import tensorstore as ts

    spec = {
        "driver": "neuroglancer_precomputed",
        "kvstore": {"driver": "http", "base_url": base_url.rstrip("/") + "/"},
        "context": {"cache_pool": {"total_bytes_limit": 0}},
    }
    return np.asarray(ts.open(spec, read=True).result().read().result())


def ts_create(path, data, offset, chunk, resolution=(4, 4, 40), encoding="raw", sharding=None):
    """Create a layer with TensorStore holding ``data`` (``[x, y, z, c]``) at ``offset``."""
    import tensorstore as ts

    scale = {
        "resolution": list(resolution),
        "size": list(data.shape[:3]),
        "voxel_offset": list(offset),
        "chunk_size": list(chunk),
        "encoding": encoding,
    }
    if sharding is not None:
        scale["sharding"] = sharding
    spec = {
        "driver": "neuroglancer_precomputed",
        "kvstore": {"driver": "file", "path": str(path)},
        "multiscale_metadata": {
            "type": "image",
            "data_type": data.dtype.name,
            "num_channels": int(data.shape[3]),
        },
        "scale_metadata": scale,
        "create": True,
    }
    store = ts.open(spec).result()
    store[...] = data
    return store


def ts_add_scale(path, data, offset, chunk, resolution, encoding="raw"):
    """Add a scale to an existing TensorStore layer and write ``data`` into it."""
    import tensorstore as ts

    spec = {
        "driver": "neuroglancer_precomputed",
        "kvstore": {"driver": "file", "path": str(path)},
        "multiscale_metadata": {
            "type": "image",
            "data_type": data.dtype.name,
            "num_channels": int(data.shape[3]),
        },
        "scale_metadata": {
            "resolution": list(resolution),
            "size": list(data.shape[:3]),
            "voxel_offset": list(offset),
            "chunk_size": list(chunk),
            "encoding": encoding,
        },
        "create": True,
        "open": True,
    }
    store = ts.open(spec).result()
    store[...] = data


def cv_volume(path, **kwargs):
    from cloudvolume import CloudVolume as CV

    return CV(f"file://{path}", progress=False, **kwargs)
