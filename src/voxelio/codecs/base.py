"""The chunk codec interface.

A codec turns one chunk, a 4-D numpy array ``[x, y, z, channel]`` (any memory order; it is
read as Fortran order ``x`` fastest), into bytes and back. Codec parameters come from the
scale's ``info`` entry (``jpeg_quality``, ``compressed_segmentation_block_size``, ...),
passed as a read-only mapping. Codecs are thread safe and hold no chunk state; the libraries
they call release the GIL where they can (fpzip, which does not and can crash, decodes in
child processes).
"""

from __future__ import annotations

import importlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import numpy as np

from voxelio.codecs._boxcopy import copy_box
from voxelio.errors import DecodingError, EncodingError, MissingCodecError, UnsupportedEncodingError
from voxelio.streaming import bypasses_caches

Shape4 = tuple[int, int, int, int]


def import_optional(module: str, package: str, extra: str, encoding: str) -> ModuleType:
    """Import the optional library ``module`` behind ``encoding``.

    Raises :class:`MissingCodecError` naming the PyPI ``package`` and the voxelio pip
    ``extra`` that installs it. Imports are cached by Python, so repeated calls are cheap.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingCodecError(
            f"encoding {encoding!r} needs the Python package {package!r}, which is not "
            f"installed; install it with: pip install 'voxelio[{extra}]'"
        ) from exc


def native(module: str, function: str) -> Callable[..., Any] | None:
    """``function`` of one of voxelio's optional C extensions (``voxelio.codecs.<module>``),
    or ``None`` where it was not built (see ``setup.py``)."""
    try:
        return getattr(importlib.import_module(f"voxelio.codecs.{module}"), function)  # type: ignore[no-any-return]
    except ImportError:  # pragma: no cover - built wherever the tests run
        return None


def copy_part(arr: np.ndarray, origin: tuple[int, int, int], out: np.ndarray) -> None:
    """Copy the part of the decoded chunk ``arr`` (``[x, y, z, c]``) that starts at
    chunk-local voxel ``origin`` and has ``out``'s extent into ``out``.

    voxelio's C copy serves where the layouts allow (it bypasses the caches of a large output:
    see :mod:`voxelio.streaming`), numpy's assignment everywhere else."""
    x_contiguous = out.shape[0] <= 1 or out.strides[0] == out.itemsize
    if arr.dtype == out.dtype and arr.flags.f_contiguous and x_contiguous and out.size:
        copy_box(arr, origin, out, bypasses_caches(out))
        return
    (x, y, z), (sx, sy, sz) = origin, out.shape[:3]
    out[...] = arr[x : x + sx, y : y + sy, z : z + sz]


