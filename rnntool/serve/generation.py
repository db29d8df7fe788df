"""Generations behind the server: one loop thread per language model steps every running
generation of that model together (continuous batching: ``ContinuousBatch``), and hands
each request its pieces as they are sampled. A request that goes away (a client that
disconnects, a timeout, a shutdown) leaves the batch at the next step."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import AsyncIterator

import numpy as np

from rnntool.errors import RnntoolError
from rnntool.results import GenerationEvent


class BusyError(RnntoolError):
    """The server runs as many generations as it may (HTTP 503, Retry-After)."""


class GenerationTimeout(RnntoolError):
    """A generation ran past the per-request timeout."""


class GenerationRuns:
    """The generations running now, at most ``max_active``, their loops and what they did."""

    def __init__(self, max_active: int):
        self.max_active = max_active
        self.active = 0
        self.started = 0
        self.stopped_early = 0  # by a disconnect, a timeout or a shutdown
        self.tokens = 0  # sampled by the generations that finished
        self.pieces = 0  # of text produced by all of them, stopped ones too
        self.steps = 0  # batched steps of the loops
        self.rows_stepped = 0  # generations advanced by those steps (mean batch = rows / steps)
        self._lock = threading.Lock()
        self._loops: dict[int, GenerationLoop] = {}

    def start(self, lm, samples: list[tuple[str, object]], timeout: float, want_logprob: bool = False,
              keep_text: bool = True) -> GenerationRun:
        """Generate each (prompt, GenerationOptions) of ``samples`` with ``lm`` (a LanguageModel),
        as GenerationEvents indexed by their place in ``samples``."""
        with self._lock:
            if self.active + len(samples) > self.max_active:
                raise BusyError(f"the server is running {self.active} of its {self.max_active} generations: "
                                "try again in a moment (or start it with a higher --max-generations)")
            self.active += len(samples)
            self.started += len(samples)
            loop = self.loop_of(lm)
        run = GenerationRun(asyncio.get_running_loop(), timeout, len(samples))
        loop.submit(run, samples, want_logprob, keep_text)
        return run

    def loop_of(self, lm) -> GenerationLoop:
        """The loop of ``lm`` (a LanguageModel), started (and warmed up) on first use."""
        loop = self._loops.get(id(lm))
        if loop is None:
            loop = self._loops[id(lm)] = GenerationLoop(lm._runtime, self)
        return loop

    def _ended(self, tokens: int, pieces: int, early: bool) -> None:
        with self._lock:
            self.active -= 1
            self.tokens += tokens
            self.pieces += pieces
            self.stopped_early += early

    def zero_counts(self) -> None:
        """Forget what was counted so far (the server's warm-up); ``active`` stays true."""
        with self._lock:
            self.started = self.active
            self.stopped_early = self.tokens = self.pieces = self.steps = self.rows_stepped = 0

    def to_dict(self) -> dict:
        return {"active": self.active, "started": self.started, "stopped_early": self.stopped_early,
                "tokens": self.tokens, "pieces": self.pieces, "max_active": self.max_active,
                "mean_batch": round(self.rows_stepped / self.steps, 2) if self.steps else 0.0}

    def close(self) -> None:
        for loop in self._loops.values():
            loop.close()


class GenerationLoop:
    """The thread that steps one model's generations: new ones join between steps, each
    step's pieces go to their requests, finished and abandoned ones leave."""

    def __init__(self, runtime, runs: GenerationRuns):
        from rnntool.runtime.generate import ContinuousBatch

        self._batch = ContinuousBatch(runtime, warn=_warn)
        self._runs = runs
        self._joining: deque = deque()
        self._wake = threading.Condition()
        self._closed = False
        self._owners: dict[int, tuple[GenerationRun, int]] = {}  # row key -> (its request, its index)
        self._pieces: dict[int, int] = {}
        self._keys = itertools.count()
        self._thread = threading.Thread(target=self._loop, name="rnntool-generate", daemon=True)
        self._thread.start()

    def submit(self, run: GenerationRun, samples: list, want_logprob: bool, keep_text: bool) -> None:
        with self._wake:
            self._joining.append((run, samples, want_logprob, keep_text))
            self._wake.notify()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()

    def _warm_up(self) -> None:
        """One token before the first request: the first steps build buffers and caches (~30 ms)."""
        from rnntool.runtime.generate import GenerationOptions

        self._batch.join(-1, "", GenerationOptions(max_tokens=1, seed=0))
        while len(self._batch):
            self._batch.step()

    def _loop(self) -> None:
        batch = self._batch
        try:
            self._warm_up()
        except Exception:  # noqa: BLE001 - a request will meet the same error and report it
            self._batch.leave([-1])
        while True:
            with self._wake:
                while not self._joining and not len(batch) and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                joining = list(self._joining)
                self._joining.clear()
            for run, samples, want_logprob, keep_text in joining:
                self._join(run, samples, want_logprob, keep_text)
            gone = [key for key, (run, _) in self._owners.items() if run.stopped]
            if gone:
                batch.leave(gone)
                for key in gone:
                    self._end(key, early=True)
            if not len(batch):
                continue
            rows = len(batch)
            try:
                pieces, finished = batch.step()
            except Exception as error:  # noqa: BLE001 - every request of the batch hears it
                keys = [r.key for r in batch.rows]
                batch.leave(keys)
                for key in keys:
                    self._owners[key][0].fail(error)
                    self._end(key, early=True)
                continue
            self._runs.steps += 1
            self._runs.rows_stepped += rows
            for key, piece in pieces:
                run, index = self._owners[key]
                self._pieces[key] += 1
                run.push(GenerationEvent(index, "", piece))
            for row in finished:
                run, index = self._owners[row.key]
                run.push(GenerationEvent(index, row.gen.prompt, done=row.gen))
                self._end(row.key, early=False, tokens=row.gen.tokens)

    def _join(self, run: GenerationRun, samples: list, want_logprob: bool, keep_text: bool) -> None:
        for index, (prompt, options) in enumerate(samples):
            key = next(self._keys)
            self._owners[key] = (run, index)
            self._pieces[key] = 0
            try:
                self._batch.join(key, prompt, options, want_logprob=want_logprob, keep_text=keep_text)
            except Exception as error:  # noqa: BLE001 - this request's, not the batch's
                run.fail(error)
                self._end(key, early=True)

    def _end(self, key: int, early: bool, tokens: int = 0) -> None:
        run, _ = self._owners.pop(key)
        self._runs._ended(tokens, self._pieces.pop(key), early)
        run.row_ended()


def _warn(message: str) -> None:
    import warnings

    from rnntool.errors import RnntoolWarning

    warnings.warn(message, RnntoolWarning, stacklevel=2)


class GenerationRun:
    """One request's generations: the loop thread pushes GenerationEvents, ``events()``
    yields them on the event loop; leaving ``events()`` early takes them out of the batch."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, rows: int):
        self._loop = loop
        self._timeout = timeout
        self._rows_left = rows
        self._items: deque = deque()
        self._lock = threading.Lock()
        self._waiter: asyncio.Future | None = None
        self._error: BaseException | None = None
        self.stopped = False

    # --- the loop thread's side -----------------------------------------------------------
    def push(self, event: GenerationEvent) -> None:
        with self._lock:
            self._items.append(event)
        self._wake()

    def fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self.stopped = True

    def row_ended(self) -> None:
        with self._lock:
            self._rows_left -= 1
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_resolve, waiter)

    # --- the request's side -----------------------------------------------------------------
    async def events(self) -> AsyncIterator[list]:
        """Lists of the GenerationEvents sampled since the last one (several at once when the
        loop was busy), until every generation of the request ends; raises the first error,
        or GenerationTimeout."""
        deadline = self._loop.time() + self._timeout
        try:
            while True:
                with self._lock:
                    items = list(self._items)
                    self._items.clear()
                    finished = self._rows_left <= 0
                    if not items and not finished:
                        waiter = self._waiter = self._loop.create_future()
                if items:
                    yield items
                    continue
                if self._error is not None:
                    raise self._error
                if finished:
                    return
                remaining = deadline - self._loop.time()
                if remaining <= 0:
                    raise GenerationTimeout(f"the generation ran past the server's timeout of {self._timeout:g} s")
                try:
                    await asyncio.wait_for(asyncio.shield(waiter), remaining)
                except asyncio.TimeoutError:
                    continue
        finally:
            self.stopped = True  # the client went away, or it is over: the loop drops what is left


def _resolve(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


def sample_seeds(seed: int | None, count: int) -> list[int | None]:
    """A seed for each of ``count`` samples of one request: the request's own for the first
    (alone, a sample is what ``generate(seed=...)`` gives), and seeds drawn from it for the rest."""
    if seed is None:
        return [None] * count
    spawned = np.random.SeedSequence(seed).spawn(count - 1) if count > 1 else []
    return [seed, *(int(s.generate_state(1)[0]) for s in spawned)]
