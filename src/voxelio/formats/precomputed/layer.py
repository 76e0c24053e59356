"""Wire a precomputed scale to the image engine: chunk layout (sharded or not) and dtype."""

from __future__ import annotations

import numpy as np

from voxelio.formats.precomputed.sharded import ShardedChunks
from voxelio.image.chunks import ChunkIO, UnshardedChunks
from voxelio.image.engine import Layer
from voxelio.meta import Scale
from voxelio.storage import Store


def chunk_io(store: Store, scale: Scale) -> ChunkIO:
    """The chunk adapter for a scale: unsharded files or shard files."""
    if scale.sharding is not None:
        return ShardedChunks(store, scale)
    return UnshardedChunks(store, scale)


def image_layer(store: Store, scale: Scale, data_type: str, num_channels: int) -> Layer:
    """The engine's view of one scale of a layer."""
    return Layer(
        scale=scale,
        dtype=np.dtype(data_type),
        num_channels=num_channels,
        chunks=chunk_io(store, scale),
    )
