"""Compressed Morton codes: golden vectors, round trips, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxelio.errors import OutOfBoundsError, ShardingError
from voxelio.geometry.morton import (
    compressed_morton_code,
    compressed_morton_codes,
    decode_compressed_morton_code,
    decode_compressed_morton_codes,
    morton_bits,
)


@pytest.mark.parametrize(
    "grid, cell, code",
    [
        ((7, 5, 3), (5, 3, 2), 115),
        ((7, 5, 3), (1, 0, 0), 1),
        ((7, 5, 3), (0, 0, 1), 4),
        ((7, 5, 3), (6, 4, 2), 232),
        ((1, 1, 8), (0, 0, 5), 5),
    ],
)
def test_golden_codes(grid: tuple[int, ...], cell: tuple[int, ...], code: int) -> None:
    assert compressed_morton_code(cell, grid) == code
    assert compressed_morton_codes(np.array([cell]), grid).tolist() == [code]
    assert decode_compressed_morton_code(code, grid) == cell


def test_bits() -> None:
    assert morton_bits((7, 5, 3)) == (3, 3, 2)
    assert morton_bits((1, 2, 1024)) == (0, 1, 10)
    with pytest.raises(ShardingError, match="more than 64"):
        morton_bits((2**30, 2**30, 2**10))
    with pytest.raises(OutOfBoundsError, match="size < 1"):
        morton_bits((0, 4, 4))


def _reference(cell: tuple[int, ...], grid: tuple[int, ...]) -> int:
    """The rule of format-notes fact 4, written as bit strings."""
    bits = [(g - 1).bit_length() for g in grid]
    out = ""
    for i in range(max(bits)):
        for d, nb in enumerate(bits):
            if i < nb:
                out = str((cell[d] >> i) & 1) + out
    return int(out or "0", 2)


grids = st.lists(st.integers(1, 3000), min_size=1, max_size=4).map(tuple)


@settings(max_examples=300, deadline=None)
@given(grids, st.data())
def test_round_trip_and_reference(grid: tuple[int, ...], data: st.DataObject) -> None:
    cells = data.draw(
        st.lists(st.tuples(*[st.integers(0, g - 1) for g in grid]), min_size=1, max_size=20)
    )
    codes = compressed_morton_codes(np.array(cells), grid)
    assert codes.dtype == np.uint64
    for cell, code in zip(cells, codes.tolist()):
        assert code == compressed_morton_code(cell, grid) == _reference(cell, grid)
        assert decode_compressed_morton_code(code, grid) == cell
    assert decode_compressed_morton_codes(codes, grid).tolist() == [list(c) for c in cells]


def test_codes_of_a_full_grid_are_distinct_and_dense() -> None:
    grid = (8, 4, 2)
    cells = np.indices(grid).reshape(3, -1).T
    codes = compressed_morton_codes(cells, grid)
    assert sorted(codes.tolist()) == list(range(64))


def test_out_of_grid_cells_are_rejected() -> None:
    with pytest.raises(OutOfBoundsError, match="outside grid"):
        compressed_morton_code((7, 0, 0), (7, 5, 3))
    with pytest.raises(OutOfBoundsError, match="outside grid"):
        compressed_morton_codes(np.array([[0, 0, 0], [0, -1, 0]]), (7, 5, 3))
    with pytest.raises(OutOfBoundsError, match="rank"):
        compressed_morton_codes(np.zeros((2, 2), int), (7, 5, 3))
    with pytest.raises(OutOfBoundsError, match="bits above"):
        decode_compressed_morton_code(256, (7, 5, 3))
    with pytest.raises(OutOfBoundsError, match="bits above"):
        decode_compressed_morton_codes(np.array([3, 256], np.uint64), (7, 5, 3))


def test_full_64_bit_codes() -> None:
    grid = (2**22, 2**21, 2**21)
    cell = (2**22 - 1, 2**21 - 1, 2**21 - 1)
    assert compressed_morton_code(cell, grid) == 2**64 - 1
    assert compressed_morton_codes(np.array([cell], np.uint64), grid).tolist() == [2**64 - 1]
    assert decode_compressed_morton_codes(np.array([2**64 - 1], np.uint64), grid).tolist() == [
        list(cell)
    ]
