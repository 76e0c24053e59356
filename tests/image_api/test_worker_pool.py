"""When the engine runs chunk tasks in the calling thread and when it hands them to threads."""

from __future__ import annotations

import threading

import pytest

from voxelio.image.engine import run_tasks
from voxelio.image.workers import LIGHT_TASK, PROBE_EVERY, SMALL_BATCH, WorkerPool


def test_small_batches_run_inline_until_tasks_prove_heavy() -> None:
    pool = WorkerPool()
    assert pool.plan(8) == "probe"  # nothing measured yet
    pool.record_inline(LIGHT_TASK * 4, 1)  # a heavy first task (one-time costs) ...
    assert pool.plan(8) == "probe"  # ... is measured again
    pool.record_inline(LIGHT_TASK / 4, 1)
    assert pool.plan(8) == "inline"  # light tasks stay in the calling thread
    pool.record_inline(8 * LIGHT_TASK * 4, 8)
    assert pool.plan(8) == "threads"  # heavy ones go to threads
    assert pool.plan(8, gil_bound=True) == "inline"  # unless threads only contend for the GIL
    assert pool.plan(SMALL_BATCH + 1, gil_bound=True) == "threads"  # big batches always share


def test_heavy_tasks_are_measured_again_now_and_then() -> None:
    pool = WorkerPool()
    for _ in range(2):
        assert pool.plan(8) == "probe"
        pool.record_inline(1.0, 1)
    choices = [pool.plan(8) for _ in range(2 * PROBE_EVERY)]
    assert choices.count("probe") == 2  # one probe in every PROBE_EVERY small batches
    assert set(choices) == {"probe", "threads"}


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
    for _ in range(3):  # probes time the first task inline, then hand the rest to threads
        assert len(_threads_used(pool, 8)) > 1  # 2 ms tasks
    assert _threads_used(pool, 8, gil_bound=True) == {threading.get_ident()}
    pool.close()


def test_light_tasks_stay_in_the_calling_thread() -> None:
    pool = WorkerPool()
    for _ in range(4):
        used: set[int] = set()
        run_tasks(lambda _: used.add(threading.get_ident()), list(range(8)), 4, False, "", pool)
        assert used == {threading.get_ident()}


def test_errors_come_back_from_threads() -> None:
    pool = WorkerPool()

    def task(i: int) -> None:
        if i == 30:
            raise ValueError("chunk 30 is bad")

    with pytest.raises(ValueError, match="chunk 30"):
        run_tasks(task, list(range(40)), 4, False, "", pool)
    pool.close()
