"""Fixtures of the image API tests: small volumes on file:// and on a real S3 server."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.servers import S3Server, seaweedfs_s3
from voxelio import CloudVolume

SHAPE = (70, 60, 40)
CHUNK = (16, 16, 16)
#: a sharding spec for layers of CHUNK chunks (a few chunks per minishard, several shards)
SHARDING = {
    "@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 1, "hash": "identity",
    "minishard_bits": 1, "shard_bits": 2, "minishard_index_encoding": "gzip",
    "data_encoding": "gzip",
}  # fmt: skip


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """SeaweedFS with one identity, started once per session."""
    with seaweedfs_s3() as server:
        yield server


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home (no credentials, cache under it) and no cloud environment variables."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLOUD_VOLUME_DIR", str(home / ".cloudvolume"))
    monkeypatch.setenv("CLOUD_FILES_DIR", str(home / ".cloudfiles"))
    monkeypatch.delenv("CLOUD_VOLUME_CACHE_DIR", raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return home


Backend = Callable[[str], tuple[str, dict]]


@pytest.fixture(params=["file", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """``make(name) -> (cloudpath, CloudVolume kwargs)`` for a new layer on file:// or S3."""
    if request.param == "file":
        return lambda name: (f"file://{tmp_path}/{name}", {})
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = "img-" + uuid.uuid4().hex[:10]
    server.create_bucket(bucket)
    host = server.endpoint
    return lambda name: (f"s3://{host}/{bucket}/{name}", {"secrets": server.secrets})


def seg_array(shape=SHAPE, seed: int = 0, labels: int = 6) -> np.ndarray:
    """A small random segmentation (uint32, few labels)."""
    rng = np.random.default_rng(seed)
    return np.asfortranarray(rng.integers(0, labels, size=shape, dtype=np.uint32))


def make_layer(path: str, arr: np.ndarray, chunk=CHUNK, encoding="raw", **kw) -> CloudVolume:
    """Write ``arr`` as a segmentation layer at ``path`` and return it."""
    return CloudVolume.from_numpy(
        arr, vol_path=path, chunk_size=chunk, encoding=encoding, layer_type="segmentation", **kw
    )
