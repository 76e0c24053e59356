"""Turn an image scale of an info dict sharded or unsharded (the info only; no data moves).

Use with ``transfer_to`` to re-lay existing data, or before writing a new layer. Sizes are in
voxels; ``target_shard_bytes`` is the uncompressed size a shard aims at.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from voxelio.sharding.planning import DEFAULT_IMAGE_SHARD_BYTES, plan_image_sharding


def make_scale_sharded(
    info: dict[str, Any],
    mip: int,
    target_shard_bytes: int = DEFAULT_IMAGE_SHARD_BYTES,
    data_encoding: str = "gzip",
) -> dict[str, Any]:
    """Give scale ``mip`` a sharding spec planned for its size; returns the spec (JSON).

    ``data_encoding`` is gzip by default for raw scales (what cloud-volume and igneous do),
    and raw for encodings that are compressed already.
    """
    scale = info["scales"][mip]
    chunk = [int(c) for c in scale["chunk_sizes"][0]]
    bytes_per_chunk = (
        math.prod(chunk) * np.dtype(info["data_type"]).itemsize * int(info["num_channels"])
    )
    encoding = data_encoding if scale["encoding"] in ("raw", "compressed_segmentation") else "raw"
    spec = plan_image_sharding(
        scale["size"], chunk, bytes_per_chunk, target_shard_bytes=target_shard_bytes,
        data_encoding=encoding,  # type: ignore[arg-type]
    )  # fmt: skip
    scale["chunk_sizes"] = [chunk]  # sharding allows exactly one chunk size
    scale["sharding"] = spec.to_json()
    return scale["sharding"]


def make_scale_unsharded(info: dict[str, Any], mip: int) -> None:
    """Remove the sharding spec of scale ``mip``."""
    info["scales"][mip].pop("sharding", None)
