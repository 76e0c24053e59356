"""``StoreWrapper``: a store adapter that passes what it does not change to an inner store.

The disk cache, the LRU and the request-counting stores of the tests and the benchmark wrap a
store; this base holds what they share: metadata and listing go to the inner store (the
authority), and conditional writes are offered when the inner store offers them and the
wrapper passes them on.
"""

from __future__ import annotations

from collections.abc import Iterator

from voxelio.storage.base import (
    PlainObject,
    Store,
    supports_conditional,
    supports_conditional_delete,
)


class StoreWrapper(Store):
    """A store in front of ``inner``; subclasses override the calls they serve themselves."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.url = inner.url
        self.read_only = inner.read_only
        self.concurrency = inner.concurrency
        self.networked = inner.networked

    def exists(self, key: str) -> bool:
        """Asks the inner store (a cache may hold objects deleted since)."""
        return self.inner.exists(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        return self.inner.list(prefix)

    def size(self, key: str) -> int | None:
        return self.inner.size(key)

    def open_plain(self, key: str) -> PlainObject | None:
        return self.inner.open_plain(key)

    @property
    def conditional(self) -> bool:
        """Whether conditional writes (``put_if``) are offered: when the inner store offers
        them and this wrapper passes them on (a wrapper that caches must also drop the key)."""
        return supports_conditional(self.inner) and hasattr(self, "put_if")

    @property
    def conditional_delete(self) -> bool:
        """Whether conditional deletes (``delete_if``) are offered, on the same terms."""
        return supports_conditional_delete(self.inner) and hasattr(self, "delete_if")

    def get_with_version(self, key: str) -> tuple[bytes, str] | None:
        """The inner store's ``get_with_version`` (never served from a cache)."""
        return self.inner.get_with_version(key)  # type: ignore[attr-defined, no-any-return]
