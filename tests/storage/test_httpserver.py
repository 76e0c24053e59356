"""voxelio's HTTP server for Neuroglancer (``storage/httpserver.py``): the protocol against
nginx as the reference, and TensorStore, cloud-volume and voxelio reading layers through it."""

from __future__ import annotations

import gzip
import http.client
import os
import random
import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.core.conftest import random_array
from tests.interop.peers import ts_read_http
from tests.servers import HTTPServer, S3Server, free_port
from voxelio import CloudVolume
from voxelio.errors import PathError, StorageError
from voxelio.storage import PutOptions, open_store
from voxelio.storage import httpserver as hs
from voxelio.storage.httpserver import StoreServer, byte_range
from voxelio.storage.retry import RetryPolicy

Answer = tuple[int, dict[str, str], bytes]


def ask(url: str, path: str, method: str = "GET", headers: dict[str, str] | None = None,
        body: bytes | None = None) -> Answer:  # fmt: skip
    """One request on a new connection: status, headers (lower-case names), body."""
    where = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    served = tmp_path / "served"
    served.mkdir()
    return served


@pytest.fixture
def server(root: Path) -> Iterator[StoreServer]:
    with StoreServer(open_store(f"file://{root}"), port=0) as running:
        yield running


RANGES = [None, "bytes=0-9", "bytes=990-", "bytes=-10", "bytes=-5000", "bytes=995-2000",
          "bytes=0-0", "bytes=999-999", "bytes=1000-", "bytes=1500-1600", "bytes=5-3",
          "items=0-5", "bytes=abc"]  # fmt: skip


@pytest.mark.servers
def test_plain_files_are_answered_as_nginx_answers(
    root: Path, server: StoreServer, http_server: HTTPServer, http_root: Path
) -> None:
    blob = random.Random(1).randbytes(1000)
    name = "blob-" + uuid.uuid4().hex[:8]
    (root / name).write_bytes(blob)
    (http_root / name).write_bytes(blob)
    (root / f"{name}-empty").write_bytes(b"")
    (http_root / f"{name}-empty").write_bytes(b"")
    cases = [(name, h) for h in RANGES] + [(f"{name}-empty", h) for h in RANGES + ["bytes=-0"]]
    for name, header in cases:
        headers = {} if header is None else {"Range": header}
        ours = ask(server.url, f"/{name}", headers=headers)
        ref = ask(http_server.url, f"/{name}", headers=headers)
        assert ours[0] == ref[0], header
        assert ours[1].get("content-range") == ref[1].get("content-range"), header
        if ours[0] in (200, 206):
            assert ours[2] == ref[2], header
            assert ours[1]["content-length"] == str(len(ref[2]))
        ours_head = ask(server.url, f"/{name}", "HEAD", headers)
        assert ours_head[2] == b"" and ours_head[0] == ref[0]


def test_byte_range_forms() -> None:
    assert byte_range("bytes=2-4", 10) == (2, 5)
    assert byte_range("bytes=-3", 10) == (7, 10)
    assert byte_range("bytes=8-", 10) == (8, 10)
    assert byte_range("bytes=0-1,4-5", 10) is None  # several ranges: the whole object
    with pytest.raises(hs.RangeNotSatisfiable):
        byte_range("bytes=10-", 10)
    with pytest.raises(hs.RangeNotSatisfiable):
        byte_range("bytes=-0", 10)


def test_gzip_twins_are_sent_decompressed(root: Path, server: StoreServer) -> None:
    text = b"precomputed chunk " * 300
    (root / "chunk.gz").write_bytes(gzip.compress(text))
    status, headers, body = ask(server.url, "/chunk")
    assert (status, body) == (200, text)
    assert ask(server.url, "/chunk", "HEAD")[1]["content-length"] == str(len(text))
    status, headers, body = ask(server.url, "/chunk", headers={"Range": "bytes=18-35"})
    assert (status, body) == (206, text[18:36])
    assert headers["content-range"] == f"bytes 18-35/{len(text)}"


def test_large_files_are_sent_in_blocks(
    root: Path, server: StoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hs, "BLOCK", 1000)
    blob = random.Random(2).randbytes(10_500)
    (root / "shard").write_bytes(blob)
    assert ask(server.url, "/shard")[2] == blob
    assert ask(server.url, "/shard", headers={"Range": "bytes=999-3001"})[2] == blob[999:3002]


def test_refusals(root: Path, server: StoreServer) -> None:
    (root.parent / "secret").write_bytes(b"not yours")
    (root / "info").write_bytes(b"{}")
    for path in ("/../secret", "/%2e%2e/secret", "/a/../../secret", "/..%2fsecret"):
        status, _, body = ask(server.url, path)
        assert status == 403 and b"not yours" not in body, path
    assert ask(server.url, "/missing")[0] == 404
    assert ask(server.url, "/")[0] == 404
    assert ask(server.url, "/missing", "HEAD")[0] == 404
    for method in ("PUT", "POST", "DELETE"):
        status, headers, _ = ask(server.url, "/info", method, body=b"overwritten")
        assert status == 405 and headers["allow"] == "GET, HEAD, OPTIONS"
    assert (root / "info").read_bytes() == b"{}"
    status, headers, body = ask(server.url, "/info?cache=1")
    assert (status, body, headers["content-type"]) == (200, b"{}", "application/json")
    assert headers["access-control-allow-origin"] == "*"


