"""The ``fpzip`` and ``kempressed`` encodings (floating point; cloud-volume only).

``fpzip``: float32 or float64, any channel count; the whole ``[x, y, z, c]`` chunk is one
fpzip stream (nx, ny, nz, nf = x, y, z, c). Lossless unless ``fpzip_precision`` (bits kept,
0 = lossless, the default) is set.

``kempressed``: cloud-volume's variant for anisotropic data: the stream holds
``2.0 + chunk`` with the z and channel axes swapped (``[x, y, c, z]``); decoding swaps back
and subtracts 2. Not bit-exact (the +2/-2 rounds).

Library ``fpzip`` (extra ``fp``); neither Neuroglancer nor TensorStore reads these. No
transport compression by default.

The fpzip C library reads its stream without bounds checks and crashes (segmentation fault)
on most corrupt or truncated payloads, so decoding runs in child processes
(:class:`~voxelio.codecs.isolated.IsolatedDecoder`): a crash becomes a
:class:`~voxelio.errors.DecodingError` naming the chunk. A truncated stream that does not
crash is caught by decoding it twice, padded with zeros and with ``0xff`` bytes: a complete
stream never reads the padding, so the two must agree. The format has no checksum, so (as
for ``raw``) a flipped byte that still decodes gives wrong values without an error. Encoding
runs in-process. Thread safe; the codec keeps its idle decoder processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from voxelio.codecs.base import Codec, Shape4, check_chunk, check_shape, import_optional, int_param
from voxelio.codecs.isolated import IsolatedDecoder
from voxelio.errors import DecodingError

FLOATS = frozenset(["float32", "float64"])
_PAD = 4096


def decompress_checked(data: bytes) -> np.ndarray:
    """fpzip's decoder, run twice with different padding after the stream (see above).

    Runs inside the decoder child process; raises ``ValueError`` for a truncated stream.
    """
    fpzip = import_optional("fpzip", "fpzip", "fp", "fpzip")
    first = fpzip.decompress(bytes(data) + b"\0" * _PAD, order="F")
    second = fpzip.decompress(bytes(data) + b"\xff" * _PAD, order="F")
    if not np.array_equal(first, second, equal_nan=True):
        raise ValueError("the stream is truncated (decoding reads past its end)")
    return np.asarray(first)


class _FpzipDecoding(Codec):
    """Shared by both encodings: the library check and isolated decoding."""

    dtypes = FLOATS
    default_compress = None
    extra = "fp"

    def __init__(self) -> None:
        self._decoder = IsolatedDecoder("voxelio.codecs.fpzip:decompress_checked", "fpzip")

    def _lib(self) -> Any:
        return import_optional("fpzip", "fpzip", self.extra, self.name)

    def _decompress(self, data: bytes, what: str) -> np.ndarray:
        """The decoded stream as an array; every failure is a :class:`DecodingError`."""
        self._lib()  # a missing library is a MissingCodecError here, not a child's death
        if len(data) == 0:
            raise DecodingError(f"{what}: empty stream")
        return self._decoder.decode(data, what)


class FpzipCodec(_FpzipDecoding):
    """fpzip chunks (float32/float64, any channel count)."""

    name = "fpzip"
    level_param = "fpzip_precision"

    def encode(self, chunk: np.ndarray, params: Mapping[str, Any]) -> bytes:
        check_chunk(chunk, self)
        precision = int_param(params, "fpzip_precision", 0, 0, chunk.dtype.itemsize * 8)
        arr = np.asfortranarray(chunk)
        return bytes(self._lib().compress(arr, precision=precision, order="F"))

    def decode(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        arr = self._decompress(data, "fpzip chunk")
        if arr.ndim < 4 and arr.size == np.prod(shape):
            arr = arr.reshape(tuple(shape), order="F")
        return check_shape(arr, shape, np.dtype(dtype), "fpzip chunk")


class KempressedCodec(_FpzipDecoding):
    """kempressed chunks: fpzip of ``2 + chunk`` in ``[x, y, c, z]`` order."""

    name = "kempressed"
    lossless = False

    def encode(self, chunk: np.ndarray, params: Mapping[str, Any]) -> bytes:
        check_chunk(chunk, self)
        shifted = np.asfortranarray(np.swapaxes(chunk, 2, 3) + chunk.dtype.type(2.0))
        return bytes(self._lib().compress(shifted, order="F"))

    def decode(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        arr = self._decompress(data, "kempressed chunk")
        swapped = (shape[0], shape[1], shape[3], shape[2])
        if arr.ndim < 4 and arr.size == np.prod(shape):
            arr = arr.reshape(swapped, order="F")
        if arr.shape != swapped:
            raise DecodingError(f"kempressed chunk: decoded shape {arr.shape}, expected {swapped}")
        arr -= arr.dtype.type(2.0)
        out = np.asfortranarray(np.swapaxes(arr, 2, 3))
        return check_shape(out, shape, np.dtype(dtype), "kempressed chunk")
