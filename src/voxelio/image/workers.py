"""The image engine's worker pool: a :class:`ThreadPool` that measures when to run inline.

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

#: batches of up to this many tasks may run in the calling thread (a 64^3 cutout touches
#: at most 8 chunks of 64^3 and 20 of 128x128x16; larger batches always use threads)
SMALL_BATCH = 24
#: small batches mostly run the way that measured faster per task; one in this many runs
#: the other way, to measure it again
PROBE_EVERY = 32
#: weight of the newest measurement in the running time per task of each way
SMOOTHING = 0.3
#: batches on threads that take this long per task (batch wall time / tasks: 2 ms of work
#: per task on two threads) stay there: the hand-off is noise beside such tasks, and tasks
#: that hold the GIL are known by their codec's ``gil_bound`` (compresso). So no
#: small batch of heavy tasks is slowed down to measure it inline.
HEAVY_TASK = 0.001


class WorkerPool(ThreadPool):
    """The chunk-task pool of one layer; it measures whether small batches gain from threads.

    Threads pay off for tasks that spend their time outside the GIL (a jpeg or gzip decode, a
    network wait). Light tasks of mostly Python and numpy bookkeeping (the parts of sharded
    chunks one cutout needs, a raw chunk) run slower on two threads than on one, as each
    thread waits for the other to drop the GIL. So small batches of light tasks are timed both
    ways, and the faster way per task wins.
    """

    def __init__(self, name: str = "voxelio") -> None:
        super().__init__(name)
        self._seconds: dict[str, float] = {}  # running time per task: "inline", "threads"
        self._small_batches = 0

    def plan(self, items: int, gil_bound: bool = False) -> str:
        """How to run a batch of ``items`` tasks: ``"inline"`` or ``"threads"``.

        Inline inside a worker (no nesting) and for small batches of tasks that hold the GIL
        (``gil_bound``). Large batches use threads. Small batches start on threads (the
        first carries one-time costs such as imports, and is not counted); unless their tasks
        prove heavy there, one batch then runs inline, and from then on the way that was
        faster per task (:meth:`record`) wins, with one batch in ``PROBE_EVERY`` run the
        other way.
        """
        if self.in_worker():
            return "inline"
        if items > SMALL_BATCH:
            return "threads"
        if gil_bound:
            return "inline"
        self._small_batches += 1
        threads = self._seconds.get("threads")
        if threads is None or threads >= HEAVY_TASK:
            return "threads"
        if "inline" not in self._seconds:
            return "inline"
        best = min(self._seconds, key=self._seconds.__getitem__)
        if self._small_batches % PROBE_EVERY == 0:
            return "threads" if best == "inline" else "inline"
        return best

    def record(self, mode: str, seconds: float, items: int) -> None:
        """Note the wall time of a batch of ``items`` tasks that ran ``mode`` as :meth:`plan`
        said. Only small batches count, from the second on, and not nested ones (run inside a
        worker, beside the batch that worker serves)."""
        if not 1 < items <= SMALL_BATCH or self._small_batches < 2 or self.in_worker():
            return
        per_task = seconds / items
        last = self._seconds.get(mode)
        self._seconds[mode] = per_task if last is None else last + SMOOTHING * (per_task - last)

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
