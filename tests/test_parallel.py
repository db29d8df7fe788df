"""Worker processes (rnntool/parallel.py) and the streaming loop that hands them a file's
batches (runtime/stream.py)."""

import io
import os
import queue
import threading
import time

import pytest

from rnntool.errors import RnntoolError
from rnntool.parallel import MAX_DEFAULT_JOBS, Workers, default_jobs
from rnntool.runtime.stream import answer_stream


class Where:
    """A picklable answer: each item with the process that answered it and its BLAS threads."""

    def __call__(self, items):
        threads = os.environ.get("OPENBLAS_NUM_THREADS", "-")
        return "".join(f"{item}\t{os.getpid()}\t{threads}\n" for item in items)


def rows(text):
    return [line.split("\t") for line in text.splitlines()]


def test_default_jobs_share_the_cpus_among_local_ranks(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(6)), raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert default_jobs() == min(6, MAX_DEFAULT_JOBS)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert default_jobs() == 3
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "12")
    assert default_jobs() == 1


def in_workers(function, items, jobs):
    with Workers(function, jobs) as workers:
        return list(workers.ordered(items))


def test_workers_keep_input_order_in_single_threaded_workers():
    items = [[n] for n in range(30)]
    before = os.environ.get("OPENBLAS_NUM_THREADS")
    out = in_workers(Where(), items, jobs=2)
    assert [item for item, _ in out] == items
    answered = [rows(text)[0] for _, text in out]
    assert [int(r[0]) for r in answered] == list(range(30))
    pids = {r[1] for r in answered}
    assert str(os.getpid()) not in pids and 1 <= len(pids) <= 2
    assert {r[2] for r in answered} == {"1"}  # one BLAS thread a worker ...
    assert os.environ.get("OPENBLAS_NUM_THREADS") == before  # ... and this process's environment as it was


def test_workers_become_ready_and_answer_in_order():
    with Workers(Where(), 2) as workers:
        deadline = time.monotonic() + 60
        while not workers.ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert workers.ready()
        out = list(workers.ordered([[n] for n in range(12)]))
    assert [int(rows(text)[0][0]) for _, text in out] == list(range(12))


def test_closing_workers_mid_task_leaves_no_thread_behind():
    """close() with work in flight (a reader gone, as after `| head`) ends the executor's own
    thread too: left running into interpreter exit, it raced Python's exit hook for its pipe
    (a traceback on stderr about one run in ten)."""
    import threading

    workers = Workers(Where(), 2)
    stream = workers.ordered([[n] for n in range(50)])
    next(stream)  # an answer read, the rest still in flight
    manager = workers.executor._executor_manager_thread  # this pool's own (not another test's)
    assert isinstance(manager, threading.Thread) and manager.is_alive()
    workers.close()
    assert not manager.is_alive()


def test_a_file_goes_to_workers_once_one_is_ready(monkeypatch):
    """This process answers full batches until a worker is ready (here: after three), then
    the workers answer the rest, in input order."""
    polls = []
    monkeypatch.setattr(Workers, "ready", lambda self: polls.append(1) or len(polls) >= 3)
    batch = 4
    out = io.StringIO()
    answer_stream(iter(range(10 * batch)), Where(), batch, out, jobs=2)
    answered = rows(out.getvalue())
    assert [int(r[0]) for r in answered] == list(range(10 * batch))
    assert {r[1] for r in answered[: 3 * batch]} == {str(os.getpid())}
    assert str(os.getpid()) not in {r[1] for r in answered[3 * batch:]}


def test_one_job_never_starts_workers():
    out = io.StringIO()
    answer_stream(iter(range(40)), Where(), 4, out, jobs=1)
    assert {r[1] for r in rows(out.getvalue())} == {str(os.getpid())}


class Writes(io.StringIO):
    def __init__(self):
        super().__init__()
        self.lines: queue.Queue = queue.Queue()

    def write(self, text):
        for line in text.splitlines():
            self.lines.put(line)
        return super().write(text)


@pytest.mark.parametrize("extra", [1, 0])
def test_a_pause_after_the_workers_started_is_answered_at_once(monkeypatch, extra):
    """What came before a pause is written before more input comes, as it is before the
    workers start: the stream may never send more. The pause comes after a short batch
    (extra=1) or right after a full one (extra=0: nothing is pending when it pauses)."""
    polls = []
    monkeypatch.setattr(Workers, "ready", lambda self: polls.append(1) or len(polls) >= 2)
    batch = 4
    fed: queue.Queue = queue.Queue()
    done = object()

    def items():
        while (item := fed.get()) is not done:
            yield item

    bulk = 5 * batch
    total = bulk + extra
    for n in range(total):  # full batches (and perhaps one item more), then nothing
        fed.put(n)
    out = Writes()
    worker = threading.Thread(target=answer_stream, args=(items(), Where(), batch, out, 2), daemon=True)
    worker.start()
    try:
        answered = [out.lines.get(timeout=60).split("\t") for _ in range(total)]
    finally:
        fed.put(done)
        worker.join(timeout=60)
    assert [int(r[0]) for r in answered] == list(range(total))
    assert str(os.getpid()) != answered[-1][1]  # the last batch went to a worker, and came back


class DiesOnThree:
    def __call__(self, items):
        if 3 in items:
            os._exit(9)  # as the OOM killer would
        return "".join(f"{item}\n" for item in items)


def test_a_worker_that_dies_fails_the_run_in_one_line():
    with pytest.raises(RnntoolError, match="worker process died.*--jobs 1"):
        in_workers(DiesOnThree(), [[n] for n in range(8)], jobs=2)


