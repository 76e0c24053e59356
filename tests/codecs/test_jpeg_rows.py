"""voxelio's jpeg decoder of row ranges (``_jpegrows.c``), which reads of parts of jpeg chunks
use: built here, and exact on the images other writers make (chroma subsampling, odd sizes)."""

from __future__ import annotations

import numpy as np
import pytest
import simplejpeg

from tests.codecs.cases import smooth_uint8
from voxelio.codecs import get_codec
from voxelio.errors import DecodingError


def test_the_row_decoder_is_built() -> None:
    from voxelio.codecs._jpegrows import decode_rows

    assert callable(decode_rows)


@pytest.mark.parametrize("subsampling", ["444", "422", "420"])
def test_rgb_parts_of_subsampled_images(subsampling: str) -> None:
    """Rows skipped and rows decoded meet at any row, also inside a subsampled MCU row."""
    shape = (40, 24, 20, 3)
    chunk = smooth_uint8(shape)
    image = np.ascontiguousarray(chunk.transpose(2, 1, 0, 3)).reshape(24 * 20, 40, 3)
    data = simplejpeg.encode_jpeg(image, quality=90, colorspace="RGB", colorsubsampling=subsampling)
    codec = get_codec("jpeg")
    whole = codec.decode(data, shape, np.dtype("uint8"), {})
    for lo, hi in (
        ((0, 0, 19), (40, 24, 20)),
        ((3, 5, 7), (37, 21, 13)),
        ((0, 23, 0), (1, 24, 20)),
    ):
        out = np.zeros((*(b - a for a, b in zip(lo, hi)), 3), dtype="uint8", order="F")
        codec.decode_into(data, shape, np.dtype("uint8"), {}, out, lo)
        np.testing.assert_array_equal(out, whole[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]])


def test_other_image_layouts_of_the_same_size_decode_whole() -> None:
    """An image of another width x height with the chunk's voxel count is read as ``decode``
    reads it (the row decoder declines it)."""
    chunk = smooth_uint8((16, 8, 4, 1))
    image = np.ascontiguousarray(chunk.transpose(2, 1, 0, 3)).reshape(16, 32, 1)  # not 32 x 16
    data = simplejpeg.encode_jpeg(image, quality=95, colorspace="GRAY", colorsubsampling="GRAY")
    codec = get_codec("jpeg")
    whole = codec.decode(data, (16, 8, 4, 1), np.dtype("uint8"), {})
    out = np.zeros((5, 3, 2, 1), dtype="uint8", order="F")
    codec.decode_into(data, (16, 8, 4, 1), np.dtype("uint8"), {}, out, (4, 2, 1))
    np.testing.assert_array_equal(out, whole[4:9, 2:5, 1:3])


def test_wrong_size_is_an_error() -> None:
    chunk = smooth_uint8((16, 8, 4, 1))
    data = get_codec("jpeg").encode(chunk, {})
    out = np.zeros((2, 2, 2, 1), dtype="uint8", order="F")
    with pytest.raises(DecodingError, match="jpeg chunk"):
        get_codec("jpeg").decode_into(data, (16, 8, 5, 1), np.dtype("uint8"), {}, out, (0, 0, 0))
