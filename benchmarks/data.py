"""Test volumes and the neutral writer/reader of the benchmark.

- :func:`make_image`: an EM-like uint8 volume: cells bounded by thin dark membranes (zero
  crossings of two smooth random fields), slow brightness drift and fine correlated noise, so
  gzip, jpeg and png compress it about as they compress real EM (gzip ~1.2x, jpeg q85 ~3x).
- :func:`make_seg`: a uint64 segmentation, the Voronoi cells of random seeds (thousands of
  labels), with large ids as real segmentations have.
- :func:`write_layer`: the neutral writer. It uses the codec libraries directly (numpy,
  libdeflate, simplejpeg, pyspng, compressed-segmentation) and its own shard builder, so every
  implementation reads identical bytes that none of them wrote. Gzipped layers use cloud-volume's
  local layout (``NAME.gz``).
- :func:`iter_chunks` / :func:`decode` / :func:`spot_check`: the neutral reader, used for the
  physical limits and to check the layers written by the implementations.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.cases import (
    CSEG_BLOCK,
    GZIP_LEVEL_NEUTRAL,
    JPEG_QUALITY,
    PNG_LEVEL,
    SCALE_KEY,
    Case,
    Source,
    bit_length,
    layer_info,
)

Box = tuple[tuple[int, int, int], tuple[int, int, int]]

# ----------------------------------------------------------------------------- generation


def _upsample(a: np.ndarray, up: int) -> np.ndarray:
    """Periodic trilinear upsampling by an integer factor (separable, float32)."""
    for axis in range(3):
        n = a.shape[axis]
        pos = (np.arange(n * up, dtype=np.float32) + 0.5) / up - 0.5
        i0 = np.floor(pos).astype(np.int64)
        w = (pos - i0).astype(np.float32)
        i1 = (i0 + 1) % n
        i0 %= n
        shape = [1, 1, 1]
        shape[axis] = -1
        w = w.reshape(shape)
        out = np.take(a, i0, axis=axis)
        out *= 1 - w
        out += np.take(a, i1, axis=axis) * w
        a = out
    return a


def _smooth_field(
    rng: np.random.Generator, shape: tuple[int, int, int], sigma: float, up: int
) -> np.ndarray:
    from scipy import ndimage

    small = [max(2, s // up) for s in shape]
    f = ndimage.gaussian_filter(
        rng.standard_normal(small, dtype=np.float32), sigma / up, mode="wrap"
    )
    f -= f.mean()
    f *= np.float32(1.0 / f.std())
    f = _upsample(f, up)
    return f[: shape[0], : shape[1], : shape[2]]


def make_image(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """An EM-like uint8 volume, Fortran order ``[x, y, z]``."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    img = np.full(shape, 150, np.float32, order="F")
    for sigma in (14, 22):  # two families of membranes
        f = _smooth_field(rng, shape, sigma, 4)
        f *= np.float32(1 / 0.15)
        np.square(f, out=f)
        np.negative(f, out=f)
        np.exp(f, out=f)
        f *= np.float32(-85)
        img += f
        del f
    img += np.float32(18) * _smooth_field(rng, shape, 64, 16)
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise = ndimage.uniform_filter1d(noise, 2, axis=0)
    noise += np.roll(noise, 1, axis=1)
    noise *= np.float32(14 / noise.std())
    img += noise
    del noise
    return np.asfortranarray(np.clip(img, 0, 255).astype(np.uint8))


