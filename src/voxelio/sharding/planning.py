"""Choosing sharding parameters (pure functions returning :class:`ShardingSpec`).

Images (:func:`plan_image_sharding`), identity hash:
    Chunk ids are compressed Morton codes, so with the identity hash a shard holds the
    ``2**(preshift_bits + minishard_bits)`` consecutive codes of a compact, Morton-ordered
    block of chunks (a power-of-two box when the grid allows). The rule:

    1. ``chunks_per_shard`` = the largest power of two ``<= target_shard_bytes /
       bytes_per_chunk`` (at least 1), capped by the whole grid: ``2**B`` where ``B`` is the
       sum of the Morton bits of the grid. Call its exponent ``S``.
    2. ``minishard_bits = min(max_minishard_bits, S // 2)`` and ``preshift_bits = S -
       minishard_bits``: a minishard is a run of ``2**preshift_bits`` chunks, so one
       minishard index read serves a neighbourhood, while the shard index stays small
       (``16 << minishard_bits`` bytes; 1 KiB for the default cap 6).
    3. ``shard_bits = B - S``: the remaining Morton bits pick the shard, so no two distant
       blocks share a shard.

    For a 34432x39552x51508 volume of 64**3 uint8 chunks and 8 GiB shards this gives
    TensorStore's choice: preshift 9, minishard 6, shard 15.

Labels (:func:`plan_label_sharding`), murmurhash3_x86_128, preshift 0 (meshes, skeletons):
    1. ``shard_bits = ceil(log2(num_labels * bytes_per_label / target_shard_bytes))``,
       at least 0 and at most ``floor(log2(num_labels))`` (no shard planned empty).
    2. ``minishard_bits = ceil(log2(labels_per_shard / labels_per_minishard))`` with
       ``labels_per_shard = num_labels / 2**shard_bits``, clipped to
       ``[0, max_minishard_bits]`` so the shard index stays at most ``16 << max`` bytes.

Thread safe and pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from voxelio.errors import ShardingError
from voxelio.geometry.morton import morton_bits
from voxelio.sharding.image import grid_shape
from voxelio.sharding.spec import EncodingName, ShardingSpec

DEFAULT_IMAGE_SHARD_BYTES = 1 << 30
DEFAULT_LABEL_SHARD_BYTES = 256 << 20
DEFAULT_LABELS_PER_MINISHARD = 1024


def _floor_log2(value: float) -> int:
    return max(0, math.floor(math.log2(value))) if value >= 1 else 0


def plan_image_sharding(
    size: Sequence[int],
    chunk_size: Sequence[int],
    bytes_per_chunk: int,
    *,
    target_shard_bytes: int = DEFAULT_IMAGE_SHARD_BYTES,
    max_minishard_bits: int = 6,
    data_encoding: EncodingName = "raw",
    minishard_index_encoding: EncodingName = "gzip",
) -> ShardingSpec:
    """Sharding for one image scale of ``size`` voxels in ``chunk_size`` chunks (x, y, z).

    ``bytes_per_chunk`` is the uncompressed size of one full chunk (voxels x bytes per
    voxel x channels); ``target_shard_bytes`` the uncompressed size a shard aims at (the
    result never exceeds it unless a single chunk does). See the module docstring.
    """
    if bytes_per_chunk < 1 or target_shard_bytes < 1:
        raise ShardingError(
            "plan_image_sharding: bytes_per_chunk and target_shard_bytes must be >= 1"
        )
    total_bits = sum(morton_bits(grid_shape(size, chunk_size)))
    shard_chunk_bits = min(_floor_log2(target_shard_bytes / bytes_per_chunk), total_bits)
    minishard_bits = min(max(0, max_minishard_bits), shard_chunk_bits // 2)
    return ShardingSpec(
        preshift_bits=shard_chunk_bits - minishard_bits,
        hash="identity",
        minishard_bits=minishard_bits,
        shard_bits=total_bits - shard_chunk_bits,
        minishard_index_encoding=minishard_index_encoding,
        data_encoding=data_encoding,
    )


def plan_label_sharding(
    num_labels: int,
    *,
    bytes_per_label: int = 64 * 1024,
    target_shard_bytes: int = DEFAULT_LABEL_SHARD_BYTES,
    labels_per_minishard: int = DEFAULT_LABELS_PER_MINISHARD,
    max_minishard_bits: int = 9,
    data_encoding: EncodingName = "gzip",
    minishard_index_encoding: EncodingName = "gzip",
) -> ShardingSpec:
    """Sharding for ``num_labels`` segment ids (meshes, skeletons): murmur hash, preshift 0.

    ``bytes_per_label`` is the expected stored size per label; see the module docstring.
    """
    if num_labels < 0 or bytes_per_label < 1 or target_shard_bytes < 1 or labels_per_minishard < 1:
        raise ShardingError("plan_label_sharding: sizes must be positive and num_labels >= 0")
    labels = max(1, num_labels)
    wanted = math.ceil(math.log2(max(1.0, labels * bytes_per_label / target_shard_bytes)))
    shard_bits = min(wanted, _floor_log2(labels), 64)
    per_shard = labels / (1 << shard_bits)
    minishard_bits = math.ceil(math.log2(max(1.0, per_shard / labels_per_minishard)))
    minishard_bits = min(minishard_bits, max(0, max_minishard_bits), 64 - shard_bits)
    return ShardingSpec(
        preshift_bits=0,
        hash="murmurhash3_x86_128",
        minishard_bits=minishard_bits,
        shard_bits=shard_bits,
        minishard_index_encoding=minishard_index_encoding,
        data_encoding=data_encoding,
    )
