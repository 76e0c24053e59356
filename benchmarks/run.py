"""The peer benchmark: ``python -m benchmarks.run [--quick] [--check] [--out FILE]``.

Builds the test volumes and the neutral layers once (cached in ``benchmarks/data/``), measures
the physical limits, runs voxelio, cloud-volume and TensorStore on every case, each in a fresh
process (:mod:`benchmarks.worker`), then writes ``RESULTS.md`` (and the raw numbers as JSON
beside the data). ``--check`` exits non-zero when voxelio returned a wrong result, crashed, or
wrote a layer that the neutral reader finds wrong (the peers' problems are printed only); missed
performance targets do not fail it (the machine is shared and noisy). See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks import data as D
from benchmarks import limits as L
from benchmarks.cases import Case, Plan, Source, layer_info, plan
from benchmarks.report import environment, render

REPO = Path(__file__).resolve().parent.parent
DATA_VERSION = "v1"
WRITTEN = "written"  # the directory of the layers the implementations write
IMPL_ORDER = ["voxelio", "cloud-volume", "TensorStore"]
WORKER_TIMEOUT = 900


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- data


class Data:
    """Where the cached sources and neutral layers of one plan live."""

    def __init__(self, root: Path, p: Plan) -> None:
        self.root = root / f"{DATA_VERSION}-{p.mode}"
        self.plan = p

    def source_npy(self, name: str) -> Path:
        return self.root / f"{name}.npy"

    def layer(self, case: Case) -> Path:
        return self.root / "layers" / case.slug

    def expected(self, case: Case) -> Path | None:
        """The neutral decode of a lossy layer (what every reader must return)."""
        return None if case.lossless else self.root / f"expected-{case.slug}.npy"

    def written(self, impl: str, case: Case) -> Path:
        """The directory under which ``impl``'s writes of ``case`` go, each write in its own."""
        return self.root / WRITTEN / impl.replace(" ", "_") / case.slug

    def set_aside_written(self) -> None:
        """Move the written layers an earlier run left (it was stopped before its end) out of
        the way: a rename, since deleting them now would slow this run's writes down."""
        written = self.root / WRITTEN
        if written.is_dir():
            written.rename(self.root / f"{WRITTEN}-old-{time.time_ns()}")

    def delete_written(self) -> None:
        """Delete every written layer, this run's and those set aside (when a run ends)."""
        for path in self.root.glob(f"{WRITTEN}*"):
            if path.is_dir():
                shutil.rmtree(path)

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for src in self.plan.sources.values():
            path = self.source_npy(src.name)
            if path.exists():
                continue
            log(f"generating {src.name} {src.shape} {src.dtype} ...")
            t0 = time.perf_counter()
            arr = (
                D.make_image(src.shape)
                if src.name == "image"
                else D.make_seg(src.shape, src.labels)
            )
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, arr)
            os.replace(tmp, path)
            extra = f", {len(np.unique(arr))} labels" if src.name == "seg" else ""
            log(f"  done in {time.perf_counter() - t0:.1f}s{extra}")
            del arr
        for case in self.plan.cases:
            layer = self.layer(case)
            if (layer / ".complete").exists():
                continue
            log(f"writing neutral layer {case.slug} ...")
            t0 = time.perf_counter()
            if layer.exists():
                shutil.rmtree(layer)
            src = self.plan.sources[case.source]
            arr = np.load(self.source_npy(src.name))
            D.write_layer(layer, case, src, arr)
            (layer / ".complete").write_text("")
            log(f"  done in {time.perf_counter() - t0:.1f}s, {D.stored_bytes(layer) / 1e6:.1f} MB")
        for case in self.plan.cases:
            expected = self.expected(case)
            if expected is not None and not expected.exists():
                src = self.plan.sources[case.source]
                tmp = expected.with_suffix(".tmp.npy")
                np.save(tmp, D.decode_layer(self.layer(case), case, src))
                os.replace(tmp, expected)


