"""Micro-batching: requests for the same model and options that arrive together are
answered by one call of the loaded model, off the event loop.

A model call has a fixed cost (a packed batch is built, the recurrent scan runs once per
time step for every row), so 32 one-line requests answered in one call cost about what
one 32-line file does. The first request of a batch waits ``max_wait`` seconds for
others to join (a few milliseconds); while a batch computes, the next one gathers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any


@dataclass
class BatchStats:
    """What a batcher did: ``calls`` of the model (the batch-count hook), ``items`` and
    ``requests`` answered by them."""

    calls: int = 0
    items: int = 0
    requests: int = 0

    @property
    def mean_batch(self) -> float:
        return self.items / self.calls if self.calls else 0.0

    def to_dict(self) -> dict:
        return {"calls": self.calls, "requests": self.requests, "items": self.items,
                "mean_batch_items": round(self.mean_batch, 2)}


@dataclass
class _Pending:
    items: list
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Answers ``submit(items)`` with ``run(items)``'s results for those items, where one
    ``run`` call (in ``executor``) serves every request gathered meanwhile. A batch that
    fails is answered request by request, so one bad request cannot fail its neighbours."""

    def __init__(self, run: Callable[[list], list], executor: Executor, *, max_wait: float, max_items: int):
        self._run = run
        self._executor = executor
        self.max_wait = max_wait
        self.max_items = max_items
        self.stats = BatchStats()
        self._queue: deque[_Pending] = deque()
        self._worker: asyncio.Task | None = None

    async def submit(self, items: list) -> list:
        loop = asyncio.get_running_loop()
        pending = _Pending(list(items), loop.create_future())
        self._queue.append(pending)
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return await asyncio.shield(pending.future)  # a timed-out caller leaves its batch intact

    def _queued_items(self) -> int:
        return sum(len(p.items) for p in self._queue)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            if self.max_wait > 0 and self._queued_items() < self.max_items:
                await asyncio.sleep(self.max_wait)  # let the requests sent together arrive
            batch, count = [], 0
            while self._queue and (not batch or count + len(self._queue[0].items) <= self.max_items):
                pending = self._queue.popleft()
                batch.append(pending)
                count += len(pending.items)
            await self._answer(loop, batch)

    async def _answer(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        items = [item for pending in batch for item in pending.items]
        try:
            results = await loop.run_in_executor(self._executor, self._call, items)
        except Exception as error:  # noqa: BLE001 - handed to the request's handler
            if len(batch) == 1:
                _settle(batch[0].future, error=error)
            else:  # find whose request it was: each on its own
                for pending in batch:
                    await self._answer(loop, [pending])
            return
        self.stats.requests += len(batch)
        start = 0
        for pending in batch:
            _settle(pending.future, results[start:start + len(pending.items)])
            start += len(pending.items)

    def _call(self, items: list) -> list:
        results = self._run(items)
        self.stats.calls += 1
        self.stats.items += len(items)
        return results


def _settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
