"""The peer benchmark (``benchmarks/``): its report arithmetic, one quick run end to end, and
one quick run of the reads behind latency (``benchmarks.latency``) on the same data.

The runs use the real peers (TensorStore, cloud-volume) and the loopback S3 server, on the
quick volumes of two cases; they check that the commands finish, that ``--check`` found every
voxelio result and written layer right, that the report judges every target, and that the
latency run reports every implementation and went through its proxy. They check no speed:
speed is what the benchmark itself reports.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks import report
from benchmarks.cases import plan
from benchmarks.data import chunk_files
from benchmarks.profile import perf_summary
from benchmarks.run import IMPL_ORDER, _merge, _split, in_rounds

REPO = Path(__file__).resolve().parent.parent
CASES = ("img-raw-64", "seg-cseg-sharded")
IMPLS = ("voxelio", "TensorStore", "cloud-volume")
S3_CASES = {case.slug for case in plan(quick=True).cases if case.s3 and case.slug in CASES}


def test_verdict_says_how_far_a_target_is_missed() -> None:
    assert report.verdict(1.6, 1.5) == "**met**"
    assert report.verdict(1.2, 1.5) == "**missed** by 20% (needs to get 1.25x faster)"
    assert report.verdict(None, 1.5) == "not measured"
    assert report.verdict(1.05, 1.10, higher_better=False) == "**met**"
    assert report.verdict(1.9, 1.10, higher_better=False) == "**missed** by 0.80x"


def test_bound_note_places_the_target_against_the_limit() -> None:
    assert "is above the limit of decoding (300)" in report.bound_note(400.0, (300.0, "decoding"))
    assert "is below the limit of decoding (500)" in report.bound_note(400.0, (500.0, "decoding"))
    assert report.bound_note(None, (500.0, "decoding")) == ""
    assert report.bound_note(400.0, None) == ""


def test_perf_summary_adds_up_libraries_and_functions() -> None:
    report_text = """# Samples: 19K of event 'cpu-clock:ppp'
#
# Overhead  Shared Object  Symbol
    42.85%  [kernel.kallsyms]  [k] clear_page_erms
    11.53%  _boxcopy.so  [.] py_copy_box
     1.62%  _deflate.abi3.so  [.] 0x0000000000015c83
     1.38%  _deflate.abi3.so  [.] 0x0000000000015c93
     0.44%  [kernel.kallsyms]  [k] folio_zero_user
