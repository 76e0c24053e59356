"""Corrupt, truncated and wrongly sized chunks raise DecodingError for every encoding."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tests.codecs.cases import PARAMS, SUPPORTED, make_chunk
from voxelio.codecs import get_codec
from voxelio.errors import DecodingError

SHAPE = (13, 7, 5)
ENCODINGS = list(SUPPORTED)
PAYLOAD_CHECKED = [e for e in ENCODINGS if e != "raw"]


def _good(enc: str) -> tuple[bytes, tuple[int, int, int, int], np.dtype, dict[str, object]]:
    dtype, nc = SUPPORTED[enc][-1] if enc != "raw" else ("uint16", 2)
    chunk = make_chunk((*SHAPE, nc), dtype)
    params = PARAMS.get(enc, {})
    return get_codec(enc).encode(chunk, params), chunk.shape, np.dtype(dtype), params


@pytest.mark.parametrize("enc", ENCODINGS)
def test_empty(enc: str) -> None:
    _, shape, dtype, params = _good(enc)
    with pytest.raises(DecodingError, match=enc.split("_")[0]):
        get_codec(enc).decode(b"", shape, dtype, params)


@pytest.mark.parametrize("enc", ENCODINGS)
def test_random_bytes(enc: str) -> None:
    data, shape, dtype, params = _good(enc)
    rng = np.random.default_rng(1)
    # raw has no structure: random bytes of the right length are a valid raw chunk
    for n in (7, 100) if enc == "raw" else (len(data), 7, 100):
        with pytest.raises(DecodingError):
            get_codec(enc).decode(rng.bytes(n), shape, dtype, params)


@pytest.mark.parametrize("enc", ["raw", *PAYLOAD_CHECKED])
def test_truncated(enc: str) -> None:
    data, shape, dtype, params = _good(enc)
    codec = get_codec(enc)
    # fpzip's range coder ends with up to 3 flush bytes that carry no values
    unused = {"fpzip": 3, "kempressed": 3}.get(enc, 0)
    last = len(data) - unused - 1
    for n in (len(data) // 2, last, 3, 1):
        with pytest.raises(DecodingError):
            codec.decode(data[:n], shape, dtype, params)


def test_compresso_takes_its_layout_from_the_length() -> None:
    """compresso's decoder finds its boundary windows by the stream's length, so any bytes
    cut or added would decode to wrong labels: every such stream is refused."""
    data, shape, dtype, params = _good("compresso")
    codec = get_codec("compresso")
    for stream in (data[:-1], data[:-2], data[:-16], data + b"\0", data + b"\0" * 7):
        with pytest.raises(DecodingError, match="compresso chunk: .*windows"):
            codec.decode(stream, shape, dtype, params)


@pytest.mark.parametrize("enc", ENCODINGS)
def test_wrong_shape(enc: str) -> None:
    data, shape, dtype, params = _good(enc)
    # compressed_segmentation stores no shape: only a different block grid is detectable
    other = (shape[0] * 2, shape[1], shape[2], shape[3])
    with pytest.raises(DecodingError):
        get_codec(enc).decode(data, other, dtype, params)


@pytest.mark.parametrize("enc", ["raw", "compresso", "crackle", "fpzip", "kempressed"])
def test_wrong_dtype(enc: str) -> None:
    data, shape, dtype, params = _good(enc)
    other = {"uint64": "uint32", "uint16": "uint8", "float32": "float64"}[dtype.name]
    with pytest.raises(DecodingError):
        get_codec(enc).decode(data, shape, np.dtype(other), params)


def test_raw_extra_bytes() -> None:
    data, shape, dtype, params = _good("raw")
    with pytest.raises(DecodingError, match="raw"):
        get_codec("raw").decode(data + b"\0\0", shape, dtype, params)


@pytest.mark.parametrize("enc", ["compressed_segmentation", "compresso", "crackle"])
@pytest.mark.parametrize("what", ["labels", "read_voxel", "contains", "remap"])
def test_capabilities_on_corrupt(enc: str, what: str) -> None:
    data, shape, dtype, params = _good(enc)
    codec = get_codec(enc)
    calls = {
        "labels": lambda b: codec.labels(b, shape, dtype, params),
        "read_voxel": lambda b: codec.read_voxel(b, shape, dtype, params, (1, 1, 1)),
        "contains": lambda b: codec.contains(b, shape, dtype, params, 3),
        "remap": lambda b: codec.remap(b, shape, dtype, params, {}, True),
    }
    for bad in (data[: len(data) // 2], b"", np.random.default_rng(2).bytes(len(data))):
        with pytest.raises(DecodingError):
            calls[what](bad)


def _cseg_one_channel() -> tuple[bytearray, tuple[int, int, int, int], dict[str, object]]:
    chunk = make_chunk((*SHAPE, 1), "uint32")
    params: dict[str, object] = {"compressed_segmentation_block_size": [4, 4, 4]}
    return (
        bytearray(get_codec("compressed_segmentation").encode(chunk, params)),
        (SHAPE[0], SHAPE[1], SHAPE[2], 1),
        params,
    )


@pytest.mark.parametrize(
    ("word", "value", "message"),
    [
        (0, 10**6, "channel 0 offset"),  # channel table offset past the end
        (1, (3 << 24) | 4, "bit width"),  # 3 encoded bits is not allowed
        (2, 10**6, "encoded values"),  # values offset beyond the stream
        (1, (16 << 24) | 4, "past the end"),  # 16-bit indices into a short table
        (1, 0xFFFFFF, "past the end"),  # table offset beyond the stream
    ],
)
# decode: the C decoder; labels: the checks made before the package reads the chunk
@pytest.mark.parametrize("what", ["decode", "labels"])
def test_cseg_header_corruption(word: int, value: int, message: str, what: str) -> None:
    data, shape, params = _cseg_one_channel()
    struct.pack_into("<I", data, 4 * word, value)
    call = getattr(get_codec("compressed_segmentation"), what)
    with pytest.raises(DecodingError, match=message):
        call(bytes(data), shape, np.dtype("uint32"), params)


def test_cseg_not_whole_words() -> None:
    data, shape, params = _cseg_one_channel()
    with pytest.raises(DecodingError, match="whole number of words"):
        get_codec("compressed_segmentation").decode(
            bytes(data) + b"\0", shape, np.dtype("uint32"), params
        )


def test_image_channel_mismatch() -> None:
    gray = make_chunk((*SHAPE, 1), "uint8")
    for enc in ("png", "jpeg", "jxl"):
        data = get_codec(enc).encode(gray, PARAMS.get(enc, {}))
        with pytest.raises(DecodingError, match="channel"):
            get_codec(enc).decode(data, (SHAPE[0], SHAPE[1], SHAPE[2], 3), np.dtype("uint8"), {})


def test_png_bit_depth_mismatch() -> None:
    wide = make_chunk((*SHAPE, 1), "uint16")
    data = get_codec("png").encode(wide, {})
    with pytest.raises(DecodingError, match="uint16 samples in a uint8 layer"):
        get_codec("png").decode(data, wide.shape, np.dtype("uint8"), {})


@pytest.mark.parametrize("enc", ["fpzip", "kempressed"])
def test_fpzip_crash_is_an_error(enc: str) -> None:
    """The fpzip library segfaults on these streams; the caller gets an error and lives on."""
    data, shape, dtype, params = _good(enc)
    codec = get_codec(enc)
    for position in (30, 40, len(data) // 2):
        bad = bytearray(data)
        bad[position] ^= 0x5A
        try:
            decoded = codec.decode(bytes(bad), shape, dtype, params)
        except DecodingError as exc:
            assert f"{enc} chunk" in str(exc)
        else:  # no checksum: a flip that decodes must at least change the values
            assert not np.array_equal(decoded, codec.decode(data, shape, dtype, params))
    with pytest.raises(DecodingError, match="decoder was killed by SIG"):
        codec.decode(data[:40], shape, dtype, params)
    good = codec.decode(data, shape, dtype, params)  # a new decoder process takes over
    assert good.shape == shape


@pytest.mark.parametrize("enc", ["fpzip", "kempressed"])
def test_fpzip_flush_bytes_carry_no_values(enc: str) -> None:
    data, shape, dtype, params = _good(enc)
    codec = get_codec(enc)
    whole = codec.decode(data, shape, dtype, params)
    assert np.array_equal(codec.decode(data[:-1], shape, dtype, params), whole, equal_nan=True)


@pytest.mark.parametrize("enc", PAYLOAD_CHECKED)
def test_truncated_or_random_parts(enc: str) -> None:
    """A part of a corrupt chunk (``decode_into``, the path of cutouts) fails as the whole does."""
    data, shape, dtype, params = _good(enc)
    codec = get_codec(enc)
    unused = {"fpzip": 3, "kempressed": 3}.get(enc, 0)
    rng = np.random.default_rng(2)
    bad = [data[: len(data) // 2], data[: len(data) - unused - 1], rng.bytes(len(data)), b""]
    for stream in bad:
        for origin, extent in (
            ((0, 0, 0), shape[:3]),
            ((0, 0, 0), (3, 2, 1)),
            ((5, 3, 2), (2, 2, 3)),
        ):
            out = np.empty((*extent, shape[3]), dtype=dtype, order="F")
            with pytest.raises(DecodingError):
                codec.decode_into(stream, shape, dtype, params, out, origin)


def test_jpeg_part_of_a_chunk_names_the_problem() -> None:
    gray = make_chunk((*SHAPE, 1), "uint8")
    data = get_codec("jpeg").encode(gray, {})
    out = np.empty((2, 2, 2, 3), dtype="uint8", order="F")
    with pytest.raises(DecodingError, match="colour space"):
        get_codec("jpeg").decode_into(data, (*SHAPE, 3), np.dtype("uint8"), {}, out, (0, 0, 0))
    out = np.empty((2, 2, 2, 1), dtype="uint8", order="F")
    with pytest.raises(DecodingError, match="jpeg chunk: cannot decode"):
        get_codec("jpeg").decode_into(
            data[:-40], (*SHAPE, 1), np.dtype("uint8"), {}, out, (0, 0, 4)
        )


def test_crackle_decodes_in_a_child_process() -> None:
    """crackle-codec corrupts its heap on some flipped bits in the crack codes (an abort at
    exit or a segmentation fault, seen with 0.55): voxelio decodes in a child process, so a
    corrupt chunk fails with a DecodingError or decodes to labels of the chunk's shape, and
    this process lives on."""
    import os

    grid = np.meshgrid(*(np.arange(s) for s in (32, 32, 16)), indexing="ij")
    labels = ((grid[0] // 4 + 7 * (grid[1] // 4) + 3 * grid[2]) % 200).astype(np.uint64)
    chunk = np.asfortranarray(labels[..., None])
    codec = get_codec("crackle")
    good = codec.encode(chunk, {})
    np.testing.assert_array_equal(codec.decode(good, chunk.shape, chunk.dtype, {}), chunk)
    children = [child.proc.pid for child in codec._decoder._idle]
    assert children and os.getpid() not in children
    failed, positions = 0, range(0, len(good), 5)
    for pos in positions:
        stream = bytearray(good)
        stream[pos] ^= 1 << (pos % 8)
        try:
            got = codec.decode(bytes(stream), chunk.shape, chunk.dtype, {})
        except DecodingError as exc:
            failed += 1
            assert "crackle chunk" in str(exc)
            continue
        assert got.shape == chunk.shape and got.dtype == chunk.dtype
    assert failed > len(positions) // 4  # header, z-index and label CRCs catch a third
