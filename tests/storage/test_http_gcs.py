"""HTTP (nginx) and GCS (fake-gcs-server) backends."""

from __future__ import annotations

import gzip
import json
import pickle
import uuid
from pathlib import Path

import pytest

from tests.servers import GCSServer, HTTPServer
from voxelio.errors import DecodingError, ReadOnlyException, StorageError, UnsupportedOptionError
from voxelio.storage import open_store
from voxelio.storage.gcs import GCSStore


def test_http_reads_ranges_gzip_static_and_404(http_server: HTTPServer, http_root: Path) -> None:
    layer = http_root / "layer"
    layer.mkdir()
    (layer / "plain").write_bytes(bytes(range(100)))
    (layer / "zipped.gz").write_bytes(gzip.compress(b"gz only" * 50))
    (layer / "both").write_bytes(b"both" * 30)
    (layer / "both.gz").write_bytes(gzip.compress(b"both" * 30))
    store = open_store(f"{http_server.url}/layer")
    assert store.read_only
    assert store.get("plain") == bytes(range(100))
    assert store.get("zipped") == b"gz only" * 50
    assert store.get("both") == b"both" * 30
    assert store.get("missing") is None
    assert store.get_range("plain", 10, 5) == bytes(range(10, 15))
    assert store.get_range("plain", 95, 50) == bytes(range(95, 100))
    assert store.get_range("both", 0, 4) == b"both"  # stored bytes, not the .gz twin
    assert store.get_range("missing", 0, 4) is None
    assert store.exists("plain") and not store.exists("missing")
    assert store.get_many(["plain", "missing"]) == {"plain": bytes(range(100)), "missing": None}
    assert pickle.loads(pickle.dumps(store)).get("plain") == bytes(range(100))
    with pytest.raises(ReadOnlyException, match="read-only"):
        store.put("x", b"1")
    with pytest.raises(ReadOnlyException):
        store.delete("plain")
    with pytest.raises(UnsupportedOptionError, match="listing"):
        list(store.list())
    (layer / "broken.gz").write_bytes(b"\x1f\x8bgarbage, not gzip")
    with pytest.raises(DecodingError, match=r"^GET http.*/layer/broken: corrupt gzip") as bad:
        store.get("broken")  # a DecodingError as from files, named once, not a StorageError
    assert str(bad.value).count("/layer/broken") == 1


def test_http_connection_refused_is_bounded(http_server: HTTPServer) -> None:
    from tests.servers import free_port
    from voxelio.errors import RetryBudgetExceeded
    from voxelio.storage.retry import RetryPolicy

    policy = RetryPolicy(attempts=3, base_delay=0.01, budget=2, connect_timeout=0.5)
    store = open_store(f"http://127.0.0.1:{free_port()}/x", retry=policy)
    with pytest.raises(RetryBudgetExceeded, match="3 attempt"):
        store.get("k")


def _gcs(server: GCSServer, bucket: str, **kw):  # type: ignore[no-untyped-def]
    return open_store(f"gs://{bucket}/layer", endpoint=server.endpoint, **kw)


def test_gcs_reads(gcs_server: GCSServer) -> None:
    bucket = "g-" + uuid.uuid4().hex[:10]
    gcs_server.create_bucket(bucket)
    data = bytes(range(256)) * 8
    gcs_server.upload(bucket, "layer/plain", data)
    gcs_server.upload(bucket, "layer/zipped", gzip.compress(data), content_encoding="gzip")
    gcs_server.upload(bucket, "layer/sub/info", b"{}", content_type="application/json")
    for kw in ({}, {"secrets": "a-bearer-token"}):
        store = _gcs(gcs_server, bucket, **kw)
        assert store.get("plain") == data
        assert store.get("zipped") == data  # served compressed or transcoded: same bytes
        assert store.get("missing") is None
        assert store.get_range("plain", 5, 10) == data[5:15]
        assert sorted(store.list()) == ["plain", "sub/info", "zipped"]
        assert sorted(store.list("sub/")) == ["sub/info"]
        assert store.exists("plain") and not store.exists("nope")
        assert "a-bearer-token" not in repr(store) + repr(getattr(store, "credentials", ""))


def test_gcs_anonymous_is_read_only_and_never_asks_metadata(gcs_server: GCSServer) -> None:
    store = _gcs(gcs_server, "whatever")
    assert isinstance(store, GCSStore) and store.read_only and store.credentials is None
    with pytest.raises(ReadOnlyException, match="read-only"):
        store.put("k", b"1")


def test_gcs_write_path_reaches_server(gcs_server: GCSServer) -> None:
    bucket = "w-" + uuid.uuid4().hex[:10]
    gcs_server.create_bucket(bucket)
    store = _gcs(gcs_server, bucket, secrets="token")
    # fake-gcs-server does not implement the XML-API PUT obstore uses: it must fail clearly
    with pytest.raises(StorageError, match=f"PUT gs://{bucket}/layer/k: HTTP 400"):
        store.put("k", b"1")


def test_gcs_secret_file(gcs_server: GCSServer, isolated_credentials: Path) -> None:
    bucket = "s-" + uuid.uuid4().hex[:10]
    gcs_server.create_bucket(bucket)
    gcs_server.upload(bucket, "layer/a", b"abc")
    secrets_dir = isolated_credentials / ".cloudvolume" / "secrets"
    secrets_dir.mkdir(parents=True)
    (secrets_dir / f"{bucket}-google-secret.json").write_text(json.dumps({"token": "t0k3n"}))
    store = _gcs(gcs_server, bucket)
    assert not store.read_only and store.get("a") == b"abc"
    assert f"{bucket}-google-secret.json" in repr(store.credentials)  # type: ignore[attr-defined]
    assert "t0k3n" not in repr(store.credentials)  # type: ignore[attr-defined]
    (secrets_dir / "google-secret.json").write_text(json.dumps({"type": "authorized_user"}))
    other = _gcs(gcs_server, "other-bucket")
    with pytest.raises(StorageError, match="google-secret.json.*neither"):
        other.get("a")
