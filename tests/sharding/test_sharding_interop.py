"""Cross-checks with TensorStore (neuroglancer_uint64_sharded kvstore and sharded images)
and cloud-volume (its shard synthesizer), over file://."""

from __future__ import annotations

import importlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from tests.interop.peers import cv_volume
from tests.sharding.helpers import CountingStore, random_items
from voxelio.sharding.image import chunk_ids, grid_shape
from voxelio.sharding.shardfile import build_shard
from voxelio.sharding.spec import ShardingSpec
from voxelio.sharding.store import ShardedKeyStore
from voxelio.storage.file import FileStore

ts = importlib.import_module("tensorstore")
pytestmark = pytest.mark.interop

KV_SPECS = [
    ShardingSpec(0, "identity", 0, 0, "raw", "raw"),
    ShardingSpec(2, "identity", 2, 3, "gzip", "gzip"),
    ShardingSpec(0, "murmurhash3_x86_128", 3, 2, "raw", "gzip"),
    ShardingSpec(1, "murmurhash3_x86_128", 1, 6, "gzip", "raw"),
    ShardingSpec(5, "identity", 4, 1, "raw", "raw"),
]
NO_CACHE = {"cache_pool": {"total_bytes_limit": 0}}


def _ts_kv(path: Path, spec: ShardingSpec):  # type: ignore[no-untyped-def]
    return ts.KvStore.open(
        {
            "driver": "neuroglancer_uint64_sharded",
            "base": f"file://{path}/",
            "metadata": spec.to_json(),
            "context": NO_CACHE,
        }
    ).result()


def _keys(rng: np.random.Generator) -> list[int]:
    keys = set(rng.integers(0, 3000, 150).tolist()) | {0, 1, 2**63 + 5, 2**64 - 1}
    return sorted(int(k) for k in keys)


@pytest.mark.parametrize("spec", KV_SPECS, ids=str)
def test_we_read_tensorstore_shards(tmp_path: Path, spec: ShardingSpec) -> None:
    rng = np.random.default_rng(7)
    items = random_items(rng, _keys(rng), max_len=300)
    kv = _ts_kv(tmp_path, spec)
    with ts.Transaction() as txn:
        for key, value in items.items():
            kv.with_transaction(txn)[struct.pack(">Q", key)] = value
    ours = ShardedKeyStore(FileStore(tmp_path), spec)
    probe = list(items) + [3001, 3002, 2**62]
    assert ours.get_many(probe) == {k: items.get(k) for k in probe}
    listed = np.concatenate([ours.list_keys(s) for s in ours.list_shards()])
    assert sorted(listed.tolist()) == sorted(items)


@pytest.mark.parametrize("spec", KV_SPECS, ids=str)
def test_tensorstore_reads_our_shards(tmp_path: Path, spec: ShardingSpec) -> None:
    rng = np.random.default_rng(8)
    items = random_items(rng, _keys(rng), max_len=300)
    ours = ShardedKeyStore(FileStore(tmp_path), spec)
    ours.put_many(items)
    ours.put_many({k: b"again" for k in list(items)[::10]} | dict.fromkeys(list(items)[1::10]))
    expected = {**items, **{k: b"again" for k in list(items)[::10]}}
    for key in list(items)[1::10]:
        expected.pop(key)
    kv = _ts_kv(tmp_path, spec)
    for key in list(items) + [3001]:
        result = kv.read(struct.pack(">Q", key)).result()
        if key in expected:
            assert result.state == "value" and result.value == expected[key], key
        else:
            assert result.state == "missing", key
    assert sorted(struct.unpack(">Q", k)[0] for k in kv.list().result()) == sorted(expected)


def test_raw_shards_are_byte_identical_to_tensorstore(tmp_path: Path) -> None:
    spec = ShardingSpec(1, "murmurhash3_x86_128", 3, 2, "gzip", "raw")
    rng = np.random.default_rng(9)
    items = random_items(rng, _keys(rng), max_len=100)
    kv = _ts_kv(tmp_path / "ts", spec)
    with ts.Transaction() as txn:
        for key, value in items.items():
            kv.with_transaction(txn)[struct.pack(">Q", key)] = value
    ShardedKeyStore(FileStore(tmp_path / "ours"), spec).put_many(items)
    names = sorted(p.name for p in (tmp_path / "ts").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "ours").iterdir())
    for name in names:
        assert (tmp_path / "ts" / name).read_bytes() == (tmp_path / "ours" / name).read_bytes()


