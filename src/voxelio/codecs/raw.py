"""The ``raw`` encoding: little-endian values in Fortran ``[x, y, z, c]`` order, no header."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from voxelio.codecs.base import Codec, Shape4, check_size

ALL_DTYPES = frozenset(
    ["uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64"]
)


class RawCodec(Codec):
    """Serialized arrays; any dtype, any channel count. Default transport compression: gzip."""

    name = "raw"
    dtypes = ALL_DTYPES
    default_compress = "gzip"
    decodes_views = True

    def encode(self, chunk: np.ndarray, params: Mapping[str, Any]) -> bytes:
        little = chunk.astype(chunk.dtype.newbyteorder("<"), copy=False)
        return little.tobytes(order="F")

    def stores_plain_array(self, dtype: np.dtype) -> bool:
        """On little-endian machines, and for one-byte values on any."""
        native = np.dtype(dtype)
        return native.newbyteorder("<") == native

    def decode(
        self, data: bytes | memoryview, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        native = np.dtype(dtype)
        le = native.newbyteorder("<")
        check_size(data, math.prod(shape) * le.itemsize, "raw chunk")
        arr = np.frombuffer(data, dtype=le).reshape(shape, order="F")
        return arr if le == native else arr.astype(native)