# ----------------------------------------------------------------------------- workers


def subbox(src: Source, size: int) -> D.Box:
    lo = tuple(int(s) // 2 - size // 2 + o for s, o in zip(src.shape, (7, 11, 5)))
    return lo, tuple(v + size for v in lo)  # type: ignore[return-value]


def cutout_boxes(src: Source, case: Case, n: int, size: int, seed: int = 0) -> list[D.Box]:
    rng = np.random.default_rng(seed)
    boxes = []
    for _ in range(n):
        lo = [int(rng.integers(0, s - size + 1)) for s in src.shape]
        if all(v % c == 0 for v, c in zip(lo, case.chunk)):
            lo[0] += 1 if lo[0] + size < src.shape[0] else -1
        boxes.append((tuple(lo), tuple(v + size for v in lo)))
    return boxes  # type: ignore[return-value]


def run_worker(job: dict[str, Any], logdir: Path) -> dict[str, Any]:
    """Run one job in a fresh interpreter; return its result (errors included)."""
    logdir.mkdir(parents=True, exist_ok=True)
    name = f"{job['case']['slug']}-{job['label'].replace(' ', '_').replace('=', '')}"
    jobfile = logdir / f"{name}.job.json"
    jobfile.write_text(json.dumps(job))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.worker", str(jobfile)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return {
            "impl": job["impl"],
            "label": job["label"],
            "case": job["case"]["slug"],
            "ops": {op: {"error": f"timed out after {WORKER_TIMEOUT}s"} for op in job["ops"]},
        }
    (logdir / f"{name}.stderr.txt").write_text(proc.stderr)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {
            "impl": job["impl"],
            "label": job["label"],
            "case": job["case"]["slug"],
            "ops": {
                op: {"error": f"worker exited {proc.returncode}: {tail[0][:300]}"}
                for op in job["ops"]
            },
        }
    return json.loads(lines[-1])


def ops_for(p: Plan, case: Case, src: Source) -> dict[str, Any]:
    return {
        "rss": {},
        "read": {"repeats": p.read_repeats, "repeats_long": p.read_repeats_long},
        "subbox": {"repeats": p.subbox_repeats, "box": subbox(src, p.subbox_size)},
        "cutouts": {
            "repeats": p.cutout_repeats,
            "boxes": cutout_boxes(src, case, p.cutouts, p.cutout_size),
        },
        "write": {"repeats": p.write_repeats},
    }


