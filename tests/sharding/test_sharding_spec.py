"""ShardingSpec: JSON, key maths, hashes and index encodings."""

from __future__ import annotations

import pickle
import struct

import mmh3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxelio.errors import ShardingError
from voxelio.sharding.spec import (
    ShardingSpec,
    decode_minishard_index,
    decode_shard_index,
    encode_minishard_index,
    encode_shard_index,
    murmurhash3_x86_128_hash64,
    murmurhash3_x86_128_hash64_array,
)

U64 = st.integers(min_value=0, max_value=2**64 - 1)
BASE = {
    "@type": "neuroglancer_uint64_sharded_v1",
    "preshift_bits": 9,
    "hash": "identity",
    "minishard_bits": 6,
    "shard_bits": 15,
    "minishard_index_encoding": "gzip",
    "data_encoding": "gzip",
}


@pytest.mark.parametrize(
    "value, expected",
    [(0, 0x4772B084E028AE41), (1, 0xE8BD67D616D4CE9A), (12345, 0x1D31307E3A65E510)],
)
def test_murmur_golden_vectors(value: int, expected: int) -> None:
    assert murmurhash3_x86_128_hash64(value) == expected
    arr = murmurhash3_x86_128_hash64_array(np.array([value], dtype=np.uint64))
    assert int(arr[0]) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(U64, min_size=1, max_size=50))
def test_vectorized_murmur_matches_mmh3(values: list[int]) -> None:
    got = murmurhash3_x86_128_hash64_array(np.array(values, dtype=np.uint64))
    for value, hashed in zip(values, got.tolist()):
        packed = struct.pack("<Q", value)
        assert hashed == mmh3.hash64(packed, seed=0, x64arch=False, signed=False)[0]


def test_json_round_trip_and_no_nulls() -> None:
    spec = ShardingSpec.from_json(BASE)
    assert spec.to_json() == BASE
    assert None not in spec.to_json().values()
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert hash(spec) == hash(ShardingSpec.from_json(dict(BASE)))


def test_encodings_default_to_raw_and_enums_are_case_insensitive() -> None:
    obj = {k: v for k, v in BASE.items() if "encoding" not in k}
    obj["hash"] = "MurmurHash3_X86_128"
    spec = ShardingSpec.from_json(obj)
    assert spec.data_encoding == "raw" and spec.minishard_index_encoding == "raw"
    assert spec.hash == "murmurhash3_x86_128"


@pytest.mark.parametrize(
    "field, value",
    [
        ("@type", "neuroglancer_uint64_sharded_v2"),
        ("hash", "sha1"),
        ("preshift_bits", 65),
        ("preshift_bits", -1),
        ("minishard_bits", "6"),
        ("shard_bits", True),
        ("data_encoding", "zstd"),
        ("minishard_index_encoding", None),
    ],
)
def test_from_json_rejects_bad_field(field: str, value: object) -> None:
    with pytest.raises(ShardingError, match=field):
        ShardingSpec.from_json({**BASE, field: value})


def test_from_json_rejects_missing_field_and_bits_over_64() -> None:
    obj = dict(BASE)
    del obj["shard_bits"]
    with pytest.raises(ShardingError, match="shard_bits"):
        ShardingSpec.from_json(obj)
    with pytest.raises(ShardingError, match="<= 64"):
        ShardingSpec.from_json({**BASE, "minishard_bits": 40, "shard_bits": 30})
    with pytest.raises(ShardingError, match="object"):
        ShardingSpec.from_json([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "shard_bits, number, name",
    [
        (0, 0, "0.shard"),
        (1, 1, "1.shard"),
        (4, 10, "a.shard"),
        (5, 3, "03.shard"),
        (15, 0x1F, "001f.shard"),
    ],
)
def test_shard_filename(shard_bits: int, number: int, name: str) -> None:
    spec = ShardingSpec(0, "identity", 0, shard_bits)
    assert spec.shard_filename(number) == name


def test_shard_filename_out_of_range() -> None:
    with pytest.raises(ShardingError, match="shard number 4"):
        ShardingSpec(0, "identity", 0, 2).shard_filename(4)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 64),
    st.sampled_from(["identity", "murmurhash3_x86_128"]),
    st.integers(0, 32),
    st.integers(0, 32),
    st.lists(U64, min_size=1, max_size=20),
)
def test_vectorized_location_matches_scalar_formula(
    pre: int, hash_name: str, mini: int, shard: int, keys: list[int]
) -> None:
    spec = ShardingSpec(pre, hash_name, mini, shard)  # type: ignore[arg-type]
    shards, minis = spec.shards_and_minishards(np.array(keys, dtype=np.uint64))
    for key, s, m in zip(keys, shards.tolist(), minis.tolist()):
        shifted = key >> pre if pre < 64 else 0
        h = shifted if hash_name == "identity" else murmurhash3_x86_128_hash64(shifted)
        expected = ((h >> mini) & ((1 << shard) - 1), h & ((1 << mini) - 1))
        assert spec.shard_and_minishard(key) == expected == (s, m)


