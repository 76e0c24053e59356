"""Whole shard files: build one from ``{key: bytes}`` and take one apart (no I/O).

The layout written is TensorStore's (format notes §2.5): the shard index, then for each
non-empty minishard in increasing order its entries in increasing key order followed by its
(encoded) minishard index. Empty minishards get the index pair ``(0, 0)``. Any layout is
read (cloud-volume puts all data first and all minishard indices last): the parser only
follows offsets, and checks each one against the file size.

Entry values handled here are *stored* payloads: already gzip-encoded when the spec's
``data_encoding`` is gzip (:func:`encode_data` / :func:`decode_data` convert). Pure
functions, thread safe.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np

from voxelio.compression import compress
from voxelio.errors import ShardingError
from voxelio.sharding.spec import (
    MinishardIndex,
    ShardingSpec,
    decode_minishard_index,
    decode_shard_index,
    encode_minishard_index,
    encode_shard_index,
)

#: a stored entry: payload bytes, or ``(unindexed prefix, payload)``
Stored = bytes | tuple[bytes, bytes]


def gzip_exact(data: bytes) -> bytes:
    """gzip at zlib level 9 with an mtime of 0: TensorStore's exact bytes for small indices."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


def gunzip(stored: bytes, where: str) -> bytes:
    """Decode a gzip stream with zlib (CRC and length checked); ShardingError names ``where``.

    zlib is used rather than ``voxelio.compression`` because libdeflate's one-shot
    ``gzip_decompress`` (deflate 0.9) returns ``b""`` for garbage whose trailer says 0 bytes.
    """
    try:
        return zlib.decompress(stored, 47)
    except zlib.error as exc:
        raise ShardingError(f"{where}: corrupt gzip stream ({exc})") from exc


def encode_data(value: bytes, spec: ShardingSpec) -> bytes:
    """The stored form of one value under ``spec.data_encoding``."""
    if spec.data_encoding == "gzip":
        return compress(value, "gzip", 9)
    return bytes(value)


def decode_data(stored: bytes, spec: ShardingSpec, where: str) -> bytes:
    """Undo :func:`encode_data`; a corrupt gzip stream raises ShardingError naming ``where``."""
    if spec.data_encoding != "gzip":
        return stored
    return gunzip(stored, f"{where}: data")


def decode_minishard_bytes(
    stored: bytes, spec: ShardingSpec, shard_file: str, minishard: int
) -> MinishardIndex:
    """Decode a minishard index as stored (gzip-decoding it when the spec says so)."""
    raw = stored
    if spec.minishard_index_encoding == "gzip":
        raw = gunzip(stored, f"{shard_file}: minishard {minishard} index")
    return decode_minishard_index(raw, shard_file, minishard)


def encode_minishard_bytes(
    keys: np.ndarray, starts: np.ndarray, ends: np.ndarray, spec: ShardingSpec
) -> bytes:
    """Encode a minishard index and apply ``spec.minishard_index_encoding``."""
    raw = encode_minishard_index(keys, starts, ends)
    return gzip_exact(raw) if spec.minishard_index_encoding == "gzip" else raw


def build_shard(entries: Mapping[int, Stored], spec: ShardingSpec) -> bytes:
    """One shard file (TensorStore layout) holding ``entries`` (stored payloads).

    A value may be a pair ``(prefix, payload)``: ``prefix`` is written, unindexed and never
    encoded, immediately before ``payload`` (multi-resolution mesh fragments before their
    manifest, format notes fact 16). Every key must belong to the same shard. No entries
    give an empty shard: its index alone, every minishard empty (readers find no keys).
    """
    if not entries:
        return bytes(spec.index_length)
    keys = np.array(sorted(entries), dtype=np.uint64)
    shards, minishards = spec.shards_and_minishards(keys)
    if (shards != shards[0]).any():
        raise ShardingError("build_shard: entries belong to more than one shard")
    pairs = np.zeros((spec.num_minishards, 2), dtype=np.uint64)
    parts: list[bytes] = []
    pos = 0
    order = np.argsort(minishards, kind="stable")
    for group in np.split(order, np.flatnonzero(np.diff(minishards[order])) + 1):
        mkeys = keys[group]
        starts = np.empty(mkeys.size, np.uint64)
        ends = np.empty(mkeys.size, np.uint64)
        for i, key in enumerate(mkeys.tolist()):
            prefix, payload = split_entry(entries[key])
            parts.extend((prefix, payload))
            starts[i] = pos + len(prefix)
            pos += len(prefix) + len(payload)
            ends[i] = pos
        index = encode_minishard_bytes(mkeys, starts, ends, spec)
        pairs[int(minishards[group[0]])] = (pos, pos + len(index))
        parts.append(index)
        pos += len(index)
    return encode_shard_index(pairs) + b"".join(parts)


def split_entry(entry: Stored) -> tuple[bytes, bytes]:
    """``(unindexed prefix, payload)`` of a stored entry (the prefix is ``b""`` for bytes)."""
    if isinstance(entry, tuple):
        return bytes(entry[0]), bytes(entry[1])
    return b"", bytes(entry)


def parse_shard(
    index_bytes: bytes, data: bytes, spec: ShardingSpec, shard_file: str
) -> dict[int, Stored]:
    """Every entry of a shard as ``{key: stored payload}``.

    ``index_bytes`` is the shard index and ``data`` everything after it (for the obsolete
    layout: the ``.index`` and ``.data`` files). Bytes claimed by no entry and no minishard
    index that sit right before an entry are returned with it as ``(prefix, payload)``, so
    a rewrite keeps mesh fragment data. Out-of-range offsets raise ShardingError.
    """
    pairs = decode_shard_index(index_bytes, spec, shard_file)
    claimed: list[tuple[int, int, int | None]] = []
    for minishard in np.flatnonzero(pairs[:, 1] > pairs[:, 0]):
        start, end = (int(v) for v in pairs[minishard])
        check_range(start, end, len(data), shard_file, f"minishard {minishard} index")
        claimed.append((start, end, None))
        index = decode_minishard_bytes(data[start:end], spec, shard_file, int(minishard))
        for key, s, e in zip(index.keys.tolist(), index.starts.tolist(), index.ends.tolist()):
            check_range(s, e, len(data), shard_file, f"key {key}")
            claimed.append((s, e, key))
    out: dict[int, Stored] = {}
    covered = 0
    for start, end, key in sorted(claimed, key=lambda c: (c[0], c[1])):
        if key is not None and key not in out:
            payload = data[start:end]
            out[key] = (data[covered:start], payload) if start > covered else payload
        covered = max(covered, end)
    return out


def check_range(start: int, end: int, size: int, shard_file: str, what: str) -> None:
    """Raise ShardingError unless ``[start, end)`` lies within ``size`` bytes of shard data."""
    if not 0 <= start <= end <= size:
        raise ShardingError(
            f"{shard_file}: {what} points at bytes [{start}, {end}) after the shard index, "
            f"but only {size} data bytes exist; the shard is truncated or corrupt"
        )
