"""The ``png`` encoding: one PNG image per chunk, width ``x`` and height ``y*z``.

uint8 or uint16 samples, 1 to 4 channels (gray, gray+alpha, RGB, RGBA), at ``png_level``
(0-9, default 9 as in cloud-volume). voxelio's own png codec (``_pngrows.c``, built where
libdeflate's headers are found) encodes and decodes chunks several times faster than libpng:
it writes each row with the filter libpng's heuristic picks and compresses with libdeflate at
that level (files a little smaller than libpng's); a read of part of a chunk unfilters no row
after the last it needs. It reads plain images (not interlaced, no palette or transparency).
Where it is not built, chunks are encoded with imagecodecs (libpng) where installed, else
pyspng-seunglab (extra ``image``; 16-bit gray and RGB, which libspng cannot write, go through
:mod:`voxelio.codecs.pngwrite`). Images it declines, and every image where it is not built,
are decoded whole with libpng through imagecodecs where installed, else libspng (16-bit
gray/RGB images, which libspng returns mis-shaped, always go to imagecodecs).
Lossless; no transport compression by default. Stateless and thread safe (libspng releases
the GIL).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from voxelio.codecs.base import Codec, Shape4, check_chunk, import_optional, int_param, native
from voxelio.codecs.imaging import from_image, image_channels, to_image
from voxelio.codecs.pngwrite import write_png
from voxelio.errors import DecodingError, EncodingError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: voxelio's png codec extension (``_pngrows.c``)
NATIVE = "_pngrows"
IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


class PngCodec(Codec):
    """PNG chunks (uint8/uint16, 1-4 channels)."""

    name = "png"
    dtypes = frozenset(["uint8", "uint16"])
    channels = frozenset([1, 2, 3, 4])
    default_compress = None
    extra = "image"
    level_param = "png_level"
    decodes_views = True
    row_decoder = NATIVE

    def _lib(self) -> Any:
        return import_optional("pyspng", "pyspng-seunglab", self.extra, self.name)

    def encode(self, chunk: np.ndarray, params: Mapping[str, Any]) -> bytes:
        check_chunk(chunk, self)
        level = int_param(params, self.level_param or "png_level", 9, 0, 9)
        encode = native(NATIVE, "encode")  # voxelio's own, where built; releases the GIL
        if encode is None:
            return self._encode_with_libraries(chunk, level)
        native_order = chunk.astype(chunk.dtype.newbyteorder("="), copy=False)
        try:
            return bytes(encode(native_order, level))
        except ValueError as exc:
            raise EncodingError(f"png chunk: cannot encode: {exc}") from exc

    def _encode_with_libraries(self, chunk: np.ndarray, level: int) -> bytes:
        """Encode with libpng (imagecodecs) where installed, else libspng (pyspng)."""
        img = to_image(chunk)
        if img.shape[2] == 1:
            img = img[:, :, 0]
        fast = _imagecodecs()
        if fast is not None:  # releases the GIL, so chunks encode in parallel
            return bytes(fast.png_encode(img, level=level))
        if img.dtype.itemsize == 2 and chunk.shape[3] in (1, 3):
            return write_png(img, level)  # libspng cannot encode gray16 or RGB16
        return bytes(self._lib().encode(img, compress_level=level))

    def _decode_spng(self, data: bytes) -> np.ndarray:
        lib = self._lib()
        head = lib.header(data)
        if head["bit_depth"] == 16 and head["color_type"] in (0, 2):
            # libspng returns 16-bit gray/RGB in a mis-shaped buffer: that needs libpng
            return import_optional("imagecodecs", "imagecodecs", "image", "png").png_decode(data)
        return lib.load(data)

    def decode(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        dtype = np.dtype(dtype)
        _check_stream(data)
        whole = np.empty(shape, dtype, order="F")
        if self._decode_rows(data, shape, whole, (0, 0, 0)):
            return whole
        return self._decode_library(data, shape, dtype)

    def _decode_library(self, data: bytes, shape: Shape4, dtype: np.dtype) -> np.ndarray:
        """Decode the chunk whole with libpng (imagecodecs), else libspng."""
        stream = bytes(data)  # the libraries take bytes, not views
        fast = _imagecodecs()
        try:
            if fast is not None:  # libpng via imagecodecs releases the GIL: decodes in parallel
                pixels = fast.png_decode(stream)
            else:
                pixels = self._decode_spng(stream)
        except (DecodingError, ImportError):
            raise
        except Exception as exc:  # libspng/libpng raise RuntimeError/ValueError on bad streams
            raise DecodingError(f"png chunk: cannot decode: {exc}") from exc
        if image_channels(pixels) != shape[3]:
            raise DecodingError(
                f"png chunk: image has {image_channels(pixels)} channels, layer has {shape[3]}"
            )
        if pixels.dtype != dtype:
            if pixels.dtype.itemsize > dtype.itemsize or pixels.dtype.kind != dtype.kind:
                raise DecodingError(f"png chunk: {pixels.dtype} samples in a {dtype} layer")
            pixels = pixels.astype(dtype)
        return from_image(pixels, shape, "png chunk")


def _check_stream(data: bytes) -> None:
    """Refuse data that does not start and end like a whole PNG file."""
    if bytes(data[:8]) != PNG_SIGNATURE:
        raise DecodingError(f"png chunk: no PNG signature ({len(data)} bytes)")
    if bytes(data[-12:]) != IEND:
        raise DecodingError(f"png chunk: truncated, no IEND chunk at the end ({len(data)} bytes)")


def _imagecodecs() -> Any:
    """The imagecodecs module when installed (extra ``image``), else ``None``."""
    try:
        import imagecodecs
    except ImportError:
        return None
    return imagecodecs
