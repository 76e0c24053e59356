"""When the engine runs chunk tasks in the calling thread and when it hands them to threads."""

from __future__ import annotations

import threading

import pytest

from voxelio.image.engine import run_tasks
from voxelio.image.workers import HEAVY_TASK, PROBE_EVERY, SMALL_BATCH, WorkerPool


def test_small_batches_take_the_way_measured_faster() -> None:
    pool = WorkerPool()
    assert pool.plan(8) == "threads"  # the first batch (one-time costs: not counted) ...
    pool.record("threads", 1.0, 8)
    assert pool.plan(8) == "threads"  # ... and the second measure threads
    pool.record("threads", 0.004, 8)
    assert pool.plan(8) == "inline"  # 0.5 ms per task: light enough to measure inline
    pool.record("inline", 0.002, 8)
    assert pool.plan(8) == "inline"  # 0.25 ms per task inline beats 0.5 ms on threads
    for _ in range(10):
        pool.record("inline", 0.006, 8)  # inline slows down to 0.75 ms per task
    assert pool.plan(8) == "threads"
    assert pool.plan(8, gil_bound=True) == "inline"  # unless threads only contend for the GIL
    assert pool.plan(SMALL_BATCH + 1, gil_bound=True) == "threads"  # big batches always share


def test_heavy_tasks_are_not_measured_inline() -> None:
    pool = WorkerPool()
    for _ in range(3 * PROBE_EVERY):
        assert pool.plan(4) == "threads"
        pool.record("threads", 4 * HEAVY_TASK, 4)


def test_the_slower_way_is_measured_again_now_and_then() -> None:
    pool = WorkerPool()
    for mode in ("threads", "threads", "inline"):
        assert pool.plan(8) == mode
        pool.record(mode, {"inline": 0.002, "threads": 0.004}[mode], 8)
    choices = [pool.plan(8) for _ in range(2 * PROBE_EVERY)]
    assert choices.count("threads") == 2  # one in every PROBE_EVERY small batches
    assert choices.count("inline") == 2 * PROBE_EVERY - 2


def _threads_used(
    pool: WorkerPool, items: int, gil_bound: bool = False, seconds: float = 0.008
) -> set[int]:
    used: set[int] = set()
    lock = threading.Lock()

    def task(_: int) -> None:
        with lock:
            used.add(threading.get_ident())
        threading.Event().wait(seconds)

    run_tasks(task, list(range(items)), 4, False, "", pool, gil_bound)
    return used


def test_run_tasks_measures_and_then_uses_threads() -> None:
    pool = WorkerPool()
    for _ in range(5):  # 8 ms sleeps: threads from the start, and heavy enough to stay
        assert len(_threads_used(pool, 8)) > 1
    light = WorkerPool()  # 2 ms sleeps: about 0.6 ms per task on threads, under HEAVY_TASK
    inline_batches = 0
    for batch in range(6):  # so one batch is measured inline (2 ms per task), then threads win
        used = _threads_used(light, 8, seconds=0.002)
        inline_batches += len(used) == 1
        if batch >= 4:
            assert len(used) > 1
    assert inline_batches <= 1
    light.close()
    assert _threads_used(pool, 8, gil_bound=True) == {threading.get_ident()}
    pool.close()


def test_light_tasks_stay_in_the_calling_thread() -> None:
    pool = WorkerPool()
    for batch in range(8):
        used: set[int] = set()
        run_tasks(lambda _, used=used: used.add(threading.get_ident()), list(range(8)), 4,
                  False, "", pool)  # fmt: skip
        if batch >= 3:  # threads were measured (the second batch), and lost to inline
            assert used == {threading.get_ident()}
    pool.close()


def test_errors_come_back_from_threads() -> None:
    pool = WorkerPool()

    def task(i: int) -> None:
        if i == 30:
            raise ValueError("chunk 30 is bad")

    with pytest.raises(ValueError, match="chunk 30"):
        run_tasks(task, list(range(40)), 4, False, "", pool)
    pool.close()
