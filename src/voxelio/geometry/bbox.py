"""``Bbox``: an axis-aligned box ``[minpt, maxpt)`` in voxels (or nanometres with ``unit='nm'``).

The API follows cloud-volume's ``Bbox`` but the value is frozen: ``minpt``/``maxpt`` return fresh
``Vec`` copies, every operation returns a new ``Bbox``, and equal boxes hash equally, so boxes
can be dict keys. Thread safe and cheap to pickle. Axis order is x, y, z.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from voxelio.errors import OutOfBoundsError
from voxelio.geometry.vec import Vec

_FILENAME_RE = re.compile(
    r"^(-?[\d.]+)-(-?[\d.]+)_(-?[\d.]+)-(-?[\d.]+)_(-?[\d.]+)-(-?[\d.]+)(?:\.\w+)?$"
)
_INT64 = np.dtype(np.int64)
_UNIT_TO_NM = {"vx": None, "nm": 1.0, "um": 1e3, "mm": 1e6, "m": 1e9, "pm": 1e-3}


class Bbox:
    """A box from ``minpt`` (inclusive) to ``maxpt`` (exclusive), integer or float.

    ``unit`` is ``"vx"`` (voxels, the default) or a physical unit (``"nm"``, ``"um"``...);
    physical boxes are converted with :meth:`convert_units` given a resolution in nm/voxel.
    """

    __slots__ = ("_min", "_max", "_dtype", "unit")
    _min: tuple[Any, ...]
    _max: tuple[Any, ...]
    _dtype: np.dtype
    unit: str

    def __init__(self, a: Iterable[Any], b: Iterable[Any], dtype: Any = None, unit: str = "vx"):
        amin = np.asarray(list(a))
        amax = np.asarray(list(b))
        if amin.shape != amax.shape or amin.ndim != 1:
            raise ValueError(f"Bbox corners must be equal-length vectors, got {amin}, {amax}")
        if unit not in _UNIT_TO_NM:
            raise ValueError(f"Bbox unit {unit!r} is not one of {sorted(_UNIT_TO_NM)}")
        if dtype is None:
            dtype = np.result_type(amin, amax)
            dtype = np.int64 if dtype.kind in "iub" else np.float64
        object.__setattr__(self, "_dtype", np.dtype(dtype))
        object.__setattr__(self, "_min", tuple(amin.astype(dtype).tolist()))
        object.__setattr__(self, "_max", tuple(amax.astype(dtype).tolist()))
        object.__setattr__(self, "unit", unit)

    @classmethod
    def _from_ints(cls, lo: tuple[int, ...], hi: tuple[int, ...]) -> Bbox:
        """Fast path: a voxel box from Python int tuples (no validation, no numpy)."""
        box = object.__new__(cls)
        object.__setattr__(box, "_min", lo)
        object.__setattr__(box, "_max", hi)
        object.__setattr__(box, "_dtype", _INT64)
        object.__setattr__(box, "unit", "vx")
        return box

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Bbox is immutable; build a new one")

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Bbox, (self._min, self._max, self._dtype.name, self.unit))

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def create(
        cls, obj: Any, context: Bbox | None = None, bounded: bool = False, autocrop: bool = False
    ) -> Bbox:
        """A box from a Bbox, slices, a filename, a list of 6 numbers or a pair of points.

        ``context`` fills open slices and resolves negative indices; with ``bounded`` a box that
        leaves ``context`` raises :class:`OutOfBoundsError`; with ``autocrop`` it is clipped.
        """
        box = _coerce(obj, context)
        if context is not None:
            if autocrop:
                box = Bbox.intersection(box, context)
            elif bounded and not context.contains_bbox(box):
                raise OutOfBoundsError(f"{box} is not contained in the bounds {context}")
        return box

    @classmethod
    def from_slices(cls, slices: Sequence[slice], context: Bbox | None = None) -> Bbox:
        """A box from ``slice`` objects (steps ignored); ``context`` fills ``None`` ends."""
        mins, maxs = [], []
        for i, slc in enumerate(slices[:3]):
            lo, hi = slc.start, slc.stop
            if context is not None:
                cmin, cmax = context._min[i], context._max[i]
                lo = cmin if lo is None else lo
                hi = cmax if hi is None else hi
            if lo is None or hi is None:
                raise ValueError(f"open slice {slc} needs a context box")
            mins.append(lo)
            maxs.append(hi)
        return Bbox(mins, maxs)

    @classmethod
    def from_filename(cls, filename: str, dtype: Any = int) -> Bbox:
        """Parse a chunk name ``x0-x1_y0-y1_z0-z1`` (a directory prefix is ignored)."""
        name = filename.rsplit("/", 1)[-1]
        match = _FILENAME_RE.match(name)
        if match is None:
            raise ValueError(f"{filename!r} is not a chunk name of the form x0-x1_y0-y1_z0-z1")
        vals = [float(v) if "." in v else int(v) for v in match.groups()]
        return Bbox(vals[0::2], vals[1::2], dtype=dtype)

    @classmethod
    def from_vec(cls, vec: Iterable[Any], dtype: Any = int) -> Bbox:
        """The box from the origin to ``vec``."""
        size = list(vec)
        return Bbox([0] * len(size), size, dtype=dtype)

    @classmethod
    def from_list(cls, lst: Sequence[Any]) -> Bbox:
        """A box from ``[x0, y0, z0, x1, y1, z1]``."""
        half = len(lst) // 2
        return Bbox(lst[:half], lst[half:])

    @classmethod
    def from_delta(cls, minpt: Iterable[Any], plus: Any) -> Bbox:
        """The box from ``minpt`` to ``minpt + plus``."""
        lo = np.asarray(list(minpt))
        return cls(lo, lo + np.asarray(plus))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bbox:
        """The box of :meth:`to_dict` (float32 when it names no dtype, as cloud-volume)."""
        return cls(data["minpt"], data["maxpt"], dtype=data.get("dtype", np.float32))

    @classmethod
    def from_points(cls, arr: Any) -> Bbox:
        """The smallest box containing every point (row) of ``arr``; maxpt is exclusive."""
        pts = np.asarray(arr)
        if pts.ndim != 2 or len(pts) == 0:
            raise ValueError("from_points needs a non-empty (N, D) array")
        return Bbox(pts.min(axis=0), pts.max(axis=0) + 1)

    # ---- properties ---------------------------------------------------------------------

    @property
    def minpt(self) -> Vec:
        """The inclusive lower corner (a fresh Vec)."""
        return Vec(*self._min, dtype=self._dtype)

    @property
    def maxpt(self) -> Vec:
        """The exclusive upper corner (a fresh Vec)."""
        return Vec(*self._max, dtype=self._dtype)

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of the corners."""
        return self._dtype

    dx = property(lambda self: self._max[0] - self._min[0], doc="The size along x.")
    dy = property(lambda self: self._max[1] - self._min[1], doc="The size along y.")
    dz = property(lambda self: self._max[2] - self._min[2], doc="The size along z.")

    @property
    def ndim(self) -> int:
        """Number of dimensions (3 for volumes)."""
        return len(self._min)

    def size(self) -> Vec:
        """``maxpt - minpt``."""
        return Vec(*np.subtract(self._max, self._min), dtype=self._dtype)

    size3 = size

    def volume(self) -> Any:
        """The number of voxels (product of the size; 0 for an empty box)."""
        return np.prod(np.maximum(np.asarray(self.size()), 0))

    def center(self) -> Vec:
        """The midpoint, as floats."""
        return Vec(*((np.asarray(self._min) + np.asarray(self._max)) / 2.0))

    def empty(self) -> bool:
        """True when any side has zero or negative length."""
        return any(hi <= lo for lo, hi in zip(self._min, self._max))

    def subvoxel(self) -> bool:
        """True when any side is shorter than one voxel."""
        return any(hi - lo < 1 for lo, hi in zip(self._min, self._max)) or self.empty()

    def to_slices(self) -> tuple[slice, ...]:
        """``(slice(x0, x1), slice(y0, y1), slice(z0, z1))``."""
        return tuple(slice(lo, hi) for lo, hi in zip(self._min, self._max))

    def to_list(self) -> list[Any]:
        """``[x0, y0, z0, x1, y1, z1]``."""
        return list(self._min) + list(self._max)

    def to_dict(self) -> dict[str, Any]:
        """``{"minpt": [...], "maxpt": [...], "dtype": "int64"}``, as cloud-volume's."""
        lo, hi = self.minpt.tolist(), self.maxpt.tolist()
        return {"minpt": lo, "maxpt": hi, "dtype": self._dtype.name}

    def serialize(self) -> str:
        """:meth:`to_dict` as JSON text, as cloud-volume's."""
        return json.dumps(self.to_dict())

    def to_filename(self, precision: int | None = None) -> str:
        """The chunk-file name ``x0-x1_y0-y1_z0-z1`` (floats with ``precision`` decimals)."""
        if self._dtype.kind == "i":  # the common case, a chunk of a grid
            (x0, y0, z0), (x1, y1, z1) = self._min, self._max
            return f"{x0}-{x1}_{y0}-{y1}_{z0}-{z1}"

        def fmt(v: Any) -> str:
            if precision is not None and self._dtype.kind == "f":
                return f"{v:.{precision}f}"
            return str(int(v)) if float(v).is_integer() else str(v)

        return "_".join(f"{fmt(lo)}-{fmt(hi)}" for lo, hi in zip(self._min, self._max))

    # ---- geometry -----------------------------------------------------------------------

    @staticmethod
    def intersection(b1: Bbox, b2: Bbox) -> Bbox:
        """The overlap of two boxes (an empty box at ``b1.minpt`` when they do not meet)."""
        lo = tuple(map(max, b1._min, b2._min))
        hi = tuple(map(min, b1._max, b2._max))
        if any(map(operator.le, hi, lo)):
            lo = hi = b1._min
        if b1._dtype.kind == b2._dtype.kind == "i" and b1.unit == b2.unit == "vx":
            return Bbox._from_ints(lo, hi)
        return Bbox(lo, hi, dtype=np.result_type(b1._dtype, b2._dtype))

    @staticmethod
    def intersects(b1: Bbox, b2: Bbox) -> bool:
        """Whether two boxes share at least one voxel."""
        return all(
            lo1 < hi2 and lo2 < hi1
            for lo1, hi1, lo2, hi2 in zip(b1._min, b1._max, b2._min, b2._max)
        )

    @staticmethod
    def expand(*boxes: Bbox) -> Bbox:
        """The smallest box containing all ``boxes``."""
        lo = np.min([b._min for b in boxes], axis=0)
        hi = np.max([b._max for b in boxes], axis=0)
        return Bbox(lo, hi)

    def clamp(self, bbox: Bbox) -> Bbox:
        """This box clipped to ``bbox``."""
        lo = np.minimum(np.maximum(self._min, bbox._min), bbox._max)
        hi = np.maximum(np.minimum(self._max, bbox._max), lo)
        return Bbox(lo, hi, dtype=self._dtype)

    def contains(self, point: Iterable[Any]) -> bool:
        """Whether ``point`` lies inside (lower inclusive, upper exclusive)."""
        pt = list(point)
        return all(lo <= p < hi for lo, p, hi in zip(self._min, pt, self._max))

    def overlaps_bbox(self, bbox: Bbox) -> bool:
        """Whether the two boxes meet, touching faces included (cloud-volume's test; see
        :meth:`intersects` for sharing a voxel)."""
        pairs = zip(self._min, self._max, bbox._min, bbox._max)
        return all(lo1 <= hi2 and lo2 <= hi1 for lo1, hi1, lo2, hi2 in pairs)

    def contains_bbox(self, bbox: Bbox) -> bool:
        """Whether ``bbox`` lies entirely inside this box."""
        return all(lo <= blo for lo, blo in zip(self._min, bbox._min)) and all(
            bhi <= hi for hi, bhi in zip(self._max, bbox._max)
        )

    def expand_to_chunk_size(self, chunk_size: Iterable[Any], offset: Iterable[Any] = (0, 0, 0)):
        """Grow outward to the nearest chunk boundaries of a grid anchored at ``offset``."""
        cs, off = _vec3(chunk_size, self.ndim), _vec3(offset, self.ndim)
        lo = np.floor((np.asarray(self._min) - off) / cs) * cs + off
        hi = np.ceil((np.asarray(self._max) - off) / cs) * cs + off
        return Bbox(lo, hi, dtype=self._dtype)

    def shrink_to_chunk_size(self, chunk_size: Iterable[Any], offset: Iterable[Any] = (0, 0, 0)):
        """Shrink inward to the nearest chunk boundaries (may become empty)."""
        cs, off = _vec3(chunk_size, self.ndim), _vec3(offset, self.ndim)
        lo = np.ceil((np.asarray(self._min) - off) / cs) * cs + off
        hi = np.floor((np.asarray(self._max) - off) / cs) * cs + off
        return Bbox(lo, np.maximum(hi, lo), dtype=self._dtype)

    def round_to_chunk_size(self, chunk_size: Iterable[Any], offset: Iterable[Any] = (0, 0, 0)):
        """Move each face to the nearest chunk boundary."""
        cs, off = _vec3(chunk_size, self.ndim), _vec3(offset, self.ndim)
        lo = np.round((np.asarray(self._min) - off) / cs) * cs + off
        hi = np.round((np.asarray(self._max) - off) / cs) * cs + off
        return Bbox(lo, hi, dtype=self._dtype)

    def is_chunk_aligned(
        self, chunk_size: Iterable[Any], offset: Iterable[Any] = (0, 0, 0)
    ) -> bool:
        """Whether both corners lie on the chunk grid anchored at ``offset``."""
        return self.expand_to_chunk_size(chunk_size, offset) == self

    def num_chunks(self, chunk_size: Iterable[Any]) -> int:
        """How many chunks of ``chunk_size`` tile this box (partial ones counted)."""
        cs = _vec3(chunk_size, self.ndim)
        return int(np.prod(np.ceil((np.asarray(self._max) - np.asarray(self._min)) / cs)))

    def grow(self, amt: Any) -> Bbox:
        """Expand every face outward by ``amt`` (scalar or per-axis)."""
        return Bbox(np.asarray(self._min) - amt, np.asarray(self._max) + amt)

    def shrink(self, amt: Any) -> Bbox:
        """Move every face inward by ``amt``."""
        return self.grow(-np.asarray(amt))

    def astype(self, dtype: Any) -> Bbox:
        """The same box with corners cast to ``dtype``."""
        return Bbox(self._min, self._max, dtype=dtype, unit=self.unit)

    def clone(self) -> Bbox:
        """An equal box (boxes are immutable, so this is only for API compatibility)."""
        return Bbox(self._min, self._max, dtype=self._dtype, unit=self.unit)

    def transpose(self) -> Bbox:
        """The box with axes reversed."""
        return Bbox(self._min[::-1], self._max[::-1], dtype=self._dtype, unit=self.unit)

    def convert_units(self, unit: str, resolution: Iterable[Any]) -> Bbox:
        """Convert between voxels and a physical unit given ``resolution`` in nm per voxel."""
        if unit == self.unit:
            return self
        res = np.asarray(list(resolution), dtype=float)
        nm_lo = self._to_nm(np.asarray(self._min, dtype=float), res)
        nm_hi = self._to_nm(np.asarray(self._max, dtype=float), res)
        if unit == "vx":
            return Bbox(np.floor(nm_lo / res), np.ceil(nm_hi / res), dtype=np.int64)
        factor = _UNIT_TO_NM[unit]
        assert factor is not None
        return Bbox(nm_lo / factor, nm_hi / factor, dtype=np.float64, unit=unit)

    def _to_nm(self, pt: np.ndarray, res: np.ndarray) -> np.ndarray:
        factor = _UNIT_TO_NM[self.unit]
        return pt * res if factor is None else pt * factor

    # ---- arithmetic and comparison ------------------------------------------------------

    def _shift(self, other: Any, op: Any) -> Bbox:
        if isinstance(other, Bbox):
            return Bbox(op(self._min, other._min), op(self._max, other._max), unit=self.unit)
        val = np.asarray(other)
        return Bbox(op(np.asarray(self._min), val), op(np.asarray(self._max), val), unit=self.unit)

    def __add__(self, other: Any) -> Bbox:
        return self._shift(other, np.add)

    def __sub__(self, other: Any) -> Bbox:
        return self._shift(other, np.subtract)

    def __mul__(self, other: Any) -> Bbox:
        return self._shift(other, np.multiply)

    def __truediv__(self, other: Any) -> Bbox:
        return self._shift(other, np.true_divide)

    def __floordiv__(self, other: Any) -> Bbox:
        return self._shift(other, np.floor_divide)

    __radd__ = __add__
    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bbox):
            return NotImplemented
        return self._min == other._min and self._max == other._max and self.unit == other.unit

    def __hash__(self) -> int:
        return hash((self._min, self._max, self.unit))

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield self.minpt
        yield self.maxpt

    def __repr__(self) -> str:
        unit = "" if self.unit == "vx" else f", unit={self.unit!r}"
        return f"Bbox({list(self._min)},{list(self._max)}, dtype={self._dtype.name}{unit})"


def _vec3(value: Any, ndim: int) -> np.ndarray:
    return np.asarray(value if np.ndim(value) else [value] * ndim, dtype=float)


def _coerce(obj: Any, context: Bbox | None) -> Bbox:
    if isinstance(obj, Bbox):
        return obj
    if isinstance(obj, str):
        return Bbox.from_filename(obj)
    if isinstance(obj, Vec) and obj.size == 3:  # a size from the origin, as cloud-volume
        return Bbox.from_vec(obj)
    if isinstance(obj, slice):
        obj = (obj,)
    if isinstance(obj, (tuple, list)) and obj and all(isinstance(s, slice) for s in obj):
        if context is None and any(s.start is None or s.stop is None for s in obj):
            raise ValueError(f"open slices {obj} need a context box")
        filled = list(obj) + [slice(None)] * (3 - len(obj))
        return Bbox.from_slices(filled, context)
    arr = np.asarray(obj)
    if arr.ndim == 1 and arr.size in (4, 6):
        return Bbox.from_list(list(arr))
    if arr.ndim == 2 and arr.shape[0] == 2:
        return Bbox(arr[0], arr[1])
    raise ValueError(f"cannot make a Bbox from {obj!r}")
