"""One implementation on one case, in a fresh process: ``python -m benchmarks.worker JOB.json``.

The job (written by :mod:`benchmarks.run`) names the implementation, the case, the layer to
read, where to write, the operations and their repeat counts. The operations run in this order,
so the first whole read is the fresh-process one whose peak memory is measured:

- ``rss``: open, then one whole read; peak RSS above the RSS right before the read (VmHWM is
  reset through ``/proc/self/clear_refs``), compared with the output array's size;
- ``read``: whole-volume reads through one open volume;
- ``subbox``: open + one non-aligned 100³ read, a new open each time (storage requests
  counted on the first);
- ``cutouts``: random non-aligned 64³ reads through one open volume;
- ``write``: create the layer and write the whole volume, each time in a new directory
  (nothing is deleted: see :func:`benchmarks.data.fresh_dir`; each written layer is dropped
  from the page cache after its timing: see :func:`benchmarks.data.evict`).

Every result is checked against the source data; a wrong result is reported as an error and
its timing is dropped. The result is one JSON object on the last line of stdout.
"""

from __future__ import annotations

import gc
import json
import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.cases import LONG_SECONDS, Case
from benchmarks.data import Box, compare_read, evict, fresh_dir
from benchmarks.impls import IMPLS, Impl, NotSupported
from benchmarks.limits import process_cpu_seconds


def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in bytes."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, val = line.split(":")
                out[key] = int(val.split()[0]) * 1024
    return out


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def cpu_seconds() -> float:
    t = os.times()  # children: cloud-volume's parallel=2 worker processes
    return t.user + t.system + t.children_user + t.children_system


class Timer:
    def __enter__(self) -> Timer:
        self.c0 = cpu_seconds()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = cpu_seconds() - self.c0


def _slices(box: Box) -> tuple[slice, slice, slice]:
    (x0, y0, z0), (x1, y1, z1) = box
    return slice(x0, x1), slice(y0, y1), slice(z0, z1)


