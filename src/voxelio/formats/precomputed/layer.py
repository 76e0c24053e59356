"""Wire a precomputed scale to the image engine: chunk layout (sharded or not) and dtype."""

from __future__ import annotations

import numpy as np

from voxelio.cache.lru import LRU
from voxelio.errors import InfoError, UnsupportedEncodingError
from voxelio.formats.precomputed.sharded import ShardedChunks
from voxelio.image.chunkcache import SAME, ChunkCache
from voxelio.image.chunks import ChunkIO, UnshardedChunks
from voxelio.image.engine import Layer
from voxelio.meta import Scale
from voxelio.storage import Store


def chunk_io(store: Store, scale: Scale) -> ChunkIO:
    """The chunk adapter for a scale: unsharded files or shard files."""
    if scale.sharding is not None:
        return ShardedChunks(store, scale)
    return UnshardedChunks(store, scale)


def image_layer(
    store: Store, scale: Scale, data_type: str, num_channels: int, lru: LRU | None = None,
    lru_encoding: str = SAME,
) -> Layer:  # fmt: skip
    """The engine's view of one scale of a layer; with an LRU (of a size above 0) and an
    encoding other than "same", decoded chunks are kept in it (:class:`ChunkCache`). An
    encoding that cannot hold the layer's data type or channels (a uint16 jpeg scale) is an
    :class:`InfoError` naming the info and the scale, before any chunk is read."""
    dtype = np.dtype(data_type)
    chunk_cache = None
    if lru is not None and lru.size > 0 and lru_encoding != SAME:
        chunk_cache = ChunkCache(lru, lru_encoding, scale, dtype, num_channels)
    layer = Layer(
        scale=scale,
        dtype=dtype,
        num_channels=num_channels,
        chunks=chunk_io(store, scale),
        cache=chunk_cache,
    )
    try:
        layer.codec.check(dtype, num_channels)
    except UnsupportedEncodingError as exc:
        raise InfoError(f"{store.url}/info: scale {scale.key!r}: {exc}") from None
    return layer
