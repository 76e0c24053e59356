"""The image engine's worker pool: a :class:`ThreadPool` that knows when to run inline.

One :class:`WorkerPool` hangs off each open layer, so a run of small reads (random cutouts)
does not pay for starting threads every call. Work submitted from one of its own threads runs
inline, so nested engine calls cannot deadlock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

from voxelio.storage.pool import ThreadPool

#: batches of up to this many tasks may run in the calling thread
SMALL_BATCH = 64
#: seconds per task below which a thread hand-off costs more than it saves (measured here:
#: a hand-off is ~50 us, a raw 64^3 chunk read and copy ~100 us)
LIGHT_TASK = 0.0003


#: small batches run inline to (re)measure their tasks: the first ones (the very first
#: carries one-time costs such as imports), then one in this many
PROBE_EVERY = 16


class WorkerPool(ThreadPool):
    """The chunk-task pool of one layer; it measures how long tasks take inline."""

    def __init__(self, name: str = "voxelio") -> None:
        super().__init__(name)
        self._task_seconds: float | None = None  # per task, last batch measured inline
        self._probes = 0
        self._small_batches = 0

    def inline(self, items: int, gil_bound: bool = False) -> bool:
        """Whether ``items`` tasks are better run in the calling thread.

        True inside a worker (no nesting). A small batch runs inline when its tasks hold the
        GIL (``gil_bound``: threads only contend), when they are light (as last measured),
        and when it is a probe that measures them; otherwise threads share it.
        """
        if self.in_worker():
            return True
        if items > SMALL_BATCH:
            return False
        if gil_bound:
            return True
        self._small_batches += 1
        if self._probes < 2 or self._small_batches % PROBE_EVERY == 0:
            return True
        return self._task_seconds is not None and self._task_seconds < LIGHT_TASK

    def record_inline(self, seconds: float, items: int) -> None:
        """Note the wall time of a batch of ``items`` tasks run in the calling thread."""
        if items > 1:
            self._task_seconds = seconds / items
            self._probes += 1

    def run(self, loop: Callable[[], None], threads: int) -> list[Future[Any]]:
        """Start ``threads`` copies of ``loop`` on the pool; returns their futures."""
        if threads <= 0:
            return []
        executor = self.executor(threads)
        return [executor.submit(loop) for _ in range(threads)]


def drain(
    queue: Iterator[Any],
    fn: Callable[[Any], Any],
    stop: threading.Event,
    errors: list[BaseException],
    on_done: Callable[[], Any],
) -> None:
    """Apply ``fn`` to items of a shared iterator until it is empty or ``stop`` is set."""
    for item in queue:
        if stop.is_set():
            return
        try:
            fn(item)
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)
            stop.set()
            return
        on_done()
