"""Sharded image scales: read TensorStore's, write in pieces, read back by the peers."""

import struct

import numpy as np
import pytest

from tests.core.conftest import random_array
from tests.interop.peers import cv_volume, ts_create, ts_read
from voxelio import CloudVolume
from voxelio.errors import EmptyVolumeException, ShardingError
from voxelio.sharding.planning import plan_image_sharding

pytestmark = pytest.mark.interop

SIZE, OFFSET, CHUNK = (100, 70, 30), (3, 5, 7), (16, 16, 8)
SPECS = {
    "identity-raw": {
        "@type": "neuroglancer_uint64_sharded_v1",
        "preshift_bits": 2,
        "hash": "identity",
        "minishard_bits": 2,
        "shard_bits": 3,
        "minishard_index_encoding": "raw",
        "data_encoding": "raw",
    },
    "identity-gzip": {
        "@type": "neuroglancer_uint64_sharded_v1",
        "preshift_bits": 3,
        "hash": "identity",
        "minishard_bits": 1,
        "shard_bits": 2,
        "minishard_index_encoding": "gzip",
        "data_encoding": "gzip",
    },
}


def sharded_info(dtype, channels, spec):
    return CloudVolume.create_new_info(
        num_channels=channels,
        layer_type="image",
        data_type=dtype,
        encoding="raw",
        resolution=[4, 4, 40],
        voxel_offset=OFFSET,
        volume_size=SIZE,
        chunk_size=CHUNK,
        sharding=spec,
    )


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("dtype,channels", [("uint8", 1), ("uint64", 1), ("float32", 2)])
def test_tensorstore_sharded_read_by_voxelio(tmp_path, name, dtype, channels):
    data = random_array(SIZE + (channels,), dtype)
    ts_create(tmp_path, data, OFFSET, CHUNK, sharding=SPECS[name])
    assert any(p.suffix == ".shard" for p in (tmp_path / "4_4_40").iterdir())
    vol = CloudVolume(f"file://{tmp_path}")
    np.testing.assert_array_equal(vol[:, :, :], data)
    np.testing.assert_array_equal(vol[10:57, 20:71, 9:30], data[7:54, 15:66, 2:23])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_voxelio_sharded_pieces_equal_unsharded_and_peers_read(tmp_path, name):
    data = random_array(SIZE + (1,), "uint16", seed=4)
    sharded = CloudVolume(
        f"file://{tmp_path}/sharded",
        info=sharded_info("uint16", 1, SPECS[name]),
        non_aligned_writes=True,
        fill_missing=True,
    )
    plain = CloudVolume(
        f"file://{tmp_path}/plain",
        info=sharded_info("uint16", 1, SPECS[name]),
        non_aligned_writes=True,
        fill_missing=True,
    )
    del plain.info["scales"][0]["sharding"]
    sharded.commit_info()
    plain.commit_info()
    # overlapping, non-shard-aligned, non-chunk-aligned pieces, in an order that overwrites
    pieces = [
        ((3, 5, 7), (60, 40, 20)),
        ((30, 20, 10), (103, 75, 37)),
        ((10, 10, 15), (50, 70, 30)),
        ((3, 60, 7), (103, 75, 37)),
        ((45, 5, 7), (46, 75, 37)),
    ]
    for i, (lo, hi) in enumerate(pieces):
        sl = tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, OFFSET))
        piece = (data[sl] + i).astype(np.uint16)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        sharded[box] = piece
        plain[box] = piece
    expected = np.asarray(plain[:, :, :])
    np.testing.assert_array_equal(sharded[:, :, :], expected)
    np.testing.assert_array_equal(ts_read(tmp_path / "sharded"), expected)
    cv = cv_volume(tmp_path / "sharded", fill_missing=True)
    np.testing.assert_array_equal(np.asarray(cv[:, :, :]), expected)


def test_planned_sharding_round_trip(tmp_path):
    spec = plan_image_sharding(SIZE, CHUNK, int(np.prod(CHUNK)), target_shard_bytes=16 * 2048)
    data = random_array(SIZE + (1,), "uint8", seed=5)
    vol = CloudVolume(f"file://{tmp_path}", info=sharded_info("uint8", 1, spec.to_json()))
    vol.commit_info()
    vol[:, :, :] = data
    shards = [p for p in (tmp_path / "4_4_40").iterdir()]
    assert len(shards) > 1 and all(p.suffix == ".shard" for p in shards)
    np.testing.assert_array_equal(ts_read(tmp_path), data)


def test_missing_chunks_and_corrupt_shard(tmp_path):
    vol = CloudVolume(f"file://{tmp_path}", info=sharded_info("uint8", 1, SPECS["identity-raw"]))
    vol.commit_info()
    with pytest.raises(Exception, match="missing"):
        vol[3:10, 5:10, 7:10]
    vol.fill_missing = True
    assert (vol[3:10, 5:10, 7:10] == 0).all()
    vol[3:19, 5:21, 7:15] = np.full((16, 16, 8), 9, dtype=np.uint8)
    shard = next((tmp_path / "4_4_40").iterdir())
    blob = bytearray(shard.read_bytes())
    # corrupt every entry of the shard index (4 minishards) to point past the end of the file
    blob[:64] = struct.pack("<QQ", 10**9, 10**9 + 48) * 4
    shard.write_bytes(bytes(blob))
    fresh = CloudVolume(f"file://{tmp_path}", fill_missing=True)
    with pytest.raises(ShardingError, match=shard.name):
        fresh[3:19, 5:21, 7:15]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_small_reads_across_chunks_and_shards(tmp_path, name):
    """Reads of a few chunks fetch them in one batch (one index lookup, coalesced reads), then
    decode them: equal to the data, missing chunks filled or named, in any shard."""
    vol = CloudVolume(f"file://{tmp_path}", info=sharded_info("uint16", 1, SPECS[name]))
    vol.commit_info()
    data = random_array(SIZE + (1,), "uint16", seed=9)
    written = np.zeros_like(data)
    written[:48, :48, :16] = data[:48, :48, :16]  # 3 x 3 x 2 chunks; the rest stays missing
    vol[3:51, 5:53, 7:23] = data[:48, :48, :16]
    with pytest.raises(EmptyVolumeException, match="chunk is missing"):
        vol[40:60, 40:60, 10:20]
    vol.fill_missing = True
    rng = np.random.default_rng(3)
    for _ in range(25):
        lo = [int(rng.integers(0, s - 1)) for s in SIZE]
        hi = [min(s, a + int(rng.integers(1, 40))) for a, s in zip(lo, SIZE)]
        got = vol[tuple(slice(a + o, b + o) for a, b, o in zip(lo, hi, OFFSET))]
        np.testing.assert_array_equal(
            np.asarray(got), written[tuple(slice(a, b) for a, b in zip(lo, hi))]
        )