def make_seg(shape: tuple[int, int, int], labels: int, seed: int = 1) -> np.ndarray:
    """Voronoi cells of ``labels`` random seeds, uint64 ids near 8.6e17, Fortran order."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    mask = np.ones(shape, dtype=bool)
    pts = np.stack([rng.integers(0, s, labels) for s in shape], axis=1)
    mask[tuple(pts.T)] = False
    idx = ndimage.distance_transform_edt(mask, return_distances=False, return_indices=True)
    del mask
    flat = np.ravel_multi_index(tuple(idx), shape).astype(np.int64)
    del idx
    ids = np.zeros(int(np.prod(shape)), dtype=np.uint64)
    seeds = np.ravel_multi_index(tuple(pts.T), shape)
    ids[seeds] = np.uint64(864691135000000000) + rng.choice(
        10**9, size=labels, replace=False
    ).astype(np.uint64)
    out = ids[flat.ravel()].reshape(shape)
    return np.asfortranarray(out)


# ----------------------------------------------------------------------------- chunk grid


def chunk_boxes(shape: tuple[int, int, int], chunk: tuple[int, int, int]) -> list[Box]:
    """Every chunk of the grid, x fastest."""
    boxes = []
    for z in range(0, shape[2], chunk[2]):
        for y in range(0, shape[1], chunk[1]):
            for x in range(0, shape[0], chunk[0]):
                hi = (
                    min(x + chunk[0], shape[0]),
                    min(y + chunk[1], shape[1]),
                    min(z + chunk[2], shape[2]),
                )
                boxes.append(((x, y, z), hi))
    return boxes


def chunk_name(box: Box) -> str:
    (x0, y0, z0), (x1, y1, z1) = box
    return f"{x0}-{x1}_{y0}-{y1}_{z0}-{z1}"


def morton(grid_pos: tuple[int, int, int], grid: tuple[int, int, int]) -> int:
    """Compressed Morton code of a chunk's grid position (x, y, z interleaved, low bit first)."""
    bits = [bit_length(g) for g in grid]
    code = 0
    out_bit = 0
    for b in range(max(bits)):
        for d in range(3):
            if b < bits[d]:
                code |= ((grid_pos[d] >> b) & 1) << out_bit
                out_bit += 1
    return code


