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

#: up to this many tasks run in the caller's thread while the pool is not started
COLD_INLINE_TASKS = 16


class WorkerPool(ThreadPool):
    """The chunk-task pool of one layer."""

    def inline(self, items: int) -> bool:
        """Whether ``items`` tasks are better run in the calling thread.

        True inside a worker (no nesting), and for a few tasks while the pool has not started:
        starting threads costs about a millisecond each here, more than a few chunks take.
        """
        return self.in_worker() or (not self.started() and items <= COLD_INLINE_TASKS)

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
