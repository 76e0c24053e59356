"""``ShardedKeyStore``: a uint64 key space stored inside the shard files of a :class:`Store`.

Reads cost few requests: per shard one range read of the shard index (cached), per
minishard one range read of its index (cached), then the values' byte ranges, coalesced
where they are adjacent and fetched concurrently with ``Store.get_ranges``. Writes are
read-modify-write of whole shards: each touched shard is read once, merged with the new
values (``None`` deletes a key; a function of the old value gives the new one) and replaced
atomically with one ``Store.put``; different shards are written in parallel. On stores with
conditional writes (``file://``, ``mem://``, S3, GCS) the replacement is a compare-and-swap,
retried from the read when another writer changed the shard in between, so writers in other
processes lose nothing to each other. A shard emptied that way is deleted only if unchanged
(``file://``, ``mem://``); on S3 and GCS, which offer no conditional delete through obstore,
it stays as an empty shard file (its index alone), which every reader sees as holding no
keys. Shards are written in TensorStore's layout; any layout
(cloud-volume's, and the obsolete ``<shard>.index`` + ``<shard>.data`` pair) is read.

Thread safety: one object may be used from many threads. The caches are locked; writes
to one shard are serialized; ``get_many`` retries a read that overlapped this object's
rewrite of one of its shards, and an index fetched across such a rewrite is never cached.
Other writers (other objects, other processes): where the store keeps versions (files,
S3, GCS), a shard's minishard indices and values are read from the version of the shard
its index came from (:meth:`Store.get_pinned_ranges`); a shard replaced since, including
under a cached index, makes ``get_many`` drop that shard's cached indices and read again,
so a read sees one version of each shard, never a mix, and never a stale index's offsets
into a newer file. Answers from indices alone (``exists_many``, ``list_keys``) may be as
old as the cached index until :meth:`ShardedKeyStore.invalidate`. Pickling drops the
caches.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from voxelio.errors import ReadOnlyException, ShardingError, WriteConflictError
from voxelio.sharding.lru import LRUCache
from voxelio.sharding.shardfile import (
    Stored,
    build_shard,
    check_range,
    decode_data,
    decode_minishard_bytes,
    encode_data,
    parse_shard,
    split_entry,
)
from voxelio.sharding.spec import MinishardIndex, ShardingSpec, as_uint64, decode_shard_index
from voxelio.storage.base import (
    NO_OPTIONS,
    Store,
    join_key,
    supports_conditional,
    supports_conditional_delete,
)
from voxelio.storage.retry import swap_until_done

#: a value to write: bytes, or ``(unindexed raw prefix, bytes)`` for mesh manifests
Value = bytes | tuple[bytes, bytes]
#: a new value computed from the key's current one (``None``: absent; returning ``None``
#: deletes), applied under the shard's compare-and-swap (again on every retry)
Update = Callable[[bytes | None], Value | None]
T = TypeVar("T")
R = TypeVar("R")

DEFAULT_INDEX_CACHE_ENTRIES = 1024
DEFAULT_MINISHARD_CACHE_ENTRIES = 8192
DEFAULT_COALESCE_GAP = 16 * 1024
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024
_WRITE_LOCK_STRIPES = 64
_READ_ATTEMPTS = 20
#: range reads of a shard that another writer replaced this many times in a row give way to
#: reads of whole shard files
_CONFLICTS_BEFORE_WHOLE_READS = 3
_EMPTY_MINISHARD = MinishardIndex(
    np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0, np.uint64)
)


@dataclass(frozen=True)
class ShardIndex:
    """A shard's decoded index and where its data lives.

    ``pairs``: ``(2**minishard_bits, 2)`` uint64 (start, end) relative to ``data_base``.
    ``data_key``: the store key holding minishard indices and values (the ``.shard`` file,
    or ``.data`` for the obsolete pair); ``data_base``: byte offset of the data region in it.
    ``version``: the version of the shard file the index was read from (where the store
    keeps versions, :meth:`Store.get_pinned_ranges`); later reads of minishard indices and
    values ask for that version, so they never mix two versions of the shard.
    """

    shard_file: str
    pairs: np.ndarray
    data_key: str
    data_base: int
    legacy: bool = False
    version: Any = None


@dataclass(frozen=True)
class Location:
    """Where one value's stored bytes are: ``[start, end)`` of store key ``data_key``."""

    data_key: str
    start: int
    end: int
    #: the version of ``data_key`` the location was read from (``None``: any)
    version: Any = None


