"""The streaming loop of every command that answers its input line by line
(``tag``, ``classify``, ``score``, ``generate``): items are read (and tokenized) by a background thread,
batched as they arrive, and each batch's answer is written and flushed when the
batch is full or as soon as the input pauses -- so a line typed or written to an
open pipe is answered at once, and a large file still goes through in big batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class UntilError(Iterator[T]):
    """The items of an iterable up to an error raised while reading them (bad UTF-8, a
    damaged record), which is kept so that the items before it can be answered and written
    first; ``raise_error()`` then raises it."""

    def __init__(self, items: Iterable[T]):
        self._items = iter(items)
        self.error: Exception | None = None

    def __next__(self) -> T:
        if self.error is not None:
            raise StopIteration
        try:
            return next(self._items)
        except StopIteration:
            raise
        except Exception as e:  # noqa: BLE001 -- kept, and raised by raise_error()
            self.error = e
            raise StopIteration from None

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


def read_ahead(units: Iterator[T], capacity: int) -> Iterator[T | None]:
    """Yield ``units`` read (and tokenized) by a background thread; None whenever
    the reader has nothing new ready within ~50 ms (the input is stalled).

    Reading and parsing overlap with answering. Errors in the reader surface here.
    """
    import queue
    import threading

    done = object()
    items: queue.Queue = queue.Queue(maxsize=capacity)

    def read() -> None:
        try:
            for unit in units:
                items.put(unit)
        except BaseException as e:  # re-raised in the consumer
            items.put(e)
        items.put(done)

    threading.Thread(target=read, name="rnntool-reader", daemon=True).start()
    waiting = False  # True after a unit: do not block forever, let the caller flush
    while True:
        try:
            item = items.get(timeout=0.05) if waiting else items.get()
        except queue.Empty:
            waiting = False
            yield None
            continue
        if item is done:
            return
        if isinstance(item, BaseException):
            raise item
        waiting = True
        yield item


def batches(items: Iterator[T], size: int, empty_on_pause: bool = False) -> Iterator[list[T]]:
    """Lists of at most ``size`` items: full ones, and whatever is there whenever the input
    pauses (~50 ms), so an interactive line is answered at once; with ``empty_on_pause``,
    an empty list when it pauses with nothing pending (right after a full batch)."""
    pending: list[T] = []
    source = UntilError(read_ahead(items, capacity=4 * size))
    for item in source:
        if item is not None:
            pending.append(item)
        if (pending or empty_on_pause) and (item is None or len(pending) >= size):
            yield pending
            pending = []
    if pending:
        yield pending  # then an input error, if one ended the items: what came before it is answered first
    source.raise_error()


class ModelAnswers:
    """Base of the answer objects ``answer_stream`` may hand to worker processes (dataclasses
    with ``model``, the runtime, and ``warn`` fields). One pickles as its model file's
    contents (not the path, which a training run may replace meanwhile) and without its
    warning: a worker builds the model once (``build``) and stays quiet, and the stream
    keeps batches in the main process until the unseen-letters check is ``settled``."""

    KIND = ANSWERS = ""  # the letters warning's words: "classifier", "labels"

    def __post_init__(self):
        from rnntool.features import UnseenLetterCheck

        self.model_file = self.model.model_file
        self.letters = None if self.warn is None else UnseenLetterCheck(self.model.cfg, self.KIND, self.ANSWERS,
                                                                         self.warn)

    @property
    def settled(self) -> bool:
        return self.letters is None or self.letters.done

    def build(self, model_file):
        raise NotImplementedError

    def load(self) -> None:
        """The model, in a worker process (where it came without one)."""
        if self.model is None:
            self.model = self.build(self.model_file)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "model": None, "warn": None, "letters": None}


def answer_stream(items: Iterator[T], answer: Callable[[list[T]], str], batch: int, out, jobs: int = 1) -> None:
    """Write and flush ``answer(batch of items)`` for every batch (see ``batches``).

    With ``jobs`` > 1, the first full batch (a file, or a pipe that keeps up) starts ``jobs``
    worker processes (rnntool/parallel.py; ``answer`` must pickle, and load its model
    there). This process answers batches itself until one of them is ready (and until
    ``answer.settled``, if it has one, says what must happen here is done), and then they
    answer the rest, still written in input order. A batch cut short by a pause is written
    as soon as it and those before it are answered; input that only ever comes a little at
    a time (a terminal, a slow pipe) never starts them.
    """
    chunks = batches(items, batch, empty_on_pause=jobs > 1)
    workers = None
    try:
        for chunk in chunks:
            if not chunk:
                continue
            if jobs > 1 and workers is None and len(chunk) == batch:
                from rnntool.parallel import Workers

                workers = Workers(answer, jobs)  # they start up while this process answers
            out.write(answer(chunk))
            out.flush()
            if workers is not None and len(chunk) == batch and getattr(answer, "settled", True) and workers.ready():
                break
        else:
            return

        def work():  # None: the input paused, so write everything in flight before reading on
            for chunk in chunks:
                if chunk:
                    yield chunk
                if len(chunk) < batch:
                    yield None

        for _, text in workers.ordered(work()):
            out.write(text)
            out.flush()
    finally:
        if workers is not None:
            workers.close()