def test_bad_keys_are_rejected() -> None:
    spec = ShardingSpec(0, "identity", 0, 0)
    with pytest.raises(ShardingError, match="unsigned 64-bit"):
        spec.shard_and_minishard(-1)
    with pytest.raises(ShardingError, match="unsigned 64-bit"):
        spec.shard_and_minishard(2**64)
    with pytest.raises(ShardingError, match="non-negative"):
        spec.shards_and_minishards(np.array([1, -2]))
    with pytest.raises(ShardingError, match="dtype"):
        spec.shards_and_minishards(np.array([1.5]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(U64, st.integers(0, 2**40), st.integers(0, 2**20)), max_size=40))
def test_minishard_index_round_trip(entries: list[tuple[int, int, int]]) -> None:
    by_key: dict[int, tuple[int, int]] = {}
    for key, start, size in entries:
        by_key.setdefault(key, (start, start + size))
    keys = sorted(by_key)
    starts = np.array([by_key[k][0] for k in keys], dtype=np.uint64)
    ends = np.array([by_key[k][1] for k in keys], dtype=np.uint64)
    raw = encode_minishard_index(np.array(keys, dtype=np.uint64), starts, ends)
    assert len(raw) == 24 * len(keys)
    index = decode_minishard_index(raw, "x.shard")
    assert index.keys.tolist() == keys
    assert index.starts.tolist() == starts.tolist() and index.ends.tolist() == ends.tolist()
    for key in keys:
        assert index.lookup(key) == by_key[key]


def test_minishard_index_golden_layout() -> None:
    # entries (id, start, end): (5, 0, 10), (7, 10, 13), (20, 20, 21): deltas from previous
    raw = encode_minishard_index(
        np.array([5, 7, 20], np.uint64),
        np.array([0, 10, 20], np.uint64),
        np.array([10, 13, 21], np.uint64),
    )
    assert np.frombuffer(raw, "<u8").tolist() == [5, 2, 13, 0, 0, 7, 10, 3, 1]


def test_minishard_index_unsorted_and_duplicate_keys() -> None:
    rows = np.array([[9, 2**64 - 4, 0], [0, 0, 0], [1, 2, 3]], dtype="<u8")  # ids 9, 5, 5
    index = decode_minishard_index(rows.tobytes(), "x.shard")
    assert index.keys.tolist() == [5, 9]
    assert index.lookup(5) == (1, 3)  # the first entry with id 5 wins
    assert index.lookup(9) == (0, 1)
    assert index.lookup(6) is None


def test_corrupt_minishard_index_names_the_shard() -> None:
    with pytest.raises(ShardingError, match="ab.shard.*multiple of 24"):
        decode_minishard_index(b"\0" * 25, "ab.shard", 3)
    rows = np.array([[1], [2**64 - 1], [5]], dtype="<u8")
    with pytest.raises(ShardingError, match="ab.shard.*overflows"):
        decode_minishard_index(rows.tobytes(), "ab.shard")


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 8), st.data())
def test_shard_index_round_trip(mini: int, data: st.DataObject) -> None:
    spec = ShardingSpec(0, "identity", mini, 0)
    starts = data.draw(st.lists(st.integers(0, 2**62), min_size=1 << mini, max_size=1 << mini))
    pairs = np.array([(s, s + (s % 7)) for s in starts], dtype=np.uint64)
    raw = encode_shard_index(pairs)
    assert len(raw) == spec.index_length
    assert decode_shard_index(raw, spec, "0.shard").tolist() == pairs.tolist()


def test_corrupt_shard_index_names_the_shard() -> None:
    spec = ShardingSpec(0, "identity", 2, 3)
    with pytest.raises(ShardingError, match="5.shard.*truncated"):
        decode_shard_index(b"\0" * 63, spec, "5.shard")
    pairs = np.zeros((4, 2), np.uint64)
    pairs[2] = (10, 4)
    with pytest.raises(ShardingError, match="5.shard.*minishard 2"):
        decode_shard_index(encode_shard_index(pairs), spec, "5.shard")
