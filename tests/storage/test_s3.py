"""S3 backend against a real SeaweedFS server (signatures checked)."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import pickle
from pathlib import Path

import pytest

from tests.servers import S3Server
from voxelio.cache.disk import DiskCacheStore
from voxelio.errors import (
    AuthenticationError,
    ReadOnlyException,
    StorageError,
    WriteConflictError,
)
from voxelio.storage import PutOptions, open_store
from voxelio.storage.base import supports_conditional, supports_conditional_delete
from voxelio.storage.buffers import ReadBuffers
from voxelio.storage.s3 import S3Store


def _store(server: S3Server, bucket: str, prefix: str = "layer", **kw):  # type: ignore[no-untyped-def]
    return open_store(
        f"s3://{bucket}/{prefix}", secrets=server.secrets, endpoint=server.endpoint, **kw
    )


def test_roundtrip_plain_and_compressed(s3_server: S3Server, s3_bucket: str) -> None:
    store = _store(s3_server, s3_bucket)
    data = bytes(range(256)) * 40
    for method in (None, "gzip", "br", "zstd"):
        store.put(f"k/{method}", data, PutOptions(compress=method))
        assert store.get(f"k/{method}") == data
        got = store.get(f"k/{method}")  # owned bytes (a bytearray from libdeflate for gzip)
        assert not isinstance(got, memoryview) and got == data
        view = store.get_into(f"k/{method}", ReadBuffers())  # obstore's buffer, not copied
        assert view is not None and bytes(view) == data
    assert store.get_into("missing", ReadBuffers()) is None
    client = s3_server.boto3_client()
    head = client.head_object(Bucket=s3_bucket, Key="layer/k/gzip")
    assert head["ContentEncoding"] == "gzip"
    stored = client.get_object(Bucket=s3_bucket, Key="layer/k/gzip")["Body"].read()
    assert gzip.decompress(stored) == data
    assert store.get("missing") is None
    assert store.exists("k/None") and not store.exists("nope")
    assert store.size("k/None") == len(data)
    assert store.size("nope") is None


def test_metadata_on_upload(s3_server: S3Server, s3_bucket: str) -> None:
    store = _store(s3_server, s3_bucket, cdn_cache=600)
    store.put("info", b"{}")
    store.put("chunk", b"x" * 10, PutOptions(content_type="image/png", cache_control="no-store"))
    client = s3_server.boto3_client()
    info = client.head_object(Bucket=s3_bucket, Key="layer/info")
    assert info["ContentType"] == "application/json"
    assert info["CacheControl"] == "max-age=600, s-max-age=600"
    chunk = client.head_object(Bucket=s3_bucket, Key="layer/chunk")
    assert (chunk["ContentType"], chunk["CacheControl"]) == ("image/png", "no-store")


def test_ranges(s3_server: S3Server, s3_bucket: str) -> None:
    store = _store(s3_server, s3_bucket)
    data = bytes(range(200))
    store.put("shard", data)
    assert store.get_range("shard", 10, 5) == data[10:15]
    assert store.get_range("shard", 190, 50) == data[190:]
    assert store.get_range("shard", 500, 5) == b""
    assert store.get_range("shard", 0, 0) == b""
    assert store.get_range("missing", 0, 4) is None
    assert store.get_ranges([("shard", 0, 2), ("missing", 0, 1)]) == [data[:2], None]
    with pytest.raises(ValueError, match="negative"):
        store.get_range("shard", -1, 4)


def test_many_list_delete(s3_server: S3Server, s3_bucket: str) -> None:
    store = _store(s3_server, s3_bucket, concurrency=4)
    items = {f"d/{i:03d}": bytes([i]) * (i + 1) for i in range(40)}
    store.put_many(items, PutOptions(compress="gzip"))
    store.put("dx/other", b"1")
    assert store.get_many(list(items) + ["d/missing"]) == {**items, "d/missing": None}
    assert sorted(store.list("d/")) == sorted(items)
    assert sorted(store.list("d")) == sorted([*items, "dx/other"])
    assert set(store.list("")) >= set(items)
    store.delete_many(list(items)[:10])
    store.delete("never-existed")
    assert len(list(store.list("d/"))) == 30
    assert store.exists_many(["d/000", "d/039"]) == {"d/000": False, "d/039": True}


def test_wrong_secret_is_authentication_error(s3_server: S3Server, s3_bucket: str) -> None:
    secrets = {"AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": "not-it-123"}
    store = open_store(f"s3://{s3_bucket}/x", secrets=secrets, endpoint=s3_server.endpoint)
    with pytest.raises(AuthenticationError) as info:
        store.get("anything")
    assert "secrets= argument" in str(info.value)
    assert "not-it-123" not in str(info.value) and "not-it-123" not in repr(store)
    with pytest.raises(AuthenticationError):
        store.put("k", b"1")


def test_anonymous_requests_are_refused_not_guessed(s3_server: S3Server, s3_bucket: str) -> None:
    store = open_store(f"s3://{s3_bucket}/x", endpoint=s3_server.endpoint)
    assert isinstance(store, S3Store) and store.credentials is None
    with pytest.raises(AuthenticationError, match="aws-secret.json"):
        store.put("k", b"1")


def test_secret_files_and_env(s3_server: S3Server, s3_bucket: str, isolated_credentials,
                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    secrets_dir = isolated_credentials / ".cloudvolume" / "secrets"
    secrets_dir.mkdir(parents=True)
    (secrets_dir / "aws-secret.json").write_text(json.dumps({"AWS_ACCESS_KEY_ID": "no"}))
    (secrets_dir / f"{s3_bucket}-aws-secret.json").write_text(json.dumps(s3_server.secrets))
    store = open_store(f"s3://{s3_bucket}/p", endpoint=s3_server.endpoint)
    store.put("k", b"per-bucket")
    assert store.get("k") == b"per-bucket"
    # another bucket falls back to the (incomplete) default file: a clear error naming it
    other = open_store("s3://other-bucket/p", endpoint=s3_server.endpoint)
    with pytest.raises(AuthenticationError, match="aws-secret.json.*AWS_SECRET_ACCESS_KEY"):
        other.get("k")
    (secrets_dir / "aws-secret.json").unlink()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    env_store = open_store(f"s3://{s3_bucket}/p", endpoint=s3_server.endpoint, secrets=None)
    (secrets_dir / f"{s3_bucket}-aws-secret.json").unlink()
    env_store = open_store(f"s3://{s3_bucket}/p", endpoint=s3_server.endpoint)
    assert env_store.get("k") == b"per-bucket"
    assert "environment" in repr(env_store.credentials)  # type: ignore[attr-defined]


def test_custom_endpoint_url_form_and_alias(s3_server: S3Server, s3_bucket: str,
                                            isolated_credentials) -> None:  # fmt: skip
    store = open_store(f"s3://{s3_server.endpoint}/{s3_bucket}/lay", secrets=s3_server.secrets)
    store.put("a", b"endpoint form")
    alias_file = isolated_credentials / ".cloudfiles" / "aliases.json"
    alias_file.parent.mkdir(parents=True)
    alias_file.write_text(json.dumps({"weedy": {"host": f"s3://{s3_server.endpoint}/"}}))
    secrets_dir = isolated_credentials / ".cloudvolume" / "secrets"
    secrets_dir.mkdir(parents=True)
    (secrets_dir / "weedy-secret.json").write_text(json.dumps(s3_server.secrets))
    aliased = open_store(f"weedy://{s3_bucket}/lay")
    assert aliased.url == f"weedy://{s3_bucket}/lay"
    assert aliased.get("a") == b"endpoint form"


def test_conditional_writes(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    store = _store(s3_server, s3_bucket)
    assert isinstance(store, S3Store)
    v1 = store.put_if("lock", b"one", expected_version=None)
    with pytest.raises(WriteConflictError):
        store.put_if("lock", b"again", expected_version=None)
    data, version = store.get_with_version("lock")  # type: ignore[misc]
    assert (data, version) == (b"one", v1)
    v2 = store.put_if("lock", b"two", expected_version=v1)
    assert v2 != v1
    with pytest.raises(WriteConflictError, match="lock"):
        store.put_if("lock", b"stale", expected_version=v1)
    assert store.get("lock") == b"two"
    assert store.get_with_version("nothing") is None
    # obstore sends no If-Match on deletes: writers must not count on conditional deletes
    assert supports_conditional(store) and not supports_conditional_delete(store)
    assert not supports_conditional_delete(DiskCacheStore(store, tmp_path / "cache"))


def test_read_only(s3_server: S3Server, s3_bucket: str) -> None:
    store = _store(s3_server, s3_bucket, read_only=True)
    with pytest.raises(ReadOnlyException, match="read-only"):
        store.put("k", b"1")
    with pytest.raises(ReadOnlyException):
        store.delete("k")


def _child_get(store: S3Store, key: str, queue) -> None:  # type: ignore[no-untyped-def]
    try:
        queue.put(store.get(key))
    except Exception as exc:  # reported to the parent
        queue.put(exc)


def _in_child(method: str, store: S3Store, key: str) -> object:
    ctx = multiprocessing.get_context(method)
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_get, args=(store, key, queue))
    proc.start()
    try:
        return queue.get(timeout=60)
    finally:
        proc.join(10)
        proc.kill()


def test_pickle_and_processes(s3_server: S3Server, s3_bucket: str) -> None:
    store = _store(s3_server, s3_bucket)
    fresh = _store(s3_server, s3_bucket)
    store.put("k", b"shared")
    clone = pickle.loads(pickle.dumps(store))
    assert clone.get("k") == b"shared"
    assert _in_child("spawn", store, "k") == b"shared"
    assert _in_child("forkserver", store, "k") == b"shared"
    # a store used before fork() fails fast and clearly in the child (never hangs)
    outcome = _in_child("fork", store, "k")
    assert isinstance(outcome, StorageError) and "spawn" in str(outcome)
    assert fresh.url == store.url


def test_bad_keys_and_options(s3_server: S3Server, s3_bucket: str) -> None:
    from voxelio.errors import PathError

    store = _store(s3_server, s3_bucket)
    with pytest.raises(PathError):
        store.get("../escape")
    with pytest.raises(TypeError, match="bogus"):
        open_store(f"s3://{s3_bucket}/x", bogus=1)
    with pytest.raises(ValueError, match="concurrency"):
        open_store(f"s3://{s3_bucket}/x", concurrency=0)
