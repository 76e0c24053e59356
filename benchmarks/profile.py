"""Profile one implementation on one case: ``python -m benchmarks.profile CASE OP [options]``.

Runs the same worker as the benchmark under py-spy (sampling every thread, native frames
included) and prints where the samples fall: by leaf function (self time), by function anywhere
on the stack (inclusive time), and the share of samples in which the sampled thread held the GIL.
``OP`` is one of ``read``, ``write``, ``cutouts``, ``subbox``. The data must exist (run
``python -m benchmarks.run`` once, with ``--quick`` for the quick data). Example::

    python -m benchmarks.profile seg-cseg-64 read --repeats 3

py-spy sees user space only. With ``--perf`` the worker runs under Linux ``perf record``
instead, which also samples the kernel (page faults, zeroing the pages of a new output array,
file reads) and native libraries without Python's frames; the report gives the share of the
samples by shared object and by function::

    python -m benchmarks.profile seg-gzip-64 read --perf
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import data as D
from benchmarks.cases import layer_info, plan
from benchmarks.run import REPO, Data, ops_for


def job_for(
    quick: bool, data_dir: Path, slug: str, op: str, impl: str, repeats: int, workdir: Path
) -> dict:
    p = plan(quick)
    case = next(c for c in p.cases if c.slug == slug)
    src = p.sources[case.source]
    data = Data(data_dir, p)
    info = layer_info(case, src)
    spec = ops_for(p, case, src)[op]
    spec["repeats"] = repeats
    spec["repeats_long"] = repeats
    shard_boxes = None
    if case.sharded:
        shard_boxes = {
            str(k): v for k, v in D.shard_boxes(src, case, info["scales"][0]["sharding"]).items()
        }
    return {
        "impl": impl,
        "label": impl,
        "options": {"parallel": 1},
        "case": case.to_json(),
        "url": "file://" + str(data.layer(case)),
        "source": str(data.source_npy(src.name)),
        "expected": str(data.expected(case) or ""),
        "write_dir": str(workdir / "written"),
        "info": info,
        "shard_boxes": shard_boxes,
        "ops": {op: spec},
        "no_check": True,
    }


def summarize(raw: Path, top: int) -> str:
    """Self and inclusive sample counts per function from py-spy's raw (collapsed) output."""
    self_c: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f]
        frames = frames[1:] if frames and frames[0].startswith(("thread", "process")) else frames
        total += n
        if frames:
            self_c[_short(frames[-1])] += n
        for f in {_short(f) for f in frames}:
            incl[f] += n
    out = [f"{total} samples (all threads)", "", "self (leaf) time:"]
    out += [f"  {c / total:6.1%}  {f}" for f, c in self_c.most_common(top)]
    out += ["", "inclusive time:"]
    out += [f"  {c / total:6.1%}  {f}" for f, c in incl.most_common(top)]
    return "\n".join(out)


def perf_summary(report: str, top: int) -> str:
    """Shares by shared object and by function from ``perf report --stdio --sort dso,sym``;
    functions of a library without symbols count as one, named after the library."""
    by_dso: collections.defaultdict[str, float] = collections.defaultdict(float)
    by_sym: collections.defaultdict[str, float] = collections.defaultdict(float)
    for line in report.splitlines():
        parts = line.split()
        if len(parts) < 4 or not parts[0].endswith("%") or line.lstrip().startswith("#"):
            continue
        share, dso, sym = float(parts[0][:-1]), parts[1], " ".join(parts[3:])
        by_dso[dso] += share
        by_sym[f"{dso}: {sym}" if not sym.startswith("0x") else f"{dso}: (no symbols)"] += share
    out = ["by shared object:"]
    out += [f"  {v:6.2f}%  {k}" for k, v in _largest(by_dso, top)]
    out += ["", "by function:"]
    out += [f"  {v:6.2f}%  {k}" for k, v in _largest(by_sym, top)]
    return "\n".join(out)


def _largest(shares: dict[str, float], top: int) -> list[tuple[str, float]]:
    return sorted(shares.items(), key=lambda kv: -kv[1])[:top]


def run_perf(workdir: Path, rate: int, top: int) -> int:
    """The worker under ``perf record``; prints :func:`perf_summary` of its samples."""
    if shutil.which("perf") is None:
        print("perf is not installed (Debian: apt-get install linux-perf)", file=sys.stderr)
        return 2
    data = workdir / "perf.data"
    worker = [sys.executable, "-m", "benchmarks.worker", str(workdir / "job.json")]
    rec = subprocess.run(
        ["perf", "record", "-F", str(rate), "-o", str(data), "--", *worker],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if rec.returncode != 0 or not data.exists():
        print(rec.stderr[-2000:], file=sys.stderr)
        return 1
    report = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "--no-children"]
        + ["--sort", "dso,sym", "-g", "none", "--percent-limit", "0"],
        capture_output=True,
        text=True,
    )
    if report.returncode != 0:
        print(report.stderr[-2000:], file=sys.stderr)
        return 1
    print(perf_summary(report.stdout, top))
    return 0


def _short(frame: str) -> str:
    frame = frame.replace(str(REPO) + "/", "")
    if "site-packages/" in frame:
        frame = frame.split("site-packages/", 1)[1]
    return frame


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case")
    ap.add_argument("op", choices=["read", "write", "cutouts", "subbox"])
    ap.add_argument("--impl", default="voxelio")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--data", default=str(REPO / "benchmarks" / "data"))
    ap.add_argument(
        "--rate", type=int, help="samples per second (default 100 for py-spy, 1000 for perf)"
    )
    ap.add_argument(
        "--native", action="store_true", help="include native frames (slows the process down a lot)"
    )
    ap.add_argument(
        "--perf",
        action="store_true",
        help="sample with Linux perf (kernel included) instead of py-spy",
    )
    args = ap.parse_args(argv)
    rate = args.rate or (1000 if args.perf else 100)
    if not args.perf and shutil.which("py-spy") is None:
        print("py-spy is not installed (pip install py-spy)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="voxelio-profile-") as tmp:
        workdir = Path(tmp)
        job = job_for(
            args.quick, Path(args.data), args.case, args.op, args.impl, args.repeats, workdir
        )
        (workdir / "job.json").write_text(json.dumps(job))
        if args.perf:
            print(f"==== {args.impl} {args.case} {args.op}: perf samples, all threads")
            return run_perf(workdir, rate, args.top)
        for gil in (False, True):
            raw = workdir / ("gil.txt" if gil else "all.txt")
            cmd = (
                [
                    "py-spy",
                    "record",
                    "--threads",
                    "-r",
                    str(rate),
                    "--format",
                    "raw",
                    "-o",
                    str(raw),
                ]
                + (["--gil"] if gil else [])
                + (["--native"] if args.native else [])
                + ["--", sys.executable, "-m", "benchmarks.worker", str(workdir / "job.json")]
            )
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            if proc.returncode != 0 or not raw.exists():
                print(proc.stderr[-2000:], file=sys.stderr)
                return 1
            print(
                f"==== {args.impl} {args.case} {args.op}: "
                + ("samples holding the GIL" if gil else "all active threads")
            )
            print(summarize(raw, args.top))
            print()
            if not gil:
                result = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
                if result:
                    print("worker result:", result[-1][:500])
                    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
