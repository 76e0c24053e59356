"""Every encoding round-trips its dtypes and channel counts on odd (edge) chunk shapes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.codecs.cases import EXACT, PARAMS, SHAPES, SUPPORTED, make_chunk, smooth_uint8
from voxelio.codecs import REGISTRY, get_codec, known_encodings, level_params
from voxelio.errors import EncodingError, UnsupportedEncodingError

ROUNDTRIP = [
    (enc, dt, nc, shape) for enc, lst in SUPPORTED.items() for dt, nc in lst for shape in SHAPES
]


def test_registry_has_every_encoding() -> None:
    expected = {
        "raw", "png", "jpeg", "jxl", "compressed_segmentation", "compresso", "crackle",
        "fpzip", "kempressed", "zfpc",
    }  # fmt: skip
    assert set(REGISTRY) == expected == set(known_encodings())
    for name in expected:
        codec = get_codec(name)
        assert codec.name == name
        assert get_codec(name.upper()) is codec


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(UnsupportedEncodingError, match="npz"):
        get_codec("npz")


@pytest.mark.parametrize(("enc", "dtype", "nc", "shape"), ROUNDTRIP)
def test_roundtrip(enc: str, dtype: str, nc: int, shape: tuple[int, int, int]) -> None:
    codec = get_codec(enc)
    lossy_image = enc == "jpeg"
    chunk = smooth_uint8((*shape, nc)) if lossy_image else make_chunk((*shape, nc), dtype)
    params = {"encoding": enc, **PARAMS.get(enc, {})}
    data = codec.encode(chunk, params)
    assert isinstance(data, bytes)
    out = codec.decode(data, (*shape, nc), np.dtype(dtype), params)
    assert out.shape == (*shape, nc)
    assert out.dtype == np.dtype(dtype)
    assert out.flags.f_contiguous
    if enc in EXACT:
        np.testing.assert_array_equal(out, chunk)
    elif lossy_image:
        assert np.abs(out.astype(int) - chunk.astype(int)).mean() < 10
    else:  # kempressed: +2 / -2 rounding only
        np.testing.assert_allclose(out, chunk, rtol=0, atol=4 * np.finfo(dtype).eps * 4)


@pytest.mark.parametrize("enc", ["raw", "png", "compressed_segmentation", "fpzip"])
def test_c_ordered_and_strided_input(enc: str) -> None:
    codec = get_codec(enc)
    dtype, nc = SUPPORTED[enc][0]
    chunk = make_chunk((26, 7, 5, nc), dtype)
    params = PARAMS.get(enc, {})
    for variant in (np.ascontiguousarray(chunk), chunk[::2], chunk[::-1]):
        out = codec.decode(codec.encode(variant, params), variant.shape, np.dtype(dtype), params)
        np.testing.assert_array_equal(out, variant)


@pytest.mark.parametrize("nc", [1, 3])
@pytest.mark.parametrize("quality", [50, 95])
def test_jpeg_within_error(nc: int, quality: int) -> None:
    codec = get_codec("jpeg")
    chunk = smooth_uint8((32, 16, 4, nc))
    params = {"jpeg_quality": quality}
    data = codec.encode(chunk, params)
    out = codec.decode(data, chunk.shape, np.dtype("uint8"), params)
    err = np.abs(out.astype(int) - chunk.astype(int))
    assert err.mean() < (3 if quality == 95 else 6)
    low = codec.encode(chunk, {"jpeg_quality": 10})
    assert len(low) < len(data)


def test_jpeg_default_quality_is_85() -> None:
    codec = get_codec("jpeg")
    chunk = smooth_uint8((32, 16, 4, 1))
    assert codec.encode(chunk, {}) == codec.encode(chunk, {"jpeg_quality": 85})
    assert codec.encode(chunk, {}) != codec.encode(chunk, {"jpeg_quality": 60})


def test_jxl_lossy_and_effort() -> None:
    codec = get_codec("jxl")
    chunk = smooth_uint8((32, 16, 4, 1))
    lossy = codec.encode(chunk, {"jxl_quality": 60, "jxl_effort": 3})
    out = codec.decode(lossy, chunk.shape, np.dtype("uint8"), {})
    assert np.abs(out.astype(int) - chunk.astype(int)).mean() < 8
    with pytest.raises(EncodingError, match="jxl_effort"):
        codec.encode(chunk, {"jxl_effort": 11})


def test_png_level_changes_size_not_pixels() -> None:
    codec = get_codec("png")
    chunk = make_chunk((40, 20, 3, 1), "uint8")
    fast, small = codec.encode(chunk, {"png_level": 0}), codec.encode(chunk, {"png_level": 9})
    assert len(small) < len(fast)
    for data in (fast, small):
        np.testing.assert_array_equal(codec.decode(data, chunk.shape, np.dtype("uint8"), {}), chunk)
    with pytest.raises(EncodingError, match="png_level"):
        codec.encode(chunk, {"png_level": 10})


def test_fpzip_precision_is_lossy() -> None:
    codec = get_codec("fpzip")
    chunk = make_chunk((13, 7, 5, 1), "float32")
    exact = codec.encode(chunk, {})
    lossy = codec.encode(chunk, {"fpzip_precision": 18})
    assert len(lossy) < len(exact)
    out = codec.decode(lossy, chunk.shape, np.dtype("float32"), {})
    assert not np.array_equal(out, chunk)
    np.testing.assert_allclose(out, chunk, rtol=0.02, atol=0.02)


def test_zfpc_parameters() -> None:
    codec = get_codec("zfpc")
    chunk = make_chunk((16, 16, 8, 2), "float32")
    exact = codec.encode(chunk, {})
    tol = codec.encode(chunk, {"zfpc_tolerance": 0.01, "zfpc_correlated_dims": [1, 1, 1, 0]})
    assert len(tol) < len(exact)
    out = codec.decode(tol, chunk.shape, np.dtype("float32"), {})
    assert np.abs(out - chunk).max() <= 0.01
    rate = codec.encode(chunk, {"zfpc_rate": 4})
    assert len(rate) < len(exact)
    with pytest.raises(EncodingError, match="zfpc_correlated_dims"):
        codec.encode(chunk, {"zfpc_correlated_dims": [True]})


def test_cseg_block_size_param() -> None:
    codec = get_codec("compressed_segmentation")
    chunk = make_chunk((13, 7, 5, 1), "uint32")
    a = codec.encode(chunk, {"compressed_segmentation_block_size": [8, 8, 8]})
    b = codec.encode(chunk, {"compressed_segmentation_block_size": [2, 2, 2]})
    assert a != b
    assert a == codec.encode(chunk, {})  # the default is 8x8x8
    for bad in ([0, 8, 8], [8, 8], "x"):
        with pytest.raises(EncodingError, match="compressed_segmentation_block_size"):
            codec.encode(chunk, {"compressed_segmentation_block_size": bad})


def test_default_transport_compression() -> None:
    gz = {"raw", "compressed_segmentation", "compresso", "crackle"}
    for name in known_encodings():
        assert get_codec(name).default_compress == ("gzip" if name in gz else None), name


REFUSED = [
    ("jpeg", "uint16", 1),
    ("jpeg", "uint8", 2),
    ("jpeg", "uint8", 4),
    ("png", "int16", 1),
    ("png", "uint32", 1),
    ("png", "uint8", 5),
    ("jxl", "uint16", 1),
    ("jxl", "uint8", 2),
    ("compressed_segmentation", "uint16", 1),
    ("compressed_segmentation", "int64", 1),
    ("compresso", "int32", 1),
    ("compresso", "uint32", 2),
    ("crackle", "float32", 1),
    ("crackle", "uint64", 3),
    ("fpzip", "uint8", 1),
    ("kempressed", "int32", 1),
    ("zfpc", "float64", 1),
    ("zfpc", "uint16", 1),
]


@pytest.mark.parametrize(("enc", "dtype", "nc"), REFUSED)
def test_check_refuses_dtype_or_channels(enc: str, dtype: str, nc: int) -> None:
    codec = get_codec(enc)
    bad_dtype = dtype not in codec.dtypes
    with pytest.raises(UnsupportedEncodingError) as err:
        codec.check(dtype, nc)
    assert enc in str(err.value)
    assert (dtype if bad_dtype else f"num_channels={nc}") in str(err.value)
    with pytest.raises(UnsupportedEncodingError):
        codec.encode(np.zeros((3, 2, 2, nc), dtype=dtype, order="F"), PARAMS.get(enc, {}))


def test_encode_needs_4d() -> None:
    with pytest.raises(EncodingError, match="4-D"):
        get_codec("png").encode(np.zeros((4, 4, 4), dtype=np.uint8), {})


def test_level_params() -> None:
    assert level_params("jpeg", 90) == {"jpeg_quality": 90}
    assert level_params("png", 3) == {"png_level": 3}
    assert level_params("fpzip", 20) == {"fpzip_precision": 20}
    assert level_params("jxl", 100, 7) == {"jxl_quality": 100, "jxl_effort": 7}
    assert level_params("raw", 5, 5) == {}
    assert level_params("jpeg") == {}


@pytest.mark.parametrize(
    ("enc", "dtype", "nc"), [(e, d, n) for e, lst in SUPPORTED.items() for d, n in lst]
)
def test_decode_into_any_part_matches_the_whole_decode(enc: str, dtype: str, nc: int) -> None:
    """``decode_into`` (own region decoders: compressed_segmentation, jpeg rows) paints any
    part of a chunk exactly as the whole decode has it, into a strided view of a larger array,
    leaving the rest of that array alone."""
    codec = get_codec(enc)
    params = PARAMS.get(enc, {})
    shape = (24, 16, 12, nc)
    data = codec.encode(make_chunk(shape, dtype), params)
    whole = codec.decode(data, shape, np.dtype(dtype), params)
    rng = np.random.default_rng(5)
    parts = [((0, 0, 0), (24, 16, 12)), ((23, 15, 11), (24, 16, 12)), ((0, 3, 2), (24, 9, 12))]
    for _ in range(12):
        lo = [int(rng.integers(0, s)) for s in shape[:3]]
        parts.append((tuple(lo), tuple(int(rng.integers(a + 1, s + 1)) for a, s in zip(lo, shape))))
    for lo, hi in parts:
        big = np.zeros((30, 30, 30, nc), dtype=dtype, order="F")
        region = tuple(slice(2 + a, 2 + b) for a, b in zip(lo, hi))
        codec.decode_into(data, shape, np.dtype(dtype), params, big[region], lo)
        want = whole[tuple(slice(a, b) for a, b in zip(lo, hi))]
        np.testing.assert_array_equal(big[region], want, err_msg=f"{enc} {lo} {hi}")
        big[region] = 0
        assert not big.any(), f"{enc} {lo} {hi}: painted outside the part"
