"""A misbehaving HTTP proxy for fault tests (threads, 127.0.0.1 only).

It forwards each request unchanged (the ``Host`` header is kept, so S3 signatures made for
the proxy's address still verify) to one upstream server, and for a fraction of requests
instead: resets the connection, answers 500 or 503 (S3 ``SlowDown``), sends only part of a
body announced with a longer ``Content-Length`` and closes, or stalls without answering.
``FaultProxy.counts`` records what it did.
"""

from __future__ import annotations

import random
import socket
import socketserver
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

FAULTS = ("reset", "500", "503", "truncate", "stall")


def _read_head(stream: socket.socket, buf: bytearray) -> bytes | None:
    while b"\r\n\r\n" not in buf:
        chunk = stream.recv(65536)
        if not chunk:
            return None
        buf.extend(chunk)
    end = buf.index(b"\r\n\r\n") + 4
    head = bytes(buf[:end])
    del buf[:end]
    return head


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _with_connection_close(head: bytes) -> bytes:
    lines = [
        line
        for line in head.rstrip(b"\r\n").split(b"\r\n")
        if not line.lower().startswith(b"connection:")
    ]
    return b"\r\n".join(lines + [b"Connection: close"]) + b"\r\n\r\n"


class FaultProxy:
    """Proxy ``127.0.0.1:port`` -> ``upstream``; ``rate`` of requests get a fault from ``faults``.

    ``stall`` seconds is how long a stalled request hangs before the proxy drops it;
    Set ``rate`` to 1.0 to make every request fail (retry-budget tests).
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        rate: float = 0.3,
        faults: tuple[str, ...] = FAULTS,
        stall: float = 3.0,
        seed: int = 1234,
    ) -> None:
        self.upstream = upstream
        self.rate = rate
        self.faults = faults
        self.stall = stall
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None

    @property
    def endpoint(self) -> str:
        """The proxy's base URL."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _pick(self, method: bytes) -> str:
        with self._lock:
            if self._rng.random() >= self.rate:
                choice = "ok"
            else:
                options = [f for f in self.faults if f != "truncate" or method == b"GET"]
                choice = self._rng.choice(options) if options else "ok"
            self.counts[choice] += 1
            return choice

    def _forward(self, head: bytes, body: bytes) -> bytes:
        with socket.create_connection(self.upstream, timeout=30) as up:
            up.sendall(_with_connection_close(head) + body)
            chunks = []
            while True:
                chunk = up.recv(262144)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks)

    def handle(self, conn: socket.socket) -> None:
        """Serve one client connection (keep-alive loop)."""
        buf = bytearray()
        while True:
            head = _read_head(conn, buf)
            if head is None:
                return
            length = _content_length(head)
            while len(buf) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf.extend(chunk)
            body = bytes(buf[:length])
            del buf[:length]
            method = head.split(b" ", 1)[0]
            if not self._serve_one(conn, method, head, body):
                return

    def _serve_one(self, conn: socket.socket, method: bytes, head: bytes, body: bytes) -> bool:
        fault = self._pick(method)
        if fault == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if fault == "stall":
            time.sleep(self.stall)
            return False
        if fault in ("500", "503"):
            text = b"<Error><Code>SlowDown</Code></Error>" if fault == "503" else b"oops"
            reason = b"Slow Down" if fault == "503" else b"Internal Server Error"
            conn.sendall(
                b"HTTP/1.1 " + fault.encode() + b" " + reason + b"\r\n"
                b"Content-Type: application/xml\r\nContent-Length: "
                + str(len(text)).encode()
                + b"\r\n\r\n"
                + text
            )
            return True
        response = self._forward(head, body)
        split = response.find(b"\r\n\r\n") + 4
        resp_head, resp_body = response[:split], response[split:]
        if fault == "truncate" and len(resp_body) > 1 and _content_length(resp_head) > 1:
            conn.sendall(resp_head + resp_body[: len(resp_body) // 2])
            return False
        conn.sendall(_with_connection_close(resp_head) + resp_body)
        return False

    @contextmanager
    def running(self) -> Iterator[FaultProxy]:
        """Serve on a free port of 127.0.0.1 until the block ends."""
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    proxy.handle(self.request)
                except OSError:
                    pass

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
