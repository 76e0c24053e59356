"""``Vec``: a small numpy vector with ``.x .y .z .w`` accessors, as in cloud-volume.

A ``Vec`` is an ``np.ndarray`` subclass, so it is mutable like any array; values that must not
change (``Bbox``) keep their own immutable copies. Axis order is x, y, z (then channel).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Vec(np.ndarray):
    """``Vec(x, y, z[, w], dtype=None)``: an integer or float vector (int64 when all ints)."""

    def __new__(cls, *args: Any, dtype: Any = None) -> Vec:
        if len(args) == 1 and np.ndim(args[0]) == 1:
            args = tuple(args[0])
        if dtype is None:
            dtype = _natural_dtype(args)
        return np.asarray(args, dtype=dtype).view(cls)

    @classmethod
    def clamp(cls, val: Any, minval: Any, maxval: Any) -> Vec:
        """``val`` clipped into ``[minval, maxval]`` element-wise."""
        return Vec(*np.minimum(np.maximum(val, minval), maxval))

    def clone(self) -> Vec:
        """An independent copy."""
        return Vec(*self, dtype=self.dtype)

    def null(self) -> bool:
        """True when every element is zero."""
        return bool(np.all(self == 0))

    def dot(self, other: Any) -> Any:  # type: ignore[override]
        """The dot product with ``other``."""
        return np.dot(np.asarray(self), np.asarray(other))

    def length(self) -> float:
        """Euclidean norm."""
        return float(np.linalg.norm(np.asarray(self)))

    def rectVolume(self) -> Any:  # noqa: N802 (cloud-volume's name)
        """Product of the elements (the volume of a box of this size)."""
        return np.prod(np.asarray(self))

    def _axis(self, i: int) -> Any:
        return self[i].item()

    x = property(lambda self: self._axis(0), doc="The first element.")
    y = property(lambda self: self._axis(1), doc="The second element.")
    z = property(lambda self: self._axis(2), doc="The third element.")
    w = property(lambda self: self._axis(3), doc="The fourth element.")

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.tolist()))

    def __repr__(self) -> str:
        return "Vec(" + ",".join(str(v) for v in self.tolist()) + ", dtype=" + self.dtype.name + ")"


def _natural_dtype(values: tuple[Any, ...]) -> Any:
    arr = np.asarray(values)
    if arr.dtype.kind in "iub":
        return np.int64
    if arr.dtype.kind == "f":
        return arr.dtype if arr.dtype.itemsize >= 4 else np.float32
    return arr.dtype