IMAGE_CASES = [
    # size, offset, chunk, sharding, dtype, channels
    ((100, 70, 30), (0, 0, 0), (16, 16, 8), ShardingSpec(2, "identity", 2, 3), "uint8", 1),
    (
        (100, 70, 30),
        (3, 5, 7),
        (16, 16, 8),
        ShardingSpec(1, "identity", 1, 5, "gzip", "gzip"),
        "uint16",
        2,
    ),
    (
        (50, 33, 17),
        (-4, 0, 9),
        (8, 8, 8),
        ShardingSpec(0, "murmurhash3_x86_128", 2, 2, "gzip", "raw"),
        "uint64",
        1,
    ),
]


def _image_spec(path: Path, case: tuple) -> dict:  # type: ignore[type-arg]
    size, offset, chunk, sharding, dtype, channels = case
    return {
        "driver": "neuroglancer_precomputed",
        "kvstore": {"driver": "file", "path": str(path)},
        "multiscale_metadata": {"type": "image", "data_type": dtype, "num_channels": channels},
        "scale_metadata": {
            "key": "s0",
            "resolution": [4, 4, 40],
            "size": list(size),
            "voxel_offset": list(offset),
            "chunk_size": list(chunk),
            "encoding": "raw",
            "sharding": sharding.to_json(),
        },
        "context": NO_CACHE,
    }


def _chunk_boxes(case: tuple):  # type: ignore[no-untyped-def,type-arg]
    size, offset, chunk = case[0], case[1], case[2]
    grid = grid_shape(size, chunk)
    for cell in np.ndindex(*grid):
        lo = [o + c * k for o, c, k in zip(offset, cell, chunk)]
        hi = [min(lo_ + k, o + s) for lo_, k, o, s in zip(lo, chunk, offset, size)]
        yield cell, lo, hi, grid


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda c: f"{c[0]}-{c[3].hash}-{c[4]}")
def test_we_read_tensorstore_sharded_image(tmp_path: Path, case: tuple) -> None:  # type: ignore[type-arg]
    size, offset, _chunk, sharding, dtype, channels = case
    vol = ts.open(_image_spec(tmp_path, case), create=True).result()
    rng = np.random.default_rng(3)
    data = rng.integers(1, 2**15, size=(*size, channels)).astype(dtype)
    vol[...] = data
    info = json.loads((tmp_path / "info").read_text())
    assert ShardingSpec.from_json(info["scales"][0]["sharding"]) == sharding
    ours = ShardedKeyStore(FileStore(tmp_path), sharding, prefix="s0")
    cells = list(_chunk_boxes(case))
    grid = cells[0][3]
    ids = chunk_ids(np.array([c[0] for c in cells]), grid)
    got = ours.get_many(ids)
    for (cell, lo, hi, _g), cid in zip(cells, ids.tolist()):
        shape = [h - low for h, low in zip(hi, lo)] + [channels]
        blob = got[cid]
        assert blob is not None, cell
        chunk = np.frombuffer(blob, dtype=np.dtype(dtype).newbyteorder("<"))
        chunk = chunk.reshape(shape, order="F")
        sel = tuple(slice(low - o, h - o) for low, h, o in zip(lo, hi, offset))
        assert np.array_equal(chunk, data[sel]), cell


def test_tensorstore_reads_our_sharded_image(tmp_path: Path) -> None:
    case = IMAGE_CASES[1]
    size, offset, _chunk, sharding, dtype, channels = case
    ts.open(_image_spec(tmp_path, case), create=True).result()  # writes the info only
    rng = np.random.default_rng(4)
    data = rng.integers(0, 2**16, size=(*size, channels)).astype(dtype)
    items: dict[int, bytes] = {}
    for cell, lo, hi, grid in _chunk_boxes(case):
        sel = tuple(slice(low - o, h - o) for low, h, o in zip(lo, hi, offset))
        cid = int(chunk_ids(np.array([cell]), grid)[0])
        items[cid] = data[sel].astype(np.dtype(dtype).newbyteorder("<")).tobytes(order="F")
    ShardedKeyStore(FileStore(tmp_path), sharding, prefix="s0").put_many(items)
    vol = ts.open(_image_spec(tmp_path, case)).result()
    assert np.array_equal(vol.read().result(), data)


