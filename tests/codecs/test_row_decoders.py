"""voxelio's jpeg and png decoders of row ranges (``_jpegrows.c``, ``_pngrows.c``), which reads
of parts of chunks use: built here, exact on the images other writers make (chroma
subsampling, 16-bit samples, alpha), and declining the images they do not read."""

from __future__ import annotations

import struct
import zlib

import imagecodecs
import numpy as np
import pytest
import simplejpeg

from tests.codecs.cases import smooth_uint8
from voxelio.codecs import get_codec
from voxelio.codecs.base import native
from voxelio.codecs.png import PNG_SIGNATURE
from voxelio.codecs.pngwrite import _chunk
from voxelio.errors import DecodingError


@pytest.mark.parametrize("module", ["_jpegrows", "_pngrows"])
def test_the_row_decoders_are_built(module: str) -> None:
    assert callable(native(module, "decode_rows"))


def _image(chunk: np.ndarray) -> np.ndarray:
    """The ``(y*z, x, c)`` image of a chunk."""
    sx, sy, sz, nc = chunk.shape
    return np.ascontiguousarray(chunk.transpose(2, 1, 0, 3)).reshape(sy * sz, sx, nc)


def _check_parts(enc: str, data: bytes, shape: tuple[int, int, int, int], dtype: str) -> None:
    """Parts of the chunk read by ``decode_into`` equal the whole decode's."""
    codec = get_codec(enc)
    whole = codec.decode(data, shape, np.dtype(dtype), {})
    sx, sy, sz, nc = shape
    parts = [((0, 0, sz - 1), (sx, sy, sz)), ((3, 5, 1), (sx - 3, sy - 2, sz - 1))]
    parts.append(((0, sy - 1, 0), (1, sy, sz)))
    for lo, hi in parts:
        out = np.zeros((*(b - a for a, b in zip(lo, hi)), nc), dtype=dtype, order="F")
        codec.decode_into(data, shape, np.dtype(dtype), {}, out, lo)
        np.testing.assert_array_equal(out, whole[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]])


@pytest.mark.parametrize("subsampling", ["444", "422", "420"])
def test_jpeg_rgb_parts_of_subsampled_images(subsampling: str) -> None:
    """Rows skipped and rows decoded meet at any row, also inside a subsampled MCU row."""
    shape = (40, 24, 20, 3)
    image = _image(smooth_uint8(shape))
    data = simplejpeg.encode_jpeg(image, quality=90, colorspace="RGB", colorsubsampling=subsampling)
    _check_parts("jpeg", data, shape, "uint8")


@pytest.mark.parametrize(
    ("nc", "dtype"), [(1, "uint16"), (2, "uint8"), (3, "uint16"), (4, "uint8")]
)
def test_png_parts_of_wide_and_alpha_images(nc: int, dtype: str) -> None:
    """Images of 16-bit samples (big-endian in the file) and with alpha, written by libpng."""
    shape = (40, 24, 20, nc)
    chunk = smooth_uint8(shape).astype(dtype) * (257 if dtype == "uint16" else 1)
    image = _image(chunk.astype(dtype))
    data = imagecodecs.png_encode(image[:, :, 0] if nc == 1 else image, level=6)
    _check_parts("png", data, shape, dtype)


def _interlaced_png(image: np.ndarray) -> bytes:
    """A gray 8-bit PNG of ``image`` in Adam7 order (no filters), which no library here writes."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2)]
    raw = b""
    for x0, y0, dx, dy in [*passes, (0, 1, 1, 2)]:
        sub = image[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\0" + row.tobytes() for row in sub)
    height, width = image.shape
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    return (
        PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )  # fmt: skip


def test_png_images_the_row_decoder_declines_decode_whole() -> None:
    """Interlaced images, and 8-bit samples in a uint16 layer, go to the whole decoder."""
    shape = (16, 8, 4, 1)
    image = _image(smooth_uint8(shape))[:, :, 0]
    interlaced = _interlaced_png(image)
    np.testing.assert_array_equal(imagecodecs.png_decode(interlaced), image)
    _check_parts("png", interlaced, shape, "uint8")
    _check_parts("png", imagecodecs.png_encode(image), shape, "uint16")


@pytest.mark.parametrize("enc", ["jpeg", "png"])
def test_other_image_layouts_of_the_same_size_decode_whole(enc: str) -> None:
    """An image of another width x height with the chunk's voxel count is read as ``decode``
    reads it (the row decoders decline it)."""
    chunk = smooth_uint8((16, 8, 4, 1))
    image = np.ascontiguousarray(chunk.transpose(2, 1, 0, 3)).reshape(16, 32, 1)  # not 32 x 16
    if enc == "jpeg":
        data = simplejpeg.encode_jpeg(image, quality=95, colorspace="GRAY", colorsubsampling="GRAY")
    else:
        data = imagecodecs.png_encode(image[:, :, 0])
    codec = get_codec(enc)
    whole = codec.decode(data, (16, 8, 4, 1), np.dtype("uint8"), {})
    out = np.zeros((5, 3, 2, 1), dtype="uint8", order="F")
    codec.decode_into(data, (16, 8, 4, 1), np.dtype("uint8"), {}, out, (4, 2, 1))
    np.testing.assert_array_equal(out, whole[4:9, 2:5, 1:3])


@pytest.mark.parametrize("enc", ["jpeg", "png"])
def test_wrong_size_is_an_error(enc: str) -> None:
    chunk = smooth_uint8((16, 8, 4, 1))
    data = get_codec(enc).encode(chunk, {})
    out = np.zeros((2, 2, 2, 1), dtype="uint8", order="F")
    with pytest.raises(DecodingError, match=f"{enc} chunk"):
        get_codec(enc).decode_into(data, (16, 8, 5, 1), np.dtype("uint8"), {}, out, (0, 0, 0))


def test_png_corrupt_rows_are_an_error() -> None:
    """A flipped byte in the image data fails its checksum, whichever part is read."""
    chunk = smooth_uint8((16, 8, 4, 1))
    data = bytearray(get_codec("png").encode(chunk, {}))
    data[data.index(b"IDAT") + 12] ^= 0xFF
    out = np.zeros((2, 2, 1, 1), dtype="uint8", order="F")
    with pytest.raises(DecodingError, match="png chunk: cannot decode"):
        get_codec("png").decode_into(
            bytes(data), (16, 8, 4, 1), np.dtype("uint8"), {}, out, (0, 0, 0)
        )


@pytest.mark.parametrize("module", ["_jpegrows", "_pngrows"])
def test_an_origin_near_the_integer_limit_is_refused(module: str) -> None:
    decode_rows = native(module, "decode_rows")
    assert decode_rows is not None
    out = np.empty((1, 1, 1, 1), dtype="uint8", order="F")
    with pytest.raises(ValueError, match="outside the chunk"):
        decode_rows(b"\xff\xd8", out, (8, 8, 8), (0, 0, 2**63 - 1))
