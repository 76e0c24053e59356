"""When the engine runs chunk tasks in the calling thread and when it hands them to threads."""

from __future__ import annotations

import threading

import pytest

from voxelio.image.engine import run_tasks
from voxelio.image.workers import LIGHT_TASK, PROBE_EVERY, SMALL_BATCH, WorkerPool


def test_small_batches_run_inline_until_tasks_prove_heavy() -> None:
    pool = WorkerPool()
    assert pool.inline(8)  # nothing measured yet
    pool.record_inline(8 * LIGHT_TASK * 4, 8)  # a heavy first batch (one-time costs) ...
    assert pool.inline(8)  # ... is measured again
    pool.record_inline(8 * LIGHT_TASK / 4, 8)
    assert pool.inline(8)  # light tasks stay in the calling thread
    pool.record_inline(8 * LIGHT_TASK * 4, 8)
    assert not pool.inline(8)  # heavy ones go to threads
    assert pool.inline(8, gil_bound=True)  # unless threads would only contend for the GIL
    assert not pool.inline(SMALL_BATCH + 1, gil_bound=True)  # big batches always share


def test_heavy_tasks_are_measured_again_now_and_then() -> None:
    pool = WorkerPool()
    for _ in range(2):
        pool.record_inline(1.0, 2)
    choices = [pool.inline(8) for _ in range(2 * PROBE_EVERY)]
    assert choices.count(True) == 2  # one probe in every PROBE_EVERY small batches


def _threads_used(pool: WorkerPool, items: int, gil_bound: bool = False) -> set[int]:
    used: set[int] = set()
    lock = threading.Lock()

    def task(_: int) -> None:
        with lock:
            used.add(threading.get_ident())
        threading.Event().wait(0.002)  # heavy enough to be worth a thread

    run_tasks(task, list(range(items)), 4, False, "", pool, gil_bound)
    return used


def test_run_tasks_measures_and_then_uses_threads() -> None:
    pool = WorkerPool()
    for _ in range(2):  # the first batches are measured inline
        assert _threads_used(pool, 8) == {threading.get_ident()}
    assert len(_threads_used(pool, 8)) > 1  # 2 ms tasks: threads from now on
    assert _threads_used(pool, 8, gil_bound=True) == {threading.get_ident()}
    pool.close()


def test_errors_come_back_from_threads() -> None:
    pool = WorkerPool()

    def task(i: int) -> None:
        if i == 30:
            raise ValueError("chunk 30 is bad")

    with pytest.raises(ValueError, match="chunk 30"):
        run_tasks(task, list(range(40)), 4, False, "", pool)
    pool.close()
