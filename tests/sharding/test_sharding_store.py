"""ShardedKeyStore over real MemoryStore / FileStore backends."""

from __future__ import annotations

import pickle
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.sharding.helpers import CountingStore, random_items
from voxelio.errors import ReadOnlyException, ShardingError
from voxelio.sharding.shardfile import build_shard, encode_data
from voxelio.sharding.spec import ShardingSpec
from voxelio.sharding.store import ShardedKeyStore, coalesce
from voxelio.storage.file import FileStore
from voxelio.storage.mem import MemorySpace, MemoryStore

SPECS = [
    ShardingSpec(0, "identity", 0, 0),
    ShardingSpec(2, "identity", 2, 3, "gzip", "gzip"),
    ShardingSpec(0, "murmurhash3_x86_128", 3, 2, "raw", "gzip"),
    ShardingSpec(1, "murmurhash3_x86_128", 1, 5, "gzip", "raw"),
]


@pytest.fixture
def mem() -> MemoryStore:
    return MemoryStore("layer", space=MemorySpace())


@pytest.fixture
def files(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "layer")


@pytest.mark.parametrize("spec", SPECS, ids=str)
@pytest.mark.parametrize("backend", ["mem", "files"])
def test_round_trip_read_modify_write(
    spec: ShardingSpec, backend: str, request: pytest.FixtureRequest
) -> None:
    store = request.getfixturevalue(backend)
    rng = np.random.default_rng(1)
    sharded = ShardedKeyStore(store, spec, prefix="scale")
    first = random_items(rng, [int(k) for k in rng.integers(0, 5000, 120)])
    sharded.put_many(first)
    second = random_items(rng, list(first)[:30] + [2**64 - 1, 123456789012345])
    deleted = list(first)[30:40]
    sharded.put_many({**second, **dict.fromkeys(deleted)})
    expected = {**first, **second}
    for key in deleted:
        expected.pop(key)
    probe = list(expected) + deleted + [5001, 77777]
    for reader in (sharded, ShardedKeyStore(store, spec, prefix="scale")):
        got = reader.get_many(probe)
        assert got == {k: expected.get(k) for k in probe}
    assert sharded.get(2**64 - 1) == expected[2**64 - 1]
    listed = np.concatenate([sharded.list_keys(s) for s in sharded.list_shards()])
    assert sorted(listed.tolist()) == sorted(expected)
    assert all(k.startswith("scale/") and k.endswith(".shard") for k in store.list())


def test_deleting_every_key_removes_the_shard(mem: MemoryStore) -> None:
    sharded = ShardedKeyStore(mem, ShardingSpec(0, "identity", 1, 1))
    sharded.put_many({0: b"a", 2: b"b", 1: b"c"})
    assert sorted(mem.list()) == ["0.shard", "1.shard"]
    sharded.delete_many(iter([2, 7]))  # shard 1 holds only key 2
    assert sorted(mem.list()) == ["0.shard"]
    assert sharded.get_many([0, 1, 2]) == {0: b"a", 1: b"c", 2: None}
    sharded.delete_many(np.array([0, 1], np.uint64))
    assert list(mem.list()) == []
    assert sharded.list_keys(0).size == 0 and sharded.list_shards() == []


def test_replace_shards_does_not_read_and_drops_old_entries(mem: MemoryStore) -> None:
    counting = CountingStore(mem)
    sharded = ShardedKeyStore(counting, ShardingSpec(0, "identity", 2, 0))
    sharded.put_many({1: b"one", 2: b"two"})
    counting.reset()
    sharded.put_many({3: b"three"}, replace_shards=True)
    assert counting.calls == {"put": 1}
    assert sharded.get_many([1, 2, 3]) == {1: None, 2: None, 3: b"three"}