class ShardedKeyStore:
    """uint64 key -> bytes inside the shard files below ``prefix`` of ``store``.

    ``spec`` is the layer's sharding spec; ``prefix`` the directory of the shard files
    relative to the store root (e.g. a scale key ``"8_8_40"``, ``"mesh"``, ``""``).
    ``index_cache_entries`` / ``minishard_cache_entries`` bound the caches of decoded shard
    and minishard indices (missing shards are cached too). ``legacy_layout``: ``None`` looks
    for the obsolete ``.index``/``.data`` pair when a ``.shard`` file is missing, ``False``
    never does. Range reads closer than ``coalesce_gap`` bytes are merged, up to
    ``max_request_bytes`` per request.
    """

    def __init__(
        self,
        store: Store,
        spec: ShardingSpec,
        *,
        prefix: str = "",
        index_cache_entries: int = DEFAULT_INDEX_CACHE_ENTRIES,
        minishard_cache_entries: int = DEFAULT_MINISHARD_CACHE_ENTRIES,
        legacy_layout: bool | None = None,
        coalesce_gap: int = DEFAULT_COALESCE_GAP,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ) -> None:
        self.store = store
        self.spec = spec
        self.prefix = prefix.strip("/")
        self.index_cache_entries = index_cache_entries
        self.minishard_cache_entries = minishard_cache_entries
        self.legacy_layout = legacy_layout
        self.coalesce_gap = coalesce_gap
        self.max_request_bytes = max_request_bytes
        self._shard_cache: LRUCache[int, ShardIndex | None] = LRUCache(index_cache_entries)
        self._minishard_cache: LRUCache[tuple[int, int], MinishardIndex] = LRUCache(
            minishard_cache_entries
        )
        # seqlock per shard: odd while this object rewrites it (readers retry across writes)
        self._seqs: dict[int, int] = {}
        self._global_seq = 0
        self._cond = threading.Condition()
        self._write_locks = tuple(threading.Lock() for _ in range(_WRITE_LOCK_STRIPES))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.store, self.spec, self._options()))

    def _options(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "index_cache_entries": self.index_cache_entries,
            "minishard_cache_entries": self.minishard_cache_entries,
            "legacy_layout": self.legacy_layout,
            "coalesce_gap": self.coalesce_gap,
            "max_request_bytes": self.max_request_bytes,
        }

    def __repr__(self) -> str:
        return f"ShardedKeyStore({self.store!r}, prefix={self.prefix!r}, spec={self.spec!r})"

    # ----------------------------------------------------------------- names
    def shard_key(self, shard_number: int) -> str:
        """Store key of a shard file, e.g. ``"8_8_40/1f.shard"``."""
        return self._key(self.spec.shard_filename(shard_number))

    def _key(self, name: str) -> str:
        return join_key(self.prefix, name) if self.prefix else name

    def _legacy_keys(self, shard_number: int) -> tuple[str, str]:
        base = self.spec.shard_prefix(shard_number)
        return self._key(base + ".index"), self._key(base + ".data")

    # ---------------------------------------------------------------- caches
    def invalidate(self, shard_number: int | None = None) -> None:
        """Forget cached indices of one shard (all shards when ``None``).

        Call it after another process rewrote shards; this object's own writes invalidate
        what they touch.
        """
        with self._cond:
            if shard_number is None:
                self._global_seq += 2
            else:
                self._seqs[shard_number] = self._seqs.get(shard_number, 0) + 2
        self._drop(shard_number)

    def _drop(self, shard_number: int | None) -> None:
        if shard_number is None:
            self._shard_cache.discard_if(lambda _k: True)
            self._minishard_cache.discard_if(lambda _k: True)
        else:
            self._shard_cache.discard_if(lambda k: k == shard_number)
            self._minishard_cache.discard_if(lambda k: k[0] == shard_number)

    def _epoch(self, shard_number: int) -> tuple[int, int]:
        with self._cond:
            return self._seqs.get(shard_number, 0), self._global_seq

    def _unchanged(self, shard_number: int, epoch: tuple[int, int]) -> Callable[[], bool]:
        return lambda: epoch[0] % 2 == 0 and self._epoch(shard_number) == epoch

    def _stable_epochs(self, shards: Iterable[int]) -> dict[int, tuple[int, int]]:
        """Epochs of ``shards``, after waiting for this object's writes to them to finish."""
        wanted = list(shards)
        with self._cond:
            self._cond.wait_for(lambda: all(self._seqs.get(s, 0) % 2 == 0 for s in wanted))
            return {s: (self._seqs.get(s, 0), self._global_seq) for s in wanted}

    def _begin_write(self, shard_number: int) -> None:
        with self._cond:
            self._seqs[shard_number] = self._seqs.get(shard_number, 0) + 1
        self._drop(shard_number)

    def _end_write(self, shard_number: int) -> None:
        self._drop(shard_number)
        with self._cond:
            self._seqs[shard_number] = self._seqs.get(shard_number, 0) + 1
            self._cond.notify_all()

    # ---------------------------------------------------------- shard indices
    def shard_indices(self, shard_numbers: Iterable[int]) -> dict[int, ShardIndex | None]:
        """Decoded shard indices (``None`` for a missing shard), fetched concurrently."""
        out: dict[int, ShardIndex | None] = {}
        todo: list[int] = []
        for shard in dict.fromkeys(int(s) for s in shard_numbers):
            hit, value = self._shard_cache.lookup(shard)
            if hit:
                out[shard] = value
            else:
                todo.append(shard)
        if not todo:
            return out
        epochs = {shard: self._epoch(shard) for shard in todo}
        length = self.spec.index_length
        requests = [(self.shard_key(s), 0, length) for s in todo]
        found = self.store.get_pinned_ranges(requests, {})
        missing = [s for s, (blob, _v) in zip(todo, found) if blob is None]
        legacy = self._legacy_indices(missing)
        for shard, (blob, version) in zip(todo, found):
            if blob is None:
                index = legacy.get(shard)
            else:
                index = self._decode_index(blob, self.shard_key(shard), length, version)
            out[shard] = index
            self._shard_cache.store(shard, index, self._unchanged(shard, epochs[shard]))
        return out

    def _legacy_indices(self, shards: list[int]) -> dict[int, ShardIndex | None]:
        if not shards or self.legacy_layout is False:
            return {}
        keys = [self._legacy_keys(s) for s in shards]
        requests = [(k[0], 0, self.spec.index_length) for k in keys]
        blobs: list[bytes | None] = self.store.get_ranges(requests)
        out: dict[int, ShardIndex | None] = {}
        for shard, (index_key, data_key), blob in zip(shards, keys, blobs):
            if blob is not None:
                pairs = decode_shard_index(blob, self.spec, index_key)
                out[shard] = ShardIndex(index_key, pairs, data_key, 0, legacy=True)
        return out

    def _decode_index(self, blob: bytes, key: str, length: int, version: Any) -> ShardIndex:
        pairs = decode_shard_index(blob, self.spec, key)
        return ShardIndex(key, pairs, key, length, version=version)

    # ------------------------------------------------------ minishard indices
    def minishard_indices(
        self, wanted: Iterable[tuple[int, int]], shards: Mapping[int, ShardIndex | None]
    ) -> dict[tuple[int, int], MinishardIndex]:
        """Decoded minishard indices for ``(shard, minishard)`` pairs of existing shards."""
        out: dict[tuple[int, int], MinishardIndex] = {}
        todo: list[tuple[tuple[int, int], ShardIndex, int, int]] = []
        for shard, minishard in dict.fromkeys(wanted):
            index = shards.get(shard)
            if index is None:
                continue
            hit, value = self._minishard_cache.lookup((shard, minishard))
            if hit and value is not None:
                out[shard, minishard] = value
                continue
            start, end = (int(v) for v in index.pairs[minishard])
            if start == end:
                out[shard, minishard] = _EMPTY_MINISHARD
            else:
                todo.append(((shard, minishard), index, start, end))
        epochs = {item[0]: self._epoch(item[0][0]) for item in todo}
        requests = [(ix.data_key, ix.data_base + s, e - s) for _k, ix, s, e in todo]
        blobs = self._pinned_blobs(requests, [ix for _k, ix, _s, _e in todo])
        for (pair, index, start, end), blob in zip(todo, blobs):
            what = f"minishard {pair[1]} index"
            _check_blob(blob, end - start, index.data_key, start, what)
            assert blob is not None
            decoded = decode_minishard_bytes(blob, self.spec, index.data_key, pair[1])
            out[pair] = decoded
            self._minishard_cache.store(pair, decoded, self._unchanged(pair[0], epochs[pair]))
        return out

    # ------------------------------------------------------------------ reads
    def locate_many(self, keys: Iterable[int] | np.ndarray) -> dict[int, Location | None]:
        """Where each key's stored bytes are (``None`` for absent keys). Absolute offsets."""
        arr = np.unique(key_array(keys))
        if arr.size == 0:
            return {}
        shard_arr, mini_arr = self.spec.shards_and_minishards(arr)
        shards = self.shard_indices(shard_arr.tolist())
        positions: dict[tuple[int, int], list[int]] = {}  # (shard, minishard): key positions
        for i, pair in enumerate(zip(shard_arr.tolist(), mini_arr.tolist())):
            positions.setdefault(pair, []).append(i)
        minis = self.minishard_indices(sorted(positions), shards)
        out: dict[int, Location | None] = dict.fromkeys(arr.tolist())
        for pair, where in positions.items():
            index = shards.get(pair[0])
            if index is not None:
                self._fill_locations(out, arr[where], minis[pair], index)
        return out

    @staticmethod
    def _fill_locations(
        out: dict[int, Location | None], keys: np.ndarray, mini: MinishardIndex, index: ShardIndex
    ) -> None:
        if mini.keys.size == 0:
            return
        pos = np.minimum(np.searchsorted(mini.keys, keys), mini.keys.size - 1)
        hit = mini.keys[pos] == keys
        starts = (mini.starts[pos[hit]] + np.uint64(index.data_base)).tolist()
        ends = (mini.ends[pos[hit]] + np.uint64(index.data_base)).tolist()
        for key, start, end in zip(keys[hit].tolist(), starts, ends):
            out[key] = Location(index.data_key, start, end, index.version)

    def get_many(
        self, keys: Iterable[int] | np.ndarray, *, decode: bool = True
    ) -> dict[int, bytes | None]:
        """``{key: value or None}``; ``decode=False`` returns stored (possibly gzip) bytes.

        Consistent with this object's concurrent writes: a read that overlapped a rewrite of
        one of its shards is retried.
        """
        arr = np.unique(key_array(keys))
        shards = set(self.spec.shards_and_minishards(arr)[0].tolist())
        conflicts = 0
        for _attempt in range(_READ_ATTEMPTS):
            before = self._stable_epochs(shards)
            try:
                if conflicts >= _CONFLICTS_BEFORE_WHOLE_READS:
                    result = self._get_many_from_whole_shards(arr, decode)
                else:
                    result = self._get_many_once(arr, decode)
            except WriteConflictError:  # another writer replaced a shard since its index
                conflicts += 1  # was read: read them again, from their new versions
                for shard in shards:
                    self._drop(shard)
                continue
            except ShardingError:
                if self._stable_epochs(shards) != before:
                    continue
                raise
            if {s: self._epoch(s) for s in shards} == before:
                return result
        raise ShardingError(
            f"{self.store.url}/{self.prefix}: shards kept being rewritten during a read"
        )

    def _get_many_once(self, keys: np.ndarray, decode: bool) -> dict[int, bytes | None]:
        locations = self.locate_many(keys)
        found = {k: loc for k, loc in locations.items() if loc is not None}
        payloads = self.read_locations(found)
        out: dict[int, bytes | None] = dict.fromkeys(locations)
        for key, stored in payloads.items():
            where = f"{found[key].data_key}: key {key}"
            out[key] = decode_data(stored, self.spec, where) if decode else stored
        return out

    def _get_many_from_whole_shards(
        self, keys: np.ndarray, decode: bool
    ) -> dict[int, bytes | None]:
        """``get_many`` from one whole-file read per shard: one version of each by
        construction, for shards another writer keeps replacing between range reads."""
        out: dict[int, bytes | None] = dict.fromkeys(keys.tolist())
        for shard in set(self.spec.shards_and_minishards(keys)[0].tolist()):
            values = self.read_shard(shard, decode=decode)
            out.update({k: values[k] for k in out if k in values})
        return out

    def _pinned_blobs(
        self, requests: list[tuple[str, int, int]], sources: list[ShardIndex] | list[Location]
    ) -> list[bytes | None]:
        """The ranges, each read from the version of its file that ``sources`` (the indices
        or locations they came from) were read from."""
        pins = {src.data_key: src.version for src in sources if src.version is not None}
        return [blob for blob, _v in self.store.get_pinned_ranges(requests, pins)]

    def get(self, key: int) -> bytes | None:
        """The value of one key, or ``None`` when absent."""
        return self.get_many([key])[int(key)]

    def exists_many(self, keys: Iterable[int] | np.ndarray) -> dict[int, bool]:
        """``{key: present}`` from the indices alone (no value bytes are read)."""
        return {k: v is not None for k, v in self.locate_many(keys).items()}

    def read_locations(self, locations: Mapping[int, Location]) -> dict[int, bytes]:
        """Fetch stored bytes for located keys with coalesced, concurrent range reads."""
        spans = coalesce(
            [(loc.data_key, loc.start, loc.end) for loc in locations.values()],
            self.coalesce_gap,
            self.max_request_bytes,
        )
        requests = [(key, s, e - s) for key, s, e in spans]
        blobs = self._pinned_blobs(requests, list(locations.values()))
        out: dict[int, bytes] = {}
        lookup = {span: blob for span, blob in zip(spans, blobs)}
        by_file: dict[str, list[tuple[int, int, bytes | None]]] = {}
        for (key, s, e), blob in lookup.items():
            by_file.setdefault(key, []).append((s, e, blob))
        for item, loc in locations.items():
            s, e, blob = _containing(by_file[loc.data_key], loc.start, loc.end)
            _check_blob(blob, e - s, loc.data_key, s, f"data of key {item}", prefix_ok=True)
            assert blob is not None
            piece = blob[loc.start - s : loc.end - s]
            if len(piece) != loc.end - loc.start:
                raise ShardingError(
                    f"{loc.data_key}: key {item} needs bytes [{loc.start}, {loc.end}) but the "
                    f"shard ends at {s + len(blob)}; the shard is truncated"
                )
            out[item] = piece
        return out

    def list_keys(self, shard_number: int) -> np.ndarray:
        """Sorted uint64 keys stored in one shard (empty when the shard is missing)."""
        index = self.shard_indices([shard_number])[shard_number]
        if index is None:
            return np.zeros(0, np.uint64)
        wanted = [(shard_number, m) for m in np.flatnonzero(index.pairs[:, 1] > index.pairs[:, 0])]
        minis = self.minishard_indices([(s, int(m)) for s, m in wanted], {shard_number: index})
        keys = [m.keys for m in minis.values()]
        return np.unique(np.concatenate(keys)) if keys else np.zeros(0, np.uint64)

    def list_shards(self) -> list[int]:
        """Shard numbers present below ``prefix`` (``.shard`` files and legacy pairs)."""
        found: set[int] = set()
        digits = (self.spec.shard_bits + 3) // 4
        root = self.prefix + "/" if self.prefix else ""
        for key in self.store.list(root):
            name = key[len(root) :]
            stem, dot, ext = name.partition(".")
            if "/" in name or ext not in ("shard", "index") or len(stem) != max(digits, 1):
                continue
            try:
                number = int(stem, 16)
            except ValueError:
                continue
            if number < self.spec.num_shards:
                found.add(number)
        return sorted(found)

    def read_shard(self, shard_number: int, *, decode: bool = True) -> dict[int, bytes]:
        """Every ``{key: value}`` of one shard, from one whole-file read (prefixes dropped)."""
        stored = {k: split_entry(v)[1] for k, v in self._read_whole(shard_number)[0].items()}
        if not decode:
            return stored
        name = self.shard_key(shard_number)
        return {k: decode_data(v, self.spec, f"{name}: key {k}") for k, v in stored.items()}

    def _read_whole(self, shard_number: int) -> tuple[dict[int, Stored], bool]:
        """Stored entries of a shard and whether they came from the obsolete pair."""
        key = self.shard_key(shard_number)
        blob = self.store.get(key)
        if blob is not None:
            return self._parse_whole(blob, key), False
        return self._read_legacy(shard_number)

    def _read_legacy(self, shard_number: int) -> tuple[dict[int, Stored], bool]:
        """The entries of a shard kept in the obsolete ``.index`` + ``.data`` pair, if any."""
        if self.legacy_layout is False:
            return {}, False
        index_key, data_key = self._legacy_keys(shard_number)
        index_blob = self.store.get(index_key)
        if index_blob is None:
            return {}, False
        data_blob = self.store.get(data_key) or b""
        return parse_shard(index_blob, data_blob, self.spec, index_key), True

    def _parse_whole(self, blob: bytes, key: str) -> dict[int, Stored]:
        """The entries of a whole shard file's bytes."""
        length = self.spec.index_length
        if len(blob) < length:
            raise ShardingError(
                f"{key}: shard file is {len(blob)} bytes, shorter than its {length}-byte "
                "index; the shard is truncated"
            )
        return parse_shard(blob[:length], blob[length:], self.spec, key)

    # ----------------------------------------------------------------- writes
    def put_many(
        self, items: Mapping[int, Value | Update | None], *, replace_shards: bool = False
    ) -> None:
        """Write ``{key: value}``; ``None`` deletes, an :data:`Update` computes the value from
        the current one. Touched shards are rewritten whole, by compare-and-swap where the
        store offers it (see the module docstring).

        A value may be ``(prefix, value)``: ``prefix`` is stored raw and unindexed right
        before the (encoded) value, as multi-resolution mesh fragments precede their
        manifest (format notes fact 16); rewrites of the shard keep such prefixes.

        Entries of a touched shard that are not in ``items`` are kept unless
        ``replace_shards`` is true, in which case ``items`` is the full new content of each
        shard it touches (no read). A shard left empty is deleted (on S3 and GCS, after a
        compare-and-swap read, kept as an empty shard: see the module docstring).
        """
        if self.store.read_only:
            raise ReadOnlyException(f"{self.store.url}/{self.prefix}: sharded store is read-only")
        groups = self._group_by_shard(items)
        self._parallel(
            lambda sk: self._write_shard(sk[0], sk[1], replace_shards), list(groups.items())
        )

    def put(self, key: int, value: bytes) -> None:
        """Write one value (a read-modify-write of its shard)."""
        self.put_many({int(key): value})

    def delete_many(self, keys: Iterable[int] | np.ndarray) -> None:
        """Remove keys (rewriting their shards); absent keys are ignored."""
        self.put_many(dict.fromkeys(key_array(keys).tolist()))

    def _group_by_shard(
        self, items: Mapping[int, Value | Update | None]
    ) -> dict[int, dict[int, Stored | Update | None]]:
        keys = as_uint64(np.array(list(items), dtype=object)) if items else np.zeros(0, np.uint64)
        shards, _ = self.spec.shards_and_minishards(keys)
        groups: dict[int, dict[int, Stored | Update | None]] = {}
        for key, original, shard in zip(keys.tolist(), items, shards.tolist()):
            value = items[original]
            groups.setdefault(shard, {})[key] = (
                value if callable(value) else _check_value(key, value)
            )
        return groups

    def _write_shard(
        self, shard: int, updates: dict[int, Stored | Update | None], replace: bool
    ) -> None:
        with self._write_locks[shard % _WRITE_LOCK_STRIPES]:
            self._begin_write(shard)
            try:
                self._rewrite(shard, updates, replace)
            finally:
                self._end_write(shard)

    def _rewrite(
        self, shard: int, updates: dict[int, Stored | Update | None], replace: bool
    ) -> None:
        """Read the shard (unless ``replace``), merge ``updates``, write it back; where the
        store offers it, only if no other writer changed it since the read (else again)."""
        name = self.shard_key(shard)
        cas = not replace and supports_conditional(self.store)
        encoded = {  # once, whatever the retries; updates are applied at each attempt
            key: value if value is None or callable(value) else self._encode(value)
            for key, value in updates.items()
        }

        def attempt() -> None:
            entries, legacy, version = self._read_for_rewrite(shard, replace, cas)
            self._merge(name, entries, encoded)
            self._replace(name, entries, cas, version)
            if legacy:
                self.store.delete_many(self._legacy_keys(shard))

        swap_until_done(attempt, f"{self.store.url}/{name}")

    def _read_for_rewrite(
        self, shard: int, replace: bool, cas: bool
    ) -> tuple[dict[int, Stored], bool, str | None]:
        """A shard's stored entries, whether they came from the obsolete pair, and (with
        ``cas``) the shard file's version, ``None`` when there is no such file; nothing is
        read for ``replace``."""
        if replace:
            return {}, False, None
        if not cas:
            return (*self._read_whole(shard), None)
        key = self.shard_key(shard)
        found = self.store.get_with_version(key)  # type: ignore[attr-defined]
        if found is None:
            return (*self._read_legacy(shard), None)
        blob, version = found
        return self._parse_whole(blob, key), False, version

    def _encode(self, value: Stored) -> Stored:
        """A value as the shard stores it (the data encoding applied; a prefix kept raw)."""
        if isinstance(value, tuple):
            return value[0], encode_data(value[1], self.spec)
        return encode_data(value, self.spec)

    def _merge(
        self, name: str, entries: dict[int, Stored], encoded: dict[int, Stored | Update | None]
    ) -> None:
        """Apply encoded updates to a shard's ``entries`` (in place)."""
        for key, value in encoded.items():
            stored = self._applied(name, key, value, entries.get(key)) if callable(value) else value
            if stored is None:
                entries.pop(key, None)
            else:
                entries[key] = stored

    def _applied(self, name: str, key: int, update: Update, old: Stored | None) -> Stored | None:
        """What ``update`` makes of the stored entry ``old`` of ``key``, encoded."""
        current = (
            None
            if old is None
            else decode_data(split_entry(old)[1], self.spec, f"{name}: key {key}")
        )
        new = _check_value(key, update(current))
        return None if new is None else self._encode(new)

    def _replace(
        self, name: str, entries: dict[int, Stored], cas: bool, version: str | None
    ) -> None:
        """Write the shard file ``name`` holding ``entries`` (deleted when there are none);
        with ``cas``, only if it is still at ``version`` (``None``: still missing). A store
        that cannot delete conditionally (S3, GCS) keeps an emptied shard as an empty shard
        file, written conditionally: an unconditional delete could drop another writer's
        keys written since the read."""
        store: Any = self.store
        if not cas:
            if entries:
                store.put(name, build_shard(entries, self.spec), NO_OPTIONS)
            elif store.exists(name):
                store.delete(name)
        elif entries or (version is not None and not supports_conditional_delete(store)):
            blob = build_shard(entries, self.spec)
            store.put_if(name, blob, NO_OPTIONS, expected_version=version)
        elif version is not None:
            store.delete_if(name, version)

    def _parallel(self, fn: Callable[[T], R], items: list[T]) -> list[R]:
        workers = min(max(1, self.store.concurrency), len(items))
        if workers <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(fn, items))


