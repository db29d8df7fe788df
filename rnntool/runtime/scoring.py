"""Scoring text with a language model: on the numpy runtime, and a long stream on onnxruntime
where it is installed (rnntool.runtime.ort.stream_engine)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np

from rnntool.runtime.lm import LMRuntime
from rnntool.runtime.ort import stream_engine

LN2 = math.log(2.0)


EVAL_WINDOW = 1 << 16  # tokens per forward pass; the state is carried across windows


def evaluate_pieces(lm: LMRuntime, pieces: Iterable[tuple[str, bool]]) -> dict:
    """Loss over the whole text as one stream with the state carried.

    ``pieces`` are (text, ends_a_line) as ``TextSource.pieces`` reads them. The stream
    starts in the start-of-text state, so every token of the text (and each line end) is
    predicted: ``tokens`` counts them all. It is read a window at a time, so memory stays
    bounded however large the text (or its longest line) is. A backward model reads the text
    from its end (``backward_windows``) and predicts as many tokens.
    """
    end = lm.line_end_id
    unk_id = lm.vocab.unk_id
    state = lm.zero_state(1)
    total = 0.0
    tokens = unk = 0
    window = [end]  # the last token of each window is the first input of the next
    engine = None  # chosen from the first window's length (a whole window: a long text)

    def run(window: list[int]) -> None:
        nonlocal state, total, tokens, unk, engine
        ids = np.asarray(window, dtype=np.int64)
        engine = engine or stream_engine(len(ids) - 1, build=lambda: lm._ort("onnxruntime"))
        lp, state = lm.target_log_probs(ids[:-1, None], ids[1:, None], state, engine=engine)
        total += float(lp.sum(dtype=np.float64))
        tokens += len(ids) - 1
        unk += int((ids[1:] == unk_id).sum())

    for ids in (backward_windows(lm, pieces) if lm.reads_backward else forward_windows(lm, pieces)):
        window.extend(ids)
        while len(window) > EVAL_WINDOW:
            run(window[: EVAL_WINDOW + 1])
            window = window[EVAL_WINDOW:]
    if len(window) > 1:
        run(window)
    if not tokens:
        return {"loss": float("nan"), "ppl": float("nan"), "tokens": 0}
    loss = -total / tokens
    out = {"loss": loss, "ppl": math.exp(min(loss, 700.0))}
    if lm.level == "char":
        out["bpc"] = loss / LN2
    out["tokens"] = tokens
    out["unk"] = unk
    return out


def forward_windows(lm: LMRuntime, pieces: Iterable[tuple[str, bool]]) -> Iterator[list[int]]:
    """The ids of ``pieces`` in reading order, each piece's followed by the line end if it ends a line."""
    for text, ends_line in pieces:
        yield lm.encode(text) + ([lm.line_end_id] if ends_line else [])


def backward_windows(lm: LMRuntime, pieces: Iterable[tuple[str, bool]]) -> Iterator[list[int]]:
    """``forward_windows`` for a backward model: the lines last to first, each read right to
    left and followed by its line end -- what the forward model reads of the text with its
    lines and their tokens reversed (a last line without a line end gets none). The ids go to
    an unnamed scratch file on the way, so a text of any size costs disk, not memory; then
    they are read back from the end."""
    from rnntool.text.corpus import IdStream, release_pages

    stream = IdStream(on_disk=True)
    for ids in forward_windows(lm, pieces):
        stream.pending.extend(ids)
        if len(stream.pending) >= EVAL_WINDOW:
            stream.flush()
    ids = stream.finish()
    # read backwards, the text's closing line end would come first: it goes last, after the
    # first line (what follows the start-of-text state evaluate_pieces begins in)
    closed = len(ids) > 0 and ids[-1] == lm.line_end_id
    for stop in range(len(ids) - closed, 0, -EVAL_WINDOW):
        start = max(0, stop - EVAL_WINDOW)
        yield ids[start:stop][::-1].tolist()
        release_pages(ids, start, stop)
    if closed:
        yield [lm.line_end_id]


def score_lines(lm: LMRuntime, lines: Iterable[str], batch: int = 64) -> Iterator[list[tuple[str, float, int]]]:
    """Batches of (line, total log-probability in nats, tokens), in input order: a batch as
    soon as ``batch`` lines are there or the input pauses (runtime/stream.py).

    Each line is scored from the start-of-text state and includes its line end
    (the model's belief that the sentence ends there).
    """
    from rnntool.runtime.stream import batches

    for chunk in batches(iter(lines), batch):
        yield score_batch(lm, chunk)


def score_batch(lm: LMRuntime, lines: list[str]) -> list[tuple[str, float, int]]:
    end = lm.line_end_id
    order = reversed if lm.reads_backward else iter
    encoded = [[end, *order(lm.encode(line)), end] for line in lines]
    lengths = np.array([len(e) - 1 for e in encoded])
    T, B = int(lengths.max()), len(lines)
    inputs = np.full((T, B), lm.vocab.pad_id, dtype=np.int64)
    targets = np.full((T, B), lm.vocab.pad_id, dtype=np.int64)
    for b, e in enumerate(encoded):
        inputs[: len(e) - 1, b] = e[:-1]
        targets[: len(e) - 1, b] = e[1:]
    lp, _ = lm.target_log_probs(inputs, targets, lm.zero_state(B), lengths=lengths)
    mask = np.arange(T)[:, None] < lengths[None, :]
    totals = np.where(mask, lp, 0.0).sum(axis=0)
    return [(line, float(total), int(n)) for line, total, n in zip(lines, totals, lengths)]
