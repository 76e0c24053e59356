"""Sharded-image helpers for the image engine: chunk ids, shard grouping, shard coverage.

A chunk of a sharded scale is keyed by the compressed Morton code of its grid cell
(0-based chunk-grid indices relative to ``voxel_offset``, axis order x, y, z). Grid shapes
are in chunks: ``ceil(size / chunk_size)`` per axis. Pure functions on numpy arrays,
thread safe; nothing here touches storage or the facade.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from voxelio.errors import ShardingError
from voxelio.geometry.morton import (
    compressed_morton_codes,
    decode_compressed_morton_codes,
    morton_bits,
)
from voxelio.sharding.spec import ShardingSpec, as_uint64

#: murmur-hashed images have no block structure; enumerate at most this many grid cells
MAX_ENUMERATED_CELLS = 1 << 22


def grid_shape(size: Sequence[int], chunk_size: Sequence[int]) -> tuple[int, ...]:
    """Chunks per axis, ``ceil(size / chunk_size)`` (both in voxels, x, y, z)."""
    if len(size) != len(chunk_size) or min(chunk_size, default=1) < 1 or min(size, default=1) < 1:
        raise ShardingError(
            f"grid of size {tuple(size)} and chunk size {tuple(chunk_size)} is invalid"
        )
    return tuple(-(-int(s) // int(c)) for s, c in zip(size, chunk_size))


def chunk_ids(grid_coords: np.ndarray, grid_shape: Sequence[int]) -> np.ndarray:
    """uint64 chunk ids (compressed Morton codes) of ``(n, 3)`` grid cells."""
    return compressed_morton_codes(np.asarray(grid_coords), grid_shape)


def chunk_coords(ids: np.ndarray, grid_shape: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`chunk_ids`: ``(n, 3)`` int64 grid cells of uint64 chunk ids."""
    return decode_compressed_morton_codes(as_uint64(ids), grid_shape)


def group_by_shard(ids: np.ndarray, spec: ShardingSpec) -> dict[int, np.ndarray]:
    """``{shard_number: positions into ids}`` (int64 index arrays, in input order)."""
    arr = as_uint64(ids).ravel()
    if arr.size == 0:
        return {}
    shards, _ = spec.shards_and_minishards(arr)
    order = np.argsort(shards, kind="stable")
    sorted_shards = shards[order]
    bounds = np.flatnonzero(np.diff(sorted_shards)) + 1
    return {int(sorted_shards[g[0]]): order[g] for g in np.split(np.arange(arr.size), bounds)}


def shard_chunk_ids(shard_number: int, spec: ShardingSpec, grid_shape: Sequence[int]) -> np.ndarray:
    """Sorted uint64 ids of every grid cell (inside ``grid_shape``) stored in one shard.

    With the identity hash this walks only the shard's Morton runs; with murmur hashing it
    enumerates the grid (up to :data:`MAX_ENUMERATED_CELLS` cells, else ShardingError).
    """
    bits = sum(morton_bits(grid_shape))
    if spec.hash != "identity":
        return _enumerate_shard(shard_number, spec, grid_shape)
    low = spec.preshift_bits + spec.minishard_bits
    if low >= 64 or low >= bits:
        run = np.arange(1 << min(bits, 62), dtype=np.uint64) if shard_number == 0 else None
        return _inside(run, grid_shape) if run is not None else np.zeros(0, np.uint64)
    period = low + spec.shard_bits
    repeats = 1 if period >= bits else 1 << (bits - period)
    run_len = 1 << low
    if repeats * run_len > MAX_ENUMERATED_CELLS * 4:
        raise ShardingError(f"shard {shard_number} covers too many chunk ids to enumerate")
    offsets = np.arange(run_len, dtype=np.uint64)
    highs = np.arange(repeats, dtype=np.uint64) << np.uint64(min(period, 63))
    base = highs | np.uint64(shard_number << low)
    candidates = (base[:, None] | offsets[None, :]).ravel()
    return _inside(candidates, grid_shape)


def _inside(codes: np.ndarray, grid_shape: Sequence[int]) -> np.ndarray:
    bits = sum(morton_bits(grid_shape))
    if bits < 64:
        codes = codes[codes < np.uint64(1 << bits)]
    cells = decode_compressed_morton_codes(codes, grid_shape)
    keep = (cells < np.asarray(grid_shape, dtype=np.int64)).all(axis=1)
    return np.sort(codes[keep])