def test_request_keys() -> None:
    assert hs.request_key("//layer/info?x=1#y") == "layer/info"
    assert hs.request_key("/a%20b/c") == "a b/c"
    assert hs.request_key("/layer/") == ""
    with pytest.raises(PathError):
        hs.request_key("/a/%2e%2e/%2e%2e/secret")


@pytest.mark.parametrize("kind", ["file", "mem"])
def test_an_object_replaced_while_sent_is_sent_as_it_was(tmp_path: Path, kind: str) -> None:
    store = open_store(f"file://{tmp_path}" if kind == "file" else f"mem://{uuid.uuid4().hex}")
    store.put("shard", b"A" * 3000)
    found = hs.locate(store, "shard")
    assert found is not None
    store.put("shard", b"B" * 3000)  # atomic replacement, between two blocks
    assert b"".join(hs.blocks(found, 0, 3000)) == b"A" * 3000
    found.close()
    found.close()  # a second close is harmless
    again = hs.locate(store, "shard")
    assert again is not None and b"".join(hs.blocks(again, 0, 3000)) == b"B" * 3000
    again.close()


def test_errors_get_an_answer_and_the_server_goes_on(root: Path, server: StoreServer) -> None:
    (root / "broken.gz").write_bytes(b"\x1f\x8b" + b"not gzip at all")
    (root / "info").write_bytes(b"{}")
    status, _, body = ask(server.url, "/broken")
    assert status == 500 and b"/broken" in body and str(root).encode() not in body
    assert ask(server.url, "/info")[2] == b"{}"


def _raw_exchange(url: str, request: bytes, answers: int) -> list[bytes]:
    """Send raw bytes on one connection; the status lines of the answers that come back."""
    import socket

    where = urllib.parse.urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        try:
            while received.count(b"HTTP/1.1 ") < answers + 1:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
    return [line for line in received.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


def test_request_bodies_are_not_taken_for_requests(root: Path, server: StoreServer) -> None:
    (root / "info").write_bytes(b"{}")
    smuggled = b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n"
    request = (b"OPTIONS /info HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
               b"GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")  # fmt: skip
    request %= (len(smuggled), smuggled)
    statuses = _raw_exchange(server.url, request, 2)
    assert [line.split()[1] for line in statuses] == [b"204", b"404"]


def test_close_ends_open_connections(root: Path) -> None:
    (root / "info").write_bytes(b"{}")
    running = StoreServer(open_store(f"file://{root}"), port=0).start()
    where = urllib.parse.urlsplit(running.url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=5)
    conn.request("GET", "/info")
    assert conn.getresponse().read() == b"{}"
    running.close()
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        conn.request("GET", "/info")
        conn.getresponse().read()
    conn.close()


def test_cors_preflight(server: StoreServer) -> None:
    status, headers, body = ask(server.url, "/info", "OPTIONS", headers={
        "Origin": "https://neuroglancer-demo.appspot.com",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range",
    })  # fmt: skip
    assert (status, body) == (204, b"") and "content-length" not in headers
    assert headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-headers"] == "range"
    assert "GET" in headers["access-control-allow-methods"]


def test_keep_alive_and_concurrent_ranges(root: Path, server: StoreServer) -> None:
    blob = random.Random(3).randbytes(50_000)
    (root / "shard").write_bytes(blob)
    where = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    for start in (0, 100, 49_000):  # one connection, several requests
        conn.request("GET", "/shard", headers={"Range": f"bytes={start}-{start + 99}"})
        assert conn.getresponse().read() == blob[start : start + 100]
    conn.close()

    def check(seed: int) -> bool:
        rng = random.Random(seed)
        start = rng.randrange(50_000)
        stop = rng.randrange(start, 50_000)
        body = ask(server.url, "/shard", headers={"Range": f"bytes={start}-{stop}"})[2]
        return body == blob[start : stop + 1]

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(check, range(200)))


