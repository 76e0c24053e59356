"""Serve a store's objects over HTTP, read-only, for Neuroglancer (``vol.viewer()``,
``voxelio serve``).

A viewer page in a browser comes from another origin and reads precomputed data with
``GET`` and ``HEAD`` (format discovery), byte ranges (sharded layers read shard indices and
chunks by range) and CORS preflights. So every answer carries CORS headers; ``Range:
bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` are answered with 206 and ``Content-Range``, a
range that starts past the end with 416, and other forms (several ranges) with the whole
object, as RFC 9110 allows.

Objects are sent as :meth:`Store.get` returns them: a chunk kept as ``NAME.gz`` on disk
(cloud-volume's local layout) is sent decompressed under ``NAME``, so readers that do not know
that layout (TensorStore, Neuroglancer) read such layers through the server. Objects stored
without transport compression are read by range, in blocks, so a shard file of any size is
never held in memory. On networked stores a ranged request reads the stored bytes by range
(precomputed readers ask ranges only of shard files, which are never transport-compressed).

Keys that climb out of the root are refused with 403; nothing is ever written. Each
connection gets a thread.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from voxelio.errors import PathError, StorageError
from voxelio.storage.base import Store, check_key

log = logging.getLogger(__name__)

#: cloud-volume's ``vol.viewer()`` port
DEFAULT_PORT = 1337
#: bytes read from the store and written to the socket at a time
BLOCK = 4 << 20
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, Accept-Ranges",
}


class RangeNotSatisfiable(Exception):
    """The ``Range`` header asks for bytes past the end of the object."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The ``[start, stop)`` that a ``Range`` header asks of an object of ``size`` bytes.

    ``None`` means send it whole: no header, other units, or several ranges (which this
    server does not answer part by part). Raises :class:`RangeNotSatisfiable`, as nginx
    answers, for a malformed byte range, one that starts at or past the end or ends before it
    starts, and an empty suffix."""
    text = (header or "").strip()
    if not text.startswith("bytes=") or "," in text:
        return None
    match = _RANGE.fullmatch(text)
    if match is None or match[1] == match[2] == "":
        raise RangeNotSatisfiable
    if match[1] == "":  # the last n bytes
        suffix = int(match[2])
        if suffix == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size
    start = int(match[1])
    if start >= size or (match[2] != "" and int(match[2]) < start):
        raise RangeNotSatisfiable
    return start, size if match[2] == "" else min(size, int(match[2]) + 1)


def request_key(target: str) -> str:
    """The store key a request target names (percent-decoded, query dropped); ``""`` for the
    root and directories. Raises :class:`PathError` for keys that leave the root."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(target).path).lstrip("/")
    return "" if path == "" or path.endswith("/") else check_key(path)


@dataclass(frozen=True)
class Found:
    """An object to send: its size, and its bytes ``[start, stop)`` block by block."""

    size: int
    blocks: Callable[[int, int], Iterator[bytes]]


def locate(store: Store, key: str, ranged: bool) -> Found | None:
    """Where the bytes of ``key`` come from, ``None`` when it is missing.

    Objects stored plain are read by range; others are fetched whole (decompressed). On a
    networked store, a ranged request reads the stored bytes by range."""
    size = store.plain_size(key)
    if size is None and ranged and store.networked:
        size = store.size(key)
    if size is not None:
        return Found(size, lambda start, stop: _ranges(store, key, start, stop))
    data = store.get(key)
    if data is None:
        return None
    return Found(len(data), lambda start, stop: iter((data[start:stop],)))


def _ranges(store: Store, key: str, start: int, stop: int) -> Iterator[bytes]:
    for at in range(start, stop, BLOCK):
        want = min(BLOCK, stop - at)
        block = store.get_range(key, at, want)
        if block is None or len(block) != want:
            raise StorageError(f"{store.url}/{key}: changed while it was being sent")
        yield block


def content_type(key: str) -> str:
    """JSON for info files and ``*.json``, bytes for everything else."""
    name = key.rsplit("/", 1)[-1]
    is_json = name == "info" or name.endswith(".json")
    return "application/json" if is_json else "application/octet-stream"


