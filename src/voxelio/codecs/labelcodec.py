"""Shared behaviour of the single-channel label encodings (compresso, crackle).

Both libraries expose the same capabilities on their byte streams: the label list without a
full decode, random access to one voxel, membership and remapping. :class:`LabelCodec` maps
them onto the :class:`~voxelio.codecs.base.Codec` interface; subclasses supply the library
calls and a header check that runs before any native code sees the bytes. Thread safe.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np

from voxelio.codecs.base import Codec, Shape4, check_chunk, check_shape, check_xyz
from voxelio.errors import DecodingError, EncodingError

UNSIGNED = frozenset(["uint8", "uint16", "uint32", "uint64"])


class LabelCodec(Codec):
    """Base of compresso and crackle: one channel of unsigned labels."""

    dtypes = UNSIGNED
    channels = frozenset([1])
    default_compress = "gzip"
    extra = "seg"

    @abstractmethod
    def _lib(self) -> Any:
        """The imported codec library."""

    @abstractmethod
    def _validate(self, data: bytes, shape: Shape4, dtype: np.dtype) -> None:
        """Raise :class:`DecodingError` unless the stream's header fits ``shape``/``dtype``."""

    @abstractmethod
    def _compress(self, labels: np.ndarray) -> bytes:
        """Compress a Fortran-ordered 3-D label array."""

    @abstractmethod
    def _decompress(self, data: bytes) -> np.ndarray:
        """Decompress a validated stream to a 3-D array."""

    @abstractmethod
    def _array(self, data: bytes) -> Any:
        """A random-access view of a validated stream (``arr[x, y, z]``, ``label in arr``)."""

    def _call(self, what: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a library call, turning its errors into :class:`DecodingError`."""
        try:
            return func(*args, **kwargs)
        except DecodingError:  # already names the chunk and the cause
            raise
        except (KeyError, IndexError) as exc:
            if what == "remap" and isinstance(exc, KeyError):
                raise EncodingError(
                    f"remap of a {self.name} chunk: label {exc.args[0]} is not in the mapping "
                    "and preserve_missing_labels is off"
                ) from exc
            raise DecodingError(f"{self.name} chunk: cannot {what}: {exc!r}") from exc
        except Exception as exc:  # the libraries raise their own DecodeError/FormatError types
            raise DecodingError(f"{self.name} chunk: cannot {what}: {exc}") from exc

    def encode(self, chunk: np.ndarray, params: Mapping[str, Any]) -> bytes:
        check_chunk(chunk, self)
        return bytes(self._compress(np.asfortranarray(chunk[:, :, :, 0])))

    def decode(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        dtype = np.dtype(dtype)
        self._validate(data, shape, dtype)
        arr = np.asarray(self._call("decode", self._decompress, bytes(data)))
        arr = arr.reshape(tuple(shape), order="F") if arr.size == np.prod(shape) else arr
        check_shape(arr, shape, dtype, f"{self.name} chunk")
        return arr if arr.flags.f_contiguous else np.asfortranarray(arr)

    def labels(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any]
    ) -> np.ndarray:
        """Sorted unique labels from the stream's label table (no full decode)."""
        self._validate(data, shape, np.dtype(dtype))
        found = np.asarray(self._call("read labels", self._labels, bytes(data)))
        return np.unique(found.astype(dtype, copy=False))

    def _labels(self, data: bytes) -> np.ndarray:
        return np.asarray(self._lib().labels(data))

    def read_voxel(
        self,
        data: bytes,
        shape: Shape4,
        dtype: np.dtype,
        params: Mapping[str, Any],
        xyz: tuple[int, int, int],
    ) -> np.ndarray:
        """The label at chunk-local ``xyz`` by random access (a 1-element array)."""
        check_xyz(xyz, shape)
        self._validate(data, shape, np.dtype(dtype))
        arr = self._call("open", self._array, bytes(data))
        value = self._call("read a voxel", arr.__getitem__, tuple(int(v) for v in xyz))
        return np.asarray([value], dtype=dtype).reshape(1)

    def contains(
        self, data: bytes, shape: Shape4, dtype: np.dtype, params: Mapping[str, Any], label: int
    ) -> bool:
        """Whether ``label`` occurs, from the label table."""
        self._validate(data, shape, np.dtype(dtype))
        return bool(self._call("search labels", self._contains, bytes(data), int(label)))

    def _contains(self, data: bytes, label: int) -> bool:
        return label in self._array(data)

    def remap(
        self,
        data: bytes,
        shape: Shape4,
        dtype: np.dtype,
        params: Mapping[str, Any],
        mapping: Mapping[int, int],
        preserve_missing_labels: bool = False,
    ) -> bytes:
        """Rewrite the label table without touching the boundary structure."""
        if not preserve_missing_labels:
            present = self.labels(data, shape, dtype, params)
            missing = [int(v) for v in present if int(v) not in mapping]
            if missing:
                raise EncodingError(
                    f"remap of a {self.name} chunk: label {missing[0]} is not in the mapping "
                    "and preserve_missing_labels is off"
                )
        self._validate(data, shape, np.dtype(dtype))
        return bytes(
            self._call(
                "remap",
                self._lib().remap,
                bytes(data),
                {int(k): int(v) for k, v in mapping.items()},
                preserve_missing_labels=preserve_missing_labels,
            )
        )