def _check_value(key: int, value: object) -> Stored | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, (bytes, bytearray, memoryview)) for v in value)
    ):
        return bytes(value[0]), bytes(value[1])
    raise ShardingError(
        f"value of key {key} must be bytes, (prefix, bytes) or None, got {type(value).__name__}"
    )


def _rebuild(store: Store, spec: ShardingSpec, options: dict[str, Any]) -> ShardedKeyStore:
    return ShardedKeyStore(store, spec, **options)


def key_array(keys: Iterable[int] | np.ndarray) -> np.ndarray:
    """Any iterable of uint64 keys as a flat uint64 array (ShardingError for bad keys)."""
    if not isinstance(keys, (np.ndarray, list, tuple)):
        keys = list(keys)
    if isinstance(keys, (list, tuple)):
        keys = np.array(keys, dtype=object) if keys else np.zeros(0, np.uint64)
    return as_uint64(keys).ravel()


def _check_blob(
    blob: bytes | None, length: int, key: str, start: int, what: str, prefix_ok: bool = False
) -> None:
    if blob is None:
        raise ShardingError(f"{key}: {what}: the shard file vanished while it was being read")
    if len(blob) < length and not prefix_ok:
        check_range(start, start + length, start + len(blob), key, what)


def _containing(
    spans: list[tuple[int, int, bytes | None]], start: int, end: int
) -> tuple[int, int, bytes | None]:
    pos = bisect.bisect_right(spans, start, key=lambda span: span[0]) - 1
    if pos >= 0 and spans[pos][1] >= end:
        return spans[pos]
    raise ShardingError(f"internal: no coalesced read covers bytes [{start}, {end})")


def coalesce(
    ranges: Iterable[tuple[str, int, int]], gap: int, max_bytes: int
) -> list[tuple[str, int, int]]:
    """Merge ``(key, start, end)`` byte ranges of the same key that are at most ``gap`` apart.

    A merged range grows to at most ``max_bytes`` (a single larger range stays whole).
    Returns sorted, non-overlapping ranges covering every input range.
    """
    merged: list[tuple[str, int, int]] = []
    for key, start, end in sorted(set(ranges)):
        if merged:
            last_key, last_start, last_end = merged[-1]
            fits = max(end, last_end) - last_start <= max_bytes
            if key == last_key and start <= last_end + gap and (fits or start < last_end):
                merged[-1] = (key, last_start, max(end, last_end))
                continue
        merged.append((key, start, end))
    return merged