class _Handler(BaseHTTPRequestHandler):
    """Answers GET, HEAD and OPTIONS from the server's store; other methods get 405."""

    protocol_version = "HTTP/1.1"  # keep-alive: a viewer sends hundreds of requests
    # headers and body go out in separate writes: without TCP_NODELAY the body can wait for
    # the client's delayed ACK of the headers (nginx sets tcp_nodelay too)
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def do_OPTIONS(self) -> None:  # noqa: N802
        asked = self.headers.get("Access-Control-Request-Headers", "Range")
        self._head(204, {
            "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
            "Access-Control-Allow-Headers": asked,
            "Access-Control-Max-Age": "86400",
            "Content-Length": "0",
        })  # fmt: skip

    def _refuse(self) -> None:
        self.close_connection = True  # the request's body is never read
        self._fail(405, "this server is read-only", {"Allow": "GET, HEAD, OPTIONS"})

    do_PUT = do_POST = do_DELETE = do_PATCH = _refuse  # noqa: N815

    def _answer(self, send_body: bool) -> None:
        try:
            key = request_key(self.path)
            found = locate(self.server.store, key, "Range" in self.headers) if key else None
        except PathError as exc:
            self._fail(403, str(exc))
            return
        except StorageError as exc:
            log.warning("%s: %s", self.path, exc)
            self._fail(502, str(exc))
            return
        if found is None:
            self._fail(404, f"{self.path}: not found")
            return
        try:
            span = byte_range(self.headers.get("Range"), found.size)
        except RangeNotSatisfiable:
            self._fail(416, f"{self.headers['Range']}: the object has {found.size} bytes",
                       {"Content-Range": f"bytes */{found.size}"})  # fmt: skip
            return
        self._send(key, found, span, send_body)

    def _send(self, key: str, found: Found, span: tuple[int, int] | None, body: bool) -> None:
        start, stop = span or (0, found.size)
        headers = {
            "Content-Type": content_type(key),
            "Content-Length": str(stop - start),
            "Accept-Ranges": "bytes",
        }
        if span is not None:
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{found.size}"
        self._head(200 if span is None else 206, headers)
        if not body:
            return
        try:
            for block in found.blocks(start, stop):
                self.wfile.write(block)
        except StorageError as exc:  # too late for an error status: drop the connection
            log.warning("%s: %s", self.path, exc)
            self.close_connection = True

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**_CORS, **headers}.items():
            self.send_header(name, value)
        self.end_headers()

    def _fail(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        body = (message + "\n").encode()
        self._head(status, {
            **(headers or {}),
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Length": str(len(body)),
        })  # fmt: skip
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (base's name)
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # clients open many connections at once (TensorStore: dozens); socketserver's backlog of 5
    # dropped the rest, which the kernel retried after a second (a read took 1.2 s, not 0.1)
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], store: Store) -> None:
        self.store = store
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class StoreServer:
    """Serves ``store`` read-only over HTTP on ``host:port`` (``port=0``: any free port).

    ``start()`` serves from a background thread (``close()`` or a ``with`` block ends it);
    ``serve_forever()`` serves from the calling thread until Ctrl-C. Thread safe."""

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        try:
            self._http = _Server((host, port), store)
        except OSError as exc:
            raise StorageError(f"cannot serve {store.url} on {host}:{port} ({exc})") from exc
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the server."""
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StoreServer:
        """Serve from a background thread; returns ``self``."""
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="voxelio-server", daemon=True
        )
        self._thread.start()
        log.info("serving %s at %s", self._http.store.url, self.url)
        return self

    def serve_forever(self) -> None:
        """Serve from this thread until Ctrl-C (KeyboardInterrupt), then close."""
        log.info("serving %s at %s", self._http.store.url, self.url)
        try:
            self._http.serve_forever()
        except KeyboardInterrupt:
            log.info("stopped serving %s", self.url)
        finally:
            self._http.server_close()

    def close(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join()
            self._thread = None
        self._http.server_close()

    def __enter__(self) -> StoreServer:
        return self if self._thread is not None else self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
