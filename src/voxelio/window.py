"""One mip of a volume as a 4-D array indexed from 0, for array libraries such as Dask.

``vol[...]`` takes voxel coordinates, so a layer whose voxel offset is not zero cannot be
handed as it is to ``dask.array.from_array`` or ``dask.array.store``, which index from 0.
:class:`MipArray` shifts indices by the offset, reads and writes through the volume's own
methods (its threads, caches and conditional writes) and answers plain ``ndarray`` values
(Dask refuses ndarray subclasses such as ``VolumeCutout``). It pickles with its volume, which
pickles cheaply (settings only; stores reopen their connections), so process and distributed
schedulers can ship it. Thread safety is that of the volume.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voxelio.geometry import Bbox


class MipArray:
    """Mip ``mip`` of ``vol`` as an array ``[x, y, z, channel]`` (``squeeze``: a one-channel
    scale as ``[x, y, z]``); index ``(0, 0, 0)`` is the scale's voxel offset. Keys are slices
    with step 1 and integers (a missing axis means all of it); writes cover every channel and
    follow the volume's rules (chunk-aligned unless it allows ``non_aligned_writes``)."""

    def __init__(self, vol: Any, mip: int | None = None, squeeze: bool = False) -> None:
        self.vol = vol
        self.mip = int(vol.mip if mip is None else mip)
        bounds = vol.mip_bounds(self.mip)
        self.offset = tuple(int(v) for v in bounds.minpt)
        self._shape4 = (*(int(v) for v in bounds.size()), int(vol.num_channels))
        if squeeze and self._shape4[3] != 1:
            raise ValueError(f"{vol.cloudpath}: {self._shape4[3]} channels cannot be squeezed")
        self.squeeze = squeeze
        self.shape = self._shape4[:3] if squeeze else self._shape4
        self.ndim = len(self.shape)
        self.dtype = np.dtype(vol.dtype)

    def __repr__(self) -> str:
        return f"MipArray({self.vol.cloudpath!r}, mip={self.mip}, shape={self.shape})"

    def _locate(self, key: Any) -> tuple[Bbox, slice, tuple[int, ...]]:
        """The voxel box, the channel slice and the axes indexed by an integer (dropped from
        the result) that ``key`` selects."""
        keys = key if isinstance(key, tuple) else (key,)
        if len(keys) > self.ndim or not all(isinstance(k, (slice, int, np.integer)) for k in keys):
            raise IndexError(
                f"{self!r}: index with up to {self.ndim} slices or integers, got {key!r}"
            )
        keys = keys + (slice(None),) * (self.ndim - len(keys)) + ((0,) if self.squeeze else ())
        dropped = tuple(axis for axis, k in enumerate(keys) if not isinstance(k, slice))
        spans = [_span(k, n, self, key) for k, n in zip(keys, self._shape4)]
        lo = [o + start for o, (start, _) in zip(self.offset, spans)]
        hi = [o + stop for o, (_, stop) in zip(self.offset, spans)]
        return Bbox(lo, hi), slice(*spans[3]), dropped

    def __getitem__(self, key: Any) -> np.ndarray:
        box, channels, dropped = self._locate(key)
        if np.any(np.asarray(box.size()) == 0) or channels.start == channels.stop:
            size = (*(int(v) for v in box.size()), channels.stop - channels.start)
            arr = np.zeros(size, self.dtype)
        else:
            arr = np.asarray(self.vol.download(box, mip=self.mip))[..., channels]
        return arr[tuple(0 if axis in dropped else slice(None) for axis in range(4))]

    def __setitem__(self, key: Any, value: Any) -> None:
        box, channels, dropped = self._locate(key)
        if (channels.start, channels.stop) != (0, self._shape4[3]):
            raise IndexError(f"{self!r}: a write covers every channel, got {key!r}")
        if np.any(np.asarray(box.size()) == 0):
            return
        arr = np.asarray(value)
        if arr.ndim == 3 - len(dropped):  # no channel axis given
            arr = arr[..., None]
        self.vol.upload(box, np.expand_dims(arr, dropped) if dropped else arr, mip=self.mip)


def _span(index: slice | int, length: int, where: MipArray, key: Any) -> tuple[int, int]:
    """``[start, stop)`` of one axis (of ``length``) that ``index`` selects."""
    if isinstance(index, slice):
        start, stop, step = index.indices(length)
        if step != 1:
            raise IndexError(f"{where!r}: slices must have step 1, got {key!r}")
        return start, max(start, stop)
    i = int(index) + (length if index < 0 else 0)
    if not 0 <= i < length:
        raise IndexError(f"{where!r}: index {int(index)} is out of range for length {length}")
    return i, i + 1