class Worker:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.case = Case.from_json(job["case"])
        self.impl: Impl = IMPLS[job["impl"]](job.get("options", {}))
        self._source: np.ndarray | None = None

    @property
    def expected(self) -> np.ndarray:
        """What a correct read returns: the source, or the neutral decode of lossy layers."""
        if self._source is None:
            self._source = np.load(self.job.get("expected") or self.job["source"], mmap_mode="r")
        return self._source

    def check(self, got: np.ndarray, box: Box | None) -> None:
        if self.job.get("no_check"):  # profiling: keep the comparison out of the samples
            return
        ref = self.expected if box is None else self.expected[_slices(box)]
        problem = compare_read(got, ref, self.case.lossless)
        if problem:
            raise WrongResult(problem)

    # ---- operations ---------------------------------------------------------------------

    def op_rss(self, spec: dict[str, Any]) -> dict[str, Any]:
        self.impl.check(self.case, "read")
        handle = self.impl.open(self.job["url"])
        gc.collect()
        before = proc_status()["VmRSS"]
        exact = reset_peak()
        with Timer() as t:
            arr = self.impl.read(handle, None)
        peak = proc_status()["VmHWM"]
        if not exact:  # ru_maxrss is the peak since the process started
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out = {
            "peak_rss": peak,
            "rss_before": before,
            "extra": peak - before,
            "out_bytes": int(arr.nbytes),
            "ratio": (peak - before) / arr.nbytes,
            "hwm_reset": exact,
            "first_read_s": t.wall,
        }
        self.check(arr, None)
        return out

    def op_read(self, spec: dict[str, Any]) -> dict[str, Any]:
        self.impl.check(self.case, "read")
        handle = self.impl.open(self.job["url"])
        times: list[float] = []
        cpus: list[float] = []
        server_cpus: list[float] = []
        server = self.job.get("server_pid")  # a loopback server's CPU, read around each read
        repeats = spec["repeats"]
        i = 0
        while i < repeats:
            gc.collect()
            before = process_cpu_seconds(server) if server else 0.0
            with Timer() as t:
                arr = self.impl.read(handle, None)
            if server:
                server_cpus.append(process_cpu_seconds(server) - before)
            if i == 0:
                self.check(arr, None)
                if t.wall > LONG_SECONDS:
                    repeats = min(repeats, spec.get("repeats_long", repeats))
            del arr
            times.append(t.wall)
            cpus.append(t.cpu)
            i += 1
        out: dict[str, Any] = {"times": times, "cpu": cpus}
        if server:
            out["server_cpu"] = server_cpus
        return out

    def op_subbox(self, spec: dict[str, Any]) -> dict[str, Any]:
        self.impl.check(self.case, "read")
        box: Box = tuple(tuple(v) for v in spec["box"])  # type: ignore[assignment]
        times, cpus, counts = [], [], None
        for i in range(spec["repeats"]):
            gc.collect()
            self.impl.counts()
            with Timer() as t:
                handle = self.impl.open(self.job["url"])
                arr = self.impl.read(handle, box)
            if i == 0:
                counts = self.impl.counts()
                self.check(arr, box)
            del arr, handle
            times.append(t.wall)
            cpus.append(t.cpu)
        return {"times": times, "cpu": cpus, "requests": counts}

    def op_cutouts(self, spec: dict[str, Any]) -> dict[str, Any]:
        self.impl.check(self.case, "read")
        boxes: list[Box] = [tuple(tuple(v) for v in b) for b in spec["boxes"]]  # type: ignore[misc]
        handle = self.impl.open(self.job["url"])
        self.check(self.impl.read(handle, boxes[0]), boxes[0])
        self.check(self.impl.read(handle, boxes[-1]), boxes[-1])
        times: list[float] = []
        cpus: list[float] = []
        while len(times) < spec["repeats"]:
            gc.collect()
            with Timer() as t:
                for box in boxes:
                    self.impl.read(handle, box)
            times.append(t.wall)
            cpus.append(t.cpu)
        return {"times": times, "cpu": cpus, "count": len(boxes)}

    def op_write(self, spec: dict[str, Any]) -> dict[str, Any]:
        self.impl.check(self.case, "write")
        arr = np.asfortranarray(np.load(self.job["source"]))[..., None]
        parent = Path(self.job["write_dir"])
        shard_boxes: dict[int, Box] | None = None
        if self.job.get("shard_boxes"):
            shard_boxes = {
                int(k): (tuple(b[0]), tuple(b[1]))  # type: ignore[misc]
                for k, b in self.job["shard_boxes"].items()
            }
        times: list[float] = []
        cpus: list[float] = []
        layer = ""
        while len(times) < spec["repeats"]:
            target = fresh_dir(parent)
            gc.collect()
            os.sync()  # no implementation pays for writing back another's dirty pages
            with Timer() as t:
                self.impl.write(
                    "file://" + str(target), self.job["info"], arr, self.case, shard_boxes
                )
            times.append(t.wall)
            cpus.append(t.cpu)
            evict(target)  # untimed: see benchmarks.data.evict
            layer = str(target)
        return {"times": times, "cpu": cpus, "layer": layer}

    def run(self) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for op, spec in self.job["ops"].items():
            try:
                results[op] = getattr(self, f"op_{op}")(spec)
            except NotSupported as exc:
                results[op] = {"na": str(exc)}
            except WrongResult as exc:
                results[op] = {"error": f"wrong result: {exc}"}
            except Exception as exc:  # report, never crash the whole benchmark
                msg = _message(exc)
                traceback.print_exc(file=sys.stderr)
                if _unsupported(exc):
                    results[op] = {"na": f"not supported yet ({msg})"}
                else:
                    results[op] = {"error": msg, "traceback": traceback.format_exc()[-3000:]}
        return {
            "impl": self.job["impl"],
            "label": self.job.get("label", self.job["impl"]),
            "case": self.case.slug,
            "ops": results,
        }


def _message(exc: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", f"{type(exc).__name__}: {exc}")
    return " ".join(ln.strip() for ln in text.splitlines() if ln.strip())[:300]


def _unsupported(exc: BaseException) -> bool:
    """An implementation's own "not implemented / not supported" answer (not a bug)."""
    name = type(exc).__name__
    if name.startswith(("Unsupported", "MissingCodec")) or isinstance(exc, NotImplementedError):
        return True
    return isinstance(exc, ModuleNotFoundError) and "voxelio" in str(exc)


class WrongResult(Exception):
    pass


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    if job.get("env"):
        os.environ.update(job["env"])
    result = Worker(job).run()
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
