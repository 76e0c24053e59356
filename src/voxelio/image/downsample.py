"""Downsampling of label and image arrays by integer factors, window by window (numpy only).

Voxel ``v`` of the result summarizes the window of ``factor`` voxels at ``v * factor``, over
the window's voxels a mask marks as inside the data: images by the mean (exact, rounded half
up, for integer types of every width), segmentations by the most frequent label (ties: the
first voxel in x, y, z order). :mod:`voxelio.dask` runs it block by block for pyramids; the
demo on whole arrays. Pure functions, thread safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def downsample_array(arr: np.ndarray, factor: Sequence[int], labels: bool) -> np.ndarray:
    """A whole ``[x, y, z, c]`` array downsampled by ``factor``: sizes round up, and the
    windows cut by the array's end use the voxels they hold."""
    pad = [(-int(s)) % int(k) for s, k in zip(arr.shape[:3], factor)]
    padded = np.pad(arr, [(0, p) for p in pad] + [(0, 0)])
    mask = np.zeros(padded.shape[:3], bool)
    mask[: arr.shape[0], : arr.shape[1], : arr.shape[2]] = True
    return reduce_windows(padded, mask, factor, labels)


def reduce_windows(
    block: np.ndarray, mask: np.ndarray, factor: Sequence[int], labels: bool
) -> np.ndarray:
    """``block`` (``[x, y, z, c]``, each side a multiple of ``factor``) reduced window by
    window over the voxels ``mask`` marks: most frequent value (``labels``) or mean."""
    fx, fy, fz = (int(v) for v in factor)
    nx, ny, nz, channels = (block.shape[0] // fx, block.shape[1] // fy,
                            block.shape[2] // fz, block.shape[3])  # fmt: skip
    if labels:  # windows as rows, members in x, y, z order: [nx, ny, nz, c, fz * fy * fx]
        shaped = block.reshape(nx, fx, ny, fy, nz, fz, channels)
        inside = mask.reshape(nx, fx, ny, fy, nz, fz, 1)
        rows = shaped.transpose(0, 2, 4, 6, 5, 3, 1).reshape(nx, ny, nz, channels, -1)
        members = inside.transpose(0, 2, 4, 6, 5, 3, 1).reshape(nx, ny, nz, 1, -1)
        return _most_frequent(rows, members)
    whole = bool(mask.all())
    values = block if whole else np.where(mask[..., None], block, 0)
    count = fx * fy * fz if whole else np.maximum(_window_sum(mask[..., None], factor, np.int64), 1)
    if not np.issubdtype(block.dtype, np.integer):
        return (_window_sum(values, factor, np.float64) / count).astype(block.dtype)
    if block.dtype.itemsize < 8:  # exact sums; float64 divides them exactly enough
        info = np.iinfo(block.dtype)
        narrow = 2 * max(info.max, -info.min) * (fx * fy * fz + 1) < 2**31
        total = _window_sum(values, factor, np.int32 if narrow else np.int64)
        return np.floor((2 * total + count) / (2 * count)).astype(block.dtype)
    return _wide_mean(values, count, factor).astype(block.dtype)


def _window_sum(values: np.ndarray, factor: Sequence[int], dtype: Any) -> np.ndarray:
    """The sums of ``values`` (``[x, y, z, c]``) over windows of ``factor``, in ``dtype``:
    strided slices added axis by axis (much faster than a reduction over reshaped axes)."""
    total = values.astype(dtype, copy=False)
    for axis, f in enumerate(int(v) for v in factor):
        if f > 1:
            index = [slice(None)] * total.ndim
            parts = []
            for start in range(f):
                index[axis] = slice(start, None, f)
                parts.append(total[tuple(index)])
            total = np.add.reduce(parts, dtype=total.dtype) if f > 2 else parts[0] + parts[1]
    return total


def _wide_mean(values: np.ndarray, count: Any, factor: Sequence[int]) -> np.ndarray:
    """The exact mean, rounded half up, of 64-bit integers over windows of ``factor`` with
    ``count`` members: each value is first split into quotient and remainder by the count,
    so no sum leaves the type's range."""
    members = np.asarray(count, np.int64)
    spread = members  # the count of each value's window: per window, repeated over it
    if members.ndim:
        for axis, f in enumerate(int(v) for v in factor):
            spread = np.repeat(spread, f, axis=axis)
    quotient, remainder = np.divmod(values, spread.astype(values.dtype))
    whole = _window_sum(quotient, factor, values.dtype)
    left = _window_sum(remainder, factor, np.int64)  # below count squared
    return whole + ((2 * left + members) // (2 * members)).astype(values.dtype)


def _most_frequent(values: np.ndarray, member: np.ndarray) -> np.ndarray:
    """The most frequent member value of each row (ties: the first of the row)."""
    counts = np.zeros(values.shape, np.int32)
    for i in range(values.shape[-1]):  # how many members hold each row's values
        counts += (values == values[..., i : i + 1]) & member[..., i : i + 1]
    best = np.argmax(np.where(member, counts, -1), axis=-1)
    return np.take_along_axis(values, best[..., None], axis=-1)[..., 0]
