"""Per-call options of the image engine, built by the facade from its current settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voxelio.codecs.parallel import default_workers
from voxelio.compression import Method


@dataclass(frozen=True)
class ImageOptions:
    """What a read or write should do; immutable, so one value can serve many threads.

    ``compress``: transport compression of written chunks (``None`` for none);
    ``workers``: threads for fetch/decode/encode (defaults to the CPU count, at least 4 for I/O).
    """

    fill_missing: bool = False
    background_color: Any = 0
    compress: Method | None = None
    compress_level: int | None = None
    cache_control: str | None = None
    delete_black_uploads: bool = False
    non_aligned_writes: bool = False
    progress: bool = False
    workers: int = 0

    @property
    def threads(self) -> int:
        """Number of worker threads to use."""
        return self.workers if self.workers > 0 else default_threads()


def default_threads() -> int:
    """Worker threads when none are set (remote stores; local ones use a thread per core):
    four per core, at least 8, so requests overlap their latency. Measured with
    ``python -m benchmarks.latency`` (20 ms per request, 2 cores): 8 threads read 1.6x
    faster than 4; 16 and 32 were no faster there, where the loopback server and proxy
    share the two cores."""
    return max(8, 4 * default_workers())
