"""Sharding spec maths for ``neuroglancer_uint64_sharded_v1`` (pure values, no I/O).

A sharded key space maps each uint64 key (a chunk's compressed Morton code, a segment id,
an annotation id) to one minishard inside one shard file::

    h         = hash(key >> preshift_bits)          # identity or murmurhash3_x86_128
    minishard = h & (2**minishard_bits - 1)
    shard     = (h >> minishard_bits) & (2**shard_bits - 1)

A shard file starts with the *shard index*: ``2**minishard_bits`` little-endian uint64 pairs
``(start, end)`` giving each minishard index's byte range, counted from the end of the shard
index. A *minishard index* is a C-order ``[3, n]`` uint64le array: key deltas, data start
deltas (from the end of the previous entry's data) and data sizes.

Everything here is a pure function of its arguments; :class:`ShardingSpec` is a frozen,
hashable value, safe to share between threads and cheap to pickle.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import mmh3
import numpy as np

from voxelio.errors import ShardingError

SHARDING_TYPE = "neuroglancer_uint64_sharded_v1"
HashName = Literal["identity", "murmurhash3_x86_128"]
EncodingName = Literal["raw", "gzip"]
HASHES: tuple[HashName, ...] = ("identity", "murmurhash3_x86_128")
ENCODINGS: tuple[EncodingName, ...] = ("raw", "gzip")
_U64 = np.dtype("<u8")
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class ShardingSpec:
    """The ``sharding`` member of an info (scale, mesh, skeleton or annotation index).

    ``preshift_bits`` (0-64): low key bits dropped before hashing, so runs of
    ``2**preshift_bits`` consecutive keys share a minishard. ``hash``: ``"identity"`` (images)
    or ``"murmurhash3_x86_128"`` (labels). ``minishard_bits`` + ``shard_bits`` <= 64.
    Encodings are ``"raw"`` or ``"gzip"``.
    """

    preshift_bits: int
    hash: HashName
    minishard_bits: int
    shard_bits: int
    minishard_index_encoding: EncodingName = "raw"
    data_encoding: EncodingName = "raw"

    def __post_init__(self) -> None:
        for name, low, high in (
            ("preshift_bits", 0, 64),
            ("minishard_bits", 0, 64),
            ("shard_bits", 0, 64),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ShardingError(
                    f"sharding spec: {name} must be an integer in [0, 64], got {value!r}"
                )
        if self.minishard_bits + self.shard_bits > 64:
            raise ShardingError(
                f"sharding spec: minishard_bits + shard_bits must be <= 64, got "
                f"{self.minishard_bits} + {self.shard_bits}"
            )
        if self.hash not in HASHES:
            raise ShardingError(f"sharding spec: hash must be one of {HASHES}, got {self.hash!r}")
        for name in ("minishard_index_encoding", "data_encoding"):
            if getattr(self, name) not in ENCODINGS:
                raise ShardingError(
                    f"sharding spec: {name} must be one of {ENCODINGS}, got {getattr(self, name)!r}"
                )

    # ----------------------------------------------------------------- JSON
    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ShardingSpec:
        """Parse and validate a sharding JSON object; bad fields raise :class:`ShardingError`.

        Enum strings are matched case-insensitively (as Neuroglancer does); both encodings
        default to ``"raw"`` when absent.
        """
        if not isinstance(obj, Mapping):
            raise ShardingError(f"sharding spec must be a JSON object, got {type(obj).__name__}")
        kind = obj.get("@type")
        if kind != SHARDING_TYPE:
            raise ShardingError(f"sharding spec: @type must be {SHARDING_TYPE!r}, got {kind!r}")
        for name in ("preshift_bits", "hash", "minishard_bits", "shard_bits"):
            if name not in obj:
                raise ShardingError(f"sharding spec: required field {name!r} is missing")
        return cls(
            preshift_bits=obj["preshift_bits"],
            hash=_enum(obj, "hash", HASHES, None),  # type: ignore[arg-type]
            minishard_bits=obj["minishard_bits"],
            shard_bits=obj["shard_bits"],
            minishard_index_encoding=_enum(obj, "minishard_index_encoding", ENCODINGS, "raw"),  # type: ignore[arg-type]
            data_encoding=_enum(obj, "data_encoding", ENCODINGS, "raw"),  # type: ignore[arg-type]
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object for an info file (every key present, never ``null``)."""
        return {
            "@type": SHARDING_TYPE,
            "preshift_bits": self.preshift_bits,
            "hash": self.hash,
            "minishard_bits": self.minishard_bits,
            "shard_bits": self.shard_bits,
            "minishard_index_encoding": self.minishard_index_encoding,
            "data_encoding": self.data_encoding,
        }

    # ------------------------------------------------------------ key maths
    @property
    def index_length(self) -> int:
        """Bytes of the shard index at the start of every shard file (``16 << minishard_bits``)."""
        return 16 << self.minishard_bits

    @property
    def num_shards(self) -> int:
        """How many shard numbers exist (``2**shard_bits``)."""
        return 1 << self.shard_bits

    @property
    def num_minishards(self) -> int:
        """Minishards per shard (``2**minishard_bits``)."""
        return 1 << self.minishard_bits

    def hash_key(self, key: int) -> int:
        """The hashed value of ``key >> preshift_bits`` (a Python int below 2**64)."""
        shifted = _check_key(key) >> self.preshift_bits if self.preshift_bits < 64 else 0
        if self.hash == "identity":
            return shifted
        return murmurhash3_x86_128_hash64(shifted)

    def shard_and_minishard(self, key: int) -> tuple[int, int]:
        """``(shard_number, minishard_number)`` of one uint64 ``key``."""
        hashed = self.hash_key(key)
        minishard = hashed & ((1 << self.minishard_bits) - 1)
        shard = (hashed >> self.minishard_bits) & ((1 << self.shard_bits) - 1)
        return shard, minishard

    def hash_keys(self, keys: np.ndarray) -> np.ndarray:
        """Vectorized :meth:`hash_key` over a uint64 array (returns uint64, same shape)."""
        arr = as_uint64(keys)
        shifted = arr >> np.uint64(self.preshift_bits) if self.preshift_bits < 64 else arr * 0
        if self.hash == "identity":
            return shifted
        return murmurhash3_x86_128_hash64_array(shifted)

    def shards_and_minishards(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorized :meth:`shard_and_minishard`: two uint64 arrays shaped like ``keys``."""
        hashed = self.hash_keys(keys)
        minishard = hashed & np.uint64((1 << self.minishard_bits) - 1)
        shifted = (
            hashed >> np.uint64(self.minishard_bits) if self.minishard_bits < 64 else hashed * 0
        )
        shard = shifted & np.uint64((1 << self.shard_bits) - 1)
        return shard, minishard

    def shard_filename(self, shard_number: int) -> str:
        """``"<hex>.shard"``, lowercase hex zero-padded to ``ceil(shard_bits / 4)`` digits."""
        if not 0 <= shard_number < self.num_shards:
            raise ShardingError(
                f"shard number {shard_number} is outside [0, {self.num_shards}) for shard_bits "
                f"{self.shard_bits}"
            )
        digits = (self.shard_bits + 3) // 4
        return format(shard_number, "x").zfill(digits) + ".shard"

    def shard_prefix(self, shard_number: int) -> str:
        """The file name without ``.shard`` (used by the obsolete ``.index``/``.data`` pair)."""
        return self.shard_filename(shard_number)[: -len(".shard")]


def _enum(obj: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = obj.get(name, default)
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ShardingError(f"sharding spec: {name} must be one of {allowed}, got {value!r}")
    return value.lower()


def _check_key(key: int) -> int:
    value = int(key)
    if not 0 <= value <= _MASK64:
        raise ShardingError(f"sharded key {key!r} is not an unsigned 64-bit integer")
    return value


def as_uint64(keys: Any) -> np.ndarray:
    """``keys`` as a uint64 numpy array; negative or non-integer input raises ShardingError."""
    arr = np.asarray(keys)
    if arr.dtype == np.uint64:
        return arr
    if arr.size == 0:
        return arr.astype(np.uint64)
    if arr.dtype.kind not in "iu" and arr.dtype != object:
        raise ShardingError(f"sharded keys must be unsigned integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "i" and (arr < 0).any():
        raise ShardingError("sharded keys must be non-negative")
    if arr.dtype == object:
        return np.array([_check_key(k) for k in arr.ravel()], dtype=np.uint64).reshape(arr.shape)
    return arr.astype(np.uint64)


# ------------------------------------------------------------------ murmurhash
_C1, _C2, _C3, _C4 = 0x239B961B, 0xAB0E9789, 0x38B34AE5, 0xA1E38B93


def murmurhash3_x86_128_hash64(value: int) -> int:
    """Low 64 bits (``h1 | h2 << 32``) of MurmurHash3_x86_128, seed 0, of ``value`` (8 LE bytes)."""
    return int(mmh3.hash64(struct.pack("<Q", value), seed=0, x64arch=False, signed=False)[0])


def murmurhash3_x86_128_hash64_array(values: np.ndarray) -> np.ndarray:
    """Vectorized :func:`murmurhash3_x86_128_hash64` over a uint64 array (numpy, no loop).

    An 8-byte input has no full 16-byte block, so only the tail mixing of ``k1`` (low word)
    and ``k2`` (high word) and the finalization run.
    """
    arr = as_uint64(values)
    low = (arr & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    high = (arr >> np.uint64(32)).astype(np.uint32)
    with np.errstate(over="ignore"):
        k2 = _rotl(high * np.uint32(_C2), 16) * np.uint32(_C3)
        k1 = _rotl(low * np.uint32(_C1), 15) * np.uint32(_C2)
        length = np.uint32(8)
        h1 = k1 ^ length
        h2 = k2 ^ length
        h3 = np.full_like(h1, length)
        h4 = np.full_like(h1, length)
        h1 = h1 + h2 + h3 + h4
        h2 = h2 + h1
        h3 = h3 + h1
        h4 = h4 + h1
        h1, h2, h3, h4 = _fmix32(h1), _fmix32(h2), _fmix32(h3), _fmix32(h4)
        h1 = h1 + h2 + h3 + h4
        h2 = h2 + h1
    return h1.astype(np.uint64) | (h2.astype(np.uint64) << np.uint64(32))


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


# ---------------------------------------------------------------- shard index
def decode_shard_index(data: bytes, spec: ShardingSpec, shard_file: str) -> np.ndarray:
    """Parse a shard index into an ``(2**minishard_bits, 2)`` uint64 array of (start, end).

    Offsets are relative to the end of the shard index. A wrong length or a pair with
    ``end < start`` raises :class:`ShardingError` naming ``shard_file``.
    """
    if len(data) != spec.index_length:
        raise ShardingError(
            f"{shard_file}: shard index is {len(data)} bytes, expected {spec.index_length} "
            f"(minishard_bits={spec.minishard_bits}); the shard is truncated or corrupt"
        )
    pairs = np.frombuffer(data, dtype=_U64).reshape(-1, 2).astype(np.uint64)
    bad = np.nonzero(pairs[:, 1] < pairs[:, 0])[0]
    if bad.size:
        m = int(bad[0])
        raise ShardingError(
            f"{shard_file}: corrupt shard index: minishard {m} has end {int(pairs[m, 1])} "
            f"before start {int(pairs[m, 0])}"
        )
    return pairs


def encode_shard_index(pairs: np.ndarray) -> bytes:
    """Bytes of a shard index from an ``(n, 2)`` array of (start, end) offsets."""
    return np.ascontiguousarray(np.asarray(pairs, dtype=np.uint64), dtype=_U64).tobytes()


# ------------------------------------------------------------ minishard index
@dataclass(frozen=True, eq=False)
class MinishardIndex:
    """A decoded minishard index: parallel uint64 arrays sorted by key.

    ``starts``/``ends`` are byte offsets relative to the end of the shard index.
    Immutable by convention (the arrays are marked read-only); thread safe.
    """

    keys: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    def __len__(self) -> int:
        return int(self.keys.size)

    def lookup(self, key: int) -> tuple[int, int] | None:
        """``(start, end)`` of ``key`` relative to the shard index end, or ``None``."""
        pos = int(np.searchsorted(self.keys, np.uint64(key)))
        if pos < self.keys.size and int(self.keys[pos]) == key:
            return int(self.starts[pos]), int(self.ends[pos])
        return None


def decode_minishard_index(data: bytes, shard_file: str, minishard: int = -1) -> MinishardIndex:
    """Parse decoded (un-gzipped) minishard index bytes; deltas wrap modulo 2**64.

    Raises :class:`ShardingError` naming ``shard_file`` when the length is not a multiple
    of 24 or an entry's size overflows. Entries are returned sorted by key (first of
    duplicates wins, as in Neuroglancer's linear scan).
    """
    where = f"{shard_file}: minishard {minishard}" if minishard >= 0 else shard_file
    if len(data) % 24:
        raise ShardingError(
            f"{where}: corrupt minishard index: {len(data)} bytes is not a multiple of 24"
        )
    rows = np.frombuffer(data, dtype=_U64).reshape(3, -1).astype(np.uint64)
    keys = np.cumsum(rows[0], dtype=np.uint64)
    ends = np.cumsum(rows[1] + rows[2], dtype=np.uint64)
    starts = ends - rows[2]
    if (ends < starts).any():
        raise ShardingError(f"{where}: corrupt minishard index: a chunk's byte range overflows")
    if keys.size > 1 and (keys[1:] <= keys[:-1]).any():
        order = np.argsort(keys, kind="stable")
        keys, starts, ends = keys[order], starts[order], ends[order]
        first = np.concatenate(([True], keys[1:] != keys[:-1]))
        keys, starts, ends = keys[first], starts[first], ends[first]
    for arr in (keys, starts, ends):
        arr.flags.writeable = False
    return MinishardIndex(keys, starts, ends)


def encode_minishard_index(keys: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bytes:
    """Bytes of a minishard index for entries in the given order (write them key-sorted).

    Offsets are relative to the end of the shard index; all deltas wrap modulo 2**64.
    """
    k = as_uint64(keys).ravel()
    s = as_uint64(starts).ravel()
    e = as_uint64(ends).ravel()
    if not k.size == s.size == e.size:
        raise ShardingError("minishard index: keys, starts and ends differ in length")
    with np.errstate(over="ignore"):
        rows = np.empty((3, k.size), dtype=np.uint64)
        rows[0] = np.diff(k, prepend=np.uint64(0))
        prev_end = np.concatenate((np.zeros(1, np.uint64), e[:-1]))
        rows[1] = s - prev_end
        rows[2] = e - s
    return rows.astype(_U64).tobytes()
