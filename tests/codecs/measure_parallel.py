"""Measure whether decoding/encoding many chunks on 2 threads beats 1 thread, per codec.

Not a test (timings are machine dependent): run ``python tests/codecs/measure_parallel.py``.
Prints, for each encoding, the single-thread time and the speed-up with 2 threads; a speed-up
near 1.0 means the library holds the GIL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np

from voxelio.codecs import get_codec
from voxelio.codecs.parallel import decode_many, encode_many

SHAPE = (128, 128, 32)
NCHUNKS = 12

CASES: list[tuple[str, str, int, dict[str, object]]] = [
    ("raw", "uint8", 1, {}),
    ("png", "uint8", 1, {}),
    ("jpeg", "uint8", 1, {}),
    ("jxl", "uint8", 1, {}),
    ("compressed_segmentation", "uint64", 1, {"compressed_segmentation_block_size": [8, 8, 8]}),
    ("compresso", "uint64", 1, {}),
    ("crackle", "uint64", 1, {}),
    ("fpzip", "float32", 1, {}),
    ("kempressed", "float32", 1, {}),
    ("zfpc", "float32", 1, {}),
]


def make_chunk(dtype: str, seed: int) -> np.ndarray:
    """A chunk with realistic structure: smooth image values or blocky labels."""
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*(np.arange(s) for s in SHAPE), indexing="ij")
    if dtype.startswith("uint") and dtype != "uint8":
        labels = (x // 19) + 7 * (y // 23) + 50 * (z // 6) + (x + y) // 31
        return np.asfortranarray(labels.astype(dtype)[..., None])
    smooth = np.sin(x / 9.0) + np.cos(y / 7.0) + np.sin(z / 5.0)
    smooth += rng.normal(0, 0.05, SHAPE)
    if dtype == "uint8":
        return np.asfortranarray(np.clip(40 * smooth + 128, 0, 255).astype(np.uint8)[..., None])
    return np.asfortranarray(smooth.astype(dtype)[..., None])


def best_of(func: Callable[[], object], repeat: int = 3) -> float:
    """The fastest of ``repeat`` runs, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(enc: str, dtype: str, params: dict[str, object]) -> tuple[float, ...]:
    """Decode and encode times (seconds) with 1 and 2 threads for one encoding."""
    codec = get_codec(enc)
    chunks = [make_chunk(dtype, i) for i in range(NCHUNKS)]
    blobs = encode_many(codec, chunks, params, workers=1)
    items = [(b, c.shape) for b, c in zip(blobs, chunks)]
    out = []
    for workers in (1, 2):
        out.append(best_of(partial(decode_many, codec, items, dtype, params, workers)))
    for workers in (1, 2):
        out.append(best_of(partial(encode_many, codec, chunks, params, workers)))
    return tuple(out)


def main() -> None:
    """Print a table of 1-thread times and 2-thread speed-ups for decode and encode."""
    print(f"{NCHUNKS} chunks of {SHAPE}; times are the best of 3 runs")
    print(f"{'encoding':<25}{'dec 1T ms':>10}{'dec x2T':>9}{'enc 1T ms':>11}{'enc x2T':>9}")
    for enc, dtype, _, params in CASES:
        d1, d2, e1, e2 = measure(enc, dtype, params)
        print(f"{enc:<25}{d1 * 1e3:>10.1f}{d1 / d2:>9.2f}{e1 * 1e3:>11.1f}{e1 / e2:>9.2f}")


if __name__ == "__main__":
    main()
