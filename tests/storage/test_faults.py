"""Retries through a misbehaving proxy in front of the S3 server."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from tests.faultproxy import FaultProxy
from tests.servers import S3Server
from voxelio.errors import RetryBudgetExceeded
from voxelio.storage import PutOptions, open_store
from voxelio.storage.retry import RetryPolicy


def _upstream(server: S3Server) -> tuple[str, int]:
    parts = urlsplit(server.endpoint)
    return str(parts.hostname), int(parts.port or 80)


def test_faults_lose_and_corrupt_nothing(s3_server: S3Server, s3_bucket: str) -> None:
    policy = RetryPolicy(attempts=30, base_delay=0.01, max_delay=0.2, budget=60,
                         request_timeout=1.0, connect_timeout=1.0)  # fmt: skip
    proxy = FaultProxy(_upstream(s3_server), rate=0.35, stall=2.0)
    objects = {f"obj/{i:02d}": bytes([i % 251]) * (1000 + 997 * i) for i in range(24)}
    with proxy.running():
        store = open_store(f"s3://{s3_bucket}/f", secrets=s3_server.secrets,
                           endpoint=proxy.endpoint, retry=policy, concurrency=6)  # fmt: skip
        store.put_many(dict(list(objects.items())[:12]))
        store.put_many(dict(list(objects.items())[12:]), PutOptions(compress="gzip"))
        assert store.get_many(list(objects)) == objects
        for key, value in list(objects.items())[:12]:
            assert store.get_range(key, 100, 500) == value[100:600]
        assert sorted(store.list("obj/")) == sorted(objects)
    for fault in ("reset", "500", "503", "truncate", "stall"):
        assert proxy.counts[fault] > 0, proxy.counts
    direct = open_store(f"s3://{s3_bucket}/f", secrets=s3_server.secrets,
                        endpoint=s3_server.endpoint)  # fmt: skip
    assert direct.get_many(list(objects)) == objects


@pytest.mark.parametrize("fault", ["503", "reset", "stall", "truncate"])
def test_budget_exceeded_is_clear_and_bounded(s3_server: S3Server, s3_bucket: str,
                                              fault: str) -> None:  # fmt: skip
    direct = open_store(f"s3://{s3_bucket}/b", secrets=s3_server.secrets,
                        endpoint=s3_server.endpoint)  # fmt: skip
    direct.put("k", b"x" * 5000)
    policy = RetryPolicy(attempts=50, base_delay=0.05, max_delay=0.3, budget=2.0,
                         request_timeout=0.5, connect_timeout=0.5)  # fmt: skip
    proxy = FaultProxy(_upstream(s3_server), rate=1.0, faults=(fault,), stall=1.5)
    with proxy.running():
        store = open_store(f"s3://{s3_bucket}/b", secrets=s3_server.secrets,
                           endpoint=proxy.endpoint, retry=policy)  # fmt: skip
        start = time.monotonic()
        with pytest.raises(RetryBudgetExceeded, match="GET s3://.*/b/k.*gave up"):
            store.get("k")
        assert time.monotonic() - start < policy.budget + policy.request_timeout + 1.0
    assert proxy.counts[fault] >= 2


def test_no_retry_on_missing_or_forbidden(s3_server: S3Server, s3_bucket: str) -> None:
    proxy = FaultProxy(_upstream(s3_server), rate=0.0)
    with proxy.running():
        bad = {"AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": "wrong"}
        store = open_store(f"s3://{s3_bucket}/n", secrets=bad, endpoint=proxy.endpoint)
        with pytest.raises(Exception, match="access refused"):
            store.get("k")
        good = open_store(f"s3://{s3_bucket}/n", secrets=s3_server.secrets,
                          endpoint=proxy.endpoint)  # fmt: skip
        assert good.get("missing") is None
    assert proxy.counts["ok"] == 2
