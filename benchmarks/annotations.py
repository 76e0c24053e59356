"""Annotation writing and reading: voxelio against Neuroglancer's Python writer and reader
(PyPI ``neuroglancer``, which reads through TensorStore) and cloud-volume's reader.

    python -m benchmarks.annotations [--n 50000] [--runs 3] [--out FILE]

Points with a float32 and a uint8 property and one relationship, on ``file://`` in a
temporary directory (page cache warm). Writes: each writer builds the whole dataset into a
new directory (voxelio unsharded and sharded; Neuroglancer's writer has no sharding and one
spatial cell), the three taking turns within each run. Reads, of one dataset voxelio wrote
unsharded with one spatial level and integer bounds (what cloud-volume's reader needs to
find cells): every annotation, 1000 random ids, and 20 random boxes of a tenth of the
extent per side. Medians of ``--runs``;
each result is checked against the input before it is timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np

EXTENT = 1000.0


def _median_seconds(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _data(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "points": rng.uniform(0, EXTENT, (n, 3)),
        "score": rng.random(n).astype(np.float32),
        "kind": rng.integers(0, 4, n).astype(np.uint8),
        "cell": rng.integers(1, 1000, n),
    }


def _voxelio_write(path: Path, data: dict[str, np.ndarray], **options: Any) -> None:
    from voxelio import AnnotationWriter

    props = [{"id": "score", "type": "float32"}, {"id": "kind", "type": "uint8"}]
    writer = AnnotationWriter(f"file://{path}", "point", properties=props,
                              relationships=["cell"], **options)  # fmt: skip
    writer.add(data["points"], properties={"score": data["score"], "kind": data["kind"]},
               relationships={"cell": data["cell"]})  # fmt: skip
    writer.write()


def _neuroglancer_write(path: Path, data: dict[str, np.ndarray]) -> None:
    import neuroglancer
    import neuroglancer.write_annotations as ngw

    space = neuroglancer.CoordinateSpace(names=["x", "y", "z"], units="nm", scales=[1, 1, 1])
    props = [neuroglancer.AnnotationPropertySpec(id="score", type="float32"),
             neuroglancer.AnnotationPropertySpec(id="kind", type="uint8")]  # fmt: skip
    writer = ngw.AnnotationWriter(space, "point", relationships=["cell"], properties=props)
    for i, point in enumerate(data["points"]):
        writer.add_point(point, id=i, score=float(data["score"][i]), kind=int(data["kind"][i]),
                         cell=int(data["cell"][i]))  # fmt: skip
    writer.write(path)


def _writes(root: Path, data: dict[str, np.ndarray], runs: int) -> dict[str, float]:
    """Medians per writer; the writers take turns within each run, because file creation on
    this disk slows down for a while after many files were made or deleted."""
    writers: dict[str, Callable[[Path], None]] = {
        "voxelio, unsharded": lambda path: _voxelio_write(path, data),
        "voxelio, sharded": lambda path: _voxelio_write(path, data, sharded=True),
        "Neuroglancer writer (unsharded, one cell)": lambda path: _neuroglancer_write(path, data),
    }
    times: dict[str, list[float]] = {name: [] for name in writers}
    for run in range(runs):
        print(f"writing, run {run + 1} of {runs}", file=sys.stderr)
        for number, (name, write) in enumerate(writers.items()):
            start = time.perf_counter()
            write(root / f"w{run}-{number}")
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _boxes(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    lows = rng.uniform(0, EXTENT * 0.9, (count, 3))
    return [(lo, lo + EXTENT / 10) for lo in lows]


def _readers(path: Path) -> dict[str, dict[str, Callable[..., Any]]]:
    import neuroglancer.read_precomputed_annotations as ngr
    from cloudvolume import Bbox as CVBbox
    from cloudvolume import from_cloudpath as cv_open

    from voxelio import AnnotationSource

    url = f"file://{path}"
    mine, cv, ng = AnnotationSource.open(url), cv_open(url), ngr.AnnotationReader(url + "/")
    return {
        "voxelio": {
            "all": lambda: mine.get_all().ids,
            "ids": lambda ids: list(cast(dict, mine.get_by_id(ids))),
            "box": lambda lo, hi: mine.get_by_bbox((lo, hi)).ids,
        },
        "cloud-volume": {
            "all": lambda: cv.get_all().ids,
            "ids": lambda ids: list(cv.get_by_id(ids)),
            "box": lambda lo, hi: cv.get_by_bbox(CVBbox(lo, hi)).crop(CVBbox(lo, hi)).ids,
        },
        "Neuroglancer reader": {
            "all": lambda: [int(a.id) for a in ng.get_within_spatial_bounds()],
            "ids": lambda ids: [ng.by_id[i] for i in ids],
            "box": lambda lo, hi: [
                int(a.id) for a in ng.get_within_spatial_bounds(lower_bound=lo, upper_bound=hi)
            ],
        },
    }


def _reads(path: Path, data: dict[str, np.ndarray], runs: int) -> dict[str, dict[str, float]]:
    n = len(data["points"])
    ids = np.random.default_rng(2).choice(n, 1000, replace=False).tolist()
    boxes = _boxes(20)
    truth = [
        set(np.flatnonzero(np.all((data["points"] >= lo) & (data["points"] <= hi), axis=1)))
        for lo, hi in boxes
    ]
    out: dict[str, dict[str, float]] = {}
    for name, fns in _readers(path).items():
        print(f"reading with {name}", file=sys.stderr)
        assert sorted(int(i) for i in fns["all"]()) == list(range(n)), name
        assert len(fns["ids"](ids)) == len(ids), name
        for (lo, hi), want in zip(boxes[:5], truth):
            assert {int(i) for i in fns["box"](lo, hi)} == want, name
        out[name] = _timed(fns, ids, boxes, runs)
    return out


def _timed(
    fns: dict[str, Callable[..., Any]], ids: list[int], boxes: list[Any], runs: int
) -> dict[str, float]:
    def by_id() -> Any:
        return fns["ids"](ids)

    def by_box() -> Any:
        return [fns["box"](lo, hi) for lo, hi in boxes]

    return {
        "all": _median_seconds(fns["all"], runs),
        "ids": _median_seconds(by_id, runs),
        "box": _median_seconds(by_box, runs),
    }


def _versions() -> str:
    from importlib.metadata import version

    names = ("voxelio", "neuroglancer", "cloud-volume", "tensorstore", "numpy")
    return ", ".join(f"{name} {version(name)}" for name in names)


def _report(n: int, writes: dict[str, float], reads: dict[str, dict[str, float]]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"# Annotations: {n} points, medians of {{runs}} runs",
        "",
        f"`python -m benchmarks.annotations --n {n}` on {when}, {os.cpu_count()} cores; "
        f"{_versions()}. Do not edit by hand: run the command again.",
        "",
    ]
    lines += ["| writer | seconds | voxelio sharded is faster by |", "|---|---|---|"]
    best = writes["voxelio, sharded"]
    lines += [f"| {k} | {v:.2f} | {v / best:.1f}x |" for k, v in writes.items()]
    lines += ["", "| reader | all (ms) | 1000 ids (ms) | 20 boxes (ms) |", "|---|---|---|---|"]
    for k, v in reads.items():
        lines.append(
            f"| {k} | {v['all'] * 1e3:.1f} | {v['ids'] * 1e3:.1f} | {v['box'] * 1e3:.1f} |"
        )
    mine = reads["voxelio"]
    for k, v in reads.items():
        if k != "voxelio":
            ratios = " / ".join(f"{v[c] / mine[c]:.1f}x" for c in ("all", "ids", "box"))
            lines.append(f"\nvoxelio is faster than {k} by {ratios} (all / ids / boxes).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the annotation benchmark and print (or write) its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="number of points")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement")
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args(argv)
    data = _data(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        writes = _writes(root, data, args.runs)
        _voxelio_write(root / "read", data, limit=args.n, lower_bound=[0, 0, 0],
                       upper_bound=[EXTENT] * 3)  # fmt: skip
        reads = _reads(root / "read", data, args.runs)
    report = _report(args.n, writes, reads).replace("{runs}", str(args.runs))
    print(report)
    if args.out:
        Path(args.out).write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
