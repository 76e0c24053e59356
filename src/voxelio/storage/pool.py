"""``ThreadPool``: a thread pool started on first use and kept for later calls.

Stores (bulk gets and puts) and the image engine (chunk tasks) each hang one off themselves,
so repeated small calls do not pay for starting threads. It restarts after ``fork`` (threads
do not survive it), grows when more threads are asked for, and pickles as a new, empty pool.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor


class ThreadPool:
    """A lazily started ``ThreadPoolExecutor``; see the module docstring. Thread safe."""

    def __init__(self, name: str = "voxelio") -> None:
        self.name = name
        self._executor: ThreadPoolExecutor | None = None
        self._size = 0
        self._pid = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.name,))

    def in_worker(self) -> bool:
        """True when called from one of this pool's threads (nested work should run inline)."""
        return bool(getattr(self._local, "active", False))

    def started(self) -> bool:
        """Whether threads exist in this process."""
        return self._executor is not None and self._pid == os.getpid()

    def _mark(self) -> None:
        self._local.active = True

    def executor(self, workers: int) -> ThreadPoolExecutor:
        """The executor, with room for at least ``workers`` threads."""
        with self._lock:
            if not self.started() or self._size < workers:
                if self.started():
                    self._executor.shutdown(wait=False)  # type: ignore[union-attr]
                self._executor = ThreadPoolExecutor(
                    max_workers=workers, thread_name_prefix=self.name, initializer=self._mark
                )
                self._size = workers
                self._pid = os.getpid()
            assert self._executor is not None
            return self._executor

    def close(self) -> None:
        """Stop the threads (they finish their current task)."""
        with self._lock:
            if self.started():
                self._executor.shutdown(wait=False)  # type: ignore[union-attr]
            self._executor = None