def _split(ops: dict[str, Any], rounds: int, r: int) -> dict[str, Any]:
    """The share of round ``r`` of the repeats (the fresh-process RSS read only in round 0)."""
    out: dict[str, Any] = {}
    for op, spec in ops.items():
        if op == "rss":
            if r == 0:
                out[op] = spec
            continue
        spec = dict(spec)
        n = spec["repeats"]
        share = n // rounds + (1 if r < n % rounds else 0)
        if share == 0:
            continue
        spec["repeats"] = share
        if "repeats_long" in spec:
            long_n = spec["repeats_long"]
            spec["repeats_long"] = max(1, long_n // rounds + (1 if r < long_n % rounds else 0))
        out[op] = spec
    return out


def _merge(into: dict[str, Any] | None, res: dict[str, Any]) -> dict[str, Any]:
    if into is None:
        return res
    for op, r in res["ops"].items():
        have = into["ops"].get(op)
        if have is None or "na" in have:
            into["ops"][op] = r
        elif "error" in have:
            continue  # a wrong result or a crash in any round stands
        elif "error" in r:
            have["error"] = r["error"]
        elif "times" in r and "times" in have:
            for key in ("times", "cpu", "server_cpu"):
                if key in r and key in have:
                    have[key] = have[key] + r[key]
                else:
                    have.pop(key, None)  # a list that would no longer line up with times
    into["seconds"] = into.get("seconds", 0) + res.get("seconds", 0)
    return into


def in_rounds(
    rounds: int,
    variants: list[tuple[str, dict[str, Any]]],
    run: Callable[[str, dict[str, Any]], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Each ``(label, ops)`` variant's repeats spread over ``rounds`` rounds of fresh
    processes (``run(label, ops)`` runs one worker), the order reversed in every other round
    so a change of the machine's load does not favour one; the results merged per label, in
    the variants' order."""
    merged: dict[str, dict[str, Any]] = {}
    for r in range(rounds):
        for label, ops in variants if r % 2 == 0 else variants[::-1]:
            share = _split(ops, rounds, r)
            if share:
                merged[label] = _merge(merged.get(label), run(label, share))
    return [merged[label] for label, _ in variants if label in merged]


def bench_case(
    p: Plan,
    data: Data,
    case: Case,
    impls: list[str],
    logdir: Path,
) -> list[dict[str, Any]]:
    """Every implementation on one case, in ``p.rounds`` rounds of fresh processes.

    The order of the implementations alternates between rounds, so a change of the machine's
    load during the case does not favour one of them.
    """
    src = p.sources[case.source]
    info = layer_info(case, src)
    shard_boxes = None
    if case.sharded:
        shard_boxes = {
            str(k): v for k, v in D.shard_boxes(src, case, info["scales"][0]["sharding"]).items()
        }
    variants: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    for impl in impls:
        ops = ops_for(p, case, src)
        if impl == "cloud-volume":
            variants.append((impl, "cloud-volume (parallel=1)", {"parallel": 1}, ops))
            for par in p.cv_parallel:
                if par != 1 and case.slug in p.cv_parallel_cases:
                    extra = {k: ops[k] for k in ("read", "write")}
                    variants.append(
                        (impl, f"cloud-volume (parallel={par})", {"parallel": par}, extra)
                    )
        else:
            variants.append((impl, impl, {}, ops))
    settings = {label: (impl, options) for impl, label, options, _ in variants}

    def run(label: str, ops: dict[str, Any]) -> dict[str, Any]:
        impl, options = settings[label]
        job = {
            "impl": impl,
            "label": label,
            "options": options,
            "case": case.to_json(),
            "url": "file://" + str(data.layer(case)),
            "source": str(data.source_npy(src.name)),
            "expected": str(data.expected(case) or ""),
            "write_dir": str(data.written(label, case)),
            "info": info,
            "shard_boxes": shard_boxes,
            "ops": ops,
        }
        t0 = time.perf_counter()
        res = run_worker(job, logdir)
        res["seconds"] = time.perf_counter() - t0
        check_written(data, case, src, res)
        log(f"  {case.slug:18s} {label:26s} {res['seconds']:6.1f}s  " + summary_line(res))
        return res

    return in_rounds(p.rounds, [(label, ops) for _, label, _, ops in variants], run)


def check_written(data: Data, case: Case, src: Source, res: dict[str, Any]) -> None:
    """Size and neutral spot check of the last layer the worker wrote (deleted, with the
    others, when the run ends)."""
    wres = res["ops"].get("write", {})
    layer = wres.pop("layer", "")  # a path that will not outlive the run
    written = Path(layer) if layer else None
    if "times" in wres and written is not None and written.exists():
        wres["stored_bytes"] = D.stored_bytes(written)
        expected = np.load(data.source_npy(src.name), mmap_mode="r")
        problem = D.spot_check(written, case, src, expected)
        if problem:
            wres["error"] = f"written layer is wrong: {problem}"
        wres["spot_check"] = "ok" if not problem else problem


def summary_line(res: dict[str, Any]) -> str:
    parts = []
    for op, r in res["ops"].items():
        if "times" in r:
            parts.append(f"{op}={np.median(r['times']):.3f}s")
        elif "ratio" in r:
            parts.append(f"rss={r['ratio']:.2f}x")
        elif "na" in r:
            parts.append(f"{op}=n/a")
        else:
            parts.append(f"{op}=ERROR({r.get('error', '')[:80]})")
    return " ".join(parts)


# ----------------------------------------------------------------------------- S3


S3_BUCKET = "bench"


def bench_s3(
    p: Plan,
    data: Data,
    cases: list[Case],
    impls: list[str],
    logdir: Path,
) -> dict[str, Any]:
    """Whole reads over a loopback SeaweedFS S3 server (``tests/servers.py``), each case's in
    ``p.rounds`` rounds of fresh processes of its own (:func:`in_rounds`)."""
    try:
        from tests.servers import seaweedfs_s3
    except Exception as exc:  # the test helpers are not importable
        return {"na": f"tests.servers is not importable ({type(exc).__name__}: {exc})"}
    results: dict[str, Any] = {"cases": {}, "fetch": {}}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="voxelio-bench-s3-") as tmp,
            seaweedfs_s3(tmp) as server,
        ):
            server.create_bucket(S3_BUCKET)
            envs = s3_environments(server, Path(tmp))
            for case in cases:
                keys = upload_layer(server, data.layer(case), case.slug)
                fetch = L.fetch_objects(
                    obstore_s3(server, S3_BUCKET), keys, p.s3_repeats, server.pid
                )
                results["fetch"][case.slug] = fetch
                log(f"  s3 {case.slug:15s} {'obstore fetch (limit)':26s} {fetch['wall']:.3f}s")
                results["cases"][case.slug] = s3_reads(p, data, case, impls, server, envs, logdir)
    except Exception as exc:
        results["na"] = f"S3 server: {type(exc).__name__}: {exc}"
    return results


def upload_layer(server: Any, layer: Path, prefix: str) -> list[str]:
    """Upload ``layer``'s info and chunk files below ``prefix`` with boto3; the chunk keys."""
    client = server.boto3_client()
    t0 = time.perf_counter()
    client.put_object(Bucket=S3_BUCKET, Key=f"{prefix}/info", Body=(layer / "info").read_bytes())
    keys = []
    for path in D.chunk_files(layer):
        keys.append(f"{prefix}/{path.relative_to(layer).as_posix()}")
        client.put_object(Bucket=S3_BUCKET, Key=keys[-1], Body=path.read_bytes())
    log(f"  uploaded {prefix} to S3 in {time.perf_counter() - t0:.1f}s")
    return keys


def s3_reads(
    p: Plan,
    data: Data,
    case: Case,
    impls: list[str],
    server: Any,
    envs: dict[str, dict[str, str]],
    logdir: Path,
) -> list[dict[str, Any]]:
    """Every implementation's whole reads of ``case`` over the S3 server, in rounds."""
    src = p.sources[case.source]
    s3 = {"endpoint": server.endpoint, "bucket": S3_BUCKET, "prefix": case.slug,
          "region": server.region}  # fmt: skip

    def run(impl: str, ops: dict[str, Any]) -> dict[str, Any]:
        job = {
            "impl": impl,
            "label": impl,
            "options": {"secrets": dict(server.secrets), "s3": s3},
            "case": case.to_json(),
            "url": f"s3://{server.endpoint}/{S3_BUCKET}/{case.slug}",
            "source": str(data.source_npy(src.name)),
            "env": envs[impl],
            "expected": str(data.expected(case) or ""),
            "server_pid": server.pid,
            "ops": ops,
        }
        res = run_worker(job, logdir / "s3")
        log(f"  s3 {case.slug:15s} {impl:26s} " + summary_line(res))
        return res

    reads = {"read": {"repeats": p.s3_repeats, "repeats_long": p.s3_repeats}}
    return in_rounds(p.rounds, [(impl, reads) for impl in impls], run)


def obstore_s3(server: Any, bucket: str) -> Any:
    """An obstore client of the loopback server's bucket, with explicit credentials."""
    from obstore.store import S3Store

    return S3Store(
        bucket,
        endpoint=server.endpoint,
        region=server.region,
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
        client_options={"allow_http": True},
    )


def s3_environments(server: Any, tmp: Path) -> dict[str, dict[str, str]]:
    """Each client's credentials, explicit, with instance-metadata lookups switched off.

    voxelio gets ``secrets=``; TensorStore's ``s3`` kvstore reads the ``AWS_*`` environment;
    cloud-files (under cloud-volume) reads a secret file from ``$CLOUD_VOLUME_DIR/secrets``
    (it ignores ``secrets=`` for its S3 connection pool and needs ``AWS_SESSION_TOKEN`` when it
    falls back to the environment).
    """
    cv_dir = tmp / "cloudvolume-home"
    (cv_dir / "secrets").mkdir(parents=True, exist_ok=True)
    secret = json.dumps({**server.secrets, "AWS_DEFAULT_REGION": server.region})
    for name in ("aws-secret.json", "vxbench-secret.json", "s3-secret.json"):
        (cv_dir / "secrets" / name).write_text(secret)
    quiet = {"AWS_EC2_METADATA_DISABLED": "true"}
    return {
        "voxelio": dict(quiet),
        "TensorStore": {
            **quiet,
            "AWS_ACCESS_KEY_ID": server.access_key,
            "AWS_SECRET_ACCESS_KEY": server.secret_key,
            "AWS_REGION": server.region,
            "AWS_DEFAULT_REGION": server.region,
        },
        "cloud-volume": {
            **quiet,
            "CLOUD_VOLUME_DIR": str(cv_dir),
            "CLOUD_FILES_DIR": str(tmp / "cloudfiles-home"),
        },
    }


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller volumes, fewer repeats")
    ap.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when voxelio returns a wrong result, crashes or writes a wrong "
        "layer (peers' problems are printed, not failed)",
    )
    ap.add_argument(
        "--out",
        default=None,
        help="report path (default benchmarks/RESULTS.md; with --quick, RESULTS.md "
        "in the data directory, so a quick run never replaces the full one)",
    )
    ap.add_argument(
        "--data",
        default=str(REPO / "benchmarks" / "data"),
        help="cache directory for volumes and layers",
    )
    ap.add_argument("--cases", default="", help="comma-separated case slugs (default: all)")
    ap.add_argument("--impls", default=",".join(IMPL_ORDER), help="comma-separated")
    ap.add_argument("--no-s3", action="store_true", help="skip the S3 whole reads")
    ap.add_argument("--no-limits", action="store_true", help="skip the physical limits")
    ap.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the report from the last run's results.json, measuring nothing",
    )
    args = ap.parse_args(argv)
    if args.render_only:
        p = plan(args.quick)
        data = Data(Path(args.data), p)
        raw = json.loads((data.root / "results.json").read_text())
        out_path = (
            Path(args.out)
            if args.out
            else (data.root / "RESULTS.md" if args.quick else REPO / "benchmarks" / "RESULTS.md")
        )
        out_path.write_text(render(raw))
        log(f"wrote {out_path} from {data.root / 'results.json'}")
        return 0

    t_start = time.perf_counter()
    p = plan(args.quick)
    if args.cases:
        wanted = set(args.cases.split(","))
        p.cases[:] = [c for c in p.cases if c.slug in wanted]
    impls = [i for i in IMPL_ORDER if i in args.impls.split(",")]
    data = Data(Path(args.data), p)
    out_path = (
        Path(args.out)
        if args.out
        else (data.root / "RESULTS.md" if args.quick else REPO / "benchmarks" / "RESULTS.md")
    )
    env_before = environment()
    log(f"mode {p.mode}; data in {data.root}")
    data.ensure()
    data.set_aside_written()
    try:
        raw = measure(args, p, data, impls)
    finally:
        data.delete_written()  # also when the run is stopped or fails
    raw["env_before"] = env_before
    raw["elapsed"] = elapsed = time.perf_counter() - t_start
    (data.root / "results.json").write_text(json.dumps(raw, indent=1, default=str))
    out_path.write_text(render(raw))
    log(f"wrote {out_path} ({elapsed / 60:.1f} min)")

    if args.check:
        bad = problems(raw, "voxelio")
        for b in problems(raw, None):
            if b not in bad:
                print("peer problem (not failing the check):", b)
        for b in bad:
            print("CHECK FAILED:", b)
        print("check:", "ok" if not bad else f"{len(bad)} problem(s)")
        return 1 if bad else 0
    return 0


