"""voxelio's png encoder (``_pngrows.encode``): built here, its files read back exactly by libpng
(imagecodecs) and libspng (pyspng) for every sample layout and memory order, each row filtered
as libpng's heuristic picks, no larger than libpng's files at the same level, and refusals of
what no png can hold."""

from __future__ import annotations

import struct
import sys
import zlib

import imagecodecs
import numpy as np
import pyspng
import pytest

import voxelio.codecs.png as png_module
from tests.codecs.cases import smooth_uint8
from voxelio.codecs import get_codec
from voxelio.codecs.base import native
from voxelio.codecs.png import PNG_SIGNATURE
from voxelio.errors import EncodingError


def _encode() -> object:
    encode = native("_pngrows", "encode")
    assert callable(encode), "voxelio's png encoder is not built"
    return encode


def _image(chunk: np.ndarray) -> np.ndarray:
    """The ``(y*z, x, c)`` image of a ``[x, y, z, c]`` chunk."""
    sx, sy, sz, nc = chunk.shape
    return np.ascontiguousarray(chunk.transpose(2, 1, 0, 3)).reshape(sy * sz, sx, nc)


def _chunk(dtype: str, nc: int, shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """A chunk of smooth data with noise (every filter has rows it wins) and extreme values."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    base = smooth_uint8((*shape, nc)).astype(np.float64) / 255 * top
    arr = np.clip(base + rng.normal(0, top / 60, base.shape), 0, top).astype(dtype)
    arr.flat[:: max(1, arr.size // 7)] = top
    return arr


def _rows(data: bytes) -> tuple[dict[str, bytes], bytes]:
    """The png's chunks by type (IDAT joined) and its inflated rows."""
    assert data[:8] == PNG_SIGNATURE
    chunks: dict[str, bytes] = {}
    pos = 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8].decode()
        body = data[pos + 8 : pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])[0] == zlib.crc32(
            data[pos + 4 : pos + 8 + n]
        )
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + n
    return chunks, zlib.decompress(chunks["IDAT"])


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("nc", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", [(13, 7, 5), (1, 1, 1), (64, 3, 2), (1, 9, 4)])
def test_libpng_and_libspng_read_what_it_writes(
    dtype: str, nc: int, shape: tuple[int, int, int]
) -> None:
    chunk = _chunk(dtype, nc, shape)
    data = _encode()(np.asfortranarray(chunk), 9)  # type: ignore[operator]
    expected = _image(chunk)
    ours = imagecodecs.png_decode(data)
    np.testing.assert_array_equal(ours.reshape(expected.shape), expected)
    if not (dtype == "uint16" and nc in (1, 3)):  # libspng mis-shapes these (see codecs.png)
        np.testing.assert_array_equal(pyspng.load(data).reshape(expected.shape), expected)
    chunks, _ = _rows(data)
    width, height, depth, color = struct.unpack(">IIBB", chunks["IHDR"][:10])
    assert (width, height, depth) == (shape[0], shape[1] * shape[2], 8 * chunk.itemsize)
    assert color == {1: 0, 2: 4, 3: 2, 4: 6}[nc]
    assert chunks["IEND"] == b""


@pytest.mark.parametrize(
    "view",
    [
        lambda a: np.ascontiguousarray(a),  # C order
        lambda a: np.asfortranarray(a),
        lambda a: np.asfortranarray(np.pad(a, 3))[3:-3, 3:-3, 3:-3, 3:-3],  # inside a larger array
        lambda a: np.asfortranarray(a[::-1])[::-1],  # negative x stride
    ],
)
def test_any_memory_order_gives_the_same_file(view: object) -> None:
    chunk = _chunk("uint16", 3, (17, 6, 4))
    encode = _encode()
    first = encode(np.asfortranarray(chunk), 6)  # type: ignore[operator]
    assert encode(view(chunk), 6) == first  # type: ignore[operator]


def test_each_row_takes_the_filter_of_least_cost() -> None:
    """The filter type byte of every row is the one whose output has the least sum of bytes
    read as signed values, recomputed here from the chunk."""
    chunk = _chunk("uint8", 1, (40, 12, 6), seed=3)
    _, rows = _rows(_encode()(np.asfortranarray(chunk), 9))  # type: ignore[operator]
    image = _image(chunk)[:, :, 0].astype(np.int32)
    prev = np.zeros(image.shape[1], np.int32)
    chosen = []
    for r, row in enumerate(image):
        left = np.concatenate([[0], row[:-1]])
        upper_left = np.concatenate([[0], prev[:-1]])
        p = left + prev - upper_left
        pa, pb, pc = abs(p - left), abs(p - prev), abs(p - upper_left)
        paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upper_left))
        outs = [row, row - left, row - prev, row - (left + prev) // 2, row - paeth]
        costs = [int(np.abs(((o & 0xFF) ^ 0x80) - 0x80).sum()) for o in outs]
        line = rows[r * (image.shape[1] + 1) : (r + 1) * (image.shape[1] + 1)]
        assert line[0] == int(np.argmin(costs)), f"row {r}"
        assert bytes(line[1:]) == (outs[line[0]] & 0xFF).astype(np.uint8).tobytes()
        chosen.append(line[0])
        prev = row
    assert len(set(chosen)) >= 3  # the test data exercises several filters


def test_no_larger_than_libpngs_file_at_the_same_level() -> None:
    chunk = _chunk("uint8", 1, (64, 64, 16), seed=5)
    ours = get_codec("png").encode(np.asfortranarray(chunk), {"png_level": 9})
    theirs = imagecodecs.png_encode(_image(chunk)[:, :, 0], level=9)
    assert len(ours) <= len(theirs)


@pytest.mark.parametrize(
    ("chunk", "message"),
    [
        (np.zeros((4, 4, 4), np.uint8), "4-D"),
        (np.zeros((4, 4, 4, 1), np.uint32), "4-D array of uint8 or uint16"),
        (np.zeros((4, 4, 4, 5), np.uint8), "1 to 4 channels"),
        (np.zeros((4, 0, 4, 1), np.uint8), "empty"),
        (np.broadcast_to(np.zeros((1, 1, 1, 1), np.uint8), (2**31, 1, 1, 1)), "larger than a png"),
        (np.zeros((4, 4, 4, 1), np.int16), "uint8 or uint16"),
        (np.zeros((4, 4, 4, 1), np.float16), "uint8 or uint16"),
        (np.zeros((4, 4, 4, 1), np.dtype("uint16").newbyteorder()), "native byte order"),
    ],
    ids=["3-D", "uint32", "5 channels", "empty", "too wide", "int16", "float16", "big-endian"],
)
def test_refuses_what_no_png_holds(chunk: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _encode()(chunk, 9)  # type: ignore[operator]


def test_refuses_a_level_out_of_range() -> None:
    with pytest.raises(ValueError, match="level"):
        _encode()(np.zeros((2, 2, 2, 1), np.uint8), 13)  # type: ignore[operator]
    with pytest.raises(EncodingError, match="png_level"):
        get_codec("png").encode(np.zeros((2, 2, 2, 1), np.uint8), {"png_level": -1})


def test_the_codec_writes_samples_of_either_byte_order() -> None:
    chunk = _chunk("uint16", 2, (9, 5, 3))
    codec = get_codec("png")
    swapped = chunk.astype(chunk.dtype.newbyteorder())
    data = codec.encode(swapped, {})
    np.testing.assert_array_equal(codec.decode(data, chunk.shape, np.dtype("uint16"), {}), chunk)
    assert data == codec.encode(chunk, {})


@pytest.mark.parametrize("libpng", [True, False], ids=["imagecodecs", "pyspng"])
@pytest.mark.parametrize(
    ("dtype", "nc"), [("uint8", 1), ("uint8", 4), ("uint16", 1), ("uint16", 3)]
)
def test_without_the_extension_the_libraries_encode(
    libpng: bool, dtype: str, nc: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the extension is not built, imagecodecs (else pyspng, else voxelio's small
    writer for the layouts libspng cannot write) encode the same pixels."""
    monkeypatch.setattr(png_module, "native", lambda module, function: None)
    if not libpng:
        monkeypatch.setitem(sys.modules, "imagecodecs", None)
    chunk = _chunk(dtype, nc, (13, 7, 5))
    data = get_codec("png").encode(chunk, {"png_level": 6})
    monkeypatch.undo()
    np.testing.assert_array_equal(
        imagecodecs.png_decode(data).reshape(_image(chunk).shape), _image(chunk)
    )
