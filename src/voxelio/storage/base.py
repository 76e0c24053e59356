"""The ``Store`` interface: bytes by key, for every backend.

A store is rooted at one prefix (a layer directory, usually). Keys are ``/``-separated
relative paths such as ``"8_8_40/0-64_0-64_0-64"``; they never start with ``/`` and never
contain ``..`` segments that climb above the root (:func:`check_key`).

Transport compression belongs to the store: ``put(..., compress="gzip")`` stores the
object compressed (``Content-Encoding`` on the cloud, a ``.gz`` suffix on local disk) and
``get`` always returns the decompressed bytes. Byte-range reads return the stored bytes
(ranges are only used on uncompressed objects such as shard files).

Stores are thread safe and pickle cheaply (they re-open connections lazily after unpickling).
"""

from __future__ import annotations

import builtins
import posixpath
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxelio.compression import Method
from voxelio.errors import PathError, WriteConflictError
from voxelio.storage.buffers import ReadBuffers
from voxelio.storage.pool import ThreadPool

DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True)
class PlainObject:
    """One version of an object stored without transport compression (:meth:`Store.open_plain`).

    ``read(start, length)`` returns exactly ``length`` bytes of that version, or raises
    :class:`StorageError` (the object was replaced, truncated or deleted meanwhile, where the
    store can tell). ``close()`` frees what the store holds for it (a file descriptor)."""

    size: int
    read: Callable[[int, int], bytes]
    close: Callable[[], None] = lambda: None

    @classmethod
    def of(cls, data: bytes) -> PlainObject:
        """An object held in memory (nothing to close)."""
        return cls(len(data), lambda start, length: data[start : start + length])


@dataclass(frozen=True)
class PutOptions:
    """Per-object options of an upload.

    ``compress``: transport compression (``None``, ``"gzip"``, ``"br"``, ``"zstd"``).
    ``compress_level``: its level (method default when ``None``).
    ``content_type``: MIME type; ``cache_control``: the ``Cache-Control`` header value.
    ``unpublished``: no reader can reach the key yet (it lies in a new directory that the
    writer publishes later with one atomic put, as annotation indices before their info), so
    local files are written in place, without a temporary file (7x faster in a directory of
    30,000 files) and without looking for compressed twins.
    """

    compress: Method | None = None
    compress_level: int | None = None
    content_type: str | None = None
    cache_control: str | None = None
    unpublished: bool = False


NO_OPTIONS = PutOptions()


def cache_control_header(cdn_cache: bool | int | str | None) -> str:
    """cloud-volume's ``cdn_cache`` as a ``Cache-Control`` value.

    ``True``/``None``: one hour; ``False``/``0``: ``no-cache``; an int: that many seconds;
    a string: used as is.
    """
    if cdn_cache is None or cdn_cache is True:
        return "max-age=3600, s-max-age=3600"
    if cdn_cache is False:
        return "no-cache"
    if isinstance(cdn_cache, str):
        return cdn_cache
    if isinstance(cdn_cache, int):
        if cdn_cache < 0:
            raise ValueError(f"cdn_cache must be >= 0 seconds, a bool or a string, got {cdn_cache}")
        return "no-cache" if cdn_cache == 0 else f"max-age={cdn_cache}, s-max-age={cdn_cache}"
    raise TypeError(f"cdn_cache must be a bool, int seconds or str, got {cdn_cache!r}")


def check_key(key: str) -> str:
    """Return ``key`` normalized, or raise :class:`PathError` if it escapes the store root."""
    if not isinstance(key, str) or key == "":
        raise PathError(f"storage key must be a non-empty string, got {key!r}")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise PathError(f"storage key {key!r} must be relative and use '/' separators")
    norm = posixpath.normpath(key)
    if norm == ".." or norm.startswith("../") or norm == ".":
        raise PathError(f"storage key {key!r} resolves outside the layer root")
    return norm


def join_key(*parts: str) -> str:
    """Join key segments with ``/`` and normalize (``"a/b", "../c"`` gives ``"a/c"``)."""
    return check_key(posixpath.join(*[p for p in parts if p]))


def supports_conditional(store: Store) -> bool:
    """Whether ``store`` offers conditional writes (``get_with_version`` and ``put_if``)."""
    return _offers(store, "conditional", "put_if")


def supports_conditional_delete(store: Store) -> bool:
    """Whether ``store`` can delete a key only if it is unchanged (``delete_if``): local
    files and memory. S3 and GCS cannot through obstore, which sends no ``If-Match`` on
    deletes."""
    return _offers(store, "conditional_delete", "delete_if")


def _offers(store: Store, flag: str, method: str) -> bool:
    """The store's ``flag`` property where it has one (wrappers decide by their inner store),
    else whether it has ``method``."""
    value = getattr(store, flag, None)
    return bool(value) if value is not None else hasattr(store, method)


def check_version(where: str, expected: str | None, found: str | None) -> None:
    """Raise :class:`WriteConflictError` naming ``where`` unless the object is still at
    ``expected`` (``None``: missing), as a conditional write or delete requires."""
    if found != expected:
        raise WriteConflictError(
            f"{where}: the object changed since it was read "
            f"(expected version {expected}, found {found})"
        )


