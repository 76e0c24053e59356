"""labels / read_voxel / contains / remap agree with numpy on the decoded chunk."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.codecs.cases import PARAMS, make_chunk
from voxelio.codecs import get_codec
from voxelio.codecs.parallel import decode_many, encode_many
from voxelio.errors import DecodingError, EncodingError, MissingCodecError

SEG = [
    ("compressed_segmentation", "uint64", 1),
    ("compressed_segmentation", "uint32", 2),
    ("compresso", "uint32", 1),
    ("crackle", "uint64", 1),
    ("raw", "uint16", 1),
]


def _encoded(enc: str, dtype: str, nc: int) -> tuple[np.ndarray, bytes, dict[str, object]]:
    chunk = make_chunk((13, 7, 5, nc), dtype)
    params = PARAMS.get(enc, {})
    return chunk, get_codec(enc).encode(chunk, params), params


@pytest.mark.parametrize(("enc", "dtype", "nc"), SEG)
def test_labels_voxel_contains(enc: str, dtype: str, nc: int) -> None:
    chunk, data, params = _encoded(enc, dtype, nc)
    codec, dt = get_codec(enc), np.dtype(dtype)
    labels = codec.labels(data, chunk.shape, dt, params)
    np.testing.assert_array_equal(labels, np.unique(chunk))
    assert labels.dtype == dt
    for xyz in [(0, 0, 0), (12, 6, 4), (5, 3, 2)]:
        np.testing.assert_array_equal(
            codec.read_voxel(data, chunk.shape, dt, params, xyz), chunk[xyz]
        )
    present = int(chunk[7, 2, 3, 0])
    absent = int(chunk.max()) - 1
    assert absent not in chunk
    assert codec.contains(data, chunk.shape, dt, params, present)
    assert not codec.contains(data, chunk.shape, dt, params, absent)
    with pytest.raises(IndexError):
        codec.read_voxel(data, chunk.shape, dt, params, (13, 0, 0))


@pytest.mark.parametrize(("enc", "dtype", "nc"), SEG)
def test_remap(enc: str, dtype: str, nc: int) -> None:
    chunk, data, params = _encoded(enc, dtype, nc)
    codec, dt = get_codec(enc), np.dtype(dtype)
    values = [int(v) for v in np.unique(chunk)]
    mapping = {v: (v * 3 + 1) % 1000 for v in values[::2]}
    out = codec.remap(data, chunk.shape, dt, params, mapping, preserve_missing_labels=True)
    got = codec.decode(out, chunk.shape, dt, params)
    want = np.vectorize(lambda v: mapping.get(int(v), int(v)), otypes=[dt])(chunk)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(EncodingError, match="not in the mapping"):
        codec.remap(data, chunk.shape, dt, params, mapping, preserve_missing_labels=False)


def test_default_capabilities_on_images() -> None:
    chunk, data, params = _encoded("png", "uint8", 3)
    codec = get_codec("png")
    np.testing.assert_array_equal(
        codec.labels(data, chunk.shape, chunk.dtype, params), np.unique(chunk)
    )
    np.testing.assert_array_equal(
        codec.read_voxel(data, chunk.shape, chunk.dtype, params, (4, 5, 1)), chunk[4, 5, 1]
    )


@pytest.mark.parametrize(
    ("enc", "dtype", "nc"),
    [("raw", "uint8", 2), ("jpeg", "uint8", 1), ("compressed_segmentation", "uint64", 1)]
    + [("crackle", "uint32", 1), ("fpzip", "float32", 1), ("png", "uint16", 1)],
)
def test_parallel_matches_serial(enc: str, dtype: str, nc: int) -> None:
    codec = get_codec(enc)
    params = PARAMS.get(enc, {})
    shapes = [(13, 7, 5, nc), (1, 2, 3, nc), (16, 16, 4, nc), (5, 9, 2, nc)]
    chunks = [make_chunk(s, dtype, seed=i) for i, s in enumerate(shapes)]
    serial = [codec.encode(c, params) for c in chunks]
    assert encode_many(codec, chunks, params, workers=3) == serial
    items = list(zip(serial, shapes))
    many = decode_many(codec, items, dtype, params, workers=3)
    for got, data, shape in zip(many, serial, shapes):
        np.testing.assert_array_equal(got, codec.decode(data, shape, np.dtype(dtype), params))
    assert len(decode_many(codec, [], dtype, params)) == 0


def test_parallel_propagates_decoding_error() -> None:
    codec = get_codec("compressed_segmentation")
    chunk = make_chunk((8, 8, 8, 1), "uint32")
    good = codec.encode(chunk, {})
    items = [(good, chunk.shape), (good[:9], chunk.shape), (good, chunk.shape)]
    with pytest.raises(DecodingError, match="compressed_segmentation"):
        decode_many(codec, items, "uint32", {}, workers=2)


@pytest.mark.parametrize(
    ("enc", "module", "extra"),
    [
        ("jpeg", "simplejpeg", "image"),
        ("jxl", "imagecodecs", "jxl"),
        ("compresso", "compresso", "seg"),
        ("crackle", "crackle", "seg"),
        ("fpzip", "fpzip", "fp"),
        ("kempressed", "fpzip", "fp"),
        ("zfpc", "zfpc", "fp"),
    ],
)
def test_missing_library_names_extra(
    enc: str, module: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    codec = get_codec(enc)
    dtype = "uint8" if "uint8" in codec.dtypes else sorted(codec.dtypes)[0]
    nc = 1
    chunk = make_chunk((4, 3, 2, nc), dtype)
    for name in module.split(","):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` raise ImportError
    with pytest.raises(MissingCodecError, match=rf"voxelio\[{extra}\]") as err:
        codec.encode(chunk, PARAMS.get(enc, {}))
    assert enc in str(err.value)
    assert isinstance(err.value, ImportError)


def test_png_reads_and_writes_without_its_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    """voxelio's png codec encodes and decodes plain images; only images it declines need
    libpng or libspng (extra ``image``)."""
    codec = get_codec("png")
    chunk = make_chunk((9, 8, 7, 3), "uint8")
    for name in ("pyspng", "imagecodecs"):
        monkeypatch.setitem(sys.modules, name, None)
    data = codec.encode(chunk, {})
    np.testing.assert_array_equal(codec.decode(data, chunk.shape, chunk.dtype, {}), chunk)
    with pytest.raises(MissingCodecError, match=r"voxelio\[image\]"):  # 8-bit in a uint16 layer
        codec.decode(data, chunk.shape, np.dtype("uint16"), {})


def test_cseg_reads_and_writes_without_its_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """voxelio's C codec encodes and decodes; only the label queries need the package."""
    codec = get_codec("compressed_segmentation")
    chunk = make_chunk((9, 8, 7, 1), "uint64")
    monkeypatch.setitem(sys.modules, "compressed_segmentation", None)
    data = codec.encode(chunk, {})
    np.testing.assert_array_equal(codec.decode(data, chunk.shape, chunk.dtype, {}), chunk)
    with pytest.raises(MissingCodecError, match=r"voxelio\[seg\]"):
        codec.labels(data, chunk.shape, chunk.dtype, {})
