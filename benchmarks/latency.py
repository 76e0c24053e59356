"""Whole reads from S3 behind added latency, by voxelio's thread count: ``python -m
benchmarks.latency [--latency-ms 20] [--threads 4,8,16,32]``.

The loopback S3 server answers in well under a millisecond, so the main benchmark cannot show
how many requests a reader keeps in flight. Here a proxy (``tests/faultproxy.py``) delays every
request by ``--latency-ms`` before forwarding it to SeaweedFS, and voxelio reads the raw 64³
layer of the full benchmark data (256 chunks of its lower half) with each thread count; the
``default`` row is what ``CloudVolume`` picks by itself. Prints medians of 3 runs. Run
``python -m benchmarks.run`` once first, so the data exists.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import seaweedfs_s3

from voxelio import Bbox, CloudVolume
from voxelio.image import engine

LAYER = Path(__file__).resolve().parent / "data" / "v1-full" / "layers" / "img-raw-64"


@contextlib.contextmanager
def latency_proxy(upstream: str, latency: float) -> Iterator[str]:
    """A delaying proxy in its own process (in this one it would share the reader's GIL)."""
    up = urlsplit(upstream)
    code = (
        "import sys, time\n"
        "from tests.faultproxy import FaultProxy\n"
        f"proxy = FaultProxy(({up.hostname!r}, {up.port}), rate=0.0, latency={latency!r})\n"
        "with proxy.running():\n"
        "    print(proxy.endpoint, flush=True)\n"
        "    sys.stdin.read()\n"
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--threads", default="4,8,16,32")
    args = ap.parse_args(argv)
    if not LAYER.exists():
        sys.exit(f"{LAYER} is missing: run python -m benchmarks.run first")
    with tempfile.TemporaryDirectory() as tmp, seaweedfs_s3(tmp) as server:
        server.create_bucket("bench")
        client = server.boto3_client()
        for path in (p for p in LAYER.rglob("*") if p.is_file()):
            key = "raw/" + path.relative_to(LAYER).as_posix()
            client.put_object(Bucket="bench", Key=key, Body=path.read_bytes())
        with latency_proxy(server.endpoint, args.latency_ms / 1000) as endpoint:
            vol = CloudVolume(f"s3://{endpoint}/bench/raw", secrets=dict(server.secrets),
                              parallel=1, progress=False)  # fmt: skip
            layer, default = vol._layer(0), vol._options()
            size = vol.bounds.size3()
            box = Bbox((0, 0, 0), (size[0], size[1], size[2] // 2))
            print(f"latency {args.latency_ms:g} ms per request, {box} ({box.volume() / 1e6:.0f} "
                  f"MVx, 256 chunks)")  # fmt: skip
            counts = [0] + [int(t) for t in args.threads.split(",")]
            for threads in counts:
                opts = dataclasses.replace(default, workers=threads) if threads else default
                runs = []
                for _ in range(3):
                    start = time.perf_counter()
                    engine.download(layer, box, opts)
                    runs.append(time.perf_counter() - start)
                wall = statistics.median(runs)
                label = f"default ({opts.threads})" if threads == 0 else str(threads)
                print(f"threads {label:>13}: {wall:.2f} s, {box.volume() / wall / 1e6:.0f} MVx/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
