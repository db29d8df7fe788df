"""Worker processes for work that splits into independent batches (prep's Treebank
tokenizing; ``classify`` and ``tag`` on a file): results in input order, a bounded
number of batches in flight, so memory stays flat however large the input."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_DEFAULT_JOBS = 8
IN_FLIGHT_PER_WORKER = 2  # one being worked on, one waiting: no worker idles between batches
# Each worker is one thread of numpy: two BLAS threads per process on top of one
# process per CPU would only contend.
_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def default_jobs() -> int:
    """The CPUs this process may run on (at most MAX_DEFAULT_JOBS), shared among the
    processes torchrun started on this machine (each rank prepares the text itself)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        ranks_here = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        ranks_here = 1
    return max(1, min(cpus // ranks_here, MAX_DEFAULT_JOBS))


_worker_function: Callable | None = None


def _worker_init(function: Callable) -> None:
    import signal

    global _worker_function
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    _worker_function = function


def _call_in_worker(item):
    return _worker_function(item)


def ordered_map(function: Callable[[T], R], items: Iterable[T], jobs: int,
                drain_after: Callable[[T], bool] | None = None) -> Iterator[tuple[T, R]]:
    """(item, function(item)) for every item, in input order, computed by ``jobs`` worker
    processes with at most IN_FLIGHT_PER_WORKER items each in flight. ``function`` must
    pickle; it is sent to each worker once (so it may load a model the first time it is
    called there). After an item for which ``drain_after`` is true, everything in flight
    is yielded before the next item is read: a stream that pauses is answered at once.

    Workers are spawned, not forked: the caller may have torch's thread pools loaded.
    """
    import multiprocessing

    saved = {name: os.environ.get(name) for name in _ONE_THREAD}
    os.environ.update(_ONE_THREAD)  # spawned children take the environment as it is now
    try:
        pool = multiprocessing.get_context("spawn").Pool(jobs, initializer=_worker_init, initargs=(function,))
    finally:
        for name, old in saved.items():
            if old is None:
                del os.environ[name]
            else:
                os.environ[name] = old
    with pool:
        in_flight: deque = deque()
        for item in items:
            in_flight.append((item, pool.apply_async(_call_in_worker, (item,))))
            if drain_after is not None and drain_after(item):
                while in_flight:
                    done, result = in_flight.popleft()
                    yield done, result.get()
            elif len(in_flight) >= IN_FLIGHT_PER_WORKER * jobs:
                done, result = in_flight.popleft()
                yield done, result.get()
        while in_flight:
            done, result = in_flight.popleft()
            yield done, result.get()