def _grid(shape: tuple[int, int, int], chunk: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(-(-s // c) for s, c in zip(shape, chunk))  # type: ignore[return-value]


def chunk_id(box: Box, shape: tuple[int, int, int], chunk: tuple[int, int, int]) -> int:
    pos = tuple(box[0][i] // chunk[i] for i in range(3))
    return morton(pos, _grid(shape, chunk))  # type: ignore[arg-type]


def shard_of(cid: int, spec: dict[str, Any]) -> tuple[int, int]:
    """(shard, minishard) of a chunk id under an identity-hash spec."""
    h = cid >> spec["preshift_bits"]
    mini = h & ((1 << spec["minishard_bits"]) - 1)
    shard = (h >> spec["minishard_bits"]) & ((1 << spec["shard_bits"]) - 1)
    return shard, mini


def shard_name(shard: int, spec: dict[str, Any]) -> str:
    digits = (spec["shard_bits"] + 3) // 4
    return f"{shard:0{digits}x}.shard" if digits else "0.shard"


def shard_boxes(source: Source, case: Case, spec: dict[str, Any]) -> dict[int, Box]:
    """The voxel box each shard covers; raises if a shard is not a box (cloud-volume needs it)."""
    groups: dict[int, list[Box]] = {}
    for box in chunk_boxes(source.shape, case.chunk):
        groups.setdefault(shard_of(chunk_id(box, source.shape, case.chunk), spec)[0], []).append(
            box
        )
    out: dict[int, Box] = {}
    for shard, boxes in groups.items():
        lo = tuple(min(b[0][i] for b in boxes) for i in range(3))
        hi = tuple(max(b[1][i] for b in boxes) for i in range(3))
        vol = int(np.prod(np.subtract(hi, lo)))
        if vol != sum(int(np.prod(np.subtract(b[1], b[0]))) for b in boxes):
            raise ValueError(f"shard {shard} is not a box")
        out[shard] = (lo, hi)  # type: ignore[assignment]
    return out


# ----------------------------------------------------------------------------- codecs


def _as2d(arr: np.ndarray) -> np.ndarray:
    """``[x, y, z]`` -> image of height y*z and width x (the precomputed image convention)."""
    x, y, z = arr.shape[:3]
    return np.ascontiguousarray(np.asarray(arr).reshape(x, y * z, order="F").T)


def encode(arr: np.ndarray, case: Case) -> bytes:
    """Encode one ``[x, y, z]`` chunk with the case's encoding (no transport compression)."""
    if case.encoding == "raw":
        return np.asarray(arr).tobytes(order="F")
    if case.encoding == "jpeg":
        import simplejpeg

        img = _as2d(arr)[:, :, None]
        return bytes(
            simplejpeg.encode_jpeg(
                img, quality=JPEG_QUALITY, colorspace="GRAY", colorsubsampling="Gray"
            )
        )
    if case.encoding == "png":
        import pyspng

        return bytes(pyspng.encode(_as2d(arr), compress_level=PNG_LEVEL))
    if case.encoding == "compressed_segmentation":
        import compressed_segmentation as cseg

        return bytes(cseg.compress(np.asfortranarray(arr), block_size=CSEG_BLOCK, order="F"))
    raise ValueError(case.encoding)


def decode(data: bytes, shape: tuple[int, int, int], dtype: str, case: Case) -> np.ndarray:
    """Decode one chunk's bytes (transport compression already removed) to ``[x, y, z]``."""
    if case.encoding == "raw":
        return np.frombuffer(data, dtype=dtype).reshape(shape, order="F")
    if case.encoding == "jpeg":
        import simplejpeg

        img = simplejpeg.decode_jpeg(data, colorspace="GRAY")
        return img.reshape(-1).reshape(shape, order="F")
    if case.encoding == "png":
        import pyspng

        return pyspng.load(data).reshape(-1).reshape(shape, order="F")
    if case.encoding == "compressed_segmentation":
        import compressed_segmentation as cseg

        out = cseg.decompress(bytes(data), shape, np.dtype(dtype), CSEG_BLOCK, order="F")
        return np.asarray(out).reshape(shape, order="F")
    raise ValueError(case.encoding)


def gzip_bytes(data: bytes, level: int = GZIP_LEVEL_NEUTRAL) -> bytes:
    import deflate

    return bytes(deflate.gzip_compress(data, level))


def gunzip(data: bytes) -> bytes:
    return zlib.decompress(data, wbits=47)


# ----------------------------------------------------------------------------- sharding


def build_shard(items: list[tuple[int, bytes]], spec: dict[str, Any]) -> bytes:
    """A shard file: [shard index][minishard 0 data][minishard 0 index][minishard 1 data]...

    Offsets are relative to the end of the shard index, as the format requires.
    """
    nmini = 1 << spec["minishard_bits"]
    by_mini: dict[int, list[tuple[int, bytes]]] = {m: [] for m in range(nmini)}
    for cid, data in items:
        by_mini[shard_of(cid, spec)[1]].append((cid, data))
    body = bytearray()
    index = np.zeros((nmini, 2), dtype="<u8")
    for m in range(nmini):
        entries = sorted(by_mini[m])
        if not entries:
            index[m] = (len(body), len(body))
            continue
        ids = np.array([c for c, _ in entries], dtype=np.uint64)
        starts, sizes = [], []
        for _cid, data in entries:
            starts.append(len(body))
            sizes.append(len(data))
            body += data
        starts_a = np.array(starts, dtype=np.uint64)
        sizes_a = np.array(sizes, dtype=np.uint64)
        ends = starts_a + sizes_a
        delta_off = starts_a.copy()
        delta_off[1:] = starts_a[1:] - ends[:-1]
        delta_ids = ids.copy()
        delta_ids[1:] = ids[1:] - ids[:-1]
        mindex = np.stack([delta_ids, delta_off, sizes_a]).astype("<u8").tobytes()
        if spec["minishard_index_encoding"] == "gzip":
            mindex = gzip_bytes(mindex)
        index[m] = (len(body), len(body) + len(mindex))
        body += mindex
    return index.tobytes() + bytes(body)


def read_shard(blob: bytes, spec: dict[str, Any]) -> dict[int, bytes]:
    """Every chunk of a shard file: ``{chunk id: data}`` (follows offsets, any layout)."""
    nmini = 1 << spec["minishard_bits"]
    base = 16 * nmini
    index = np.frombuffer(blob[:base], dtype="<u8").reshape(nmini, 2)
    out: dict[int, bytes] = {}
    for start, end in index:
        if end <= start:
            continue
        raw = blob[base + int(start) : base + int(end)]
        if spec["minishard_index_encoding"] == "gzip":
            raw = gunzip(raw)
        arr = np.frombuffer(raw, dtype="<u8").reshape(3, -1)
        ids = np.cumsum(arr[0])
        pos = 0
        for cid, off, size in zip(ids, arr[1], arr[2]):
            start_c = pos + int(off)
            data = blob[base + start_c : base + start_c + int(size)]
            if spec["data_encoding"] == "gzip":
                data = gunzip(data)
            out[int(cid)] = data
            pos = start_c + int(size)
    return out


# ----------------------------------------------------------------------------- layers


def write_layer(root: Path, case: Case, source: Source, arr: np.ndarray, threads: int = 2) -> None:
    """The neutral writer: ``root/info`` and the chunks (or shards) of ``arr``."""
    info = layer_info(case, source)
    scale_dir = root / SCALE_KEY
    scale_dir.mkdir(parents=True, exist_ok=True)
    (root / "info").write_text(json.dumps(info))
    boxes = chunk_boxes(source.shape, case.chunk)

    def enc(box: Box) -> tuple[Box, bytes]:
        (x0, y0, z0), (x1, y1, z1) = box
        return box, encode(arr[x0:x1, y0:y1, z0:z1], case)

    with ThreadPoolExecutor(threads) as pool:
        if case.sharded:
            spec = info["scales"][0]["sharding"]
            shards: dict[int, list[tuple[int, bytes]]] = {}
            for box, data in pool.map(enc, boxes):
                cid = chunk_id(box, source.shape, case.chunk)
                shards.setdefault(shard_of(cid, spec)[0], []).append((cid, data))
            for shard, items in shards.items():
                (scale_dir / shard_name(shard, spec)).write_bytes(build_shard(items, spec))
            return

        def put(box: Box) -> None:
            _, data = enc(box)
            name = scale_dir / chunk_name(box)
            if case.gzip:
                name.with_name(name.name + ".gz").write_bytes(gzip_bytes(data))
            else:
                name.write_bytes(data)

        list(pool.map(put, boxes))


def chunk_files(root: Path) -> list[Path]:
    """Every stored chunk or shard file of a layer (what a whole read must fetch)."""
    scale_dir = root / SCALE_KEY
    return sorted(p for p in scale_dir.iterdir() if p.is_file() and not p.name.startswith("."))


def stored_bytes(root: Path) -> int:
    """Total size of a layer's chunk/shard files (``info`` and provenance excluded)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if Path(dirpath) == root:
                continue  # info, provenance
            total += os.path.getsize(os.path.join(dirpath, name))
    return total


def iter_chunks(root: Path, case: Case, source: Source) -> Iterator[tuple[Box, bytes]]:
    """``(box, encoded bytes)`` of every chunk of a layer; gzip and shards undone."""
    info = json.loads((root / "info").read_text())
    scale = info["scales"][0]
    key = scale["key"]
    boxes = chunk_boxes(source.shape, case.chunk)
    if "sharding" in scale:
        spec = scale["sharding"]
        chunks: dict[int, bytes] = {}
        for path in (root / key).glob("*.shard"):
            chunks.update(read_shard(path.read_bytes(), spec))
        for box in boxes:
            cid = chunk_id(box, source.shape, case.chunk)
            if cid in chunks:
                yield box, chunks[cid]
        return
    for box in boxes:
        path = root / key / chunk_name(box)
        if path.exists():
            yield box, path.read_bytes()
        elif path.with_name(path.name + ".gz").exists():
            yield box, gzip.decompress(path.with_name(path.name + ".gz").read_bytes())


def spot_check(
    root: Path, case: Case, source: Source, expected: np.ndarray, n: int = 24, seed: int = 0
) -> str | None:
    """Decode ``n`` random chunks of a written layer and compare; ``None`` when all match."""
    boxes = chunk_boxes(source.shape, case.chunk)
    want = {
        boxes[i]
        for i in np.random.default_rng(seed).choice(len(boxes), min(n, len(boxes)), replace=False)
    }
    found = 0
    for box, data in iter_chunks(root, case, source):
        if box not in want:
            continue
        found += 1
        (x0, y0, z0), (x1, y1, z1) = box
        got = decode(data, (x1 - x0, y1 - y0, z1 - z0), source.dtype, case)
        ref = expected[x0:x1, y0:y1, z0:z1]
        problem = compare(got, ref, case.lossless)
        if problem:
            same = next(
                (
                    b
                    for b in boxes
                    if b != box
                    and compare(
                        got,
                        expected[b[0][0] : b[1][0], b[0][1] : b[1][1], b[0][2] : b[1][2]],
                        case.lossless,
                    )
                    is None
                ),
                None,
            )
            hint = f"; it holds the source of {chunk_name(same)}" if same else ""
            return f"chunk {chunk_name(box)}: {problem}{hint}"
    if found != len(want):
        return f"{len(want) - found} of {len(want)} sampled chunks missing"
    return None


def compare(
    got: np.ndarray, ref: np.ndarray, lossless: bool, max_diff: int = 48, mean_diff: float = 5.0
) -> str | None:
    """``None`` when ``got`` matches ``ref`` (exactly, or within a tolerance for lossy data).

    The default tolerance is for a jpeg encoding compared with its source (q85 on noisy EM:
    max ~25, mean ~3.3); a decode compared with the neutral decode of the same bytes uses a
    tight one.
    """
    got = np.asarray(got)
    if got.ndim == 4:
        got = got[..., 0]
    if got.shape != ref.shape:
        return f"shape {got.shape} != {ref.shape}"
    if lossless:
        if not np.array_equal(got, ref):
            return f"{int(np.count_nonzero(got != ref))} voxels differ"
        return None
    diff = np.abs(got.astype(np.int16) - np.asarray(ref).astype(np.int16))
    if diff.max() > max_diff or diff.mean() > mean_diff:
        return (
            f"lossy data too far from the reference (max {diff.max()}, "
            f"mean {diff.mean():.2f}; allowed {max_diff}, {mean_diff})"
        )
    return None


def compare_read(got: np.ndarray, ref: np.ndarray, lossless: bool) -> str | None:
    """:func:`compare` of a read with what a correct read returns (the source, or the neutral
    decode of a lossy layer): decoders of the same jpeg bytes may differ by a rounding step,
    not more."""
    return compare(got, ref, lossless, max_diff=2, mean_diff=0.05)


def decode_layer(root: Path, case: Case, source: Source) -> np.ndarray:
    """The whole layer decoded by the neutral reader (the reference for lossy encodings)."""
    out = np.zeros(source.shape, dtype=source.dtype, order="F")
    for box, data in iter_chunks(root, case, source):
        (x0, y0, z0), (x1, y1, z1) = box
        out[x0:x1, y0:y1, z0:z1] = decode(data, (x1 - x0, y1 - y0, z1 - z0), source.dtype, case)
    return out


def evict(root: Path) -> None:
    """Write back, then drop from the page cache, every file under ``root`` (a written layer).

    Without this the layers a run writes (and keeps: see :func:`fresh_dir`) fill memory with
    page cache, and the free memory left is too fragmented for the 2 MiB pages numpy asks for
    large arrays: later reads then fault in 4 KiB pages or stall in compaction, and measure the
    machine's state more than the implementation (a 512 MiB read took 2.8x as long).
    """
    os.sync()
    for dirpath, _, names in os.walk(root):
        for name in names:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def fresh_dir(parent: Path) -> Path:
    """A path under ``parent`` that no write used before; its parents exist, it does not.

    Writes never go where a layer was just deleted: ext4 creates files more slowly for a few
    minutes after thousands were deleted (measured in ``benchmarks/README.md``). The run
    deletes every written layer when it ends.
    """
    parent.mkdir(parents=True, exist_ok=True)
    return parent / f"{os.getpid()}-{time.perf_counter_ns()}"
