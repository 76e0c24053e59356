"""The ``jpeg`` encoding: one baseline JFIF image per chunk, width ``x`` and height ``y*z``.

uint8 only, 1 (grayscale) or 3 (RGB) channels. Lossy: ``jpeg_quality`` (0-100) defaults to 85
as in cloud-volume (TensorStore writes 75 into the info when it creates a layer). Grayscale is
written without chroma subsampling. Uses simplejpeg (libjpeg-turbo, extra ``image``); measured
as fast as imagecodecs' decoder. A read of part of a chunk decodes only the image rows it needs
with voxelio's own decoder (``_jpegrows.c``, built where libjpeg-turbo's headers are found):
the rows after the part are not decoded at all, those before it without their inverse DCT. No
transport compression by default. Stateless, thread safe (both decoders release the GIL).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from voxelio.codecs.base import Codec, Shape4, check_chunk, import_optional, int_param
from voxelio.codecs.imaging import from_image, image_channels, to_image
from voxelio.errors import DecodingError

DEFAULT_QUALITY = 85


class JpegCodec(Codec):
    """JPEG chunks (uint8, gray or RGB) via simplejpeg."""

    name = "jpeg"
    dtypes = frozenset(["uint8"])
    channels = frozenset([1, 3])
    default_compress = None
    lossless = False
    extra = "image"
    level_param = "jpeg_quality"
    decodes_views = True
    row_decoder = "_jpegrows"

    def _lib(self) -> Any:
        return import_optional("simplejpeg", "simplejpeg", self.extra, self.name)

    def encode(self, chunk: np.ndarray, params: Mapping[str, Any]) -> bytes:
        check_chunk(chunk, self)
        quality = int_param(params, "jpeg_quality", DEFAULT_QUALITY, 0, 100)
        img = to_image(chunk)
        lib = self._lib()
        if img.shape[2] == 1:
            return bytes(
                lib.encode_jpeg(img, quality=quality, colorspace="GRAY", colorsubsampling="GRAY")
            )
        return bytes(lib.encode_jpeg(img, quality=quality, colorspace="RGB"))

    def decode(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        _check_stream(data, dtype)
        colorspace = "GRAY" if shape[3] == 1 else "RGB"
        lib = self._lib()
        try:
            stream = bytes(data)  # the library takes bytes, not views
            stored = lib.decode_jpeg_header(stream)[2]
            pixels = lib.decode_jpeg(stream, colorspace=colorspace)
        except Exception as exc:  # simplejpeg raises ValueError/RuntimeError on bad streams
            raise DecodingError(f"jpeg chunk: cannot decode: {exc}") from exc
        if (str(stored).lower() == "gray") != (shape[3] == 1):
            raise DecodingError(
                f"jpeg chunk: image colour space {stored} does not fit {shape[3]} channel(s)"
            )
        if image_channels(pixels) != shape[3]:
            raise DecodingError(
                f"jpeg chunk: image has {image_channels(pixels)} channels, layer has {shape[3]}"
            )
        return from_image(pixels, shape, "jpeg chunk")


def _check_stream(data: bytes, dtype: np.dtype) -> None:
    """Refuse layers of other dtypes and data that does not start like a JPEG stream."""
    if np.dtype(dtype) != np.uint8:
        raise DecodingError(f"jpeg chunk: layer data type {np.dtype(dtype)} is not uint8")
    if bytes(data[:2]) != b"\xff\xd8":
        raise DecodingError(f"jpeg chunk: no JPEG start-of-image marker ({len(data)} bytes)")
