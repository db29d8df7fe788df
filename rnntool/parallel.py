"""Worker processes for work that splits into independent batches (prep's Treebank
tokenizing; ``classify`` and ``tag`` on a file): results in input order, a bounded
number of batches in flight, so memory stays flat however large the input."""

from __future__ import annotations

import os
import time
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


_monotonic = time.monotonic  # the governor's clock (a test sets its own)
ADAPT_THREADS_ENV = "RNNTOOL_ADAPT_THREADS"  # 0: keep torch's thread count whatever else runs
THREADS_CHECK_EVERY = 1.0  # seconds between looks at what the other processes take


class ThreadGovernor:
    """Keeps torch's intra-op threads within the cores other processes leave free.

    torch's OpenMP threads spin while they wait for each other; when another process takes
    one of the cores, every parallel region waits for the partner that lost its core:
    training fell to 0.28-0.30x of its idle speed beside one busy process and to 0.04-0.06x
    beside a stream of short commands (bench/busy_machine.py, 2 cores). Once a second,
    ``tick`` reads how busy the machine was without this process (Linux ``/proc/stat``) and
    sets the thread count to the free cores (at least one, at most what torch started
    with). A change of thread count changes the last bits of some steps (torch splits large
    reductions by thread: a tagger's or classifier's weights after 40 steps differ by ~1e-7
    between 1 and 2 threads; a language model's did not), so a resumed run is bit-identical
    to an uninterrupted one only where the count stayed the same: on a busy machine, equal to
    float rounding. ``RNNTOOL_ADAPT_THREADS=0`` turns it off (bit-exact resume, whatever the
    load)."""

    def __init__(self, torch_module, cpu: bool = True):
        self.torch = torch_module
        self.most = torch_module.get_num_threads()
        self.current = self.most
        self.enabled = (cpu and self.most > 1 and os.environ.get(ADAPT_THREADS_ENV, "1") != "0"
                        and os.path.exists("/proc/stat"))
        self.changes = 0
        self._last = self._sample() if self.enabled else None

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        """(now, CPU seconds the whole machine has been busy, CPU seconds of this process)."""
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        ticks = os.sysconf("SC_CLK_TCK")
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / ticks  # all but idle and iowait (guest is in user)
        mine = os.times()
        return _monotonic(), busy, mine.user + mine.system

    def tick(self) -> None:
        if not self.enabled:
            return
        if _monotonic() - self._last[0] < THREADS_CHECK_EVERY:
            return
        now = self._sample()
        wall = now[0] - self._last[0]
        others = max(0.0, (now[1] - self._last[1]) - (now[2] - self._last[2])) / wall
        self._last = now
        free = (os.cpu_count() or 1) - others
        want = max(1, min(self.most, int(free + 0.25)))  # a core 75% free counts as free
        if want != self.current:
            self.torch.set_num_threads(want)
            self.current = want
            self.changes += 1


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


def _worker_init(pickled_function: bytes) -> None:
    import pickle
    import signal

    global _worker_function
    # one BLAS thread: set before the function's modules load numpy (and OpenBLAS) here
    os.environ.update(_ONE_THREAD)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    _worker_function = function = pickle.loads(pickled_function)
    load = getattr(function, "load", None)
    if load is not None:  # a model loads while the first items are on their way
        load()


def _call_in_worker(item):
    return _worker_function(item)