def _enumerate_shard(
    shard_number: int, spec: ShardingSpec, grid_shape: Sequence[int]
) -> np.ndarray:
    total = int(np.prod([int(g) for g in grid_shape]))
    if total > MAX_ENUMERATED_CELLS:
        raise ShardingError(
            f"cannot list the chunks of shard {shard_number}: hash {spec.hash} with a grid of "
            f"{total} cells (limit {MAX_ENUMERATED_CELLS})"
        )
    cells = np.indices([int(g) for g in grid_shape]).reshape(len(grid_shape), -1).T
    ids = compressed_morton_codes(cells, grid_shape)
    shards, _ = spec.shards_and_minishards(ids)
    return np.sort(ids[shards == np.uint64(shard_number)])


def shard_chunk_coords(
    shard_number: int, spec: ShardingSpec, grid_shape: Sequence[int]
) -> np.ndarray:
    """``(n, 3)`` int64 grid cells stored in one shard (see :func:`shard_chunk_ids`)."""
    return chunk_coords(shard_chunk_ids(shard_number, spec, grid_shape), grid_shape)


def covers_whole_shards(
    ids: np.ndarray, spec: ShardingSpec, grid_shape: Sequence[int], *, may_list: bool = True
) -> dict[int, bool]:
    """``{shard: True if ids contain every chunk of that shard}`` for each shard ids touch.

    A write that covers a whole shard can replace it without reading it first
    (``ShardedKeyStore.put_many(..., replace_shards=True)``); a remote read of a whole shard
    fetches it in one request. Counted, without listing any shard, when ids hold the whole
    grid or when shards are aligned boxes (:func:`shard_shape_in_chunks`); otherwise each
    shard's chunks are listed (:func:`shard_chunk_ids`, which refuses murmur-hashed grids
    over :data:`MAX_ENUMERATED_CELLS` cells), or, with ``may_list=False``, such shards count
    as not covered.
    """
    arr = np.unique(as_uint64(ids).ravel())
    by_shard = group_by_shard(arr, spec)
    if arr.size == int(np.prod([int(g) for g in grid_shape])):
        return dict.fromkeys(by_shard, True)  # ids of grid cells: every chunk there is
    box = shard_shape_in_chunks(spec, grid_shape)
    out: dict[int, bool] = {}
    for shard, positions in by_shard.items():
        if box is not None:
            out[shard] = positions.size == _box_cells(arr[positions[:1]], box, grid_shape)
        elif may_list:
            needed = shard_chunk_ids(shard, spec, grid_shape)
            out[shard] = needed.size == positions.size and bool(
                np.isin(needed, arr[positions]).all()
            )
        else:
            out[shard] = False
    return out


def _box_cells(one_id: np.ndarray, box: Sequence[int], grid_shape: Sequence[int]) -> int:
    """Grid cells of the aligned ``box`` (a shard's) that holds the chunk ``one_id``."""
    cell = chunk_coords(one_id, grid_shape)[0]
    shape, grid = np.asarray(box, dtype=np.int64), np.asarray(grid_shape, dtype=np.int64)
    lo = cell // shape * shape
    return int(np.prod(np.minimum(lo + shape, grid) - lo))


def shard_shape_in_chunks(spec: ShardingSpec, grid_shape: Sequence[int]) -> tuple[int, ...] | None:
    """Shape (in chunks, x, y, z) of the aligned box one shard covers, if shards are boxes.

    That is the case with the identity hash when every Morton bit above
    ``preshift_bits + minishard_bits`` selects the shard (``shard_bits`` reaches the top).
    Returns ``None`` otherwise. Multiply by ``chunk_size`` for voxels.
    """
    bits = morton_bits(grid_shape)
    low = spec.preshift_bits + spec.minishard_bits
    if spec.hash != "identity" or low + spec.shard_bits < sum(bits):
        return None
    counts = [0] * len(bits)
    out = 0
    for i in range(max(bits, default=0)):
        for dim, nbits in enumerate(bits):
            if i < nbits and out < low:
                counts[dim] += 1
                out += 1
    return tuple(1 << c for c in counts)


def image_sharding_problems(spec: ShardingSpec, grid_shape: Sequence[int]) -> list[str]:
    """Reasons ``spec`` cannot shard a volume of ``grid_shape`` chunks (``[]`` when usable).

    The chunk ids (compressed Morton codes) must fit in 64 bits and the grid must be
    non-empty; any valid :class:`ShardingSpec` is otherwise accepted by Neuroglancer and
    TensorStore (identity hash keeps shards compact; murmur scatters them).
    """
    try:
        morton_bits(grid_shape)
    except (ShardingError, ValueError) as exc:
        return [str(exc)]
    return []


def image_sharding_valid(spec: ShardingSpec, grid_shape: Sequence[int]) -> bool:
    """Whether ``spec`` can shard a volume of ``grid_shape`` chunks."""
    return not image_sharding_problems(spec, grid_shape)
