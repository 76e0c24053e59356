"""Decode and encode many chunks on all cores with a thread pool.

Every codec library voxelio uses releases the GIL while it works (see the measurements in the
codecs' report), so threads scale without the cost of processes. Results keep the order of
the inputs. The first failing chunk's exception propagates (a :class:`DecodingError` from
``decode_many``), after the other submitted work has finished. Pass an ``executor`` to reuse a
pool owned by the caller; otherwise one is created and shut down per call.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from voxelio.codecs.base import Codec, Shape4

T = TypeVar("T")
R = TypeVar("R")


@functools.cache
def default_workers() -> int:
    """The number of cores this process may use (at least 1; asked once, as the call costs
    about 25 us, more than a small read's other overhead)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _map(
    func: Callable[[T], R], items: Sequence[T], workers: int | None, executor: Executor | None
) -> list[R]:
    """``[func(x) for x in items]``, run on a thread pool unless there is nothing to gain."""
    n = default_workers() if workers is None else max(1, int(workers))
    if executor is not None:
        return list(executor.map(func, items))
    if n == 1 or len(items) <= 1:
        return [func(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(n, len(items))) as pool:
        return list(pool.map(func, items))


def decode_many(
    codec: Codec,
    items: Iterable[tuple[bytes, Shape4]],
    dtype: np.dtype | str,
    params: Mapping[str, Any],
    workers: int | None = None,
    executor: Executor | None = None,
) -> list[np.ndarray]:
    """Decode ``(data, shape)`` pairs with ``codec``; ``shape`` is each chunk's ``[x, y, z, c]``.

    ``workers`` defaults to the usable cores; 1 decodes on the calling thread.
    """
    dt = np.dtype(dtype)
    pairs = list(items)
    return _map(lambda p: codec.decode(p[0], p[1], dt, params), pairs, workers, executor)


def encode_many(
    codec: Codec,
    chunks: Iterable[np.ndarray],
    params: Mapping[str, Any],
    workers: int | None = None,
    executor: Executor | None = None,
) -> list[bytes]:
    """Encode 4-D ``[x, y, z, c]`` chunks with ``codec``, in order, on ``workers`` threads."""
    arrays = list(chunks)
    return _map(lambda a: codec.encode(a, params), arrays, workers, executor)
