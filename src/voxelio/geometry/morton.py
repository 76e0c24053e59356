"""Compressed Morton codes (Neuroglancer's ``encodeZIndexCompressed``), pure functions.

Used as the uint64 key of a chunk in a sharded volume and of a cell in a sharded annotation
spatial index. Grid coordinates are 0-based chunk-grid indices relative to ``voxel_offset``
(axis order x, y, z, or any rank for annotations). Dimension ``d`` gets
``bits[d] = bit_length(grid_shape[d] - 1)`` bits (0 for a single-cell dimension). Output bits
are filled from bit 0 upward: for ``i = 0, 1, ...`` and each dimension in order with
``i < bits[d]``, bit ``i`` of that coordinate is the next output bit.

All functions are pure and thread safe; vectorized forms take and return numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from voxelio.errors import OutOfBoundsError, ShardingError


def morton_bits(grid_shape: Sequence[int]) -> tuple[int, ...]:
    """Bits per dimension: ``bit_length(g - 1)`` for each grid size ``g`` (cells, >= 1)."""
    bits = []
    for g in grid_shape:
        size = int(g)
        if size < 1:
            raise OutOfBoundsError(f"Morton code: grid shape {tuple(grid_shape)} has a size < 1")
        bits.append((size - 1).bit_length())
    if sum(bits) > 64:
        raise ShardingError(
            f"Morton code: grid shape {tuple(grid_shape)} needs {sum(bits)} bits, more than 64"
        )
    return tuple(bits)


#: up to this many cells are encoded with Python ints rather than numpy
_FEW_CODES = 16


def _bit_plan(bits: Sequence[int]) -> list[tuple[int, int, int]]:
    """``(dimension, input bit, output bit)`` triples in output order."""
    plan = []
    out = 0
    for i in range(max(bits, default=0)):
        for dim, nbits in enumerate(bits):
            if i < nbits:
                plan.append((dim, i, out))
                out += 1
    return plan


def compressed_morton_code(coords: Sequence[int], grid_shape: Sequence[int]) -> int:
    """The compressed Morton code (a Python int < 2**64) of one grid cell.

    ``coords`` are chunk-grid indices in ``[0, grid_shape)``; outside raises
    :class:`~voxelio.errors.OutOfBoundsError`.
    """
    if len(coords) != len(grid_shape):
        raise OutOfBoundsError(
            f"Morton code: coordinates {tuple(coords)} do not match grid rank {len(grid_shape)}"
        )
    bits = morton_bits(grid_shape)
    values = [int(c) for c in coords]
    for c, g in zip(values, grid_shape):
        if not 0 <= c < int(g):
            raise OutOfBoundsError(
                f"Morton code: grid cell {tuple(values)} is outside grid {tuple(grid_shape)}"
            )
    code = 0
    for dim, bit, out in _bit_plan(bits):
        code |= ((values[dim] >> bit) & 1) << out
    return code


def compressed_morton_codes(coords: np.ndarray, grid_shape: Sequence[int]) -> np.ndarray:
    """Vectorized :func:`compressed_morton_code`: ``(n, rank)`` cells to uint64 codes ``(n,)``."""
    arr = np.asarray(coords)
    rank = len(grid_shape)
    if arr.ndim == 1 and arr.size == rank:
        arr = arr.reshape(1, rank)
    if arr.ndim != 2 or arr.shape[1] != rank:
        raise OutOfBoundsError(
            f"Morton codes: coordinates of shape {arr.shape} do not match grid rank {rank}"
        )
    bits = morton_bits(grid_shape)
    if arr.size and arr.dtype.kind not in "iu":
        raise OutOfBoundsError(f"Morton codes: grid coordinates must be integers, got {arr.dtype}")
    shape = tuple(int(g) for g in grid_shape)
    plan = _bit_plan(bits)
    if arr.shape[0] <= _FEW_CODES:  # Python ints beat ~4 numpy calls per bit for a few cells
        rows = arr.tolist()
        if not all(0 <= v < g for row in rows for v, g in zip(row, shape)):
            raise OutOfBoundsError(f"Morton codes: some grid cells lie outside grid {shape}")
        codes = [sum([((row[d] >> b) & 1) << o for d, b, o in plan]) for row in rows]
        return np.array(codes, dtype=np.uint64)
    if (arr < 0).any() or (arr >= np.asarray(shape, dtype=np.int64)).any():
        raise OutOfBoundsError(f"Morton codes: some grid cells lie outside grid {shape}")
    src = arr.astype(np.uint64)
    code = np.zeros(arr.shape[0], dtype=np.uint64)
    one = np.uint64(1)
    for dim, bit, out in plan:
        code |= ((src[:, dim] >> np.uint64(bit)) & one) << np.uint64(out)
    return code


def decode_compressed_morton_code(code: int, grid_shape: Sequence[int]) -> tuple[int, ...]:
    """The grid cell of one compressed Morton code (inverse of :func:`compressed_morton_code`).

    The result may lie outside ``grid_shape`` when ``grid_shape`` is not a power of two and
    ``code`` was not produced from a cell inside the grid; callers check.
    """
    value = int(code)
    if not 0 <= value < (1 << 64):
        raise OutOfBoundsError(f"Morton code {code!r} is not an unsigned 64-bit integer")
    bits = morton_bits(grid_shape)
    coords = [0] * len(bits)
    for dim, bit, out in _bit_plan(bits):
        coords[dim] |= ((value >> out) & 1) << bit
    if value >> sum(bits):
        raise OutOfBoundsError(
            f"Morton code {value} has bits above the {sum(bits)} used by grid {tuple(grid_shape)}"
        )
    return tuple(coords)


def decode_compressed_morton_codes(codes: np.ndarray, grid_shape: Sequence[int]) -> np.ndarray:
    """Vectorized inverse: uint64 codes ``(n,)`` to int64 grid cells ``(n, rank)``.

    Codes with bits above ``sum(bits)`` raise :class:`~voxelio.errors.OutOfBoundsError`.
    """
    arr = np.asarray(codes).astype(np.uint64).ravel()
    bits = morton_bits(grid_shape)
    total = sum(bits)
    if total < 64 and arr.size and (arr >> np.uint64(total)).any():
        raise OutOfBoundsError(
            f"Morton codes: some codes have bits above the {total} used by grid {tuple(grid_shape)}"
        )
    coords = np.zeros((arr.size, len(bits)), dtype=np.uint64)
    one = np.uint64(1)
    for dim, bit, out in _bit_plan(bits):
        coords[:, dim] |= ((arr >> np.uint64(out)) & one) << np.uint64(bit)
    return coords.astype(np.int64)
