"""Sharded image layers over real servers: nginx (HTTP Range) and SeaweedFS (S3)."""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest

from tests.core.conftest import random_array
from tests.interop.peers import ts_create
from tests.servers import HTTPServer, S3Server
from tests.sharding.helpers import CountingStore
from voxelio import Bbox, CloudVolume
from voxelio.formats.precomputed.sharded import ShardedChunks
from voxelio.image import engine
from voxelio.image.options import ImageOptions

pytestmark = pytest.mark.interop

SIZE, OFFSET, CHUNK = (100, 70, 30), (3, 5, 7), (16, 16, 8)
SPECS = [
    {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 2, "hash": "identity",
     "minishard_bits": 2, "shard_bits": 3, "minishard_index_encoding": "raw",
     "data_encoding": "raw"},
    {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 1, "hash": "murmurhash3_x86_128",
     "minishard_bits": 2, "shard_bits": 2, "minishard_index_encoding": "gzip",
     "data_encoding": "gzip"},
]  # fmt: skip


def _tensorstore_layer(tmp_path: Path, spec: dict) -> tuple[Path, np.ndarray]:
    data = random_array(SIZE + (1,), "uint16", seed=7)
    local = tmp_path / "ts-layer"
    ts_create(local, data, OFFSET, CHUNK, sharding=spec)
    return local, data


def _upload_dir(server: S3Server, bucket: str, local: Path, prefix: str) -> None:
    client = server.boto3_client()
    for f in local.rglob("*"):
        if f.is_file():
            client.put_object(Bucket=bucket, Key=f"{prefix}/{f.relative_to(local).as_posix()}",
                              Body=f.read_bytes())  # fmt: skip


@pytest.mark.parametrize("spec", SPECS, ids=["identity-raw", "murmur-gzip"])
def test_tensorstore_shards_over_nginx(tmp_path: Path, http_server: HTTPServer,
                                      http_root: Path, spec: dict) -> None:  # fmt: skip
    local, data = _tensorstore_layer(tmp_path, spec)
    name = "sharded-" + uuid.uuid4().hex[:8]
    shutil.copytree(local, http_root / name)
    vol = CloudVolume(f"{http_server.url}/{name}")
    np.testing.assert_array_equal(vol[:, :, :], data)
    np.testing.assert_array_equal(vol[20:57, 9:40, 11:30], data[17:54, 4:35, 4:23])


@pytest.mark.parametrize("spec", SPECS, ids=["identity-raw", "murmur-gzip"])
def test_tensorstore_shards_over_s3(tmp_path: Path, s3_server: S3Server, s3_bucket: str,
                                    spec: dict) -> None:  # fmt: skip
    local, data = _tensorstore_layer(tmp_path, spec)
    _upload_dir(s3_server, s3_bucket, local, "ds/layer")
    vol = CloudVolume(f"s3://{s3_server.endpoint}/{s3_bucket}/ds/layer",
                      secrets=s3_server.secrets)  # fmt: skip
    np.testing.assert_array_equal(vol[:, :, :], data)
    np.testing.assert_array_equal(vol[20:57, 9:40, 11:30], data[17:54, 4:35, 4:23])


def test_voxelio_shards_written_to_s3_in_pieces(s3_server: S3Server, s3_bucket: str) -> None:
    info = CloudVolume.create_new_info(1, "image", "uint16", "raw", [4, 4, 40], OFFSET, SIZE,
                                       chunk_size=CHUNK, sharding=SPECS[1])  # fmt: skip
    path = f"s3://{s3_server.endpoint}/{s3_bucket}/ds/written"
    vol = CloudVolume(path, info=info, secrets=s3_server.secrets, non_aligned_writes=True,
                      fill_missing=True)  # fmt: skip
    vol.commit_info()
    data = random_array(SIZE + (1,), "uint16", seed=8)
    expected = np.zeros_like(data)
    for lo, hi in [((3, 5, 7), (50, 40, 20)), ((30, 20, 10), (103, 75, 37))]:
        sl = tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, OFFSET))
        vol[tuple(slice(a, b) for a, b in zip(lo, hi))] = data[sl]
        expected[sl] = data[sl]
    again = CloudVolume(path, secrets=s3_server.secrets, fill_missing=True)
    np.testing.assert_array_equal(again[:, :, :], expected)


def _ts_read(kvstore: dict) -> np.ndarray:
    import tensorstore as ts

    spec = {"driver": "neuroglancer_precomputed", "kvstore": kvstore,
            "context": {"cache_pool": {"total_bytes_limit": 0}}}  # fmt: skip
    return np.asarray(ts.open(spec, read=True).result().read().result())


def _voxelio_sharded(tmp_path: Path, spec: dict) -> tuple[Path, np.ndarray]:
    info = CloudVolume.create_new_info(1, "image", "uint16", "raw", [4, 4, 40], OFFSET, SIZE,
                                       chunk_size=CHUNK, sharding=spec)  # fmt: skip
    local = tmp_path / "vx-layer"
    vol = CloudVolume(f"file://{local}", info=info)
    vol.commit_info()
    data = random_array(SIZE + (1,), "uint16", seed=9)
    vol[:, :, :] = data
    return local, data


