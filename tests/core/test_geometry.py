import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxelio import Bbox, Vec
from voxelio.geometry import ChunkGrid

coords = st.integers(min_value=-1000, max_value=1000)
sizes = st.integers(min_value=1, max_value=300)
chunks = st.integers(min_value=4, max_value=64)


@st.composite
def boxes(draw):
    lo = [draw(coords) for _ in range(3)]
    size = [draw(sizes) for _ in range(3)]
    return Bbox(lo, np.add(lo, size))


def test_vec_accessors_and_hash():
    v = Vec(1, 2, 3)
    assert (v.x, v.y, v.z) == (1, 2, 3)
    assert v.dtype == np.int64
    assert hash(Vec(1, 2, 3)) == hash(Vec(1, 2, 3))
    assert Vec(1.5, 2, 3).dtype.kind == "f"


def test_bbox_is_frozen_and_hashable():
    b = Bbox((0, 0, 0), (10, 10, 10))
    with pytest.raises(AttributeError):
        b.unit = "nm"
    mp = b.minpt
    mp[0] = 5  # a copy: the box does not change
    assert b.minpt.tolist() == [0, 0, 0]
    assert {b: 1}[Bbox([0, 0, 0], [10, 10, 10])] == 1
    assert pickle.loads(pickle.dumps(b)) == b


def test_filename_round_trip_and_parse():
    b = Bbox((67, 69, 23), (103, 75, 37))
    assert b.to_filename() == "67-103_69-75_23-37"
    assert Bbox.from_filename("67-103_69-75_23-37") == b
    assert Bbox.from_filename("key/-5-3_0-1_2-4.gz") == Bbox((-5, 0, 2), (3, 1, 4))
    with pytest.raises(ValueError, match="chunk name"):
        Bbox.from_filename("not_a_chunk")


def test_create_from_many_forms():
    ctx = Bbox((0, 0, 0), (100, 100, 10))
    assert Bbox.create(np.s_[0:10, 5:20, :], context=ctx) == Bbox((0, 5, 0), (10, 20, 10))
    assert Bbox.create([1, 2, 3, 4, 5, 6]) == Bbox((1, 2, 3), (4, 5, 6))
    assert Bbox.create("1-4_2-5_3-6") == Bbox((1, 2, 3), (4, 5, 6))
    assert Bbox.create(Bbox((-5, 0, 0), (5, 5, 5)), context=ctx, autocrop=True) == Bbox(
        (0, 0, 0), (5, 5, 5)
    )
    from voxelio.errors import OutOfBoundsError

    with pytest.raises(OutOfBoundsError):
        Bbox.create(Bbox((-5, 0, 0), (5, 5, 5)), context=ctx, bounded=True)


def test_chunk_rounding():
    b = Bbox((3, 70, 5), (65, 130, 17))
    assert b.expand_to_chunk_size((64, 64, 16)) == Bbox((0, 64, 0), (128, 192, 32))
    assert b.shrink_to_chunk_size((64, 64, 16)) == Bbox((64, 128, 16), (64, 128, 16))
    assert b.expand_to_chunk_size((64, 64, 16), offset=(3, 6, 5)) == Bbox((3, 70, 5), (67, 134, 21))
    assert b.round_to_chunk_size((64, 64, 16)) == Bbox((0, 64, 0), (64, 128, 16))


def test_units_conversion():
    b = Bbox((0, 0, 0), (40, 40, 400), unit="nm")
    vx = b.convert_units("vx", (4, 4, 40))
    assert vx == Bbox((0, 0, 0), (10, 10, 10))
    assert vx.convert_units("nm", (4, 4, 40)) == Bbox(
        (0, 0, 0), (40, 40, 400), dtype=float, unit="nm"
    )


@given(boxes(), boxes())
def test_intersection_properties(a, b):
    inter = Bbox.intersection(a, b)
    assert inter.volume() <= min(a.volume(), b.volume())
    if Bbox.intersects(a, b):
        assert a.contains_bbox(inter) and b.contains_bbox(inter)
        assert inter.volume() > 0
    else:
        assert inter.volume() == 0


@given(boxes(), st.tuples(sizes, sizes, sizes))
def test_expand_contains_and_aligns(b, chunk):
    e = b.expand_to_chunk_size(chunk)
    assert e.contains_bbox(b)
    assert all(int(v) % c == 0 for v, c in zip(e.minpt, chunk))
    assert all(int(v) % c == 0 for v, c in zip(e.maxpt, chunk))


def test_chunk_grid_names_match_tensorstore_layout():
    # The verified example of the format notes (fact 3): 8 files.
    grid = ChunkGrid((3, 5, 7), (100, 70, 30), (64, 64, 16))
    names = sorted(b.to_filename() for b in grid.chunk_bboxes(grid.bounds))
    assert names == sorted(
        [
            "3-67_5-69_7-23",
            "3-67_5-69_23-37",
            "3-67_69-75_7-23",
            "3-67_69-75_23-37",
            "67-103_5-69_7-23",
            "67-103_5-69_23-37",
            "67-103_69-75_7-23",
            "67-103_69-75_23-37",
        ]
    )


@settings(deadline=None, max_examples=50)
@given(boxes(), st.tuples(chunks, chunks, chunks))
def test_grid_cells_cover_the_box_exactly_once(b, chunk):
    grid = ChunkGrid(tuple(int(v) for v in b.minpt), tuple(int(v) for v in b.size()), chunk)
    sub = Bbox(b.minpt, b.minpt + (b.size() + 1) // 2)
    total = sum(Bbox.intersection(c, sub).volume() for c in grid.chunk_bboxes(sub))
    assert total == sub.volume()
