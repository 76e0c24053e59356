"""copy_part: the copy of a decoded chunk's box into the output (voxelio's C copy, which
bypasses the caches for boxes of 1 MiB or more, or numpy's assignment)."""

from __future__ import annotations

import numpy as np
import pytest

from voxelio.codecs._boxcopy import copy_box
from voxelio.codecs.base import copy_part

CHUNKS = [
    ((64, 64, 64, 1), "uint8"),
    ((64, 64, 64, 1), "uint64"),  # 2 MiB: streamed when copied whole
    ((130, 70, 20, 3), "uint16"),  # rows of 260 bytes: unaligned ends
    ((33, 17, 9, 2), "float32"),
    ((512, 512, 8, 1), "uint8"),
]


def _boxes(shape: tuple[int, ...], seed: int) -> list[tuple[tuple[int, int], ...]]:
    """The whole chunk, its last voxel and random boxes."""
    rng = np.random.default_rng(seed)
    boxes = [tuple((0, s) for s in shape[:3]), tuple((s - 1, s) for s in shape[:3])]
    for _ in range(12):
        lo = [int(rng.integers(0, s)) for s in shape[:3]]
        boxes.append(tuple((a, int(rng.integers(a + 1, s + 1))) for a, s in zip(lo, shape)))
    return boxes


@pytest.mark.parametrize(("shape", "dtype"), CHUNKS)
def test_copies_any_box_into_a_view_and_nothing_else(shape, dtype) -> None:
    rng = np.random.default_rng(0)
    arr = np.asfortranarray(rng.integers(1, 250, shape).astype(dtype))
    for box in _boxes(shape, 1):
        extent = tuple(b - a for a, b in box)
        big = np.zeros((extent[0] + 7, extent[1] + 3, extent[2] + 2, shape[3]), dtype, order="F")
        out = big[5 : 5 + extent[0], 1 : 1 + extent[1], 2 : 2 + extent[2]]
        copy_part(arr, tuple(a for a, _ in box), out)
        np.testing.assert_array_equal(out, arr[tuple(slice(a, b) for a, b in box)], str(box))
        assert np.count_nonzero(big) == out.size, box  # nothing outside the box was written


def test_empty_views_copy_nothing() -> None:
    src = np.asfortranarray(np.arange(20 * 5 * 5 * 3, dtype="uint8").reshape((20, 5, 5, 3)))
    out = np.zeros((20, 5, 5, 3), "uint8", order="F")[2:16, 1:4, 3:3]  # no z extent
    copy_part(src, (0, 0, 0), out)
    assert out.size == 0


def test_layouts_the_c_copy_does_not_take_go_to_numpy() -> None:
    arr = np.arange(4 * 6 * 8 * 2, dtype="uint32").reshape((4, 6, 8, 2))  # C order
    out = np.zeros((3, 4, 5, 2), "uint32", order="C")  # x not contiguous
    copy_part(arr, (1, 2, 3), out)
    np.testing.assert_array_equal(out, arr[1:4, 2:6, 3:8])
    wide = np.zeros((3, 4, 5, 2), "uint64", order="F")  # another dtype: numpy converts
    copy_part(np.asfortranarray(arr), (1, 2, 3), wide)
    np.testing.assert_array_equal(wide, arr[1:4, 2:6, 3:8])


def test_copy_box_refuses_what_does_not_fit() -> None:
    src = np.zeros((4, 4, 4, 1), "uint8", order="F")
    out = np.zeros((2, 2, 2, 1), "uint8", order="F")
    cases = [
        (np.zeros((4, 4, 4, 1), "uint8"), (0, 0, 0), out, "not Fortran contiguous"),
        (src, (3, 0, 0), out, "ends outside src"),
        (src, (0, 0, 0), out.astype("uint16"), "itemsize"),
        (src, (0, 0, 0), np.zeros((2, 2, 2, 1), "uint8"), "x axis must be contiguous"),
        (src, (0, 0, 0), np.zeros((2, 2, 2, 2), "uint8", order="F"), "every channel"),
        (src, (0, 0, 0), out[..., 0], "4-D"),
    ]
    for arr, origin, dst, message in cases:
        with pytest.raises(ValueError, match=message):
            copy_box(arr, origin, dst)
    with pytest.raises(TypeError, match="origin"):
        copy_box(src, (0, 0), out)
    out.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        copy_box(src, (0, 0, 0), out)
