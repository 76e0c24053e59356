"""Sharded mesh storage: locate a segment in a shard, and write multires mesh shards.

A sharded multi-resolution mesh stores, under key ``segid``, the manifest (encoded with the
spec's ``data_encoding``); the segment's fragment data sits *raw* in the bytes immediately
before it (format fact 16). A generic shard writer would drop those bytes, so mesh shards
are rebuilt here: the layout is the shard index, then per minishard (increasing) each
segment's ``fragment data + stored manifest`` (increasing segid) and the minishard index.

Reads fetch only what they need with byte ranges (16 bytes of shard index, one minishard
index, then the manifest or data). Functions take a :class:`~voxelio.storage.base.Store`
rooted at the mesh directory; they hold no state and are thread safe (concurrent writers of
the *same* shard must be serialized by the caller).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from voxelio.errors import MeshDecodeError, ShardingError
from voxelio.meshes.multires import MultiresManifest
from voxelio.sharding.shardfile import (
    check_range,
    decode_data,
    decode_minishard_bytes,
    encode_data,
    encode_minishard_bytes,
)
from voxelio.sharding.spec import ShardingSpec, decode_shard_index, encode_shard_index
from voxelio.storage.base import Store


@dataclass(frozen=True)
class ShardLocation:
    """Where a key's stored value lives: ``shard_file`` and absolute byte range ``[start, end)``."""

    shard_file: str
    start: int
    end: int


def locate(store: Store, spec: ShardingSpec, key: int) -> ShardLocation | None:
    """Find ``key`` in its shard, or ``None`` when the shard or the key is absent."""
    shard, minishard = spec.shard_and_minishard(key)
    shard_file = spec.shard_filename(shard)
    pair = store.get_range(shard_file, 16 * minishard, 16)
    if pair is None or len(pair) == 0:
        return None
    if len(pair) != 16:
        raise ShardingError(f"{shard_file}: shard index is truncated (minishard {minishard})")
    start, end = (int(v) for v in np.frombuffer(pair, dtype="<u8"))
    if start == end:
        return None
    if end < start:
        raise ShardingError(f"{shard_file}: minishard {minishard} index ends before it starts")
    raw = store.get_range(shard_file, spec.index_length + start, end - start)
    if raw is None or len(raw) != end - start:
        raise ShardingError(f"{shard_file}: minishard {minishard} index is truncated")
    found = decode_minishard_bytes(raw, spec, shard_file, minishard).lookup(key)
    if found is None:
        return None
    return ShardLocation(shard_file, spec.index_length + found[0], spec.index_length + found[1])


def read_value(store: Store, spec: ShardingSpec, key: int) -> tuple[ShardLocation, bytes] | None:
    """``(location, decoded value)`` of ``key``, or ``None`` when absent."""
    loc = locate(store, spec, key)
    if loc is None:
        return None
    stored = store.get_range(loc.shard_file, loc.start, loc.end - loc.start)
    if stored is None or len(stored) != loc.end - loc.start:
        raise ShardingError(
            f"{loc.shard_file}: key {key} data [{loc.start}, {loc.end}) is truncated"
        )
    return loc, decode_data(stored, spec, f"{loc.shard_file}: key {key}")


def _entries_of(
    shard: bytes, spec: ShardingSpec, shard_file: str
) -> dict[int, tuple[bytes, bytes]]:
    """Multires entries of an existing shard as ``{segid: (fragment data, stored manifest)}``."""
    pairs = decode_shard_index(shard[: spec.index_length], spec, shard_file)
    data = shard[spec.index_length :]
    out: dict[int, tuple[bytes, bytes]] = {}
    for minishard in np.flatnonzero(pairs[:, 1] > pairs[:, 0]).tolist():
        start, end = (int(v) for v in pairs[minishard])
        check_range(start, end, len(data), shard_file, f"minishard {minishard} index")
        index = decode_minishard_bytes(data[start:end], spec, shard_file, minishard)
        for key, s, e in zip(index.keys.tolist(), index.starts.tolist(), index.ends.tolist()):
            check_range(s, e, len(data), shard_file, f"key {key}")
            stored = data[s:e]
            manifest = MultiresManifest.from_bytes(
                decode_data(stored, spec, f"{shard_file}: key {key}"), key
            )
            length = manifest.data_length
            if length > s:
                raise MeshDecodeError(
                    f"segment {key}: {shard_file}: manifest needs {length} bytes of fragment "
                    f"data before offset {s}, which the shard does not have"
                )
            out[key] = (data[s - length : s], stored)
    return out


def build_multires_shard(entries: Mapping[int, tuple[bytes, bytes]], spec: ShardingSpec) -> bytes:
    """One shard file from ``{segid: (fragment data, stored manifest)}`` (same shard)."""
    keys = np.array(sorted(entries), dtype=np.uint64)
    _, minishards = spec.shards_and_minishards(keys)
    pairs = np.zeros((spec.num_minishards, 2), dtype=np.uint64)
    parts: list[bytes] = []
    pos = 0
    for minishard in np.unique(minishards).tolist():
        mkeys = keys[minishards == minishard]
        starts, ends = [], []
        for key in mkeys.tolist():
            frag, stored = entries[key]
            parts.extend((frag, stored))
            pos += len(frag)
            starts.append(pos)
            pos += len(stored)
            ends.append(pos)
        index = encode_minishard_bytes(
            mkeys, np.array(starts, np.uint64), np.array(ends, np.uint64), spec
        )
        pairs[minishard] = (pos, pos + len(index))
        parts.append(index)
        pos += len(index)
    return encode_shard_index(pairs) + b"".join(parts)


def _group_by_shard(spec: ShardingSpec, keys: Iterable[int]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for key in keys:
        groups.setdefault(spec.shard_filename(spec.shard_and_minishard(key)[0]), []).append(key)
    return groups


def write_multires(
    store: Store, spec: ShardingSpec, items: Mapping[int, tuple[MultiresManifest, bytes]]
) -> None:
    """Merge ``{segid: (manifest, fragment data)}`` into their shards (read-modify-write)."""
    for shard_file, keys in _group_by_shard(spec, items).items():
        old = store.get(shard_file)
        entries = _entries_of(old, spec, shard_file) if old else {}
        for key in keys:
            manifest, data = items[key]
            entries[key] = (data, encode_data(manifest.to_bytes(), spec))
        store.put(shard_file, build_multires_shard(entries, spec))


def delete_multires(store: Store, spec: ShardingSpec, segids: Iterable[int]) -> None:
    """Remove segments from their shards; a shard left empty is deleted."""
    for shard_file, keys in _group_by_shard(spec, segids).items():
        old = store.get(shard_file)
        if not old:
            continue
        entries = _entries_of(old, spec, shard_file)
        for key in keys:
            entries.pop(key, None)
        if entries:
            store.put(shard_file, build_multires_shard(entries, spec))
        else:
            store.delete(shard_file)