@pytest.mark.parametrize("spec", SPECS, ids=["identity-raw", "murmur-gzip"])
def test_tensorstore_reads_voxelio_shards_over_nginx(
    tmp_path: Path, http_server: HTTPServer, http_root: Path, spec: dict
) -> None:
    local, data = _voxelio_sharded(tmp_path, spec)
    name = "vx-sharded-" + uuid.uuid4().hex[:8]
    shutil.copytree(local, http_root / name)
    got = _ts_read({"driver": "http", "base_url": f"{http_server.url}/{name}/"})
    np.testing.assert_array_equal(got, data)


def test_tensorstore_reads_voxelio_shards_over_s3(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = f"s3://{s3_server.endpoint}/{s3_bucket}/ds/vx"
    info = CloudVolume.create_new_info(1, "image", "uint16", "raw", [4, 4, 40], OFFSET, SIZE,
                                       chunk_size=CHUNK, sharding=SPECS[1])  # fmt: skip
    vol = CloudVolume(path, info=info, secrets=s3_server.secrets)
    vol.commit_info()
    data = random_array(SIZE + (1,), "uint16", seed=10)
    vol[:, :, :] = data
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    got = _ts_read({"driver": "s3", "bucket": s3_bucket, "path": "ds/vx/",
                    "endpoint": s3_server.endpoint, "aws_region": "us-east-1",
                    "aws_credentials": {"type": "environment"}})  # fmt: skip
    np.testing.assert_array_equal(got, data)


def test_whole_shards_are_fetched_in_one_request_each_over_s3(
    s3_server: S3Server, s3_bucket: str
) -> None:
    """A read covering whole shards on a remote store fetches each shard file in one GET (not
    its index, then a minishard index and a data range per minishard); a read of part of a
    shard still reads only the byte ranges it needs."""
    path = f"s3://{s3_server.endpoint}/{s3_bucket}/ds/whole"
    info = CloudVolume.create_new_info(1, "segmentation", "uint64", "raw", [4, 4, 40], OFFSET,
                                       SIZE, chunk_size=CHUNK, sharding=SPECS[0])  # fmt: skip
    vol = CloudVolume(path, info=info, secrets=s3_server.secrets)
    vol.commit_info()
    data = random_array(SIZE + (1,), "uint64", seed=12)
    vol[:, :, :] = data
    layer = CloudVolume(path, secrets=s3_server.secrets)._layer(0)
    counting = CountingStore(layer.chunks.keys.store)  # type: ignore[attr-defined]
    counted = dataclasses.replace(layer, chunks=ShardedChunks(counting, layer.scale))
    shard_files = [k for k in counting.inner.list(layer.scale.key) if k.endswith(".shard")]
    assert len(shard_files) > 1
    options = ImageOptions(progress=False)

    whole = engine.download(counted, layer.scale.bounds, options)
    np.testing.assert_array_equal(whole, data)
    assert counting.calls == {"get": len(shard_files)}

    counting.reset()
    lo = np.asarray(OFFSET) + 20
    part = engine.download(counted, Bbox(lo, lo + 9), options)
    np.testing.assert_array_equal(part, data[20:29, 20:29, 20:29])
    assert set(counting.calls) == {"get_range"}


def test_a_volume_kept_open_reads_shards_another_writer_rewrote_on_s3(
    s3_server: S3Server, s3_bucket: str
) -> None:
    """A reader's cached shard index is checked at its next read (If-Match on the ETag the
    index came with): after another writer rewrote the shard, it reads the new version
    instead of the old offsets into the new file (raw data: another chunk's voxels)."""
    from voxelio.errors import WriteConflictError

    path = f"s3://{s3_server.endpoint}/{s3_bucket}/stale-{uuid.uuid4().hex[:8]}"
    info = CloudVolume.create_new_info(1, "segmentation", "uint32", "raw", [1, 1, 1], [0, 0, 0],
                                       [64, 64, 64], chunk_size=[16, 16, 16])  # fmt: skip
    info["scales"][0]["sharding"] = {
        "@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 3, "hash": "identity",
        "minishard_bits": 1, "shard_bits": 3, "minishard_index_encoding": "raw",
        "data_encoding": "raw",
    }  # fmt: skip
    CloudVolume(path, info=info, secrets=s3_server.secrets).commit_info()
    CloudVolume(path, secrets=s3_server.secrets)[16:32, 0:16, 0:16] = np.ones((16,) * 3, np.uint32)
    reader = CloudVolume(path, fill_missing=True, secrets=s3_server.secrets)
    assert (reader[16:32, 0:16, 0:16] == 1).all()
    writer = CloudVolume(path, secrets=s3_server.secrets)
    writer[0:16, 0:16, 0:16] = np.full((16,) * 3, 7, np.uint32)  # chunk 0, before chunk 1
    assert (reader[16:32, 0:16, 0:16] == 1).all()
    assert (reader[0:16, 0:16, 0:16] == 7).all()
    store = writer.meta.store
    key = next(k for k in store.list() if k.endswith(".shard"))
    [(_blob, etag)] = store.get_pinned_ranges([(key, 0, 8)], {})
    assert etag
    writer[0:16, 0:16, 0:16] = np.full((16,) * 3, 9, np.uint32)
    with pytest.raises(WriteConflictError):
        store.get_pinned_ranges([(key, 0, 8)], {key: etag})
