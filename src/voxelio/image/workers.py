"""A lazily started, reusable pool of worker threads for the image engine.

One :class:`WorkerPool` hangs off each open layer, so a run of small reads (random cutouts)
does not pay for starting threads every call. It restarts itself after ``fork`` (threads do
not survive it) and is never pickled. Work submitted from one of its own threads runs inline,
so nested engine calls cannot deadlock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

#: up to this many tasks run in the caller's thread while the pool is not started
COLD_INLINE_TASKS = 16


class WorkerPool:
    """A thread pool started on first use with at least the requested number of threads."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._size = 0
        self._pid = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (WorkerPool, ())

    def in_worker(self) -> bool:
        """True when called from one of this pool's threads."""
        return bool(getattr(self._local, "active", False))

    def inline(self, items: int) -> bool:
        """Whether ``items`` tasks are better run in the calling thread.

        True inside a worker (no nesting), and for a few tasks while the pool has not started:
        starting threads costs about a millisecond each here, more than a few chunks take.
        """
        cold = self._executor is None or self._pid != os.getpid()
        return self.in_worker() or (cold and items <= COLD_INLINE_TASKS)

    def _get(self, threads: int) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None or self._pid != os.getpid() or self._size < threads:
                if self._executor is not None and self._pid == os.getpid():
                    self._executor.shutdown(wait=False)
                self._executor = ThreadPoolExecutor(
                    max_workers=threads, thread_name_prefix="voxelio", initializer=self._mark
                )
                self._size = threads
                self._pid = os.getpid()
            return self._executor

    def _mark(self) -> None:
        self._local.active = True

    def run(self, loop: Callable[[], None], threads: int) -> list[Future[Any]]:
        """Start ``threads`` copies of ``loop`` on the pool; returns their futures."""
        if threads <= 0:
            return []
        executor = self._get(threads)
        return [executor.submit(loop) for _ in range(threads)]

    def close(self) -> None:
        """Stop the threads (they finish their current task)."""
        with self._lock:
            if self._executor is not None and self._pid == os.getpid():
                self._executor.shutdown(wait=False)
            self._executor = None


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
