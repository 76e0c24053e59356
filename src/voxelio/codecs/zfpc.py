"""The ``zfpc`` encoding: seung-lab's container of zfp streams (cloud-volume only).

float32, any channel count. Parameters from the scale: ``zfpc_rate``, ``zfpc_precision``,
``zfpc_tolerance`` (each ``-1`` = unused; all unused = lossless) and
``zfpc_correlated_dims`` (4 booleans, x, y, z, channel; default all true). Library ``zfpc``
(extra ``fp``). float64 is refused: zfpc 0.1.2 decodes float64 streams as float32, losing
precision. No transport compression by default. Stateless, thread safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from voxelio.codecs.base import Codec, Shape4, check_chunk, check_shape, import_optional
from voxelio.errors import DecodingError, EncodingError

MAGIC = b"zfpc"


def zfpc_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``zfpc.compress`` from a scale's ``zfpc_*`` keys."""
    dims = params.get("zfpc_correlated_dims", None)
    dims = [True] * 4 if dims is None else [bool(v) for v in dims]
    if len(dims) != 4:
        raise EncodingError(f"zfpc_correlated_dims needs 4 booleans, got {dims!r}")
    out: dict[str, Any] = {"correlated_dims": dims}
    for key in ("rate", "precision", "tolerance"):
        value = params.get(f"zfpc_{key}", None)
        out[key] = -1 if value is None else value
    return out


class ZfpcCodec(Codec):
    """zfpc chunks (float32, any channel count)."""

    name = "zfpc"
    dtypes = frozenset(["float32"])
    default_compress = None
    lossless = False
    extra = "fp"

    def _lib(self) -> Any:
        return import_optional("zfpc", "zfpc", self.extra, self.name)

    def encode(self, chunk: np.ndarray, params: Mapping[str, Any]) -> bytes:
        check_chunk(chunk, self)
        return bytes(self._lib().compress(np.asfortranarray(chunk), **zfpc_options(params)))

    def decode(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        if bytes(data[:4]) != MAGIC:
            raise DecodingError(f"zfpc chunk: no zfpc magic ({len(data)} bytes)")
        lib = self._lib()
        try:
            _check_length(lib, bytes(data))
            arr = np.asarray(lib.decompress(bytes(data)))
        except DecodingError:
            raise
        except Exception as exc:  # zfpc raises DecodingError/AssertionError/ValueError
            raise DecodingError(f"zfpc chunk: cannot decode: {exc}") from exc
        if arr.ndim < 4 and arr.size == np.prod(shape):
            arr = arr.reshape(tuple(shape), order="F")
        arr = check_shape(arr, shape, np.dtype(dtype), "zfpc chunk")
        return arr if arr.flags.f_contiguous else np.asfortranarray(arr)


def _check_length(lib: Any, data: bytes) -> None:
    """Raise :class:`DecodingError` unless the stream index accounts for every byte."""
    head = lib.ZfpcHeader.frombytes(data)
    nstreams = int(head.num_streams())
    start = lib.ZfpcHeader.header_size
    index = np.frombuffer(data[start : start + 8 * (1 + nstreams)], dtype="<u8")
    if len(index) != 1 + nstreams:
        raise DecodingError(f"zfpc chunk: {len(data)} bytes cannot hold its stream index")
    expected = int(index[0]) + sum(int(v) for v in index[1:])
    if expected != len(data):
        raise DecodingError(
            f"zfpc chunk: stream index adds up to {expected} bytes, got {len(data)}"
        )