def measure(args: argparse.Namespace, p: Plan, data: Data, impls: list[str]) -> dict[str, Any]:
    """The limits, every case and the S3 reads of a run: the raw results (without the
    environment before and the elapsed time, which the caller adds)."""
    logdir = data.root / "logs"

    limits: dict[str, Any] = {}
    if not args.no_limits:
        for name, src in p.sources.items():
            limits[f"memcpy:{name}"] = L.memcpy(src.nbytes, p.memcpy_repeats)
        for case in p.cases:
            src = p.sources[case.source]
            t0 = time.perf_counter()
            limits[case.slug] = L.case_limits(
                data.layer(case),
                case,
                src,
                data.source_npy(src.name),
                p.limit_repeats,
                data.written("limit", case),
            )
            log(f"limits {case.slug}: {time.perf_counter() - t0:.1f}s")

    results: list[dict[str, Any]] = []
    for case in p.cases:
        log(f"case {case.slug}")
        results.extend(bench_case(p, data, case, impls, logdir))

    s3: dict[str, Any] = {"na": "skipped (--no-s3)"}
    s3_cases = [c for c in p.cases if c.s3]
    if not args.no_s3 and s3_cases:
        log("S3 whole reads")
        s3 = bench_s3(p, data, s3_cases, impls, logdir)

    command = (
        "python -m benchmarks.run"
        + (" --quick" if args.quick else "")
        + (" --check" if args.check else "")
    )
    return {
        "plan": plan_json(p),
        "env_after": environment(),
        "limits": limits,
        "results": results,
        "s3": s3,
        "command": command,
    }


