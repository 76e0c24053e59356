"""The ``jxl`` encoding: one JPEG-XL image per chunk, width ``x`` and height ``y*z``.

uint8, 1, 3 or 4 channels (pixel-interleaved, like png). ``jxl_quality`` (default 85) is the
imagecodecs ``level``; 100 or more writes losslessly. ``jxl_effort`` (1-10) and
``jxl_decodingspeed`` pass through (``None`` leaves the library default). Uses imagecodecs
(extra ``jxl``), one thread per chunk: parallelism comes from decoding chunks concurrently.

cloud-volume (12.x) writes 3-channel chunks as a planar ``(3, y*z, x)`` array, which libjxl
stores as a 3-row image with ``x`` extra channels; such chunks are recognised and read
correctly, but voxelio writes standard interleaved RGB, which Neuroglancer expects. No
transport compression by default. Stateless, thread safe (libjxl releases the GIL).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from voxelio.codecs.base import Codec, Shape4, check_chunk, import_optional, int_param
from voxelio.codecs.imaging import from_image, to_image
from voxelio.errors import DecodingError

DEFAULT_QUALITY = 85
CODESTREAM_SIGNATURE = b"\xff\x0a"
CONTAINER_SIGNATURE = b"\x00\x00\x00\x0cJXL \r\n\x87\n"


class JxlCodec(Codec):
    """JPEG-XL chunks (uint8; gray, RGB or RGBA) via imagecodecs."""

    name = "jxl"
    dtypes = frozenset(["uint8"])
    channels = frozenset([1, 3, 4])
    default_compress = None
    lossless = False
    extra = "jxl"
    level_param = "jxl_quality"
    effort_param = "jxl_effort"

    def _lib(self) -> Any:
        return import_optional("imagecodecs", "imagecodecs", self.extra, self.name)

    def encode(self, chunk: np.ndarray, params: Mapping[str, Any]) -> bytes:
        check_chunk(chunk, self)
        quality = int_param(params, "jxl_quality", DEFAULT_QUALITY, 0)
        effort = params.get("jxl_effort", None)
        effort = None if effort is None else int_param(params, "jxl_effort", 0, 1, 10)
        img = to_image(chunk)
        photometric = {1: "GRAY", 3: "RGB", 4: "RGB"}[img.shape[2]]
        if img.shape[2] == 1:
            img = img[:, :, 0]
        return bytes(
            self._lib().jpegxl_encode(
                img,
                level=quality,
                lossless=quality >= 100,
                effort=effort,
                decodingspeed=params.get("jxl_decodingspeed", None),
                photometric=photometric,
                numthreads=1,
            )
        )

    def decode(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        if np.dtype(dtype) != np.uint8:
            raise DecodingError(f"jxl chunk: layer data type {np.dtype(dtype)} is not uint8")
        head = bytes(data[:12])
        if not (head.startswith(CODESTREAM_SIGNATURE) or head == CONTAINER_SIGNATURE):
            raise DecodingError(f"jxl chunk: no JPEG-XL signature ({len(data)} bytes)")
        try:
            pixels = self._lib().jpegxl_decode(bytes(data), numthreads=1)
        except Exception as exc:  # imagecodecs raises JpegxlError/ValueError/RuntimeError
            raise DecodingError(f"jxl chunk: cannot decode: {exc}") from exc
        return from_image(_interleaved(pixels, shape), shape, "jxl chunk")


def _interleaved(pixels: np.ndarray, shape: Shape4) -> np.ndarray:
    """Pixels as ``(height, width[, c])``, undoing cloud-volume's planar RGB layout."""
    nc = int(shape[3])
    got = 1 if pixels.ndim == 2 else int(pixels.shape[2])
    if got == nc:
        return pixels
    planar = pixels.ndim == 3 and pixels.shape[0] == nc and pixels.shape[2] == shape[0]
    if planar:
        return np.ascontiguousarray(pixels.transpose(1, 2, 0))
    raise DecodingError(f"jxl chunk: image of shape {pixels.shape} does not fit {nc} channel(s)")