def test_small_read_of_fresh_tensorstore_layer_costs_three_requests(tmp_path: Path) -> None:
    case = (
        (256, 256, 64),
        (0, 0, 0),
        (16, 16, 16),
        ShardingSpec(3, "identity", 3, 4, "gzip", "raw"),
        "uint8",
        1,
    )
    vol = ts.open(_image_spec(tmp_path, case), create=True).result()
    vol[...] = np.random.default_rng(5).integers(0, 255, (256, 256, 64, 1), dtype=np.uint8)
    counting = CountingStore(FileStore(tmp_path))
    ours = ShardedKeyStore(counting, case[3], prefix="s0")
    grid = grid_shape(case[0], case[2])
    cells = np.array([[x, y, z] for x in (4, 5) for y in (6, 7) for z in (0, 1)])
    got = ours.get_many(chunk_ids(cells, grid))
    assert all(v is not None and len(v) == 16**3 for v in got.values())
    assert counting.calls == {"get_range": 3}


def test_we_read_cloudvolume_synthesized_shards(tmp_path: Path) -> None:
    sharding = importlib.import_module("cloudvolume.datasource.precomputed.sharding")
    for spec in (KV_SPECS[1], KV_SPECS[2], ShardingSpec(0, "murmurhash3_x86_128", 2, 0)):
        cv_spec = sharding.ShardingSpecification.from_dict(spec.to_json())
        rng = np.random.default_rng(11)
        items = random_items(rng, sorted(set(rng.integers(1, 10**6, 80).tolist())), max_len=90)
        items = {k: v or b"x" for k, v in items.items()}
        files = sharding.synthesize_shard_files(cv_spec, items)
        root = tmp_path / spec.hash / str(spec.shard_bits)
        root.mkdir(parents=True)
        for name, blob in files.items():
            (root / name).write_bytes(blob)
        ours = ShardedKeyStore(FileStore(root), spec)
        probe = list(items) + [10**6 + 1]
        assert ours.get_many(probe) == {k: items.get(k) for k in probe}


def test_peers_read_an_empty_shard_as_holding_nothing(tmp_path: Path) -> None:
    """An emptied shard on S3 or GCS (no conditional delete there) stays as its index alone:
    TensorStore and cloud-volume read it as holding no chunks, and the other shards whole."""
    case = IMAGE_CASES[1]
    size, offset, _chunk, sharding, dtype, channels = case
    ts.open(_image_spec(tmp_path, case), create=True).result()
    data = np.random.default_rng(6).integers(1, 2**16, size=(*size, channels)).astype(dtype)
    ts.open(_image_spec(tmp_path, case)).result()[...] = data
    shards = sorted((tmp_path / "s0").iterdir())
    assert len(shards) > 1
    ours = ShardedKeyStore(FileStore(tmp_path), sharding, prefix="s0")
    before = {int(k) for n in ours.list_shards() for k in ours.list_keys(n)}
    gone = {int(k) for k in ours.list_keys(int(shards[0].name.split(".")[0], 16))}
    shards[0].write_bytes(build_shard({}, sharding))  # what voxelio leaves there
    got = ts.open(_image_spec(tmp_path, case)).result().read().result()
    emptied = got == 0
    assert emptied.any() and not emptied.all()
    assert np.array_equal(got[~emptied], data[~emptied])  # fill value 0 where it was emptied
    cv = cv_volume(tmp_path, fill_missing=True)
    assert np.array_equal(np.asarray(cv[cv.bounds]), got)
    kv = _ts_kv(tmp_path / "s0", sharding)
    listed = {struct.unpack(">Q", k)[0] for k in kv.list().result()}
    assert gone and listed == before - gone
