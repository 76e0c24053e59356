"""Serve a store's objects over HTTP, read-only, for Neuroglancer (``vol.viewer()``,
``voxelio serve``).

A viewer page in a browser comes from another origin and reads precomputed data with
``GET`` and ``HEAD`` (format discovery), byte ranges (sharded layers read shard indices and
chunks by range) and CORS preflights. So every answer carries CORS headers; ``Range:
bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` are answered with 206 and ``Content-Range``, a
range that starts past the end with 416, and other forms (several ranges) with the whole
object, as RFC 9110 allows.

Objects are sent as :meth:`Store.get` returns them: a chunk kept as ``NAME.gz`` on disk
(cloud-volume's local layout, or ``Content-Encoding: gzip`` on the cloud) is sent decompressed
under ``NAME``, so readers that do not know that layout (TensorStore, Neuroglancer) read such
layers through the server. Objects stored without transport compression are opened once
(:meth:`Store.open_plain`) and sent by range, in blocks, from that version: a shard file of
any size is never held in memory, and one replaced meanwhile is never sent spliced (the
connection is dropped instead); on networked stores a GET without a range fetches the object
whole, in one request. ``HEAD`` reads no body of an object stored plain.

Keys that climb out of the root (``..``) are refused with 403; symbolic links inside the root
are followed, as nginx follows them. Errors are logged; their answers name the key, not the
store's paths. Nothing is ever written. Each connection gets a thread, idle ones end after
:data:`IDLE_SECONDS`, and :meth:`StoreServer.close` ends them all.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from voxelio.errors import PathError, StorageError, VoxelioError
from voxelio.storage.base import PlainObject, Store, check_key

log = logging.getLogger(__name__)

#: cloud-volume's ``vol.viewer()`` port
DEFAULT_PORT = 1337
#: bytes read from the store and written to the socket at a time
BLOCK = 4 << 20
#: seconds an idle keep-alive connection (and its thread) is kept
IDLE_SECONDS = 60.0
#: request bodies (which nothing here needs) read and dropped up to this size; a larger one
#: ends the connection
_MAX_DISCARDED_BODY = 1 << 20
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, Accept-Ranges",
}


class RangeNotSatisfiable(Exception):
    """The ``Range`` header asks for bytes past the end of the object."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The ``[start, stop)`` that a ``Range`` header asks of an object of ``size`` bytes.

    ``None`` means send it whole: no header, other units, several ranges (which this server
    does not answer part by part), or a range of an empty object from byte 0 or its end.
    Raises :class:`RangeNotSatisfiable`, as nginx answers, for a malformed byte range, one
    that starts at or past the end or ends before it starts, and an empty suffix."""
    text = (header or "").strip()
    if not text.startswith("bytes=") or "," in text:
        return None
    match = _RANGE.fullmatch(text)
    if match is None or match[1] == match[2] == "":
        raise RangeNotSatisfiable
    if size == 0 and match[1] in ("", "0"):
        return None  # what there is of an empty object: all of it
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
    path = urllib.parse.unquote(target.split("?", 1)[0].split("#", 1)[0]).lstrip("/")
    return "" if path == "" or path.endswith("/") else check_key(path)


def locate(store: Store, key: str, whole: bool = False) -> PlainObject | None:
    """Where the bytes of ``key`` come from, ``None`` when it is missing: one version of an
    object stored plain, read by range; otherwise the whole object, decompressed. ``whole``
    (a GET of all of it) on a networked store fetches it in one request rather than asking
    for its metadata first."""
    plain = None if whole and store.networked else store.open_plain(key)
    if plain is not None:
        return plain
    data = store.get(key)
    return None if data is None else PlainObject.of(data)


def blocks(found: PlainObject, start: int, stop: int) -> Iterator[bytes]:
    """The bytes ``[start, stop)`` of ``found``, :data:`BLOCK` at a time."""
    for at in range(start, stop, BLOCK):
        yield found.read(at, min(BLOCK, stop - at))


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
    timeout = IDLE_SECONDS
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._discard_body()
        asked = self.headers.get("Access-Control-Request-Headers", "Range")
        self._head(204, {
            "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
            "Access-Control-Allow-Headers": asked,
            "Access-Control-Max-Age": "86400",
        })  # fmt: skip

    def _refuse(self) -> None:
        self.close_connection = True  # the request's body is never read
        self._fail(405, "this server is read-only", {"Allow": "GET, HEAD, OPTIONS"})

    do_PUT = do_POST = do_DELETE = do_PATCH = _refuse  # noqa: N815

    def _discard_body(self) -> None:
        """Read and drop a request body, so it is not taken for the next request."""
        length = self.headers.get("Content-Length") or "0"
        if "Transfer-Encoding" in self.headers or not length.isdigit():
            self.close_connection = True
        elif int(length) > _MAX_DISCARDED_BODY:
            self.close_connection = True
        elif int(length):
            self.rfile.read(int(length))

    def _answer(self, send_body: bool) -> None:
        self._discard_body()
        located = self._locate(whole=send_body and "Range" not in self.headers)
        if located is None:
            return
        key, found = located
        try:
            span = byte_range(self.headers.get("Range"), found.size)
        except RangeNotSatisfiable:
            self._fail(416, f"{self.headers['Range']}: the object has {found.size} bytes",
                       {"Content-Range": f"bytes */{found.size}"})  # fmt: skip
        else:
            self._send(content_type(key), found, span, send_body)
        finally:
            found.close()

    def _locate(self, whole: bool) -> tuple[str, PlainObject] | None:
        """The key the request names and its object; ``None`` once an error is answered."""
        try:
            key = request_key(self.path)
            found = locate(self.server.store, key, whole) if key else None
        except PathError:
            self._fail(403, f"{self.path}: leaves the served directory")
            return None
        except (VoxelioError, OSError) as exc:  # a store that fails, a corrupt NAME.gz
            log.warning("%s: %s", self.path, exc)
            status = 502 if isinstance(exc, StorageError) else 500
            self._fail(status, f"{self.path}: cannot be read ({type(exc).__name__}; see the log)")
            return None
        if found is None:
            self._fail(404, f"{self.path}: not found")
            return None
        return key, found

    def _send(
        self, kind: str, found: PlainObject, span: tuple[int, int] | None, body: bool
    ) -> None:
        start, stop = span or (0, found.size)
        headers = {"Content-Type": kind, "Content-Length": str(stop - start),
                   "Accept-Ranges": "bytes"}  # fmt: skip
        if span is not None:
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{found.size}"
        self._head(200 if span is None else 206, headers)
        if not body:
            return
        try:
            for block in blocks(found, start, stop):
                self.wfile.write(block)
        except (VoxelioError, OSError) as exc:  # too late for an error status: drop the line
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
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Free the port and end every open connection (their threads then finish)."""
        super().server_close()
        self._end_connections()

    def _end_connections(self) -> None:
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone

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
            self.close()

    def close(self) -> None:
        """Stop serving, end open connections and free the port."""
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
