"""Credential discovery, aliases, retry policy and option parsing (no servers)."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path

import pytest

from voxelio.errors import (
    AuthenticationError,
    PathError,
    RetryBudgetExceeded,
    UnsupportedProtocolError,
)
from voxelio.storage import open_store
from voxelio.storage.aliases import load_aliases, parse_cloud_url, to_https_url
from voxelio.storage.base import cache_control_header
from voxelio.storage.cloud import decode_body, translate_error
from voxelio.storage.retry import RetryPolicy, TransientError, call_with_retry
from voxelio.storage.secrets import Credentials, find_credentials, parse_secrets


def test_credentials_precedence(isolated_credentials: Path) -> None:
    cv = isolated_credentials / ".cloudvolume" / "secrets"
    cf = isolated_credentials / ".cloudfiles" / "secrets"
    cv.mkdir(parents=True)
    cf.mkdir(parents=True)
    env = {
        "HOME": str(isolated_credentials),
        "AWS_ACCESS_KEY_ID": "E",
        "AWS_SECRET_ACCESS_KEY": "S",
    }
    assert "environment" in find_credentials("aws", "b", env=env).source  # type: ignore[union-attr]
    (cf / "aws-secret.json").write_text(json.dumps({"AWS_ACCESS_KEY_ID": "cf"}))
    assert find_credentials("aws", "b", env=env).get("aws_access_key_id") == "cf"  # type: ignore[union-attr]
    (cv / "aws-secret.json").write_text(json.dumps({"AWS_ACCESS_KEY_ID": "default"}))
    (cv / "b-aws-secret.json").write_text(json.dumps({"AWS_ACCESS_KEY_ID": "bucket"}))
    assert find_credentials("aws", "b", env=env).get("AWS_ACCESS_KEY_ID") == "bucket"  # type: ignore[union-attr]
    assert find_credentials("aws", "c", env=env).get("AWS_ACCESS_KEY_ID") == "default"  # type: ignore[union-attr]
    explicit = find_credentials("aws", "b", {"AWS_ACCESS_KEY_ID": "x"}, env=env)
    assert explicit is not None and explicit.source == "secrets= argument"
    assert find_credentials("matrix", "b", env={"HOME": str(isolated_credentials)}) is None


def test_secrets_forms_and_no_leaks(isolated_credentials: Path) -> None:
    token = parse_secrets("s3cr3t-token", "google")
    assert token is not None and token.get("token") == "s3cr3t-token"
    assert "s3cr3t" not in repr(token) and "s3cr3t" not in str(token)
    from_json = parse_secrets('{"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "zzz9"}', "aws")
    assert from_json is not None and from_json.get("AWS_SECRET_ACCESS_KEY") == "zzz9"
    assert "zzz9" not in repr(from_json)
    with pytest.raises(AuthenticationError) as info:
        parse_secrets('{"AWS_SECRET_ACCESS_KEY": "leak-me"', "aws")
    assert "leak-me" not in str(info.value)
    with pytest.raises(TypeError):
        parse_secrets(42, "aws")
    bad = isolated_credentials / ".cloudvolume" / "secrets"
    bad.mkdir(parents=True)
    (bad / "aws-secret.json").write_text("{not json")
    with pytest.raises(AuthenticationError, match="aws-secret.json"):
        find_credentials("aws", "b")
    store = open_store(
        "s3://bkt/p", secrets={"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "hide"}
    )
    assert "hide" not in repr(store) and "hide" not in repr(store.credentials)  # type: ignore[attr-defined]
    assert "hide" not in repr(pickle.loads(pickle.dumps(store)).credentials)
    assert isinstance(pickle.loads(pickle.dumps(token)), Credentials)


def test_aliases_and_url_forms(isolated_credentials: Path) -> None:
    loc = parse_cloud_url("matrix://bucket/a/b")
    assert (loc.protocol, loc.service, loc.endpoint, loc.bucket, loc.prefix) == (
        "s3", "matrix", "https://s3-hpcrc.rc.princeton.edu", "bucket", "a/b",
    )  # fmt: skip
    assert parse_cloud_url("tigerdata://b/x").endpoint == "https://td.princeton.edu"
    custom = parse_cloud_url("s3://http://127.0.0.1:9000/bkt/lay/er/")
    assert (custom.endpoint, custom.bucket, custom.prefix) == (
        "http://127.0.0.1:9000",
        "bkt",
        "lay/er",
    )
    assert custom.url == "s3://http://127.0.0.1:9000/bkt/lay/er"
    assert to_https_url(parse_cloud_url("gs://b/p")) == "https://storage.googleapis.com/b/p"
    assert to_https_url(parse_cloud_url("s3://b/p")) == "https://s3.amazonaws.com/b/p"
    assert to_https_url(loc) == "https://s3-hpcrc.rc.princeton.edu/bucket/a/b"
    store = open_store("gs://b/p", use_https=True)
    assert store.url == "https://storage.googleapis.com/b/p" and store.read_only
    with pytest.raises(UnsupportedProtocolError, match="nosuch"):
        parse_cloud_url("nosuch://b/p")
    with pytest.raises(PathError, match="no bucket"):
        parse_cloud_url("s3:///p")
    alias_file = isolated_credentials / ".cloudfiles" / "aliases.json"
    alias_file.parent.mkdir(parents=True)
    alias_file.write_text(json.dumps({"mine": {"host": "s3://https://example.org/"}}))
    assert load_aliases()["mine"] == "https://example.org"
    assert parse_cloud_url("mine://b/p").endpoint == "https://example.org"
    alias_file.write_text(json.dumps({"gs": {"host": "s3://https://example.org/"}}))
    with pytest.raises(PathError, match="base protocol"):
        load_aliases()
    alias_file.write_text(json.dumps({"x": {"host": "ftp://nope"}}))
    with pytest.raises(PathError, match="must be"):
        load_aliases()
    alias_file.write_text("[")
    with pytest.raises(PathError, match="not valid JSON"):
        load_aliases()


def test_cdn_cache_values() -> None:
    assert cache_control_header(True) == "max-age=3600, s-max-age=3600"
    assert cache_control_header(None) == "max-age=3600, s-max-age=3600"
    assert cache_control_header(False) == "no-cache"
    assert cache_control_header(0) == "no-cache"
    assert cache_control_header(60) == "max-age=60, s-max-age=60"
    assert cache_control_header("private") == "private"
    with pytest.raises(ValueError):
        cache_control_header(-1)
    with pytest.raises(TypeError):
        cache_control_header(1.5)  # type: ignore[arg-type]


def test_retry_policy_and_loop() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(budget=-1)
    policy = RetryPolicy(attempts=5, base_delay=0.001, max_delay=0.002, budget=5)
    rng = random.Random(0)
    assert all(0 <= policy.delay(n, rng) <= 0.002 for n in range(1, 20))
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("boom")
        return "ok"

    assert call_with_retry(flaky, policy, "GET x") == "ok" and len(calls) == 3

    def always() -> None:
        raise TransientError("still down")

    with pytest.raises(RetryBudgetExceeded, match="GET y: gave up after 5 attempt.*still down"):
        call_with_retry(always, policy, "GET y")

    def fatal() -> None:
        calls.append(1)
        raise KeyError("no")

    before = len(calls)
    with pytest.raises(KeyError):
        call_with_retry(fatal, policy, "GET z")
    assert len(calls) == before + 1


def test_error_classification_and_decoding() -> None:
    def err(text: str) -> Exception:
        return translate_error(RuntimeError(text), "GET k", "hint")

    assert isinstance(
        err("Server returned non-2xx status code: 503 Service Unavailable"), TransientError
    )
    assert isinstance(err("Server returned non-2xx status code: 429 Too Many"), TransientError)
    assert isinstance(err("HTTP error: error sending request"), TransientError)
    assert not isinstance(err("Server returned non-2xx status code: 400 Bad"), TransientError)
    assert isinstance(
        err("Server returned non-2xx status code: 403 Forbidden"), AuthenticationError
    )
    assert not isinstance(err("Received non-partial response when range requested"), TransientError)
    import gzip

    from voxelio.errors import DecodingError

    assert decode_body(gzip.compress(b"abc"), "gzip", "k") == b"abc"
    assert decode_body(b"abc", "gzip", "k") == b"abc"  # already decompressed on the way
    with pytest.raises(DecodingError, match="k"):
        decode_body(gzip.compress(b"abcdefgh" * 100)[:30], "gzip", "k")
    with pytest.raises(Exception, match="unsupported Content-Encoding"):
        decode_body(b"abc", "compress", "k")
