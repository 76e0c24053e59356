"""A TCP relay that delays every HTTP request: ``python -m benchmarks.delayrelay HOST:PORT MS``.

A stand-in for a distant server, for a kernel that cannot delay loopback packets itself (no
``netem`` here). Each client connection gets an upstream connection of its own, kept as long
as the client keeps its own, so keep-alive works as it would against the real server. The
relay parses nothing: a read from the client that starts with an HTTP method (a request's
head) waits MS milliseconds before it goes upstream, and so does every new connection; the
rest of the bytes, a request's body and every response, pass at once. So each request costs
one added round trip, as behind a server MS milliseconds away, and a new connection one more.

Prints its endpoint (``http://127.0.0.1:PORT``), then, for each line read from stdin, the
number of requests relayed so far; it ends when stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

METHODS = (b"GET ", b"HEAD ", b"PUT ", b"POST ", b"DELETE ")
READ_SIZE = 1 << 18


class DelayRelay:
    """Relays ``127.0.0.1:port`` to ``upstream``, each request head held ``delay`` seconds."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self.requests = 0

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client connection until either side closes it."""
        await asyncio.sleep(self.delay)  # the connection's own round trip
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pump(reader, up_writer, True), self._pump(up_reader, writer))

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, requests: bool = False
    ) -> None:
        try:
            while data := await src.read(READ_SIZE):
                if requests and data.startswith(METHODS):
                    self.requests += 1
                    await asyncio.sleep(self.delay)
                dst.write(data)
                await dst.drain()
        except OSError:
            pass  # the other side went away: closing ours ends its pump too
        finally:
            dst.close()


async def serve(upstream: tuple[str, int], delay: float) -> None:
    """Run the relay; answer each stdin line with the request count; stop at end of stdin."""
    relay = DelayRelay(upstream, delay)
    server = await asyncio.start_server(relay.connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}", flush=True)
    loop = asyncio.get_running_loop()
    async with server:
        while await loop.run_in_executor(None, sys.stdin.readline):
            print(relay.requests, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.exit(__doc__.splitlines()[0])
    host, _, port = args[0].rpartition(":")
    asyncio.run(serve((host, int(port)), float(args[1]) / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