def test_busy_port_and_dead_backend_are_clear_errors(server: StoreServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with pytest.raises(StorageError, match=f"cannot serve .* on 127.0.0.1:{port}"):
        StoreServer(open_store("mem://x"), port=port)
    policy = RetryPolicy(attempts=2, base_delay=0.01, budget=2, connect_timeout=0.5)
    dead = open_store(f"http://127.0.0.1:{free_port()}/layer", retry=policy)
    with StoreServer(dead, port=0) as front:
        status, _, body = ask(front.url, "/info")
    assert status == 502 and b"info" in body


# ---- layers read through the server by the peers ------------------------------------------

SIZE, CHUNK = (70, 60, 20), (32, 32, 8)


def _cv_read(url: str) -> np.ndarray:
    from cloudvolume import CloudVolume as CV

    return np.asarray(CV(f"precomputed://{url}", progress=False)[:, :, :])


@pytest.mark.interop
def test_peers_read_cloudvolume_gzip_layer_through_server(root: Path, server: StoreServer) -> None:
    """cloud-volume keeps gzipped chunks as NAME.gz, which TensorStore's file driver cannot
    read: through the server it can."""
    from cloudvolume import CloudVolume as CV

    data = random_array(SIZE + (1,), "uint8", seed=11)
    info = CV.create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], list(SIZE),
                              chunk_size=list(CHUNK))  # fmt: skip
    cv = CV(f"file://{root}/img", info=info, progress=False, compress="gzip")
    cv.commit_info()
    cv[:, :, :] = data
    assert any(name.endswith(".gz") for name in os.listdir(root / "img" / "4_4_40"))
    url = f"{server.url}/img"
    np.testing.assert_array_equal(ts_read_http(url), data)
    np.testing.assert_array_equal(_cv_read(url), data)
    np.testing.assert_array_equal(CloudVolume(url)[:, :, :], data)


SHARDING = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 1,
            "hash": "murmurhash3_x86_128", "minishard_bits": 2, "shard_bits": 1,
            "minishard_index_encoding": "gzip", "data_encoding": "gzip"}  # fmt: skip


def _write_sharded(path: str, **kw: object) -> np.ndarray:
    info = CloudVolume.create_new_info(1, "segmentation", "uint64", "compressed_segmentation",
                                       [4, 4, 40], [0, 0, 0], SIZE, chunk_size=CHUNK,
                                       sharding=SHARDING)  # fmt: skip
    vol = CloudVolume(path, info=info, **kw)  # type: ignore[arg-type]
    vol.commit_info()
    data = random_array(SIZE + (1,), "uint64", seed=12) % 50
    vol[:, :, :] = data
    return data


@pytest.mark.interop
def test_peers_read_sharded_layer_through_server(root: Path, server: StoreServer) -> None:
    data = _write_sharded(f"file://{root}/seg")
    url = f"{server.url}/seg"
    np.testing.assert_array_equal(ts_read_http(url), data)
    np.testing.assert_array_equal(_cv_read(url), data)
    np.testing.assert_array_equal(CloudVolume(url)[5:50, 3:40, 2:17], data[5:50, 3:40, 2:17])


@pytest.mark.interop
def test_memory_store_with_compressed_objects() -> None:
    store = open_store(f"mem://served-{uuid.uuid4().hex}")
    store.put("zipped", b"abc" * 1000, PutOptions(compress="gzip"))
    store.put("plain", b"xyz" * 10)
    with StoreServer(store, port=0) as front:
        assert ask(front.url, "/zipped")[2] == b"abc" * 1000
        assert ask(front.url, "/zipped", headers={"Range": "bytes=3-5"})[2] == b"abc"
        assert ask(front.url, "/plain", headers={"Range": "bytes=-3"})[2] == b"xyz"


@pytest.mark.servers
def test_s3_objects_through_server(s3_server: S3Server, s3_bucket: str) -> None:
    """On S3 an object stored with Content-Encoding gzip is sent decompressed, ranges
    included; plain ones are read by range from the version first seen."""
    store = open_store(f"s3://{s3_bucket}/d", secrets=s3_server.secrets,
                       endpoint=s3_server.endpoint)  # fmt: skip
    text = bytes(range(256)) * 40
    store.put("zipped", text, PutOptions(compress="gzip"))
    store.put("plain", text)
    with StoreServer(store, port=0) as front:
        for key in ("zipped", "plain"):
            assert ask(front.url, f"/{key}")[2] == text
            status, headers, body = ask(front.url, f"/{key}", headers={"Range": "bytes=10-19"})
            assert (status, body) == (206, text[10:20])
            assert headers["content-range"] == f"bytes 10-19/{len(text)}"
            assert ask(front.url, f"/{key}", "HEAD")[1]["content-length"] == str(len(text))
        assert ask(front.url, "/missing")[0] == 404
    found = hs.locate(store, "plain")
    assert found is not None
    store.put("plain", b"x" * len(text))
    with pytest.raises(StorageError, match="changed"):
        list(hs.blocks(found, 0, 10))


@pytest.mark.interop
@pytest.mark.servers
def test_tensorstore_reads_s3_layer_through_server(s3_server: S3Server, s3_bucket: str) -> None:
    data = _write_sharded(f"s3://{s3_server.endpoint}/{s3_bucket}/seg",
                          secrets=s3_server.secrets)  # fmt: skip
    store = open_store(f"s3://{s3_bucket}/seg", secrets=s3_server.secrets,
                       endpoint=s3_server.endpoint)  # fmt: skip
    with StoreServer(store, port=0) as front:
        np.testing.assert_array_equal(ts_read_http(front.url), data)
