"""Building the multi-level spatial index of an annotation set (no I/O).

Level 0 is one cell covering the bounds. Each next level halves the cells along the axes
whose physical cell size (coordinate units times the dimension's scale) is at least half of
the largest, so cells stay roughly isotropic. At each level, with ``max_count`` the most
annotations still unplaced in any one cell, every unplaced annotation is emitted with
probability ``min(1, limit / max_count)``: into every cell its bounding box touches, so it
is listed at exactly one level. The rest go down a level. Annotations whose box would touch
more than :data:`MAX_CELLS_PER_ANNOTATION` cells at the next level are emitted now, and the
last level (the one after which a level would have more than :data:`MAX_LEVEL_CELLS` cells)
emits all that remain, however many share a cell: annotations piled on one spot cannot be
spread by finer cells. Within a cell the order is random, as Neuroglancer expects. The
draws come from ``numpy.random.default_rng(seed)``, so the same input gives the same index.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

MAX_CELLS_PER_ANNOTATION = 512
#: no level has more cells than this (256**3); the level that would is the last
MAX_LEVEL_CELLS = 1 << 24


@dataclass(frozen=True)
class LevelPlan:
    """One level as built: its grid, cell size, and per occupied cell (row of ``cells``) the
    indices of the annotations listed there, in their random order."""

    grid_shape: tuple[int, ...]
    chunk_size: tuple[float, ...]
    cells: np.ndarray
    members: list[np.ndarray]


def cell_range(
    lows: np.ndarray, highs: np.ndarray, lower: np.ndarray, chunk: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The first and last cells (clipped to the grid) that boxes ``[lows, highs]`` touch."""
    first = np.floor((lows - lower) / chunk)
    last = np.floor((highs - lower) / chunk)
    top = grid - 1
    return np.clip(first, 0, top).astype(np.int64), np.clip(last, 0, top).astype(np.int64)


def _next_grid(
    grid: np.ndarray, chunk: np.ndarray, scales: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    physical = chunk * scales
    halve = physical >= physical.max() / 2
    return grid * np.where(halve, 2, 1), chunk / np.where(halve, 2, 1)


def _memberships(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(annotation position, cell coordinates) pairs for every cell of every range."""
    single = np.all(first == last, axis=1)
    positions = [np.flatnonzero(single)]
    cells = [first[single]]
    for pos in np.flatnonzero(~single):
        ranges = [range(a, b + 1) for a, b in zip(first[pos], last[pos])]
        block = np.array(list(itertools.product(*ranges)), dtype=np.int64)
        positions.append(np.full(len(block), pos))
        cells.append(block)
    return np.concatenate(positions), np.concatenate(cells)


def group_rows(values: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct rows of ``keys`` (sorted) and, for each, the ``values`` listed with it,
    in their order."""
    distinct, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(distinct)))[:-1]
    return distinct, np.split(values[order], bounds)


def build_levels(
    lows: np.ndarray,
    highs: np.ndarray,
    lower: Sequence[float],
    upper: Sequence[float],
    scales: Sequence[float],
    limit: int,
    seed: int = 0,
) -> Iterator[LevelPlan]:
    """Plan the levels for annotations with bounding boxes ``[lows, highs]`` (``(n, rank)``).

    ``lower``/``upper`` are the dataset bounds, ``scales`` the dimensions' scales (only
    their ratios matter). Yields levels coarsest first until every annotation is placed.
    """
    rng = np.random.default_rng(seed)
    lower_a = np.asarray(lower, dtype=np.float64)
    extent = np.asarray(upper, dtype=np.float64) - lower_a
    chunk = np.where(extent > 0, extent, 1.0)
    grid = np.ones(len(lower_a), dtype=np.int64)
    scale_a = np.asarray(scales, dtype=np.float64)
    remaining = np.arange(len(lows))
    while len(remaining):
        first, last = cell_range(lows[remaining], highs[remaining], lower_a, chunk, grid)
        positions, cells = _memberships(first, last)
        fullest = np.unique(np.ravel_multi_index(cells.T, grid), return_counts=True)[1].max()
        next_grid, next_chunk = _next_grid(grid, chunk, scale_a)
        final = math.prod(int(g) for g in next_grid) > MAX_LEVEL_CELLS
        emit = _draw(rng, len(remaining), int(fullest), limit, final)
        emit |= _too_wide(lows[remaining], highs[remaining], lower_a, next_chunk, next_grid)
        order = rng.permutation(len(positions))
        keep = emit[positions[order]]
        occupied, members = group_rows(positions[order][keep], cells[order][keep])
        yield LevelPlan(
            tuple(int(g) for g in grid),
            tuple(float(c) for c in chunk),
            occupied,
            [remaining[m] for m in members],
        )
        remaining = remaining[~emit]
        grid, chunk = next_grid, next_chunk


def _draw(
    rng: np.random.Generator, count: int, max_count: int, limit: int, final: bool
) -> np.ndarray:
    if final or max_count <= limit:
        return np.ones(count, dtype=bool)
    return rng.random(count) < limit / max_count


def _too_wide(
    lows: np.ndarray, highs: np.ndarray, lower: np.ndarray, chunk: np.ndarray, grid: np.ndarray
) -> np.ndarray:
    first, last = cell_range(lows, highs, lower, chunk, grid)
    return np.prod(last - first + 1, axis=1) > MAX_CELLS_PER_ANNOTATION


__all__ = [
    "MAX_CELLS_PER_ANNOTATION",
    "MAX_LEVEL_CELLS",
    "LevelPlan",
    "build_levels",
    "cell_range",
    "group_rows",
]
