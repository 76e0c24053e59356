"""Chunk grids of one scale: which chunks a box touches, their clipped extents and file names.

A grid is anchored at the scale's ``voxel_offset``; cell ``g`` covers voxels
``[offset + g*chunk, offset + min((g+1)*chunk, size))`` (edge chunks are smaller, never padded).
Names use absolute voxel coordinates: ``x0-x1_y0-y1_z0-z1``. All values are in voxels of the
scale, axis order x, y, z. Frozen and thread safe.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from voxelio.geometry.bbox import Bbox


@dataclass(frozen=True)
class ChunkGrid:
    """The chunk grid of a scale: ``voxel_offset``, ``size`` and ``chunk_size`` in voxels."""

    voxel_offset: tuple[int, int, int]
    size: tuple[int, int, int]
    chunk_size: tuple[int, int, int]

    @cached_property
    def bounds(self) -> Bbox:
        """The scale's extent ``[offset, offset + size)``."""
        lo = tuple(int(v) for v in self.voxel_offset)
        return Bbox._from_ints(lo, tuple(a + int(s) for a, s in zip(lo, self.size)))

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        """Number of chunks along each axis, ``ceil(size / chunk_size)``."""
        return tuple(-(-s // c) for s, c in zip(self.size, self.chunk_size))  # type: ignore[return-value]

    def cell_range(self, bbox: Bbox) -> tuple[np.ndarray, np.ndarray]:
        """Grid cells ``[lo, hi)`` touched by ``bbox`` (clipped to the grid)."""
        lo, hi = self._cell_range(bbox)
        return np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)

    def _cell_range(self, bbox: Bbox) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """:meth:`cell_range` in Python ints (``(0,0,0), (0,0,0)`` when nothing is touched)."""
        lo: list[int] = []
        hi: list[int] = []
        for a, b, o, s, c in zip(
            bbox._min, bbox._max, self.voxel_offset, self.size, self.chunk_size
        ):
            a, b = max(a, o), min(b, o + s)
            if b <= a:
                return (0, 0, 0), (0, 0, 0)
            lo.append(int((a - o) // c))
            hi.append(int(-(-(b - o) // c)))
        return tuple(lo), tuple(hi)

    def cells(self, bbox: Bbox) -> np.ndarray:
        """An ``(N, 3)`` array of grid coordinates touched by ``bbox``, x fastest."""
        return np.array(list(self._cells(bbox)), dtype=np.int64).reshape(-1, 3)

    def _cells(self, bbox: Bbox) -> Iterator[tuple[int, int, int]]:
        (x0, y0, z0), (x1, y1, z1) = self._cell_range(bbox)
        for z in range(z0, z1):
            for y in range(y0, y1):
                for x in range(x0, x1):
                    yield x, y, z

    def cell_bbox(self, cell: np.ndarray | tuple[int, int, int]) -> Bbox:
        """The clipped voxel extent of grid cell ``cell``."""
        (x0, x1), (y0, y1), (z0, z1) = (self._extent(axis, int(g)) for axis, g in enumerate(cell))
        return Bbox._from_ints((x0, y0, z0), (x1, y1, z1))

    def _extent(self, axis: int, g: int) -> tuple[int, int]:
        """``[lo, hi)`` in voxels of grid cell ``g`` along ``axis`` (clipped)."""
        o, c = self.voxel_offset[axis], self.chunk_size[axis]
        lo = o + g * c
        return lo, min(lo + c, o + self.size[axis])

    def chunk_bboxes(self, bbox: Bbox) -> Iterator[Bbox]:
        """The clipped extents of every chunk ``bbox`` touches, x fastest."""
        lo, hi = self._cell_range(bbox)
        xs, ys, zs = ([self._extent(a, g) for g in range(lo[a], hi[a])] for a in range(3))
        for z0, z1 in zs:
            for y0, y1 in ys:
                for x0, x1 in xs:
                    yield Bbox._from_ints((x0, y0, z0), (x1, y1, z1))

    def is_aligned(self, bbox: Bbox) -> bool:
        """Whether every face of ``bbox`` lies on a chunk boundary or the volume's far edge."""
        off, cs = np.asarray(self.voxel_offset), np.asarray(self.chunk_size)
        end = off + np.asarray(self.size)
        lo, hi = np.asarray(bbox.minpt), np.asarray(bbox.maxpt)
        lo_ok = (lo - off) % cs == 0
        hi_ok = ((hi - off) % cs == 0) | (hi == end)
        return bool(np.all(lo_ok) and np.all(hi_ok))


def chunk_name(bbox: Bbox) -> str:
    """The unsharded chunk file name of a chunk extent: ``x0-x1_y0-y1_z0-z1``."""
    return bbox.to_filename()
