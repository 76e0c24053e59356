"""Physical limits beside the measurements, all on the same bytes the implementations read.

- ``memcpy``: copying an output-sized array with a thread per core into memory already
  touched, and into a new array (which pays the page faults a read's output array pays too);
- ``read files``: reading every chunk (or shard) file's bytes with 2 threads, page cache warm;
- ``write files``: writing the same bytes into a new directory with a thread per core, each
  file through a temporary name and a rename (as voxelio and TensorStore write; cloud-volume
  writes the final name directly), after ``sync``, as before every timed write; the page cache
  takes the bytes, so the kernel's CPU time is the cost (wall and CPU seconds are both kept);
- ``gunzip``: gzip decompression of the stored ``.gz`` bytes, with zlib and with libdeflate
  (``deflate`` package), on 1 core and on all cores (one process per core, started together);
- ``decode``: the codec alone on 1 and all cores, the fastest implementation there is:
  simplejpeg (voxelio's own jpeg decoder is as fast on whole chunks), and voxelio's own
  decoders for png (libpng through imagecodecs or pyspng take 1.7-2x as long) and for
  compressed_segmentation (the compressed-segmentation package decodes the same chunks about
  1.5x slower and holds the GIL);
- ``fetch objects`` (S3 cases): every chunk object fetched from the loopback S3 server with
  obstore, 8 at once, and dropped: what the HTTP client alone costs;
- ``encode``: the codec (+ gzip at level 9, the level voxelio and cloud-volume write) on all
  cores, for the writes (compressed_segmentation and png: voxelio's C extensions again; png
  through libpng or libspng at the same level takes 2-3x as long).

Every figure is a median over repeats, in seconds; :mod:`benchmarks.run` turns them into
megavoxels per second.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.cases import CSEG_BLOCK, PNG_LEVEL, Case, Source
from benchmarks.data import (
    Box,
    chunk_boxes,
    chunk_files,
    decode,
    encode,
    evict,
    fresh_dir,
    iter_chunks,
)

WRITE_GZIP_LEVEL = 9  # what voxelio and cloud-volume (cloud-files) write by default


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def memcpy(nbytes: int, repeats: int) -> dict[str, float]:
    """Copying ``nbytes`` with a thread per core, each thread a contiguous part: into memory
    already touched, and into a new array (paying its page faults, as a read's output does).
    One thread alone copies into new memory about 1.5x slower on this machine."""
    threads = cores()
    src = np.full(nbytes, 7, dtype=np.uint8)
    dst = np.empty_like(src)
    dst.fill(0)
    warm, fresh = [], []
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            t0 = time.perf_counter()
            _copy_parts(pool, threads, src, dst)
            warm.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            out = np.empty_like(src)
            _copy_parts(pool, threads, src, out)
            fresh.append(time.perf_counter() - t0)
            del out
    return {
        "memcpy_warm": statistics.median(warm),
        "memcpy_new": statistics.median(fresh),
        "memcpy_threads": threads,
    }


def _copy_parts(pool: ThreadPoolExecutor, parts: int, src: np.ndarray, dst: np.ndarray) -> None:
    """Copy ``src`` into ``dst`` in ``parts`` contiguous pieces on ``pool``."""
    bounds = np.linspace(0, src.size, parts + 1).astype(np.int64)

    def copy(i: int) -> None:
        lo, hi = bounds[i], bounds[i + 1]
        np.copyto(dst[lo:hi], src[lo:hi])

    list(pool.map(copy, range(parts)))


def read_files(paths: list[Path], repeats: int, threads: int = 2) -> float:
    def read(p: Path) -> int:
        with open(p, "rb") as fh:
            return len(fh.read())

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            sum(pool.map(read, paths))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def write_files(paths: list[Path], parent: Path, repeats: int) -> dict[str, float]:
    """Write the bytes of ``paths`` under their names into a new directory under ``parent``
    (each repeat its own, as the implementations' writes) with a thread per core: medians of
    wall and CPU seconds."""
    payloads = [(p.name, p.read_bytes()) for p in paths]

    def write(target: Path, item: tuple[str, bytes]) -> None:
        name, data = item
        tmp = target / f".tmp-{threading.get_ident()}"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target / name)

    runs = []
    with ThreadPoolExecutor(cores()) as pool:
        for _ in range(repeats):
            target = fresh_dir(parent)
            os.sync()
            cpu, t0 = time.process_time(), time.perf_counter()
            target.mkdir()
            list(pool.map(functools.partial(write, target), payloads))
            runs.append((time.perf_counter() - t0, time.process_time() - cpu))
            evict(target)
    return {
        "write_files": statistics.median(r[0] for r in runs),
        "write_files_cpu": statistics.median(r[1] for r in runs),
    }


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by every thread of another process (a local server)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def fetch_objects(
    store: Any, keys: list[str], repeats: int, server_pid: int, threads: int = 8
) -> dict[str, float]:
    """Fetch every object's bytes with obstore (``threads`` at once, as voxelio's reads of a
    remote layer), doing nothing with them: the least a client on obstore spends. Medians of
    wall seconds, this process's CPU seconds, the server's CPU seconds and of both together
    (``both_cpu``: the median of the sums, each run's own)."""
    import obstore

    runs = []
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            server, cpu = process_cpu_seconds(server_pid), time.process_time()
            t0 = time.perf_counter()
            sum(len(b) for b in pool.map(lambda k: obstore.get(store, k).bytes(), keys))
            wall = time.perf_counter() - t0
            server = process_cpu_seconds(server_pid) - server
            runs.append((wall, time.process_time() - cpu, server))
    return {
        "wall": statistics.median(r[0] for r in runs),
        "cpu": statistics.median(r[1] for r in runs),
        "server_cpu": statistics.median(r[2] for r in runs),
        "both_cpu": statistics.median(r[1] + r[2] for r in runs),
    }


# ----------------------------------------------------------------------------- multi-process


def _payloads(
    kind: str,
    root: str,
    case: Case,
    source: Source,
    part: int,
    parts: int,
) -> list[Any]:
    """The work items of one process: every ``parts``-th chunk starting at ``part``."""
    items: list[Any] = []
    if kind.startswith("gunzip"):
        files = sorted(p for p in (Path(root) / "4_4_40").iterdir() if p.name.endswith(".gz"))
        return [f.read_bytes() for f in files[part::parts]]
    if kind == "decode":
        for i, (box, data) in enumerate(iter_chunks(Path(root), case, source)):
            if i % parts == part:
                items.append((box, data))
        return items
    if kind == "encode":
        boxes = chunk_boxes(source.shape, case.chunk)
        return boxes[part::parts]
    raise ValueError(kind)


def _fastest_decode(data: bytes, shape: tuple[int, int, int], dtype: str, case: Case) -> Any:
    """Decode with the fastest implementation of the case's encoding."""
    if case.encoding == "compressed_segmentation":
        from voxelio.codecs import _cseg

        out = np.empty(shape, dtype=dtype, order="F")
        _cseg.decode(memoryview(data)[4:], out, shape, CSEG_BLOCK, (0, 0, 0))  # one channel
        return out
    if case.encoding == "png":
        from voxelio.codecs._pngrows import decode_rows

        out = np.empty((*shape, 1), dtype=dtype, order="F")
        decode_rows(data, out, shape, (0, 0, 0))
        return out
    return decode(data, shape, dtype, case)


def _fastest_encode(arr: np.ndarray, case: Case) -> bytes:
    """Encode with the fastest implementation of the case's encoding."""
    if case.encoding == "png":
        from voxelio.codecs._pngrows import encode as png_encode

        return png_encode(arr[:, :, :, None], PNG_LEVEL)
    if case.encoding != "compressed_segmentation":
        return encode(arr, case)
    from voxelio.codecs import _cseg

    return b"\x01\0\0\0" + _cseg.encode(arr, CSEG_BLOCK)


def _job(kind: str, items: list[Any], case: Case, source: Source, src: np.ndarray | None) -> None:
    if kind == "gunzip-zlib":
        import zlib

        for data in items:
            zlib.decompress(data, wbits=47)
    elif kind == "gunzip-libdeflate":
        import deflate

        for data in items:
            deflate.gzip_decompress(data)
    elif kind == "decode":
        for box, data in items:
            (x0, y0, z0), (x1, y1, z1) = box
            _fastest_decode(data, (x1 - x0, y1 - y0, z1 - z0), source.dtype, case)
    elif kind == "encode":
        import deflate

        for box in items:
            (x0, y0, z0), (x1, y1, z1) = box
            assert src is not None
            data = _fastest_encode(np.asfortranarray(src[x0:x1, y0:y1, z0:z1]), case)
            if case.gzip:
                deflate.gzip_compress(data, WRITE_GZIP_LEVEL)


def _proc(
    kind: str,
    root: str,
    case: Case,
    source: Source,
    npy: str,
    part: int,
    parts: int,
    repeats: int,
    barrier: Any,
    queue: Any,
) -> None:
    try:
        items = _payloads(kind, root, case, source, part, parts)
        src = np.load(npy) if kind == "encode" else None  # in memory, like a writer's input
        times = []
        for _ in range(repeats):
            barrier.wait()
            t0 = time.perf_counter()
            _job(kind, items, case, source, src)
            times.append(time.perf_counter() - t0)
        queue.put((part, times, None))
    except Exception as exc:  # pragma: no cover - reported to the parent
        queue.put((part, [], f"{type(exc).__name__}: {exc}"))


def parallel_seconds(
    kind: str, root: Path, case: Case, source: Source, npy: Path, procs: int, repeats: int
) -> float:
    """Median over repeats of the slowest process's time, ``procs`` processes in step."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(procs)
    queue = ctx.Queue()
    workers = [
        ctx.Process(
            target=_proc,
            args=(kind, str(root), case, source, str(npy), i, procs, repeats, barrier, queue),
        )
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    results = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    errors = [e for _, _, e in results if e]
    if errors:
        raise RuntimeError(errors[0])
    per_repeat = [max(r[1][i] for r in results) for i in range(repeats)]
    return statistics.median(per_repeat)


def case_limits(
    root: Path,
    case: Case,
    source: Source,
    npy: Path,
    repeats: int,
    write_dir: Path,
    with_encode: bool = True,
) -> dict[str, float]:
    """All limits of one case's neutral layer, in seconds (the file writes go under
    ``write_dir``, on the file system the implementations write to)."""
    n = cores()
    files = chunk_files(root)
    out: dict[str, float] = {"read_files": read_files(files, repeats)}
    out.update(write_files(files, write_dir, repeats))
    if case.gzip:
        for lib in ("zlib", "libdeflate"):
            out[f"gunzip_{lib}_1"] = parallel_seconds(
                f"gunzip-{lib}", root, case, source, npy, 1, repeats
            )
            out[f"gunzip_{lib}_all"] = parallel_seconds(
                f"gunzip-{lib}", root, case, source, npy, n, repeats
            )
    if case.encoding != "raw":
        out["decode_1"] = parallel_seconds("decode", root, case, source, npy, 1, repeats)
        out["decode_all"] = parallel_seconds("decode", root, case, source, npy, n, repeats)
    if with_encode and (case.encoding != "raw" or case.gzip):
        out["encode_all"] = parallel_seconds("encode", root, case, source, npy, n, repeats)
    return out


def case_boxes_voxels(boxes: list[Box]) -> int:
    return sum(int(np.prod(np.subtract(b[1], b[0]))) for b in boxes)
