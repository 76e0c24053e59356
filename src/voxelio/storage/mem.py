"""In-memory store (``mem://``): one dictionary shared by every volume in the process.

Like cloud-volume's ``mem://``, data written by one ``CloudVolume("mem://a/b")`` is seen by
another in the same process. The shared space is a :class:`MemorySpace`; the process-wide
one is created on first use (not at import) and lives on :class:`MemorySpace` itself.
Objects are stored with their transport compression and decompressed on ``get``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

from voxelio.compression import Method, compress, decompress
from voxelio.storage.base import (
    NO_OPTIONS,
    PlainObject,
    PutOptions,
    Store,
    check_key,
    check_version,
)


class MemorySpace:
    """A thread-safe ``{full key: (bytes, compression)}`` map."""

    _default: MemorySpace | None = None
    _default_lock = threading.Lock()

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, Method | None]] = {}
        self.lock = threading.Lock()

    @classmethod
    def default(cls) -> MemorySpace:
        """The process-wide space shared by every ``mem://`` path."""
        with cls._default_lock:
            if cls._default is None:
                cls._default = MemorySpace()
            return cls._default


class MemoryStore(Store):
    """Keys below ``prefix`` in a :class:`MemorySpace` (the process-wide one by default)."""

    networked = False

    def __init__(self, prefix: str, space: MemorySpace | None = None) -> None:
        self.prefix = prefix.strip("/")
        self.url = "mem://" + self.prefix
        self.space = space or MemorySpace.default()

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (MemoryStore, (self.prefix,))

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{check_key(key)}" if self.prefix else check_key(key)

    def get(self, key: str) -> bytes | None:
        entry = self.space.objects.get(self._full(key))
        if entry is None:
            return None
        return decompress(entry[0], entry[1], self.url + "/" + key)

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        entry = self.space.objects.get(self._full(key))
        return None if entry is None else entry[0][start : start + length]

    def size(self, key: str) -> int | None:
        entry = self.space.objects.get(self._full(key))
        return None if entry is None else len(entry[0])

    def open_plain(self, key: str) -> PlainObject | None:
        entry = self.space.objects.get(self._full(key))
        if entry is None or entry[1] is not None:
            return None
        return PlainObject.of(entry[0])  # a later put replaces the entry, not these bytes

    def put(self, key: str, data: bytes, options: PutOptions = NO_OPTIONS) -> None:
        payload = compress(data, options.compress, options.compress_level)
        with self.space.lock:
            self.space.objects[self._full(key)] = (payload, options.compress)

    def delete(self, key: str) -> None:
        with self.space.lock:
            self.space.objects.pop(self._full(key), None)

    def exists(self, key: str) -> bool:
        return self._full(key) in self.space.objects

    def list(self, prefix: str = "") -> Iterator[str]:
        root = f"{self.prefix}/" if self.prefix else ""
        with self.space.lock:
            keys = list(self.space.objects)
        for full in keys:
            if full.startswith(root) and full[len(root) :].startswith(prefix):
                yield full[len(root) :]

    def get_with_version(self, key: str) -> tuple[bytes, str] | None:
        """``(decompressed bytes, version)`` of ``key`` or ``None`` (version: SHA-256 of the
        stored bytes); pass the version to :meth:`put_if`."""
        entry = self.space.objects.get(self._full(key))
        if entry is None:
            return None
        data = decompress(entry[0], entry[1], self.url + "/" + key)
        return data, hashlib.sha256(entry[0]).hexdigest()

    def put_if(
        self,
        key: str,
        data: bytes,
        options: PutOptions = NO_OPTIONS,
        expected_version: str | None = None,
    ) -> str:
        """Write ``key`` only if it is still at ``expected_version`` (``None``: missing);
        atomic against every thread of the process. Returns the new version; raises
        :class:`WriteConflictError` when another writer won."""
        payload = compress(data, options.compress, options.compress_level)
        full = self._full(key)
        with self.space.lock:
            check_version(f"{self.url}/{key}", expected_version, self._version(full))
            self.space.objects[full] = (payload, options.compress)
        return hashlib.sha256(payload).hexdigest()

    def delete_if(self, key: str, expected_version: str) -> None:
        """Delete ``key`` only if it is still at ``expected_version`` (a key already gone
        counts as deleted); raises :class:`WriteConflictError` when another writer changed it."""
        full = self._full(key)
        with self.space.lock:
            found = self._version(full)
            if found is not None:
                check_version(f"{self.url}/{key}", expected_version, found)
                del self.space.objects[full]

    def _version(self, full: str) -> str | None:
        """The version of the object at the full key ``full`` (``None``: missing)."""
        entry = self.space.objects.get(full)
        return None if entry is None else hashlib.sha256(entry[0]).hexdigest()