def test_request_counts_for_a_cold_then_warm_read(files: FileStore) -> None:
    spec = ShardingSpec(4, "identity", 2, 2, "gzip", "raw")
    ShardedKeyStore(files, spec).put_many({k: bytes([k % 256]) * 100 for k in range(256)})
    counting = CountingStore(files)
    sharded = ShardedKeyStore(counting, spec)
    keys = list(range(32, 40))  # one minishard of one shard, adjacent in the file
    got = sharded.get_many(keys)
    assert got == {k: bytes([k]) * 100 for k in keys}
    assert counting.calls == {"get_range": 3}  # shard index, minishard index, one data read
    assert [r[2] for r in counting.ranges] == [spec.index_length, counting.ranges[1][2], 800]
    counting.reset()
    assert sharded.get_many(keys) == got
    assert counting.calls == {"get_range": 1}
    counting.reset()
    assert sharded.exists_many([33, 100000]) == {33: True, 100000: False}
    # key 100000 lives in shard 2, minishard 2: its shard index and minishard index, no data
    assert counting.calls == {"get_range": 2}


def test_missing_shard_is_cached_and_costs_one_request_per_layout(mem: MemoryStore) -> None:
    counting = CountingStore(mem)
    sharded = ShardedKeyStore(counting, ShardingSpec(0, "identity", 0, 4))
    assert sharded.get(3) is None
    assert counting.calls == {"get_range": 2}  # .shard, then the obsolete .index
    assert sharded.get(3) is None
    assert counting.calls == {"get_range": 2}
    strict = ShardedKeyStore(CountingStore(mem), sharded.spec, legacy_layout=False)
    assert strict.get(3) is None
    assert strict.store.calls == {"get_range": 1}  # type: ignore[attr-defined]


def test_caches_are_invalidated_by_own_writes_and_on_request(mem: MemoryStore) -> None:
    spec = ShardingSpec(0, "identity", 1, 0)
    writer = ShardedKeyStore(mem, spec)
    other = ShardedKeyStore(mem, spec)
    writer.put_many({1: b"old", 2: b"x"})
    assert writer.get(1) == b"old" and other.get(1) == b"old"
    writer.put_many({1: b"new, longer value", 3: b"y"})
    assert writer.get_many([1, 2, 3]) == {1: b"new, longer value", 2: b"x", 3: b"y"}
    other.invalidate()
    assert other.get_many([1, 3]) == {1: b"new, longer value", 3: b"y"}


def test_cache_bounds_hold(mem: MemoryStore) -> None:
    spec = ShardingSpec(0, "identity", 2, 4)
    ShardedKeyStore(mem, spec).put_many({k: b"v" for k in range(64)})
    small = ShardedKeyStore(mem, spec, index_cache_entries=3, minishard_cache_entries=5)
    assert small.get_many(range(64)) == {k: b"v" for k in range(64)}
    assert len(small._shard_cache) == 3 and len(small._minishard_cache) == 5


def test_concurrent_readers_and_a_writer(mem: MemoryStore) -> None:
    spec = ShardingSpec(1, "identity", 2, 2, "gzip", "gzip")
    sharded = ShardedKeyStore(mem, spec)
    sharded.put_many({k: b"%d" % k for k in range(200)})

    def read(_: int) -> bool:
        return sharded.get_many(range(0, 100)) == {k: b"%d" % k for k in range(100)}

    with ThreadPoolExecutor(4) as pool:
        results = pool.map(read, range(20))
        sharded.put_many({k: b"w%d" % k for k in range(100, 200)})
    assert all(results)
    assert sharded.get_many([150]) == {150: b"w150"}


def test_pickle_and_read_only(tmp_path: Path) -> None:
    spec = ShardingSpec(0, "identity", 1, 1)
    sharded = ShardedKeyStore(FileStore(tmp_path), spec, prefix="a/b", coalesce_gap=0)
    sharded.put_many({5: b"five"})
    clone = pickle.loads(pickle.dumps(sharded))
    assert clone.get(5) == b"five" and clone.coalesce_gap == 0 and clone.prefix == "a/b"
    assert (tmp_path / "a/b/0.shard").is_file()  # key 5: minishard 1, shard 0
    ro = ShardedKeyStore(FileStore(tmp_path, read_only=True), spec, prefix="a/b")
    assert ro.get(5) == b"five"
    with pytest.raises(ReadOnlyException):
        ro.put_many({5: b"x"})