def plan_json(p: Plan) -> dict[str, Any]:
    """The plan as ``results.json`` records it (what the report reads back)."""
    return {
        "mode": p.mode,
        "sources": {k: vars(v) for k, v in p.sources.items()},
        "cases": [c.to_json() for c in p.cases],
        "cutouts": p.cutouts,
        "cutout_size": p.cutout_size,
        "subbox_size": p.subbox_size,
        "subbox_repeats": p.subbox_repeats,
        "rounds": p.rounds,
        "read_repeats": p.read_repeats,
        "read_repeats_long": p.read_repeats_long,
        "write_repeats": p.write_repeats,
        "cutout_repeats": p.cutout_repeats,
        "limit_repeats": p.limit_repeats,
        "memcpy_repeats": p.memcpy_repeats,
        "s3_repeats": p.s3_repeats,
        "s3_rounds": p.rounds,  # older results.json: the S3 reads ran in one process
        "fresh_write_dirs": True,
    }


def problems(raw: dict[str, Any], impl: str | None) -> list[str]:
    """Wrong results, crashes and bad written layers of ``impl`` (all when None).

    n/a and slowness are not problems.
    """
    bad = []
    all_results = list(raw["results"])
    for per_case in raw.get("s3", {}).get("cases", {}).values():
        all_results.extend(per_case)
    for res in all_results:
        if impl is not None and res["impl"] != impl:
            continue
        for op, r in res["ops"].items():
            if "error" in r:
                bad.append(f"{res['case']} {res['label']} {op}: {r['error']}")
    return bad


if __name__ == "__main__":
    sys.exit(main())
