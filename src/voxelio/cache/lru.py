"""The in-memory LRU: a byte-bounded cache of stored objects, and a store adapter using it.

:class:`LRU` keeps at most ``size`` bytes of values (the sum of ``len(value)``); adding a value
evicts the least recently used ones until the total fits, and a value larger than the whole
bound is never kept, so memory stays within the bound under any access pattern (plus a small
per-entry overhead). :class:`LRUStore` wraps a :class:`~voxelio.storage.Store` and caches what
``get`` and ``get_range`` return, i.e. chunks as stored (cloud-volume's ``lru_encoding="same"``):
encoded chunks are several times smaller than decoded ones, so a byte bound holds more chunks,
and decoding them is cheap next to fetching them. Writes and deletes through the adapter drop
the affected entries. Both classes are thread safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator

from voxelio.storage.base import NO_OPTIONS, PutOptions, Store
from voxelio.storage.wrapper import StoreWrapper


class LRU:
    """A least-recently-used map of ``bytes`` values bounded by their total size in bytes."""

    def __init__(self, size: int = 0) -> None:
        if int(size) < 0:
            raise ValueError(f"LRU size must be >= 0 bytes, got {size}")
        self.size = int(size)
        self._data: OrderedDict[Hashable, bytes] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    @property
    def nbytes(self) -> int:
        """Total bytes of the values held."""
        return self._nbytes

    def get(self, key: Hashable, default: bytes | None = None) -> bytes | None:
        """The value of ``key`` (marking it most recently used), or ``default``."""
        with self._lock:
            value = self._data.get(key)
            if value is None:
                return default
            self._data.move_to_end(key)
            return value

    def set(self, key: Hashable, value: bytes) -> None:
        """Store ``value`` under ``key``, evicting old entries to stay within ``size``."""
        with self._lock:
            self._pop(key)
            if len(value) > self.size:
                return
            self._data[key] = value
            self._nbytes += len(value)
            self._evict(self.size)

    __setitem__ = set

    def __getitem__(self, key: Hashable) -> bytes:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def pop(self, key: Hashable, default: bytes | None = None) -> bytes | None:
        """Remove ``key`` and return its value (``default`` when absent)."""
        with self._lock:
            value = self._pop(key)
            return default if value is None else value

    def _pop(self, key: Hashable) -> bytes | None:
        value = self._data.pop(key, None)
        if value is not None:
            self._nbytes -= len(value)
        return value

    def _evict(self, bound: int) -> None:
        while self._nbytes > bound and self._data:
            _, value = self._data.popitem(last=False)
            self._nbytes -= len(value)

    def resize(self, size: int) -> None:
        """Change the bound to ``size`` bytes, evicting as needed."""
        if int(size) < 0:
            raise ValueError(f"LRU size must be >= 0 bytes, got {size}")
        with self._lock:
            self.size = int(size)
            self._evict(self.size)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._data.clear()
            self._nbytes = 0

    def keys(self) -> list[Hashable]:
        """Keys from least to most recently used."""
        with self._lock:
            return list(self._data)

    def items(self) -> Iterator[tuple[Hashable, bytes]]:
        """``(key, value)`` pairs from least to most recently used (a snapshot)."""
        with self._lock:
            snapshot = list(self._data.items())
        return iter(snapshot)

    def __getstate__(self) -> dict[str, int]:
        return {"size": self.size}  # a copy in another process starts empty

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__init__(state["size"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"LRU(size={self.size}, len={len(self)}, nbytes={self.nbytes})"


class LRUStore(StoreWrapper):
    """``store`` with an :class:`LRU` in front of ``get`` and ``get_range``.

    Entries are keyed ``(key, None)`` for whole objects and ``(key, (start, length))`` for
    ranges (shard indexes and minishards), so sharded reads are cached too.
    """

    def __init__(self, store: Store, lru: LRU) -> None:
        super().__init__(store)
        self.lru = lru
        self._ranges: dict[str, set[tuple[int, int]]] = {}
        self._lock = threading.Lock()

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (LRUStore, (self.inner, self.lru))

    def get(self, key: str) -> bytes | None:
        cached = self.lru.get((key, None))
        if cached is not None:
            return cached
        data = self.inner.get(key)
        if data is not None:
            self.lru.set((key, None), data)
        return data

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        entry = (key, (start, length))
        cached = self.lru.get(entry)
        if cached is not None:
            return cached
        data = self.inner.get_range(key, start, length)
        if data is not None:
            self.lru.set(entry, data)
            with self._lock:
                self._ranges.setdefault(key, set()).add((start, length))
        return data

    def _forget(self, key: str) -> None:
        self.lru.pop((key, None))
        with self._lock:
            ranges = self._ranges.pop(key, set())
        for rng in ranges:
            self.lru.pop((key, rng))

    def put(self, key: str, data: bytes, options: PutOptions = NO_OPTIONS) -> None:
        self._forget(key)
        self.inner.put(key, data, options)

    def delete(self, key: str) -> None:
        self._forget(key)
        self.inner.delete(key)

    def put_if(
        self,
        key: str,
        data: bytes,
        options: PutOptions = NO_OPTIONS,
        expected_version: str | None = None,
    ) -> str:
        """The wrapped store's ``put_if``, dropping the cached entries of ``key`` first."""
        self._forget(key)
        return self.inner.put_if(key, data, options, expected_version)  # type: ignore[attr-defined, no-any-return]

    def delete_if(self, key: str, expected_version: str) -> None:
        """The wrapped store's ``delete_if``, dropping the cached entries of ``key`` first."""
        self._forget(key)
        self.inner.delete_if(key, expected_version)  # type: ignore[attr-defined]