def test_bad_values_and_keys(mem: MemoryStore) -> None:
    sharded = ShardedKeyStore(mem, ShardingSpec(0, "identity", 0, 0))
    with pytest.raises(ShardingError, match="key 3 must be bytes"):
        sharded.put_many({3: "text"})  # type: ignore[dict-item]
    with pytest.raises(ShardingError, match="non-negative|unsigned"):
        sharded.get_many([-1])
    assert list(mem.list()) == []


def test_legacy_index_data_pair_is_read_and_migrated(mem: MemoryStore) -> None:
    spec = ShardingSpec(0, "murmurhash3_x86_128", 2, 0, "gzip", "gzip")
    items = {k: b"v%d" % k for k in range(20)}
    whole = build_shard({k: encode_data(v, spec) for k, v in items.items()}, spec)
    mem.put("0.index", whole[: spec.index_length])
    mem.put("0.data", whole[spec.index_length :])
    sharded = ShardedKeyStore(mem, spec)
    assert sharded.get_many(range(25)) == {k: items.get(k) for k in range(25)}
    assert sharded.list_shards() == [0]
    assert sharded.read_shard(0) == items
    sharded.put_many({3: b"new"})
    assert sorted(mem.list()) == ["0.shard"]
    assert sharded.get_many([2, 3]) == {2: b"v2", 3: b"new"}


def test_reads_any_piece_order(mem: MemoryStore) -> None:
    """A shard laid out as [index][all data][all minishard indices] (cloud-volume style)."""
    from voxelio.sharding.shardfile import encode_minishard_bytes
    from voxelio.sharding.spec import encode_shard_index

    spec = ShardingSpec(0, "identity", 1, 0, "gzip", "raw")
    items = {0: b"zero", 1: b"one", 2: b"two", 5: b"five"}
    data = b"".join(items[k] for k in (0, 2, 1, 5))
    u64 = np.uint64
    even = encode_minishard_bytes(
        np.array([0, 2], u64), np.array([0, 4], u64), np.array([4, 7], u64), spec
    )
    odd = encode_minishard_bytes(
        np.array([1, 5], u64), np.array([7, 10], u64), np.array([10, 14], u64), spec
    )
    pairs = np.array([[14, 14 + len(even)], [14 + len(even), 14 + len(even) + len(odd)]])
    mem.put("0.shard", encode_shard_index(pairs) + data + even + odd)
    assert ShardedKeyStore(mem, spec).get_many([0, 1, 2, 3, 5]) == {**items, 3: None}


def _one_shard(mem: MemoryStore | FileStore, spec: ShardingSpec) -> bytes:
    ShardedKeyStore(mem, spec).put_many({k: b"%04d" % k for k in range(40)})
    data = mem.get("0.shard")
    assert data is not None
    return data


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[:10], "0.shard.*truncated"),
        (lambda b: b[: len(b) - 30], "0.shard.*truncated"),
        (lambda b: (2**40).to_bytes(8, "little") + b[8:], "0.shard.*minishard 0"),
        (lambda b: b[:8] + (2**40).to_bytes(8, "little") + b[16:], "0.shard.*minishard 0"),
        (lambda b: b[:16] + b[16:64] + b"\xff" * 8 + b[72:], "0.shard"),
    ],
)
@pytest.mark.parametrize("kind", ["mem", "files"])
def test_corrupt_or_truncated_shards_raise(kind: str, damage, message: str,  # type: ignore[no-untyped-def]
                                           request: pytest.FixtureRequest) -> None:  # fmt: skip
    """Also from files: a range 1 TiB long, asked for by a damaged index, allocates nothing
    (it was a bare MemoryError)."""
    store = request.getfixturevalue(kind)
    spec = ShardingSpec(0, "identity", 3, 0, "gzip", "raw")
    store.put("0.shard", damage(_one_shard(store, spec)))
    fresh = ShardedKeyStore(store, spec)
    with pytest.raises(ShardingError, match=message):
        fresh.get_many(range(40))
    with pytest.raises(ShardingError, match=message):
        fresh.put_many({1: b"x"})  # never silently overwrite a damaged shard