class Codec(ABC):
    """One chunk encoding, named as in the ``info`` (``"raw"``, ``"png"``, ...)."""

    #: the ``encoding`` string of the info
    name: str = ""
    #: numpy dtype names this encoding can hold
    dtypes: frozenset[str] = frozenset()
    #: allowed channel counts, or ``None`` for any
    channels: frozenset[int] | None = None
    #: transport compression cloud-volume applies by default ("gzip" or None)
    default_compress: str | None = None
    #: lossless for every supported dtype
    lossless: bool = True
    #: the pip extra that installs the library behind this codec ("" when none is needed)
    extra: str = ""
    #: the scale key that cloud-volume's ``encoding_level`` sets (``"jpeg_quality"``, ...)
    level_param: str | None = None
    #: the scale key that cloud-volume's ``encoding_effort`` sets (``"jxl_effort"``)
    effort_param: str | None = None
    #: ``decode`` accepts a ``memoryview`` (the engine may pass a reused read buffer, and
    #: copies the decoded array out before the buffer is reused)
    decodes_views: bool = False
    #: voxelio's optional C extension (``voxelio.codecs.<name>``) whose ``decode_rows(data,
    #: out, size, origin)`` decodes a part of a chunk straight into ``out``, decoding only
    #: the image rows the part needs, or declines the chunk (answers ``False``)
    row_decoder: str | None = None
    #: the library holds the GIL for much of a decode: a few chunks decode faster in one
    #: thread than handed between threads
    gil_bound: bool = False

    def check(self, dtype: np.dtype | str, num_channels: int) -> None:
        """Raise :class:`UnsupportedEncodingError` if this encoding cannot hold the layer."""
        name = np.dtype(dtype).name
        if self.dtypes and name not in self.dtypes:
            raise UnsupportedEncodingError(
                f"encoding {self.name!r} cannot hold data_type {name!r} "
                f"(it supports {', '.join(sorted(self.dtypes))})"
            )
        if self.channels is not None and num_channels not in self.channels:
            raise UnsupportedEncodingError(
                f"encoding {self.name!r} cannot hold num_channels={num_channels} "
                f"(it supports {sorted(self.channels)})"
            )

    @abstractmethod
    def encode(self, chunk: np.ndarray, params: Mapping[str, Any]) -> bytes:
        """Encode a ``[x, y, z, c]`` chunk (its dtype is the layer's) to bytes."""

    @abstractmethod
    def decode(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        """Decode bytes into a Fortran-ordered ``[x, y, z, c]`` array of ``shape`` and ``dtype``.

        Raises :class:`DecodingError` for corrupt or wrongly sized data (the caller adds the key).
        """

    # Optional capabilities. The defaults decode the whole chunk; codecs override them when
    # their format answers faster.

    def stores_plain_array(self, dtype: np.dtype) -> bool:
        """Whether an encoded chunk of ``dtype`` is its values as they lie in memory: the
        Fortran-ordered ``[x, y, z, c]`` array in this machine's byte order, no header, so
        that any box of it can be read straight from the stored bytes."""
        return False

    def decode_into(
        self,
        data: bytes,
        shape: Shape4,
        dtype: np.dtype,
        params: Mapping[str, Any],
        out: np.ndarray,
        origin: tuple[int, int, int],
    ) -> None:
        """Decode into ``out`` (a ``[x, y, z, c]`` array or view of ``dtype``) the part of the
        chunk that starts at chunk-local voxel ``origin`` and has ``out``'s extent.

        The codec's ``row_decoder``, where built, goes first; the default then decodes the
        whole chunk and copies the part."""
        if self._decode_rows(data, shape, out, origin):
            return
        copy_part(self.decode(data, shape, dtype, params), origin, out)

    def _decode_rows(
        self, data: bytes, shape: Shape4, out: np.ndarray, origin: tuple[int, int, int]
    ) -> bool:
        """Decode the part with the codec's ``row_decoder``; ``False`` where it has none, it is
        not built or it declines the chunk (the caller decodes it whole)."""
        if self.row_decoder is None:
            return False
        decode_rows = native(self.row_decoder, "decode_rows")
        if decode_rows is None:
            return False
        try:
            return bool(decode_rows(data, out, shape[:3], origin))
        except ValueError as exc:
            raise DecodingError(f"{self.name} chunk: cannot decode: {exc}") from exc

    def labels(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        """Sorted unique values in the chunk."""
        return np.unique(self.decode(data, shape, dtype, params))

    def read_voxel(
        self,
        data: bytes,
        shape: Shape4,
        dtype: np.dtype,
        params: Mapping[str, Any],
        xyz: tuple[int, int, int],
    ) -> np.ndarray:
        """The channel values at chunk-local voxel ``xyz`` (a 1-D array of length ``c``)."""
        check_xyz(xyz, shape)
        arr = self.decode(data, shape, dtype, params)
        return np.asarray(arr[xyz[0], xyz[1], xyz[2], :])

    def contains(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any], label: int
    ) -> bool:
        """Whether ``label`` occurs in the chunk."""
        found = self.labels(data, shape, dtype, params)
        idx = np.searchsorted(found, label)
        return bool(idx < len(found) and found[idx] == label)

    def remap(
        self,
        data: bytes,
        shape: Shape4,
        dtype: np.dtype,
        params: Mapping[str, Any],
        mapping: Mapping[int, int],
        preserve_missing_labels: bool = False,
    ) -> bytes:
        """Re-encode the chunk with every label ``k`` replaced by ``mapping[k]``.

        Labels missing from ``mapping`` are kept when ``preserve_missing_labels`` is true and
        raise :class:`EncodingError` otherwise. The default decodes, remaps with fastremap
        (extra ``seg``) and encodes again.
        """
        fastremap = import_optional("fastremap", "fastremap", "seg", self.name)
        arr = np.array(self.decode(data, shape, dtype, params), order="F", copy=True)
        try:
            out = fastremap.remap(
                arr, dict(mapping), preserve_missing_labels=preserve_missing_labels, in_place=True
            )
        except KeyError as exc:
            raise EncodingError(
                f"remap of a {self.name!r} chunk: label {exc.args[0]} is not in the mapping "
                "and preserve_missing_labels is off"
            ) from exc
        return self.encode(np.asarray(out, dtype=arr.dtype), params)


def int_param(
    params: Mapping[str, Any], key: str, default: int, low: int, high: float = math.inf
) -> int:
    """The scale's ``key`` (``jpeg_quality``, ``png_level``...) as an int from ``low`` to
    ``high``, ``default`` when unset; anything else is an :class:`EncodingError` naming it."""
    value = params.get(key, None)
    if value is None:
        return default
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    )
    if not numeric or not float(value).is_integer() or not low <= value <= high:
        raise EncodingError(f"{key} must be a whole number from {low} to {high}, got {value!r}")
    return int(value)


def check_chunk(chunk: np.ndarray, codec: Codec) -> np.ndarray:
    """Validate a chunk handed to ``codec.encode``: 4-D and of a dtype the encoding holds.

    Returns the chunk unchanged; raises :class:`UnsupportedEncodingError` otherwise.
    """
    if chunk.ndim != 4:
        raise EncodingError(
            f"encoding {codec.name!r} needs a 4-D [x, y, z, channel] chunk, got shape {chunk.shape}"
        )
    codec.check(chunk.dtype, int(chunk.shape[3]))
    return chunk


def check_shape(arr: np.ndarray, shape: Shape4, dtype: np.dtype, what: str) -> np.ndarray:
    """Raise :class:`DecodingError` unless ``arr`` has ``shape`` and ``dtype``; return it."""
    if tuple(arr.shape) != tuple(shape):
        raise DecodingError(f"{what}: decoded shape {tuple(arr.shape)}, expected {tuple(shape)}")
    if arr.dtype != np.dtype(dtype):
        raise DecodingError(f"{what}: decoded data type {arr.dtype}, expected {np.dtype(dtype)}")
    return arr


def check_xyz(xyz: tuple[int, int, int], shape: Shape4) -> None:
    """Raise :class:`IndexError` unless chunk-local voxel ``xyz`` lies inside ``shape``."""
    if len(xyz) != 3 or not all(0 <= int(v) < int(s) for v, s in zip(xyz, shape[:3])):
        raise IndexError(f"voxel {tuple(xyz)} is outside the chunk of shape {tuple(shape[:3])}")


def check_size(data: bytes | memoryview, expected: int, what: str) -> None:
    """Raise :class:`DecodingError` unless ``len(data) == expected``."""
    if len(data) != expected:
        raise DecodingError(f"{what}: expected {expected} bytes, got {len(data)}")