"""
    lines = perf_summary(report_text, top=10).splitlines()
    assert lines[1:4] == [
        "   43.29%  [kernel.kallsyms]",
        "   11.53%  _boxcopy.so",
        "    3.00%  _deflate.abi3.so",
    ]
    assert "    3.00%  _deflate.abi3.so: (no symbols)" in lines
    assert "   42.85%  [kernel.kallsyms]: clear_page_erms" in lines
    assert not any("Samples" in line or "Overhead" in line for line in lines)


def test_s3_bound_spreads_server_and_fetch_cpu_over_the_cores() -> None:
    fetch = {"wall": 0.41, "cpu": 0.3, "server_cpu": 0.5}
    speed, what = report.s3_bound(134.2, fetch, 2) or (0.0, "")
    assert speed == pytest.approx(134.2 / 0.4)
    assert "on all 2 cores" in what
    assert report.s3_bound(134.2, None, 2) is None
    assert report.s3_bound(134.2, {"wall": 0.4, "cpu": 0.3}, 2) is None


def test_client_budget_is_what_the_server_leaves() -> None:
    mine = {"megavoxels": 100.0, "cpu": 0.45, "server_cpu": 0.5}
    text = report.client_budget(mine, 2, 250.0)  # 0.4 s: 0.8 CPU s, 0.3 left
    assert "in 0.40 s the 2 cores give 0.80 CPU s" in text
    assert "leaves the client 0.30 (voxelio used 0.45)" in text


def test_split_spreads_repeats_over_rounds() -> None:
    ops = {"read": {"repeats": 7}, "write": {"repeats": 2}, "rss": {"repeats": 1}}
    shares = [_split(ops, 3, r) for r in range(3)]
    assert [s["read"]["repeats"] for s in shares] == [3, 2, 2]
    assert [s.get("write", {}).get("repeats", 0) for s in shares] == [1, 1, 0]
    assert ["rss" in s for s in shares] == [True, False, False]
    assert _split({"read": {"repeats": 2}}, 3, 2) == {}


def test_rounds_alternate_and_merge_every_list() -> None:
    order: list[str] = []

    def run(label: str, ops: dict) -> dict:
        order.append(label)
        n = ops["read"]["repeats"]
        read = {"times": [1.0] * n, "cpu": [0.5] * n, "server_cpu": [0.2] * n}
        return {"ops": {"read": read}}

    merged = in_rounds(3, [("a", {"read": {"repeats": 9}}), ("b", {"read": {"repeats": 9}})], run)
    assert order == ["a", "b", "b", "a", "a", "b"]
    for result in merged:
        read = result["ops"]["read"]
        assert len(read["times"]) == len(read["cpu"]) == len(read["server_cpu"]) == 9


def test_merge_keeps_an_error_and_drops_lists_that_would_not_line_up() -> None:
    first = {"ops": {"read": {"error": "wrong voxels"}, "write": {"times": [1.0], "cpu": [1.0]}}}
    second = {"ops": {"read": {"times": [1.0], "cpu": [1.0]}, "write": {"times": [2.0]}}}
    merged = _merge(first, second)
    assert merged["ops"]["read"]["error"] == "wrong voxels"
    assert merged["ops"]["write"] == {"times": [1.0, 2.0]}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("bench")
    out = root / "R.md"
    command = [
        sys.executable, "-m", "benchmarks.run", "--quick", "--check",
        "--cases", ",".join(CASES), "--impls", ",".join(IMPLS),
        "--data", str(root / "data"), "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root / "data", out.read_text()


@pytest.mark.interop
@pytest.mark.servers
@pytest.mark.timeout(900)  # the first one also runs the quick benchmark
def test_quick_run_measures_every_case_and_implementation(quick_run: tuple[Path, str]) -> None:
    data, _ = quick_run
    raw = json.loads(next(data.rglob("results.json")).read_text())
    seen = {(r["case"], r["impl"]) for r in raw["results"]}
    assert seen == {(case, impl) for case in CASES for impl in IMPLS}
    for result in raw["results"]:
        if result["impl"] != "voxelio":
            continue
        for op in ("read", "write", "cutouts", "subbox"):
            assert result["ops"][op]["times"], (result["case"], op)
            assert "error" not in result["ops"][op], (result["case"], op)
    assert set(raw["s3"]["cases"]) == S3_CASES
    for results in raw["s3"]["cases"].values():
        assert {result["impl"] for result in results} == set(IMPLS)
        for result in results:
            read = result["ops"]["read"]
            assert len(read["times"]) == len(read["cpu"]) == len(read["server_cpu"]) > 0
    for case in CASES:
        assert raw["limits"][case]["read_files"] > 0
        assert raw["limits"][case]["write_files"] > 0


@pytest.mark.interop
@pytest.mark.servers
@pytest.mark.timeout(900)  # the first one also runs the quick benchmark
def test_quick_report_judges_every_target(quick_run: tuple[Path, str]) -> None:
    _, text = quick_run
    lines = text.splitlines()
    start = lines.index("| target | case | measured | verdict |") + 2
    rows = lines[start : lines.index("", start)]
    # per case: whole read, whole write, written size, cutouts, peak RSS; the sharded
    # sub-box; the whole reads over S3
    assert len(rows) == 5 * len(CASES) + 1 + len(S3_CASES), rows
    for row in rows:
        assert "**met**" in row or "**missed**" in row, row
    assert "## Whole reads over the loopback S3 server" in text
    assert "memcpy of the output with" in text


@pytest.mark.interop
@pytest.mark.servers
@pytest.mark.timeout(900)  # the first one also runs the quick benchmark
def test_latency_run_reads_every_case_with_every_implementation(
    quick_run: tuple[Path, str],
) -> None:
    data, _ = quick_run
    command = [
        sys.executable, "-m", "benchmarks.latency", "--quick", "--latency-ms", "5",
        "--threads", "4", "--cases", ",".join(CASES), "--impls", ",".join(IMPLS),
        "--data", str(data),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    impls = [impl for impl in IMPL_ORDER if impl in IMPLS]  # the order the script runs them in
    for case in CASES:
        block = lines[lines.index(f"{case}, 5 ms per request:") + 1 :][: len(impls) + 3]
        for impl, line in zip(impls, block):
            ratio = "" if impl == "voxelio" else r", voxelio [\d.]+x"
            pattern = rf"\s*{impl}: [\d.]+ s, \d+ MVx/s \(median of \d+\){ratio}"
            assert re.fullmatch(pattern, line), line
        # the sweep's first read went through the relay (and was checked): the info, then one
        # request per chunk file, or per shard file (a whole read fetches each shard whole)
        requests = 1 + len(chunk_files(data / "v1-quick" / "layers" / case))
        pattern = rf"\s*voxelio's requests per open and whole read: {requests}"
        assert re.fullmatch(pattern, block[-3]), block[-3]
        for line, threads in zip(block[-2:], (r"default \(\d+\)", "4")):
            pattern = rf"\s*threads\s+{threads}: [\d.]+ s, \d+ MVx/s \(median of 3, one process\)"
            assert re.fullmatch(pattern, line), line
