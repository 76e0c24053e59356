"""Turn ``vol[...]`` index expressions into a voxel box, steps and a channel slice.

Accepted: integers (a one-voxel slab), slices with non-negative steps, ``Ellipsis``, a ``Bbox``
and up to four axes (x, y, z, channel). Negative indices count from the end of the volume, as
in numpy, when the volume starts at or above zero and reads are bounded; otherwise (negative
voxel offsets, or ``bounded=False``) they are literal coordinates, as in cloud-volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from voxelio.errors import IndexingError, OutOfBoundsError, SubvoxelVolumeError
from voxelio.geometry.bbox import Bbox


@dataclass(frozen=True)
class Request:
    """A resolved index: the voxel box, per-axis steps and the channel slice."""

    bbox: Bbox
    steps: tuple[int, int, int]
    channels: slice


def _as_list(index: Any) -> list[Any]:
    if isinstance(index, Bbox):
        return list(index.to_slices())
    if isinstance(index, tuple):
        return list(index)
    if isinstance(index, list) and all(isinstance(i, (slice, int, np.integer)) for i in index):
        return list(index)
    return [index]


def _expand_ellipsis(items: list[Any], ndim: int = 4) -> list[Any]:
    if sum(1 for i in items if i is Ellipsis) > 1:
        raise IndexingError("an index can only have a single Ellipsis ('...')")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        fill = [slice(None)] * max(0, ndim - len(items) + 1)
        items = items[:at] + fill + items[at + 1 :]
    return items + [slice(None)] * (ndim - len(items))


def resolve(
    index: Any,
    bounds: Bbox,
    num_channels: int,
    bounded: bool,
    autocrop: bool = False,
) -> Request:
    """Resolve ``index`` against the volume ``bounds`` (voxels); checks bounds when asked."""
    items = _expand_ellipsis(_as_list(index))
    if len(items) > 4:
        raise IndexingError(f"too many indices ({len(items)}) for a 4-D volume (x, y, z, channel)")
    lo, hi, steps = [], [], []
    bmin, bmax = bounds._min, bounds._max
    for axis, item in enumerate(items[:3]):
        start, stop, step = _axis(item, bmin[axis], bmax[axis], bounded and not autocrop, axis)
        lo.append(start)
        hi.append(stop)
        steps.append(step)
    box = Bbox._from_ints(tuple(lo), tuple(hi)) if bounds._dtype.kind == "i" else Bbox(lo, hi)
    if autocrop:
        box = Bbox.intersection(box, bounds)
    elif bounded and not bounds.contains_bbox(box):
        raise OutOfBoundsError(f"requested {box} lies outside the volume bounds {bounds}")
    if box.empty():
        raise SubvoxelVolumeError(f"requested region {box} is empty")
    return Request(box, (steps[0], steps[1], steps[2]), _channel(items[3], num_channels))


def _axis(item: Any, lo: int, hi: int, numpy_negatives: bool, axis: int) -> tuple[int, int, int]:
    name = "xyz"[axis]
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        val = int(item)
        if numpy_negatives and val < 0 and lo >= 0:
            val += hi
        return val, val + 1, 1
    if not isinstance(item, slice):
        raise IndexingError(f"unsupported index {item!r} on axis {name}")
    step = 1 if item.step is None else _whole(item.step, name)
    if step <= 0:
        raise IndexingError(f"step on axis {name} must be positive, got {step}")
    start = lo if item.start is None else _whole(item.start, name)
    stop = hi if item.stop is None else _whole(item.stop, name)
    if numpy_negatives and lo >= 0:
        start = start + hi if start < 0 else start
        stop = stop + hi if stop < 0 else stop
    return start, stop, step


def _whole(value: Any, axis: str) -> int:
    """A slice bound as an int (floats truncated, as cloud-volume); NaN, infinities and
    non-numbers are an :class:`IndexingError` naming the axis."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise IndexingError(f"slice bound {value!r} on axis {axis} is not a number") from None


def _channel(item: Any, num_channels: int) -> slice:
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        val = int(item) + (num_channels if int(item) < 0 else 0)
        if not 0 <= val < num_channels:
            raise OutOfBoundsError(f"channel {item} outside [0, {num_channels})")
        return slice(val, val + 1)
    if isinstance(item, slice):
        return item
    raise IndexingError(f"unsupported channel index {item!r}")
