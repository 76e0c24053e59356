"""Whole reads from S3 behind added latency: ``python -m benchmarks.latency [--latency-ms 20]
[--cases img-raw-64,seg-cseg-sharded] [--impls voxelio,cloud-volume,TensorStore]
[--threads 4,8,16,32] [--quick]``.

The loopback S3 server answers in well under a millisecond, so the main benchmark cannot show
how many requests a reader keeps in flight, nor how many rounds of dependent requests it makes
(a sharded read: shard index, then minishard index, then data). Here a proxy
(``tests/faultproxy.py``, in a process of its own) delays every request by ``--latency-ms``
before forwarding it to SeaweedFS. For each case (default: the raw 64³ image, 512 chunk
files, and the sharded segmentation, 4 shard files of 64 chunks):

1. every implementation reads the whole volume through the proxy, in rounds of fresh
   processes as in the main benchmark's S3 section (``benchmarks.run.s3_reads``): medians
   and the ratios voxelio ÷ each peer;
2. voxelio reads the whole volume in this process with each of ``--threads`` (a fresh open
   before each read; the ``default`` row is the count ``CloudVolume`` picks by itself).

Builds the benchmark's data first when it is missing (as ``benchmarks.run`` does; ``--quick``:
the quick plan's smaller volumes and fewer reads).
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
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cases import Case, Plan, plan
from benchmarks.report import s3_results
from benchmarks.run import (
    IMPL_ORDER,
    REPO,
    S3_BUCKET,
    Data,
    log,
    s3_environments,
    s3_reads,
    upload_layer,
)

CASES = ("img-raw-64", "seg-cseg-sharded")


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
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.kill()
        proc.wait()


def peer_lines(p: Plan, case: Case, results: list[dict[str, Any]]) -> list[str]:
    """One line per implementation: median wall time, MVx/s, and voxelio's ratio to it."""
    raw = {
        "plan": {"cases": [case.to_json()], "sources": {k: vars(v) for k, v in p.sources.items()}},
        "s3": {"cases": {case.slug: results}},
    }
    cells = s3_results(raw)[case.slug]
    mine = cells.get("voxelio", {}).get("mvx")
    lines = []
    for label, cell in cells.items():
        if "mvx" not in cell:
            lines.append(f"  {label:>13}: error: {cell.get('error', '')[:200]}")
            continue
        ratio = "" if mine is None or label == "voxelio" else f", voxelio {mine / cell['mvx']:.2f}x"
        lines.append(f"  {label:>13}: {cell['wall']:.2f} s, {cell['mvx']:.0f} MVx/s "
                     f"(median of {cell['reads']}){ratio}")  # fmt: skip
    return lines


def thread_sweep(url: str, secrets: dict[str, str], counts: list[int]) -> list[str]:
    """voxelio's whole read of ``url`` with each thread count (0: its own choice), a fresh
    open before each of 3 reads; one line per count with the median."""
    from voxelio import CloudVolume
    from voxelio.image import engine

    lines = []
    for threads in [0, *counts]:
        runs = []
        for _ in range(3):
            vol = CloudVolume(url, secrets=secrets, parallel=1, progress=False)
            layer, opts = vol._layer(0), vol._options()
            if threads:
                opts = dataclasses.replace(opts, workers=threads)
            start = time.perf_counter()
            engine.download(layer, vol.bounds, opts)
            runs.append(time.perf_counter() - start)
        wall = statistics.median(runs)
        label = f"default ({opts.threads})" if threads == 0 else str(threads)
        megavoxels = vol.bounds.volume() / 1e6
        lines.append(f"  threads {label:>13}: {wall:.2f} s, {megavoxels / wall:.0f} MVx/s")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated case slugs")
    ap.add_argument("--impls", default=",".join(IMPL_ORDER), help="comma-separated")
    ap.add_argument("--threads", default="4,8,16,32", help="voxelio thread counts ('' for none)")
    ap.add_argument("--quick", action="store_true", help="smaller volumes, fewer reads")
    ap.add_argument("--data", default=str(REPO / "benchmarks" / "data"), help="data cache")
    args = ap.parse_args(argv)
    from tests.servers import seaweedfs_s3

    p = plan(args.quick)
    p.cases[:] = [c for c in p.cases if c.slug in args.cases.split(",")]
    impls = [i for i in IMPL_ORDER if i in args.impls.split(",")]
    counts = [int(t) for t in args.threads.split(",") if t]
    data = Data(Path(args.data), p)
    data.ensure()
    with tempfile.TemporaryDirectory() as tmp, seaweedfs_s3(tmp) as server:
        server.create_bucket(S3_BUCKET)
        envs = s3_environments(server, Path(tmp))
        for case in p.cases:
            upload_layer(server, data.layer(case), case.slug)
        with latency_proxy(server.endpoint, args.latency_ms / 1000) as endpoint:
            proxied = dataclasses.replace(server, endpoint=endpoint)
            report = []
            for case in p.cases:
                log(f"{case.slug}: whole reads behind {args.latency_ms:g} ms per request")
                results = s3_reads(
                    p, data, case, impls, proxied, envs, data.root / "logs" / "latency"
                )
                report += [f"{case.slug}, {args.latency_ms:g} ms per request:"]
                report += peer_lines(p, case, results)
                url = f"s3://{endpoint}/{S3_BUCKET}/{case.slug}"
                report += thread_sweep(url, dict(server.secrets), counts)
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