class Store(ABC):
    """Bytes by key below one root. See the module docstring for the contract."""

    #: the root as a URL, e.g. ``file:///data/layer`` or ``s3://bucket/layer``
    url: str
    #: True when puts and deletes are refused (http, redirected layers)
    read_only: bool = False
    #: how many requests ``get_many``/``put_many`` run at once
    concurrency: int = DEFAULT_CONCURRENCY
    #: requests wait on a network: worth overlapping on threads. Local stores (files,
    #: memory) serve the bulk calls in the calling thread, where a thread hand-off costs
    #: more than the read
    networked: bool = True

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The decompressed object at ``key``, or ``None`` when it does not exist."""

    def get_into(self, key: str, buffers: ReadBuffers) -> bytes | memoryview | None:
        """Like :meth:`get`, but the bytes may be a view of this thread's buffer in
        ``buffers``, valid only until the thread's next ``get_into`` with them.

        For callers that consume the bytes at once; stores that read into memory they own
        (local files) override it, the others return :meth:`get`.
        """
        return self.get(key)

    def read_box_into(
        self,
        key: str,
        shape: tuple[int, int, int, int],
        origin: tuple[int, int, int],
        out: np.ndarray,
        buffers: ReadBuffers,
    ) -> bool:
        """Copy into ``out`` the box at voxel ``origin`` (with ``out``'s extent, every channel)
        of the object at ``key``, which should be a Fortran-ordered ``[x, y, z, c]`` array of
        ``shape`` and ``out``'s dtype stored plainly (no header, no compression); ``out``'s x
        axis must be contiguous. Only the bytes of the box are read where the store can.

        ``False`` when it did not (``out`` is then undefined): the object is missing, stored
        compressed or of another size, or this store does not read boxes (the default). The
        caller then reads the whole object, whose checks report what is wrong.
        """
        return False

    @abstractmethod
    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        """``length`` stored bytes of ``key`` from ``start``; ``None`` when the object is missing.

        Returns fewer bytes only if the object ends sooner; callers check lengths.
        """

    @abstractmethod
    def put(self, key: str, data: bytes, options: PutOptions = NO_OPTIONS) -> None:
        """Store ``data`` at ``key`` atomically: readers see the old or new object, never half."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` (and any compressed twin); missing keys are not an error."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` exists (under any transport-compression suffix)."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys below ``prefix`` (recursive), without compression suffixes, in no set order."""

    def size(self, key: str) -> int | None:
        """Stored size of ``key`` in bytes, or ``None`` when missing. Default: fetch it."""
        data = self.get(key)
        return None if data is None else len(data)

    def open_plain(self, key: str) -> PlainObject | None:
        """``key`` as stored, when it is stored without transport compression (so that its
        byte ranges are ranges of what :meth:`get` returns), pinned to the version found now;
        ``None`` when it is missing, stored compressed, or the store cannot tell without
        reading it (the default). Close what it returns."""
        return None

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes | None]:
        """Fetch many keys with at most ``concurrency`` requests in flight."""
        return dict(self._map(lambda k: (k, self.get(k)), list(keys)))

    def get_ranges(self, requests: Iterable[tuple[str, int, int]]) -> builtins.list[bytes | None]:
        """Many ``get_range(key, start, length)`` calls at once, results in request order."""
        return self._map(lambda r: self.get_range(*r), list(requests))

    def get_pinned_ranges(
        self, requests: Iterable[tuple[str, int, int]], pins: Mapping[str, Any]
    ) -> builtins.list[tuple[bytes | None, Any]]:
        """``get_ranges`` that also gives each object's version, an opaque token (``None``
        where the store keeps none), and reads the version ``pins[key]`` where one is given:
        an object replaced or deleted since raises :class:`WriteConflictError`. Several
        reads of one object pinned to the version its first read gave see one version of
        it (a shard's index, then its data). Stores without versions read as
        :meth:`get_ranges` does."""
        return [(blob, None) for blob in self.get_ranges(requests)]

    def put_many(self, items: Mapping[str, bytes], options: PutOptions = NO_OPTIONS) -> None:
        """Upload many objects with bounded concurrency; the first failure is raised."""
        self._map(lambda kv: self.put(kv[0], kv[1], options), list(items.items()))

    def delete_many(self, keys: Iterable[str]) -> None:
        """Delete many keys with bounded concurrency."""
        self._map(self.delete, list(keys))

    def exists_many(self, keys: Iterable[str]) -> dict[str, bool]:
        """``{key: exists}`` for many keys."""
        return dict(self._map(lambda k: (k, self.exists(k)), list(keys)))

    def _map(self, fn, items: builtins.list):  # type: ignore[no-untyped-def]
        pool: ThreadPool | None = self.__dict__.get("_pool")
        if pool is None:
            pool = self.__dict__.setdefault("_pool", ThreadPool("voxelio-store"))
        if len(items) <= 1 or self.concurrency <= 1 or not self.networked or pool.in_worker():
            return [fn(item) for item in items]
        return list(pool.executor(self.concurrency).map(fn, items))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