class Workers:
    """``jobs`` spawned worker processes that apply ``function`` (it must pickle; it is sent
    to each worker once, and its ``load()``, if it has one, runs there as the worker starts).
    They start at once and warm up while the caller goes on; ``ordered`` hands them work.

    Spawned, not forked: the caller may have torch's thread pools loaded; and without the
    caller's ``__main__`` (rnntool/spawning.py), so a script needs no main guard. A worker that
    dies (killed, out of memory) fails the run with one line instead of hanging it
    (concurrent.futures notices a lost worker; multiprocessing.Pool does not).
    """

    def __init__(self, function: Callable, jobs: int):
        # (``function`` is pickled with the plain pickler, not multiprocessing's: nothing in
        # it may be a lock, a queue or a shared-memory tensor)
        import pickle
        import threading
        from concurrent.futures import ProcessPoolExecutor

        from rnntool.spawning import SpawnWithoutMainContext

        self.jobs = jobs
        # the function goes as bytes, unpickled by the worker once its environment is set
        self.executor = ProcessPoolExecutor(jobs, mp_context=SpawnWithoutMainContext(), initializer=_worker_init,
                                            initargs=(pickle.dumps(function, protocol=pickle.HIGHEST_PROTOCOL),))
        self._started: list = []
        self._closing = False
        self._start_error: BaseException | None = None
        # Starting a process waits until the child has read what it is sent (a model file's
        # bytes, learned chunks: 0.3 s of a 1.4 s classify run here), so the processes start
        # from a thread while the caller goes on.
        self._starter = threading.Thread(target=self._start, name="rnntool-workers", daemon=True)
        self._starter.start()

    def _start(self) -> None:
        # one small task a worker: the executor spawns a process for each task no idle
        # worker can take, so all of them start now, and the first answer says one is ready
        try:
            for _ in range(self.jobs):
                if self._closing:
                    return
                self._started.append(self.executor.submit(os.getpid))
        except BaseException as error:  # a child that died as it started, no process to be had: ordered() says so
            self._start_error = error

    def ready(self) -> bool:
        """Whether a worker has started (its model loaded) and could take work now (or the
        start failed, which ``ordered`` reports)."""
        return self._start_error is not None or any(started.done() for started in list(self._started))

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers now, mid-task if need be: nobody will read what is in flight.
        (concurrent.futures can only wait for a running task, so the processes are
        terminated directly.)"""
        self._closing = True  # no more starts
        self._starter.join()
        processes = list((getattr(self.executor, "_processes", None) or {}).values())
        manager = getattr(self.executor, "_executor_manager_thread", None)  # shutdown() forgets it
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join()
        # The executor's thread closes its wake-up pipe as it ends; left running, it can do so
        # while Python 3.11's exit hook writes to that pipe ("Exception ignored ... Bad file
        # descriptor" after `rnntool tag FILE | head`, about one run in ten). Its workers are
        # gone, so it ends at once.
        if manager is not None:
            manager.join(timeout=10)

    @staticmethod
    def _cannot_start(error: BaseException):
        from rnntool.errors import RnntoolError

        return RnntoolError(f"worker processes could not start ({type(error).__name__}: {error}); "
                            "run again with --jobs 1 to work in this process only")

    def _submit(self, item):
        # The executor starts a process here when one is missing (a start in the starting
        # thread failed, after the hand-over): its failure is the same one-line error.
        try:
            return self.executor.submit(_call_in_worker, item)
        except OSError as error:
            raise self._cannot_start(error) from error

    def ordered(self, items: Iterable[T | None]) -> Iterator[tuple[T, R]]:
        """(item, function(item)) for every item, in input order, with at most
        IN_FLIGHT_PER_WORKER items a worker in flight. A None among the items is not sent:
        everything in flight is yielded before the next item is read (a stream that
        pauses is answered at once). An error reading the items is raised after the answers
        to the items before it."""
        from concurrent.futures.process import BrokenProcessPool

        from rnntool.errors import RnntoolError

        from rnntool.runtime.stream import UntilError

        if self._start_error is not None:
            raise self._cannot_start(self._start_error) from self._start_error
        cap = IN_FLIGHT_PER_WORKER * self.jobs
        in_flight: deque = deque()
        source = UntilError(items)
        try:
            for item in source:
                if item is not None:
                    in_flight.append((item, self._submit(item)))
                while len(in_flight) > (0 if item is None else cap - 1):
                    done, future = in_flight.popleft()
                    yield done, future.result()
            while in_flight:
                done, future = in_flight.popleft()
                yield done, future.result()
            source.raise_error()
        except BrokenProcessPool:
            raise RnntoolError("a worker process died (killed, or out of memory?); "
                               "run again with --jobs 1 to work in this process only") from None