def test_corrupt_gzip_minishard_index_and_data(mem: MemoryStore) -> None:
    spec = ShardingSpec(0, "identity", 0, 0, "gzip", "gzip")
    blob = bytearray(_one_shard(mem, spec))
    start, end = np.frombuffer(bytes(blob[:16]), "<u8").tolist()
    bad_index = (
        bytes(blob[: 16 + start])
        + b"\x1f\x8b"
        + b"\0" * (end - start - 2)
        + bytes(blob[16 + end :])
    )
    mem.put("0.shard", bad_index)
    with pytest.raises(ShardingError, match="0.shard.*minishard 0.*gzip"):
        ShardedKeyStore(mem, spec).get(3)
    blob[16:20] = b"\0\0\0\0"  # first value's gzip header
    mem.put("0.shard", bytes(blob))
    with pytest.raises(ShardingError, match="0.shard: key 0: data: corrupt gzip"):
        ShardedKeyStore(mem, spec).get(0)


def test_coalesce() -> None:
    ranges = [
        ("a", 0, 10),
        ("a", 10, 20),
        ("a", 25, 30),
        ("a", 100, 110),
        ("b", 0, 5),
        ("a", 0, 10),
    ]
    assert coalesce(ranges, 0, 1000) == [("a", 0, 20), ("a", 25, 30), ("a", 100, 110), ("b", 0, 5)]
    assert coalesce(ranges, 5, 1000) == [("a", 0, 30), ("a", 100, 110), ("b", 0, 5)]
    assert coalesce(ranges, 100, 25) == [("a", 0, 20), ("a", 25, 30), ("a", 100, 110), ("b", 0, 5)]
    assert coalesce([("a", 0, 50), ("a", 10, 20)], 0, 10) == [("a", 0, 50)]


def test_unindexed_prefixes_are_written_raw_and_kept_on_rewrite(mem: MemoryStore) -> None:
    """Mesh layout (fact 16): fragment bytes sit raw right before their gzip'd manifest."""
    spec = ShardingSpec(0, "murmurhash3_x86_128", 1, 0, "gzip", "gzip")
    sharded = ShardedKeyStore(mem, spec)
    sharded.put_many({7: (b"FRAGMENTS-7", b"manifest 7"), 9: b"plain 9"})
    sharded.put_many({11: (b"FRAGMENTS-11", b"manifest 11")})  # rewrite keeps key 7's prefix
    assert sharded.get_many([7, 9, 11]) == {7: b"manifest 7", 9: b"plain 9", 11: b"manifest 11"}
    for key in (7, 11):
        loc = sharded.locate_many([key])[key]
        assert loc is not None
        frag = b"FRAGMENTS-%d" % key
        assert mem.get_range(loc.data_key, loc.start - len(frag), len(frag)) == frag
    assert sharded.read_shard(0) == {7: b"manifest 7", 9: b"plain 9", 11: b"manifest 11"}
    with pytest.raises(ShardingError, match="key 5 must be bytes, \\(prefix, bytes\\)"):
        sharded.put_many({5: (b"a", b"b", b"c")})  # type: ignore[dict-item]


