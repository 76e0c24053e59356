"""voxelio's own compressed_segmentation C codec (``voxelio.codecs._cseg``).

Its streams are compared byte for byte with the ``compressed-segmentation`` package's (the
reference implementation's port; TensorStore's are compared in ``test_interop.py``), its region
decoding with slices of a whole decode, and corrupt streams must raise, never crash.
"""

from __future__ import annotations

import mmap
import resource

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxelio.codecs import _cseg, get_codec
from voxelio.errors import DecodingError

cseg_package = pytest.importorskip("compressed_segmentation")


def _labels(rng: np.random.Generator, shape: tuple[int, ...], dtype: str, distinct: int):
    """Labels with about ``distinct`` values per chunk, large ids, in runs like segmentations."""
    ids = np.unique(rng.integers(0, np.iinfo(dtype).max, size=2 * distinct, dtype=dtype))
    ids = rng.permutation(ids)[:distinct]
    coarse = rng.integers(0, distinct, size=tuple(max(1, s // 2) for s in shape))
    fine = coarse.repeat(2, 0).repeat(2, 1).repeat(2, 2)[: shape[0], : shape[1], : shape[2]]
    if fine.shape != shape:  # odd sizes: pad by repeating the edge
        fine = np.pad(fine, [(0, s - f) for s, f in zip(shape, fine.shape)], mode="edge")
    return np.asfortranarray(ids[fine])


@pytest.mark.parametrize("dtype", ["uint32", "uint64"])
@pytest.mark.parametrize(
    ("shape", "block"),
    [((64, 64, 64), (8, 8, 8)), ((13, 7, 5), (8, 8, 8)), ((1, 1, 1), (8, 8, 8)),
     ((17, 30, 9), (3, 5, 7)), ((20, 20, 20), (16, 16, 16)), ((9, 9, 9), (4, 4, 4))],
)  # fmt: skip
@pytest.mark.parametrize("distinct", [1, 2, 3, 5, 40, 3000])
def test_streams_match_the_reference_package(
    dtype: str, shape: tuple[int, int, int], block: tuple[int, int, int], distinct: int
) -> None:
    rng = np.random.default_rng(distinct + shape[0])
    labels = _labels(rng, shape, dtype, distinct)
    expected = bytes(cseg_package.compress(labels, block_size=block, order="F"))
    assert b"\x01\0\0\0" + _cseg.encode(labels, block) == expected
    out = np.empty(shape, dtype=dtype, order="F")
    _cseg.decode(expected[4:], out, shape, block, (0, 0, 0))
    np.testing.assert_array_equal(out, labels)


def test_every_voxel_distinct_uses_32_bit_indices() -> None:
    labels = np.arange(16**3, dtype="uint64").reshape((16, 16, 16), order="F") * 7919
    data = _cseg.encode(labels, (16, 16, 16))
    assert np.frombuffer(data, "<u4")[0] >> 24 == 16  # 4096 labels need 16-bit indices
    assert data == bytes(cseg_package.compress(labels, block_size=(16, 16, 16), order="F"))[4:]


def test_strided_input_encodes_like_a_contiguous_copy() -> None:
    labels = _labels(np.random.default_rng(3), (30, 20, 10), "uint64", 30)
    c_order = np.ascontiguousarray(labels)  # same values, x slowest in memory
    reversed_view = np.asfortranarray(labels[::-1, :, ::-1])[::-1, :, ::-1]
    expected = _cseg.encode(labels, (8, 8, 8))
    assert _cseg.encode(c_order, (8, 8, 8)) == expected
    assert _cseg.encode(reversed_view, (8, 8, 8)) == expected
    big = _labels(np.random.default_rng(4), (40, 30, 20), "uint64", 30)
    for view in (big[::-1], big[1:39, 2:, 3:17], big[::2, 1::3, ::-1], np.ascontiguousarray(big)):
        assert _cseg.encode(view, (8, 8, 8)) == _cseg.encode(np.array(view, order="F"), (8, 8, 8))


def test_decoding_into_fresh_memory_never_reads_it_first() -> None:
    """A decode writes its output without reading it: a read of a page never written maps the
    zero page, and the write after it faults again and flushes the other cores' TLBs (which
    made whole reads into fresh arrays 10x slower). Counted as page faults of this thread on
    fresh anonymous memory in small pages: one per page, not two."""
    shape, block = (64, 64, 32), (8, 8, 8)
    labels = _labels(np.random.default_rng(6), shape, "uint64", 40)
    data = _cseg.encode(labels, block)
    fresh = mmap.mmap(-1, labels.nbytes, flags=mmap.MAP_PRIVATE)  # no huge pages: 4 KiB faults
    out = np.frombuffer(fresh, dtype="uint64").reshape(shape, order="F")
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    _cseg.decode(data, out, shape, block, (0, 0, 0))
    faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before
    np.testing.assert_array_equal(out, labels)
    pages = labels.nbytes // mmap.PAGESIZE
    assert faults < 1.5 * pages, f"{faults} faults for {pages} pages"
    del out
    fresh.close()


@settings(max_examples=60, deadline=None)
@given(
    lo=st.tuples(*(st.integers(0, 20) for _ in range(3))),
    extent=st.tuples(*(st.integers(1, 21) for _ in range(3))),
    c_order=st.booleans(),
)
def test_regions_decode_like_slices_of_the_whole(
    lo: tuple[int, int, int], extent: tuple[int, int, int], c_order: bool
) -> None:
    shape, block = (21, 19, 20), (8, 4, 6)
    labels = _labels(np.random.default_rng(5), shape, "uint64", 50)
    data = _cseg.encode(labels, block)
    lo = tuple(min(v, s - 1) for v, s in zip(lo, shape))
    hi = tuple(min(v + e, s) for v, e, s in zip(lo, extent, shape))
    big = np.zeros(tuple(s + 4 for s in shape), dtype="uint64", order="C" if c_order else "F")
    out = big[2 : 2 + hi[0] - lo[0], 1 : 1 + hi[1] - lo[1], 3 : 3 + hi[2] - lo[2]]
    _cseg.decode(data, out, shape, block, lo)
    np.testing.assert_array_equal(out, labels[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]])
    outside = big.copy()
    outside[2 : 2 + hi[0] - lo[0], 1 : 1 + hi[1] - lo[1], 3 : 3 + hi[2] - lo[2]] = 0
    assert not outside.any()  # nothing written outside the region


def test_bad_arguments_are_refused() -> None:
    labels = _labels(np.random.default_rng(1), (8, 8, 8), "uint32", 4)
    data = _cseg.encode(labels, (4, 4, 4))
    with pytest.raises(ValueError, match="outside the chunk"):
        _cseg.decode(data, np.empty((4, 4, 4), "uint32"), (8, 8, 8), (4, 4, 4), (5, 0, 0))
    with pytest.raises(ValueError, match="uint32 or uint64"):
        _cseg.decode(data, np.empty((4, 4), "uint32"), (8, 8, 8), (4, 4, 4), (0, 0, 0))
    with pytest.raises(TypeError, match="block"):
        _cseg.encode(labels, [4, 4, 4])
    with pytest.raises(ValueError, match="must be positive"):
        _cseg.encode(np.zeros((0, 4, 4), "uint64"), (4, 4, 4))
    with pytest.raises(ValueError, match="2\\*\\*24 voxels"):
        _cseg.encode(labels, (1024, 1024, 1024))


@settings(max_examples=300, deadline=None)
@given(
    cut=st.integers(0, 10**6),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
)
def test_corrupt_streams_raise_or_decode_never_crash(
    cut: int, flips: list[tuple[int, int]]
) -> None:
    codec = get_codec("compressed_segmentation")
    labels = _labels(np.random.default_rng(9), (16, 12, 10), "uint64", 20)[..., None]
    params = {"compressed_segmentation_block_size": [4, 4, 4]}
    data = bytearray(codec.encode(labels, params))
    data = data[: len(data) - cut % len(data)] if cut % 3 == 0 else data
    for pos, value in flips:
        if data:
            data[pos % len(data)] = value
    try:
        out = codec.decode(bytes(data), labels.shape, labels.dtype, params)
    except DecodingError as exc:
        assert "compressed_segmentation chunk" in str(exc)
    else:
        assert out.shape == labels.shape


def test_hostile_geometry_is_refused_not_a_crash() -> None:
    """Sizes from a hostile info file: a block count or an origin that would overflow the
    arithmetic on them is an error (both crashed the process before they were checked)."""
    out = np.empty((1, 1, 1), "uint32")
    with pytest.raises(ValueError, match="2\\*\\*31 blocks"):
        _cseg.decode(b"\0" * 8, out, (2**21,) * 3, (1, 1, 1), (0, 0, 2**21 - 1))
    with pytest.raises(ValueError, match="outside the chunk"):
        _cseg.decode(b"\0" * 8, out, (8, 8, 8), (1, 1, 1), (0, 0, 2**63 - 1))