def test_training_threads_follow_the_cores_other_processes_leave_free(monkeypatch):
    from rnntool import parallel

    class FakeTorch:
        def __init__(self):
            self.threads = 2

        def get_num_threads(self):
            return self.threads

        def set_num_threads(self, n):
            self.threads = n

    clock = {"now": 0.0, "busy": 0.0, "mine": 0.0}
    monkeypatch.setattr(parallel.ThreadGovernor, "_sample",
                        staticmethod(lambda: (clock["now"], clock["busy"], clock["mine"])))
    monkeypatch.setattr(parallel, "_monotonic", lambda: clock["now"])
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    monkeypatch.delenv(parallel.ADAPT_THREADS_ENV, raising=False)
    torch = FakeTorch()
    governor = parallel.ThreadGovernor(torch)
    assert governor.enabled and governor.most == 2

    def second(others: float, mine: float = 1.8) -> None:
        clock["now"] += 1.0
        clock["mine"] += mine
        clock["busy"] += mine + others
        governor.tick()

    second(others=0.1)
    assert torch.threads == 2  # alone: both cores
    second(others=1.0)
    assert torch.threads == 1  # another process took a core: one thread, nobody waits for a lost partner
    clock["now"] += 0.5
    governor.tick()
    assert torch.threads == 1  # looks once a second, not at every step
    second(others=0.6)
    assert torch.threads == 1  # under 75% of a core free: still busy
    second(others=0.2)
    assert torch.threads == 2 and governor.changes == 2  # free again: back to what torch started with

    monkeypatch.setenv(parallel.ADAPT_THREADS_ENV, "0")
    assert not parallel.ThreadGovernor(FakeTorch()).enabled
    monkeypatch.delenv(parallel.ADAPT_THREADS_ENV)
    one = FakeTorch()
    one.threads = 1
    assert not parallel.ThreadGovernor(one).enabled
    assert not parallel.ThreadGovernor(FakeTorch(), cpu=False).enabled  # a GPU run's threads are left alone


def test_a_script_without_a_main_guard_can_use_workers(tmp_path):
    """Worker processes are spawned without the caller's main script: one without an
    ``if __name__ == "__main__":`` guard (as tutorials and notebooks write them) runs once,
    not again in each worker (where it hung: every worker started workers of its own)."""
    import subprocess
    import sys

    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"Call me at {n} for a free prize, ok?\n" for n in range(3000)))
    script = tmp_path / "script.py"
    script.write_text(f"""import rnntool
print("top of the script")
rnntool.load("sms-spam").classify_file({str(texts)!r}, {str(tmp_path / 'out.txt')!r}, jobs=2, batch_size=64)
""")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "top of the script\n"
    assert len((tmp_path / "out.txt").read_text().splitlines()) == 3000


def test_workers_start_from_a_thread_of_their_own(monkeypatch):
    """Starting a process waits until the child has read what it is sent (a model file's
    bytes): the caller goes on meanwhile, so the processes start from another thread."""
    import threading

    from rnntool.spawning import SpawnWithoutMainProcess

    started_from = []
    original = SpawnWithoutMainProcess._Popen

    def recording(process_obj):
        started_from.append(threading.current_thread())
        return original(process_obj)

    monkeypatch.setattr(SpawnWithoutMainProcess, "_Popen", staticmethod(recording))
    items = [[n] for n in range(6)]
    with Workers(Where(), 2) as workers:
        workers._starter.join(timeout=60)  # (work handed out meanwhile could start a worker from here)
        out = list(workers.ordered(items))
    assert [item for item, _ in out] == items
    assert len(started_from) == 2 and threading.main_thread() not in started_from


def test_workers_that_cannot_start_fail_the_run_in_one_line(monkeypatch):
    """A start that fails in the starting thread (no processes to be had, a child that died
    reading its start) is not lost there: ready() lets the caller hand over, and ordered()
    says what happened and what to do."""
    from rnntool.spawning import SpawnWithoutMainProcess

    def no_process(process_obj):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(SpawnWithoutMainProcess, "_Popen", staticmethod(no_process))
    with Workers(Where(), 2) as workers:
        workers._starter.join(timeout=60)
        assert workers.ready()
        with pytest.raises(RnntoolError, match=r"could not start \(BlockingIOError.*--jobs 1"):
            list(workers.ordered([[1], [2]]))


def test_a_worker_started_during_the_work_that_cannot_start_fails_the_run_in_one_line(monkeypatch):
    """After the hand-over, the executor starts a missing worker from the caller's thread
    (one whose start failed in the starting thread): its failure reads the same."""
    with Workers(Where(), 2) as workers:
        workers._starter.join(timeout=60)

        def no_process(*args, **kwargs):
            raise BrokenPipeError(32, "Broken pipe")  # a child killed as it read its start

        monkeypatch.setattr(workers.executor, "submit", no_process)
        with pytest.raises(RnntoolError, match=r"could not start \(BrokenPipeError.*--jobs 1"):
            list(workers.ordered([[1], [2]]))


def test_only_rnntool_starts_leave_the_main_module_out():
    """The start-up data a child gets: without the main module for rnntool's workers (a
    flag of the starting thread), unchanged for every other thread's processes."""
    import threading
    from multiprocessing import spawn

    import rnntool.spawning as spawning

    main_keys = {"init_main_from_path", "init_main_from_name"}
    plain = spawn.get_preparation_data("x")
    assert main_keys & set(plain)  # pytest's own __main__, as any program's
    other_thread = []
    spawning._here.without_main = True
    try:
        ours = spawn.get_preparation_data("x")
        thread = threading.Thread(target=lambda: other_thread.append(spawn.get_preparation_data("x")))
        thread.start()
        thread.join()
    finally:
        spawning._here.without_main = False
    assert not main_keys & set(ours)
    assert main_keys & set(other_thread[0]) == main_keys & set(plain)