@pytest.mark.parametrize("backend", ["mem", "files"])
def test_a_write_that_loses_the_race_for_its_shard_is_merged_again(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """Two writers of one shard (two objects, as two processes would have): the other one
    writes while this one is between its read and its write; this one's conditional write
    fails, it reads again and re-applies its update, and both writes survive."""
    store = request.getfixturevalue(backend)
    spec = ShardingSpec(0, "identity", 1, 0, "gzip", "gzip")  # one shard
    mine, other = ShardedKeyStore(store, spec), ShardedKeyStore(store, spec)
    mine.put_many({1: b"one", 2: b"two"})
    seen: list[bytes | None] = []

    def update(current: bytes | None) -> bytes:
        seen.append(current)
        if len(seen) == 1:  # the other writer gets in between, once
            other.put_many({3: b"three", 1: b"ONE"})
        return (current or b"") + b"+mine"

    mine.put_many({1: update, 4: b"four"})
    assert seen == [b"one", b"ONE"]  # re-applied to what the other wrote
    mine.invalidate()
    assert mine.get_many([1, 2, 3, 4]) == {1: b"ONE+mine", 2: b"two", 3: b"three", 4: b"four"}


class _NoConditionalDelete(CountingStore):
    """Conditional writes but no conditional delete, as S3 and GCS through obstore."""

    conditional_delete = False


@pytest.mark.parametrize("can_delete", [True, False], ids=["delete_if", "no-delete_if"])
@pytest.mark.parametrize("backend", ["mem", "files"])
def test_a_shard_emptied_while_another_writer_adds_a_key_keeps_that_key(
    backend: str, can_delete: bool, request: pytest.FixtureRequest
) -> None:
    """This writer deletes every key of a shard; the other adds one between this one's read
    and its write. An unconditional delete of the emptied shard would lose the other's key:
    the shard is deleted only if unchanged, or (no conditional delete) replaced by an empty
    shard only if unchanged, so this writer reads again and the key survives."""
    inner = request.getfixturevalue(backend)
    store = CountingStore(inner) if can_delete else _NoConditionalDelete(inner)
    spec = ShardingSpec(0, "identity", 1, 0, "gzip", "gzip")  # one shard
    mine, other = ShardedKeyStore(store, spec), ShardedKeyStore(inner, spec)
    mine.put_many({1: b"one", 2: b"two"})
    interleaved: list[int] = []

    def gone(current: bytes | None) -> None:
        if not interleaved:  # the other writer gets in between, once
            interleaved.append(3)
            other.put_many({3: b"three"})

    store.reset()
    mine.put_many({1: gone, 2: None})
    assert store.calls["get_with_version"] == 2  # the first swap lost and was done again
    assert store.calls["delete_if" if can_delete else "put_if"] >= 1
    mine.invalidate()
    assert mine.get_many([1, 2, 3]) == {1: None, 2: None, 3: b"three"}
    mine.put_many({3: None})  # empty now, with nobody in between
    name = mine.shard_key(0)
    if can_delete:
        assert not inner.exists(name)
    else:  # an empty shard: its index alone, every minishard empty
        assert inner.get(name) == bytes(spec.index_length)
        assert mine.get_many([1, 3]) == {1: None, 3: None} and mine.list_keys(0).size == 0


def test_an_update_can_delete_and_sees_a_missing_key_as_none(mem: MemoryStore) -> None:
    sharded = ShardedKeyStore(mem, SPECS[1])
    sharded.put_many({5: b"five"})
    sharded.put_many({5: lambda current: None, 6: lambda current: repr(current).encode()})
    assert sharded.get_many([5, 6]) == {5: None, 6: b"None"}
    with pytest.raises(ShardingError, match="value of key 7"):
        sharded.put_many({7: lambda current: 7})


def test_requests_of_conditional_and_whole_shard_writes(mem: MemoryStore) -> None:
    store = CountingStore(mem)  # passes put_if on: a store with conditional writes
    sharded = ShardedKeyStore(store, ShardingSpec(0, "identity", 1, 1))  # keys 0-1, 2-3: 2 shards

    def calls(items: dict, **kw: bool) -> dict[str, int]:
        store.reset()
        sharded.put_many(items, **kw)
        return dict(store.calls)

    # a new shard: its versioned read finds nothing, the obsolete pair is looked for once
    assert calls({0: b"a"}) == {"get_with_version": 1, "get": 1, "put_if": 1}
    assert calls({1: b"b"}) == {"get_with_version": 1, "put_if": 1}
    assert calls({2: b"c", 3: b"d"}, replace_shards=True) == {"put": 1}  # no read
    assert calls({0: None, 1: None}) == {"get_with_version": 1, "delete_if": 1}
    assert sharded.get_many([0, 1, 2, 3]) == {0: None, 1: None, 2: b"c", 3: b"d"}


def test_file_lock_directory_is_open_to_every_user(files: FileStore) -> None:
    """Conditional writes on file:// lock through files in one directory of the machine's
    temporary directory: every user must be able to add lock files there (mode 1777)."""
    ShardedKeyStore(files, SPECS[0]).put_many({1: b"x"})  # a compare-and-swap shard write
    locks = Path(tempfile.gettempdir()) / "voxelio-locks"
    assert locks.stat().st_mode & 0o1777 == 0o1777


def test_a_reader_never_uses_a_stale_index_on_a_shard_another_writer_replaced(
    files: FileStore,
) -> None:
    """A reader that cached a shard's indices, then another writer (another object, as another
    process) rewrote the shard: the reader's next read asks for the version its index came
    from, finds the shard replaced, and reads the new one. Raw data, so reading a stale
    index's offsets in the new file would have returned another key's bytes silently."""
    spec = ShardingSpec(0, "identity", 1, 0, "raw", "raw")
    ShardedKeyStore(files, spec).put_many({1: b"one" * 10})
    reader = ShardedKeyStore(files, spec)
    assert reader.get(1) == b"one" * 10  # indices now cached
    ShardedKeyStore(files, spec).put_many({0: b"zero" * 20})  # key 0 lands before key 1
    assert reader.get(1) == b"one" * 10
    assert reader.get_many([0, 1]) == {0: b"zero" * 20, 1: b"one" * 10}
    ShardedKeyStore(files, spec).delete_many([0, 1])
    assert reader.get_many([0, 1]) == {0: None, 1: None}


def test_pinned_range_reads_refuse_another_version(files: FileStore) -> None:
    from voxelio.errors import WriteConflictError

    files.put("a", b"first version")
    [(blob, version)] = files.get_pinned_ranges([("a", 0, 5)], {})
    assert blob == b"first" and version is not None
    assert files.get_pinned_ranges([("a", 6, 7)], {"a": version}) == [(b"version", version)]
    files.put("a", b"other version")
    with pytest.raises(WriteConflictError, match="replaced since it was read"):
        files.get_pinned_ranges([("a", 0, 5)], {"a": version})
    files.delete("a")
    with pytest.raises(WriteConflictError, match="deleted since it was read"):
        files.get_pinned_ranges([("a", 0, 5)], {"a": version})
    assert files.get_pinned_ranges([("a", 0, 5)], {}) == [(None, None)]


def test_a_shard_replaced_between_every_index_and_data_read_is_read_whole(
    files: FileStore,
) -> None:
    """A writer that replaces the shard between each read of its index and of its data
    (here: every pinned read finds another version) leaves the reader whole-file reads,
    which see one version by construction."""
    from voxelio.errors import WriteConflictError

    spec = ShardingSpec(0, "identity", 1, 0, "gzip", "raw")
    items = {k: b"%04d" % k for k in range(10)}
    ShardedKeyStore(files, spec).put_many(items)
    conflicts = []

    class Rewritten(FileStore):
        def get_pinned_ranges(self, requests, pins):  # type: ignore[no-untyped-def]
            if pins:
                conflicts.append(pins)
                raise WriteConflictError("replaced since it was read")
            return super().get_pinned_ranges(requests, pins)

    reader = ShardedKeyStore(Rewritten(files.root), spec)
    assert reader.get_many([1, 5, 42]) == {1: b"0001", 5: b"0005", 42: None}
    assert len(conflicts) == 3
