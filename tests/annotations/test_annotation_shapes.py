"""``intersects`` against answers found independently, by sampling each shape densely."""

from __future__ import annotations

import numpy as np

from voxelio.annotations.shapes import extents, intersects

RNG = np.random.default_rng(5)


def random_box():
    lo = RNG.uniform(0, 10, 3)
    return lo, lo + RNG.uniform(0.5, 4, 3)


def inside(points, lo, hi):
    return np.all((points >= lo) & (points <= hi), axis=-1)


def test_lines_against_dense_samples() -> None:
    agree = 0
    for _ in range(400):
        lo, hi = random_box()
        a, b = RNG.uniform(-2, 16, (2, 3))
        t = np.linspace(0, 1, 20001)[:, None]
        truth = bool(inside(a + t * (b - a), lo, hi).any())
        got = bool(intersects("line", np.stack([a, b], -1)[None], lo, hi)[0])
        assert got == truth, (a, b, lo, hi)
        agree += truth
    assert 10 < agree < 390  # both answers were exercised


def test_polylines_are_their_segments() -> None:
    for _ in range(100):
        lo, hi = random_box()
        vertices = RNG.uniform(-2, 16, (4, 3))
        t = np.linspace(0, 1, 5001)[:, None]
        samples = np.concatenate([a + t * (b - a) for a, b in zip(vertices[:-1], vertices[1:])])
        assert intersects("polyline", [vertices], lo, hi)[0] == inside(samples, lo, hi).any()
    lo, hi = random_box()
    assert intersects("polyline", [lo[None] + 0.1], lo, hi)[0]


def test_ellipsoids_against_samples_of_their_surface_and_inside() -> None:
    checked = 0
    for _ in range(300):
        lo, hi = random_box()
        centre, radii = RNG.uniform(-2, 16, 3), RNG.uniform(0.2, 5, 3)
        grid = np.stack(np.meshgrid(*[np.linspace(a, b, 41) for a, b in zip(lo, hi)],
                                    indexing="ij"), -1).reshape(-1, 3)  # fmt: skip
        nearest = np.min(np.sum(((grid - centre) / radii) ** 2, axis=1))
        if abs(nearest - 1) < 0.05:
            continue  # too close to call with samples
        got = intersects("ellipsoid", np.stack([centre, radii], -1)[None], lo, hi)[0]
        assert got == (nearest < 1), (centre, radii, lo, hi)
        checked += 1
    assert checked > 200


def test_boxes_and_points() -> None:
    for _ in range(300):
        lo, hi = random_box()
        a, b = RNG.uniform(-2, 16, (2, 3))
        overlap = all(min(x, y) <= h and max(x, y) >= low for x, y, low, h in zip(a, b, lo, hi))
        assert (
            intersects("axis_aligned_bounding_box", np.stack([a, b], -1)[None], lo, hi)[0]
            == overlap
        )
        assert intersects("point", a[None], lo, hi)[0] == inside(a, lo, hi)


def test_flat_shapes_on_the_box_face_count() -> None:
    lo, hi = np.zeros(3), np.ones(3)
    flat_line = np.array([[[1, 1], [-1, 2], [0.5, 0.5]]], float)  # x = 1, along y, z = .5
    assert intersects("line", flat_line, lo, hi)[0]
    disc = np.array([[[0.5, 0.5], [0.5, 0.2], [1.5, 0.0]]], float)  # zero z radius at z = 1.5
    assert not intersects("ellipsoid", disc, lo, hi)[0]
    disc[0, 2, 0] = 1.0
    assert intersects("ellipsoid", disc, lo, hi)[0]
    lows, highs = extents("ellipsoid", disc, 3)
    assert lows.tolist() == [[0.0, 0.3, 1.0]] and highs.tolist() == [[1.0, 0.7, 1.0]]
