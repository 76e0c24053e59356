"""Compare-and-swap on the local stores: ``put_if`` and ``delete_if`` on file:// and mem://,
and through the caches that wrap them."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from voxelio.cache.disk import DiskCacheStore
from voxelio.cache.lru import LRU, LRUStore
from voxelio.errors import WriteConflictError
from voxelio.storage import PutOptions
from voxelio.storage.base import supports_conditional, supports_conditional_delete
from voxelio.storage.file import FileStore
from voxelio.storage.mem import MemorySpace, MemoryStore
from voxelio.storage.retry import CONFLICT_RETRY, RetryPolicy, swap_until_done


@pytest.fixture(params=["file", "mem"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A local store (typed ``Any``: the conditional methods are not in the interface)."""
    if request.param == "file":
        return FileStore(tmp_path / "layer")
    return MemoryStore("layer", space=MemorySpace())


def test_put_if_and_delete_if(store: Any) -> None:
    assert supports_conditional(store) and supports_conditional_delete(store)
    v1 = store.put_if("k", b"one")
    with pytest.raises(WriteConflictError, match="k: the object changed since it was read"):
        store.put_if("k", b"again")  # it exists already
    assert store.get_with_version("k") == (b"one", v1)
    v2 = store.put_if("k", b"two", PutOptions(compress="gzip"), expected_version=v1)
    with pytest.raises(WriteConflictError, match="expected version"):
        store.delete_if("k", v1)  # a stale version
    assert store.get("k") == b"two"  # a refused delete leaves the object
    store.delete_if("k", v2)
    assert store.get("k") is None and list(store.list()) == []  # the .gz twin is gone too
    store.delete_if("k", v2)  # already gone counts as deleted


def test_caches_pass_conditional_deletes_on(store: Any, tmp_path: Path) -> None:
    caches: list[Any] = [LRUStore(store, LRU(1 << 20)), DiskCacheStore(store, tmp_path / "cache")]
    for cached in caches:
        assert supports_conditional_delete(cached)
        version = cached.put_if("c", b"x")
        assert cached.get("c") == b"x"  # cached now
        cached.delete_if("c", version)
        assert cached.get("c") is None  # not served from the cache


def test_a_swap_that_keeps_losing_gives_up_naming_the_object() -> None:
    tries: list[int] = []

    def lose() -> None:
        tries.append(len(tries))
        raise WriteConflictError("another writer won")

    with pytest.raises(WriteConflictError, match="layer/k: gave up after 3 conflicting"):
        swap_until_done(lose, "layer/k", RetryPolicy(attempts=3, base_delay=0.0))
    assert tries == [0, 1, 2]
    assert swap_until_done(lambda: "done", "layer/k") == "done"
    with pytest.raises(WriteConflictError, match="after 1 conflicting .*another writer won"):
        swap_until_done(lose, "layer/k", RetryPolicy(attempts=9, base_delay=1.0, budget=0.0))
    rng = random.Random(1)
    early = [CONFLICT_RETRY.delay(1, rng) for _ in range(200)]
    late = [CONFLICT_RETRY.delay(30, rng) for _ in range(200)]
    assert max(early) <= 0.002 < max(late) <= 0.5  # waits grow with the losses, capped
