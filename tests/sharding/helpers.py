"""Test helpers: a request-counting store wrapper and small data makers."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import numpy as np

from voxelio.storage.base import NO_OPTIONS, PutOptions, Store
from voxelio.storage.wrapper import StoreWrapper


class CountingStore(StoreWrapper):
    """Wraps a real store and counts the requests that reach it, by method."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.calls: Counter[str] = Counter()
        self.ranges: list[tuple[str, int, int]] = []
        self._lock = threading.Lock()

    def _count(self, name: str) -> None:
        with self._lock:
            self.calls[name] += 1

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.ranges.clear()

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def get(self, key: str) -> bytes | None:
        self._count("get")
        return self.inner.get(key)

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        self._count("get_range")
        with self._lock:
            self.ranges.append((key, start, length))
        return self.inner.get_range(key, start, length)

    def put(self, key: str, data: bytes, options: PutOptions = NO_OPTIONS) -> None:
        self._count("put")
        assert options == NO_OPTIONS, "shard files must never be transport-compressed"
        self.inner.put(key, data, options)

    def get_with_version(self, key: str) -> tuple[bytes, str] | None:
        self._count("get_with_version")
        return super().get_with_version(key)

    def put_if(
        self, key: str, data: bytes, options: PutOptions = NO_OPTIONS, expected_version=None
    ) -> str:  # type: ignore[no-untyped-def]
        self._count("put_if")
        assert options == NO_OPTIONS, "shard files must never be transport-compressed"
        return self.inner.put_if(key, data, options, expected_version)  # type: ignore[attr-defined]

    def delete(self, key: str) -> None:
        self._count("delete")
        self.inner.delete(key)

    def delete_if(self, key: str, expected_version: str) -> None:
        self._count("delete_if")
        self.inner.delete_if(key, expected_version)  # type: ignore[attr-defined]

    def exists(self, key: str) -> bool:
        self._count("exists")
        return self.inner.exists(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        self._count("list")
        return self.inner.list(prefix)


def random_items(rng: np.random.Generator, keys: list[int], max_len: int = 64) -> dict[int, bytes]:
    """``{key: random bytes}`` with lengths in ``[0, max_len)`` (zero-length values included)."""
    return {k: rng.bytes(int(rng.integers(0, max_len))) for k in keys}
