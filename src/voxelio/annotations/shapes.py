"""Where annotations are: their bounding boxes, and which of them meet a box (no I/O).

Geometry is in the info's coordinate units, shaped as in :mod:`voxelio.annotations.records`.
:func:`intersects` is exact for every type, with boxes closed on both sides: a point lies in
the box; a line or a polyline segment passes through it (clipped parametrically); an
axis-aligned box overlaps it; an ellipsoid reaches it (the box point nearest the centre,
in radius units, lies within distance 1; a zero radius pins that axis to the centre).
"""

from __future__ import annotations

import numpy as np

from voxelio.annotations.records import Geometry


def extents(kind: str, geometry: Geometry, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Per annotation, the lower and upper corners of its bounding box, ``(n, rank)`` each."""
    if isinstance(geometry, list):
        if not geometry:
            empty = np.zeros((0, rank), np.float64)
            return empty, empty
        lows = np.stack([np.min(v, axis=0) if len(v) else np.full(rank, np.nan) for v in geometry])
        highs = np.stack([np.max(v, axis=0) if len(v) else np.full(rank, np.nan) for v in geometry])
        return lows.astype(np.float64), highs.astype(np.float64)
    g = np.asarray(geometry, dtype=np.float64)
    if kind == "point":
        return g, g
    a, b = g[..., 0], g[..., 1]
    if kind == "ellipsoid":
        radii = np.abs(b)
        return a - radii, a + radii
    return np.minimum(a, b), np.maximum(a, b)


def intersects(kind: str, geometry: Geometry, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Which annotations meet the closed box ``[lo, hi]`` (a boolean array)."""
    if isinstance(geometry, list):
        return np.array([_polyline_meets(v, lo, hi) for v in geometry], dtype=bool)
    g = np.asarray(geometry, dtype=np.float64)
    if kind == "point":
        return np.all((g >= lo) & (g <= hi), axis=1)
    if kind == "line":
        return _segments_meet(g[..., 0], g[..., 1], lo, hi)
    if kind == "ellipsoid":
        return _ellipsoids_meet(g[..., 0], np.abs(g[..., 1]), lo, hi)
    low, high = np.minimum(g[..., 0], g[..., 1]), np.maximum(g[..., 0], g[..., 1])
    return np.all((low <= hi) & (high >= lo), axis=1)


def _segments_meet(a: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Segments a->b meeting the box: the parameter interval [0, 1] narrowed by each slab."""
    t0 = np.zeros(len(a))
    t1 = np.ones(len(a))
    inside = np.ones(len(a), dtype=bool)
    d = b - a
    for axis in range(a.shape[1]):
        da, pa = d[:, axis], a[:, axis]
        flat = da == 0
        inside &= ~flat | ((pa >= lo[axis]) & (pa <= hi[axis]))
        with np.errstate(divide="ignore", invalid="ignore"):
            ta = (lo[axis] - pa) / da
            tb = (hi[axis] - pa) / da
        enter = np.where(flat, -np.inf, np.minimum(ta, tb))
        leave = np.where(flat, np.inf, np.maximum(ta, tb))
        t0 = np.maximum(t0, enter)
        t1 = np.minimum(t1, leave)
    return inside & (t0 <= t1)


def _polyline_meets(vertices: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> bool:
    v = np.asarray(vertices, dtype=np.float64)
    if len(v) == 0:
        return False
    if len(v) == 1:
        return bool(np.all((v[0] >= lo) & (v[0] <= hi)))
    return bool(np.any(_segments_meet(v[:-1], v[1:], lo, hi)))


def _ellipsoids_meet(
    centre: np.ndarray, radii: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    gap = np.clip(centre, lo, hi) - centre
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(radii > 0, (gap / radii) ** 2, np.where(gap == 0, 0.0, np.inf))
    return terms.sum(axis=1) <= 1.0


__all__ = ["extents", "intersects"]
