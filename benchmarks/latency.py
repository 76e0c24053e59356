"""Whole reads from S3 behind added latency: ``python -m benchmarks.latency [--latency-ms 20]
[--cases img-raw-64,seg-cseg-sharded] [--impls voxelio,cloud-volume,TensorStore]
[--threads 4,8,16,32] [--quick]``.

The loopback S3 server answers in well under a millisecond, so the main benchmark cannot show
how many requests a reader keeps in flight, nor how many rounds of dependent requests it makes
(a sharded read: shard index, then minishard index, then data). Here a relay
(:mod:`benchmarks.delayrelay`, in a process of its own) holds every request, and every new
connection, ``--latency-ms`` before passing it to SeaweedFS. For each case (default: the raw
64³ image, 512 chunk files, and the sharded segmentation, 4 shard files of 64 chunks):

1. every implementation reads the whole volume through the relay, in rounds of fresh
   processes as in the main benchmark's S3 section (``benchmarks.run.s3_reads``): medians
   and the ratios voxelio ÷ each peer (``--quick``: the quick plan's rounds and reads);
2. voxelio reads the whole volume in this process with each of ``--threads``, 3 times, a fresh
   open before each read (the ``default`` row is the count ``CloudVolume`` picks by itself);
   the first read is checked against the data and its requests counted.

Builds the benchmark's data first when it is missing (as ``benchmarks.run`` does; ``--quick``:
the quick plan's smaller volumes).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cases import Case, plan
from benchmarks.data import compare_read
from benchmarks.report import s3_cells
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


class LatencyProxy:
    """The delaying relay (:mod:`benchmarks.delayrelay`) in a process of its own (in this one
    it would share the reader's GIL): its ``endpoint``, and :meth:`requests`, how many it has
    relayed so far."""

    def __init__(self, upstream: str, latency_ms: float) -> None:
        up = urlsplit(upstream)
        command = [sys.executable, "-m", "benchmarks.delayrelay", f"{up.hostname}:{up.port}",
                   str(latency_ms)]  # fmt: skip
        self._proc = subprocess.Popen(command, cwd=REPO, text=True,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        assert self._proc.stdout is not None
        self.endpoint = self._proc.stdout.readline().strip()
        if not self.endpoint.startswith("http://127.0.0.1:"):  # never let a client guess one
            self.close()
            raise RuntimeError(f"the latency relay did not start (it printed {self.endpoint!r})")

    def requests(self) -> int:
        """Requests forwarded so far."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write("\n")
        self._proc.stdin.flush()
        return int(self._proc.stdout.readline())

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait()


def peer_lines(megavoxels: float, results: list[dict[str, Any]]) -> list[str]:
    """One line per implementation: median wall time, MVx/s, and voxelio's ratio to it."""
    cells = s3_cells(results, megavoxels)
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


def thread_sweep(
    url: str,
    secrets: dict[str, str],
    counts: list[int],
    proxy: LatencyProxy,
    case: Case,
    expected: Path,
) -> list[str]:
    """voxelio's whole read of ``url`` in this process: one untimed read, checked against
    ``expected`` and its requests counted, then 3 with each thread count (0: its own choice),
    a fresh open before each; a line for the requests, and one per count with the median."""
    from voxelio import CloudVolume
    from voxelio.image import engine

    def read(threads: int) -> tuple[float, int, np.ndarray]:
        vol = CloudVolume(url, secrets=secrets, parallel=1, progress=False)
        layer, opts = vol._layer(0), vol._options()
        if threads:
            opts = dataclasses.replace(opts, workers=threads)
        start = time.perf_counter()
        out = engine.download(layer, vol.bounds, opts)
        return time.perf_counter() - start, opts.threads, out

    before = proxy.requests()
    out = read(0)[2]
    lines = [f"  voxelio's requests per open and whole read: {proxy.requests() - before}"]
    problem = compare_read(out, np.load(expected, mmap_mode="r"), case.lossless)
    if problem:
        raise RuntimeError(f"voxelio read {url} wrong: {problem}")
    megavoxels = out.size / 1e6
    del out
    for threads in [0, *counts]:
        walls = []
        for _ in range(3):
            wall, used, out = read(threads)
            del out  # before the next read allocates its own
            walls.append(wall)
        wall = statistics.median(walls)
        label = f"default ({used})" if threads == 0 else str(threads)
        lines.append(f"  threads {label:>13}: {wall:.2f} s, {megavoxels / wall:.0f} MVx/s "
                     "(median of 3, one process)")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated case slugs")
    ap.add_argument("--impls", default=",".join(IMPL_ORDER), help="comma-separated")
    ap.add_argument("--threads", default="4,8,16,32", help="voxelio thread counts ('' for none)")
    ap.add_argument("--quick", action="store_true", help="the quick plan's volumes and reads")
    ap.add_argument("--data", default=str(REPO / "benchmarks" / "data"), help="data cache")
    args = ap.parse_args(argv)
    from tests.servers import seaweedfs_s3

    p = plan(args.quick)
    wanted = args.cases.split(",")
    unknown = set(wanted) - {c.slug for c in p.cases}
    if unknown:
        ap.error(f"unknown cases: {', '.join(sorted(unknown))}")
    p.cases[:] = [c for c in p.cases if c.slug in wanted]
    impls = [i for i in IMPL_ORDER if i in args.impls.split(",")]
    counts = [int(t) for t in args.threads.split(",") if t]
    data = Data(Path(args.data), p)
    data.ensure()
    report = []
    with tempfile.TemporaryDirectory() as tmp, seaweedfs_s3(tmp) as server:
        server.create_bucket(S3_BUCKET)
        envs = s3_environments(server, Path(tmp))
        for case in p.cases:
            upload_layer(server, data.layer(case), case.slug)
        proxy = LatencyProxy(server.endpoint, args.latency_ms)
        try:
            proxied = dataclasses.replace(server, endpoint=proxy.endpoint)
            for case in p.cases:
                log(f"{case.slug}: whole reads behind {args.latency_ms:g} ms per request")
                logdir = data.root / "logs" / "latency"
                results = s3_reads(p, data, case, impls, proxied, envs, logdir)
                report += [f"{case.slug}, {args.latency_ms:g} ms per request:"]
                report += peer_lines(math.prod(p.sources[case.source].shape) / 1e6, results)
                url = f"s3://{proxy.endpoint}/{S3_BUCKET}/{case.slug}"
                expected = data.expected(case) or data.source_npy(case.source)
                report += thread_sweep(url, dict(server.secrets), counts, proxy, case, expected)
        finally:
            proxy.close()
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
