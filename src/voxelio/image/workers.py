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


#: small batches time their first task inline to (re)measure task weight: the first two
#: batches (the very first carries one-time costs such as imports), then one in this many
PROBE_EVERY = 16


class WorkerPool(ThreadPool):
    """The chunk-task pool of one layer; it measures how long tasks take inline."""

    def __init__(self, name: str = "voxelio") -> None:
        super().__init__(name)
        self._task_seconds: float | None = None  # per task, last measured inline
        self._probes = 0
        self._small_batches = 0

    def plan(self, items: int, gil_bound: bool = False) -> str:
        """How to run a batch of ``items`` tasks: ``"inline"``, ``"threads"`` or ``"probe"``.

        Inline inside a worker (no nesting). Large batches use threads. A small batch runs
        inline when its tasks hold the GIL (``gil_bound``: threads only contend) or are light
        (as last measured), and uses threads otherwise; ``"probe"``: time the first task
        inline (:meth:`record_inline`), then ask :meth:`light` about the rest.
        """
        if self.in_worker():
            return "inline"
        if items > SMALL_BATCH:
            return "threads"
        if gil_bound:
            return "inline"
        self._small_batches += 1
        if self._probes < 2 or self._small_batches % PROBE_EVERY == 0:
            self._probes += 1
            return "probe"
        return "inline" if self.light() else "threads"

    def light(self) -> bool:
        """Whether tasks, as last measured, are too light to hand to threads."""
        return self._task_seconds is not None and self._task_seconds < LIGHT_TASK

    def record_inline(self, seconds: float, items: int) -> None:
        """Note the wall time of ``items`` tasks run in the calling thread."""
        if items > 0:
            self._task_seconds = seconds / items

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
