"""The ``fpzip`` and ``kempressed`` encodings (floating point; cloud-volume only).

``fpzip``: float32 or float64, any channel count; the whole ``[x, y, z, c]`` chunk is one
fpzip stream (nx, ny, nz, nf = x, y, z, c). Lossless unless ``fpzip_precision`` (bits kept,
0 = lossless, the default) is set.

``kempressed``: cloud-volume's variant for anisotropic data: the stream holds
``2.0 + chunk`` with the z and channel axes swapped (``[x, y, c, z]``); decoding swaps back
and subtracts 2. Not bit-exact (the +2/-2 rounds).

Library ``fpzip`` (extra ``fp``); neither Neuroglancer nor TensorStore reads these. No
transport compression by default. Known limit: the stream has no checksum and the fpzip C
library can crash on a corrupt or truncated payload; only undecodable headers and wrong
shapes or types are caught. Stateless, thread safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from voxelio.codecs.base import Codec, Shape4, check_chunk, check_shape, import_optional
from voxelio.errors import DecodingError, EncodingError

FLOATS = frozenset(["float32", "float64"])


def _decompress(lib: Any, data: bytes, what: str) -> np.ndarray:
    """Run fpzip's decoder, turning its errors into :class:`DecodingError`."""
    if len(data) == 0:
        raise DecodingError(f"{what}: empty stream")
    try:
        return np.asarray(lib.decompress(bytes(data), order="F"))
    except Exception as exc:  # FpzipReadError and friends
        raise DecodingError(f"{what}: cannot decode: {exc}") from exc


class FpzipCodec(Codec):
    """fpzip chunks (float32/float64, any channel count)."""

    name = "fpzip"
    dtypes = FLOATS
    default_compress = None
    extra = "fp"
    level_param = "fpzip_precision"

    def _lib(self) -> Any:
        return import_optional("fpzip", "fpzip", self.extra, self.name)

    def encode(self, chunk: np.ndarray, params: Mapping[str, Any]) -> bytes:
        check_chunk(chunk, self)
        precision = params.get("fpzip_precision", None)
        precision = 0 if precision is None else int(precision)
        if not 0 <= precision <= chunk.dtype.itemsize * 8:
            raise EncodingError(f"fpzip_precision must be 0-{chunk.dtype.itemsize * 8}")
        arr = np.asfortranarray(chunk)
        return bytes(self._lib().compress(arr, precision=precision, order="F"))

    def decode(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        arr = _decompress(self._lib(), data, "fpzip chunk")
        if arr.ndim < 4 and arr.size == np.prod(shape):
            arr = arr.reshape(tuple(shape), order="F")
        return check_shape(arr, shape, np.dtype(dtype), "fpzip chunk")


class KempressedCodec(Codec):
    """kempressed chunks: fpzip of ``2 + chunk`` in ``[x, y, c, z]`` order."""

    name = "kempressed"
    dtypes = FLOATS
    default_compress = None
    lossless = False
    extra = "fp"

    def _lib(self) -> Any:
        return import_optional("fpzip", "fpzip", self.extra, self.name)

    def encode(self, chunk: np.ndarray, params: Mapping[str, Any]) -> bytes:
        check_chunk(chunk, self)
        shifted = np.asfortranarray(np.swapaxes(chunk, 2, 3) + chunk.dtype.type(2.0))
        return bytes(self._lib().compress(shifted, order="F"))

    def decode(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        arr = _decompress(self._lib(), data, "kempressed chunk")
        swapped = (shape[0], shape[1], shape[3], shape[2])
        if arr.ndim < 4 and arr.size == np.prod(shape):
            arr = arr.reshape(swapped, order="F")
        if arr.shape != swapped:
            raise DecodingError(f"kempressed chunk: decoded shape {arr.shape}, expected {swapped}")
        arr -= arr.dtype.type(2.0)
        out = np.asfortranarray(np.swapaxes(arr, 2, 3))
        return check_shape(out, shape, np.dtype(dtype), "kempressed chunk")
