"""cloud-files writes, voxelio reads (and the reverse) on the S3 server."""

from __future__ import annotations

import gzip

import pytest

from tests.servers import S3Server
from voxelio.storage import PutOptions, open_store


@pytest.fixture
def cloudfiles_for(s3_server: S3Server, isolated_credentials):  # type: ignore[no-untyped-def]
    secrets_dir = isolated_credentials / ".cloudvolume" / "secrets"
    secrets_dir.mkdir(parents=True, exist_ok=True)
    import json

    (secrets_dir / "aws-secret.json").write_text(json.dumps(s3_server.secrets))
    from cloudfiles import CloudFiles

    def make(bucket: str, prefix: str):  # type: ignore[no-untyped-def]
        return CloudFiles(f"s3://{s3_server.endpoint}/{bucket}/{prefix}", secrets=s3_server.secrets)

    return make


def test_cloudfiles_writes_voxelio_reads(
    s3_server: S3Server, s3_bucket: str, cloudfiles_for
) -> None:  # type: ignore[no-untyped-def]
    cf = cloudfiles_for(s3_bucket, "cf")
    data = {f"c/{i}": bytes([i]) * (500 + i) for i in range(10)}
    cf.puts([(k, v) for k, v in list(data.items())[:5]], compress="gzip")
    cf.puts([(k, v) for k, v in list(data.items())[5:]], compress=None)
    cf.put("c/br", b"brotli" * 100, compress="br")
    head = s3_server.boto3_client().head_object(Bucket=s3_bucket, Key="cf/c/0")
    assert head["ContentEncoding"] == "gzip"
    store = open_store(f"s3://{s3_server.endpoint}/{s3_bucket}/cf", secrets=s3_server.secrets)
    assert store.get_many(list(data)) == data
    assert store.get("c/br") == b"brotli" * 100
    assert sorted(store.list("c/")) == sorted([*data, "c/br"])


def test_voxelio_writes_cloudfiles_reads(
    s3_server: S3Server, s3_bucket: str, cloudfiles_for
) -> None:  # type: ignore[no-untyped-def]
    store = open_store(f"s3://{s3_server.endpoint}/{s3_bucket}/vx", secrets=s3_server.secrets)
    data = {f"c/{i}": bytes([i]) * (300 + i) for i in range(6)}
    store.put_many(dict(list(data.items())[:3]), PutOptions(compress="gzip"))
    store.put_many(dict(list(data.items())[3:]))
    store.put("c/zs", b"zstd" * 99, PutOptions(compress="zstd"))
    cf = cloudfiles_for(s3_bucket, "vx")
    assert cf.get(list(data), return_dict=True) == data
    assert cf.get("c/zs") == b"zstd" * 99
    raw = s3_server.boto3_client().get_object(Bucket=s3_bucket, Key="vx/c/0")
    assert raw["ContentEncoding"] == "gzip" and gzip.decompress(raw["Body"].read()) == data["c/0"]
