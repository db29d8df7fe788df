"""Training batches: LM streams with truncated BPTT, and exact-length sentence buckets.

A batch source has ``steps_per_epoch`` and ``batch(epoch, index)``, a pure function
of its arguments (plus an LM's carried state), so a resumed run sees exactly the
batches the interrupted one would have. Under torchrun each rank holds its own
share of every global batch: LM stream columns are split contiguously, sentence
buckets row-wise, and every rank takes the same number of steps.
"""

from __future__ import annotations

import numpy as np
import torch

from rnntool.errors import RnntoolError
from rnntool.nn.lm import PAD_ID, LMWindow, StateCarry
from rnntool.nn.tagger import TaggerBatch
from rnntool.tagging import TaggerConfig, casing, normalize_word
from rnntool.text.corpus import release_pages
from rnntool.text.tagged import TaggedSentence
from rnntool.train.distributed import Distributed


# --- language-model streams ----------------------------------------------------------------

def stream_columns(ids: np.ndarray, batch: int) -> np.ndarray:
    """[n] -> [n // batch, batch]: column b is the b-th contiguous slice of the stream."""
    n = len(ids) // batch
    return np.asarray(ids[: n * batch]).reshape(batch, n).T


class PagesBehind:
    """Hands back the pages of a memory-mapped stream that the windows have moved past.

    Column b of ``stream_columns(ids, batch)`` is ids[b * n: (b + 1) * n]; every
    ``every`` rows the stretch of each of ``columns`` that lies behind the current
    window is released, so a pass over a corpus of any size keeps about ``every`` rows
    of it resident instead of all it has read (see text.corpus.release_pages)."""

    def __init__(self, ids: np.ndarray, batch: int, columns: range, every: int = 1024):
        self.ids, self.n, self.columns, self.every = ids, len(ids) // batch, columns, every
        self.done = 0

    def advance(self, row: int) -> None:
        if row < self.done:  # a new epoch starts from the top
            self.done = 0
        if row - self.done < self.every:
            return
        for b in self.columns:
            release_pages(self.ids, b * self.n + self.done, b * self.n + row)
        self.done = row


def windows(columns: np.ndarray, bptt: int) -> list[int]:
    return list(range(0, len(columns) - 1, bptt))


def window_tensors(columns: np.ndarray, start: int, bptt: int, device=None, pin: bool = False):
    length = min(bptt, len(columns) - 1 - start)
    chunk = torch.from_numpy(np.ascontiguousarray(columns[start: start + length + 1], dtype=np.int64))
    if pin:
        chunk = chunk.pin_memory()
    if device is not None:
        chunk = chunk.to(device, non_blocking=True)
    return chunk[:-1], chunk[1:]


def _split_state(state, start: int, stop: int):
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return tuple(s[:, start:stop].contiguous() for s in state)
    return state[:, start:stop].contiguous()


def _to(state, device):
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return tuple(s.to(device) for s in state)
    return state.to(device)


class LMStreams:
    """The training ids as ``batch_size`` parallel streams cut into ``bptt`` windows;
    this rank holds columns [rank * b, (rank + 1) * b) with b = batch_size / world_size,
    so N ranks together see exactly one process's batch."""

    def __init__(self, ids: np.ndarray, batch_size: int, bptt: int, dist: Distributed, pin: bool = False,
                 padded: bool = False):
        if batch_size % dist.world_size:
            raise RnntoolError(f"--batch-size {batch_size} (the global batch) must divide evenly among "
                               f"{dist.world_size} ranks; use a multiple of {dist.world_size}")
        columns = stream_columns(ids, batch_size)
        self.local = batch_size // dist.world_size
        self.rank = dist.rank
        self.batch_size, self.bptt, self.pin = batch_size, bptt, pin
        # a view: the ids stay memory-mapped (a window is copied when it is used)
        self.columns = columns[:, dist.rank * self.local: (dist.rank + 1) * self.local]
        self.pages_behind = PagesBehind(ids, batch_size, range(dist.rank * self.local, (dist.rank + 1) * self.local))
        self.starts = windows(columns, bptt)
        self.steps_per_epoch = len(self.starts)
        self.carry = StateCarry()
        # padded rows (a tiny text's one stream per line): the loss is over the real targets only,
        # counted across all ranks' columns so that every rank divides by the same number
        self.norms = [int((columns[start + 1: start + 1 + bptt] != PAD_ID).sum()) for start in self.starts] \
            if padded else None

    def batch(self, epoch: int, index: int) -> LMWindow:
        if index == 0:
            self.carry.state = None  # each epoch starts from the zero state
        x, y = window_tensors(self.columns, self.starts[index], self.bptt, pin=self.pin)
        self.pages_behind.advance(self.starts[index])
        norm = self.norms[index] if self.norms is not None else x.shape[0] * self.batch_size
        return LMWindow(x, y, self.carry, norm=max(norm, 1))

    def state_dict(self, dist: Distributed) -> dict:
        """The carried state of all ranks' streams, in one process's layout."""
        local = _to(self.carry.state, "cpu")
        parts = dist.gather(local)
        if parts[0] is None:
            return {"hidden": None}
        if isinstance(parts[0], tuple):
            return {"hidden": [torch.cat([p[i] for p in parts], dim=1) for i in range(len(parts[0]))]}
        return {"hidden": torch.cat(parts, dim=1)}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        hidden = state.get("hidden")
        start = self.rank * self.local
        self.carry.state = _to(_split_state(hidden, start, start + self.local), device)


# --- sentence buckets ----------------------------------------------------------------------

def length_buckets(lengths, batch_size: int) -> list[np.ndarray]:
    """Indices grouped by exact length (shortest first), at most ``batch_size`` per group."""
    by_length: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        by_length.setdefault(int(n), []).append(i)
    buckets = []
    for length in sorted(by_length):
        ids = by_length[length]
        buckets += [np.array(ids[start: start + batch_size]) for start in range(0, len(ids), batch_size)]
    return buckets


def tagger_batch(sentences: list[TaggedSentence], idx: np.ndarray, cfg: TaggerConfig, droppable: set[str] | None,
                 total: int | None = None, weight: float = 1.0) -> TaggerBatch:
    """One batch of equal-length sentences; the character CNN sees each distinct word once."""
    tag_index = {t: i for i, t in enumerate(cfg.tags)}
    group = [sentences[i] for i in idx]
    B, T = len(group), len(group[0].words)
    types: dict[str, int] = {}
    type_index = np.zeros((B, T), np.int64)
    words = np.zeros((B, T), np.int64)
    cases = np.zeros((B, T), np.int64)
    tags = np.zeros((B, T), np.int64)
    drop = np.zeros((B, T), bool)
    for b, s in enumerate(group):
        for t, w in enumerate(s.words):
            type_index[b, t] = types.setdefault(w, len(types) + 1)
            words[b, t] = cfg.word_id(w)
            cases[b, t] = casing(w)
            tags[b, t] = tag_index.get(s.tags[t], 0)
            if droppable:
                drop[b, t] = normalize_word(w) in droppable
    L = max(len(cfg.char_ids(w)) for w in types)
    type_chars = np.zeros((len(types) + 1, L), np.int64)
    for w, row in types.items():
        ids = cfg.char_ids(w)
        type_chars[row, : len(ids)] = ids
    tensors = (torch.from_numpy(a) for a in (words, cases, type_chars, type_index, tags, drop))
    return TaggerBatch(*tensors, sentences=total or B, weight=weight, order=idx)


def make_batches(sentences: list[TaggedSentence], cfg: TaggerConfig, batch_size: int,
                 droppable: set[str] | None = None) -> list[TaggerBatch]:
    """Batches of sentences of one length each (no padding, so the recurrent layers run on
    torch's fast unpacked path)."""
    return [tagger_batch(sentences, idx, cfg, droppable) for idx in length_buckets([len(s.words) for s in sentences],
                                                                                    batch_size)]


class SentenceBatches:
    """Exact-length buckets in a fresh order each epoch (from ``seed + epoch``, so a resumed
    run sees the same order). Under torchrun each rank takes its rows of every bucket."""

    def __init__(self, sentences: list[TaggedSentence], cfg: TaggerConfig, batch_size: int,
                 droppable: set[str] | None, seed: int, dist: Distributed, pin: bool = False):
        self.seed = seed
        self.batches = []
        for idx in length_buckets([len(s.words) for s in sentences], batch_size):
            share = np.array_split(idx, dist.world_size)[dist.rank]
            if len(share):
                self.batches.append(tagger_batch(sentences, share, cfg, droppable, total=len(idx)))
            else:  # fewer sentences than ranks: step on one at weight 0 (DDP needs every rank)
                self.batches.append(tagger_batch(sentences, idx[:1], cfg, droppable, total=len(idx), weight=0.0))
        if pin:  # page-locked, so copies to the GPU run asynchronously
            self.batches = [b.pin_memory() for b in self.batches]
        self.steps_per_epoch = len(self.batches)
        self._order: tuple[int, np.ndarray] | None = None

    def batch(self, epoch: int, index: int) -> TaggerBatch:
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng(self.seed + epoch).permutation(self.steps_per_epoch))
        return self.batches[self._order[1][index]]

    def state_dict(self, dist: Distributed) -> dict:
        return {}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        pass


# --- texts of any length (classifiers) -----------------------------------------------------

LENGTH_SORT_CHUNK = 50  # batches' worth of texts sorted by length together: little padding, still shuffled


class TextTable:
    """Token lists encoded once: a table of their distinct token strings (word id, casing,
    characters, droppable) and each text as rows of that table, so a batch is a few
    numpy gathers."""

    def __init__(self, token_lists: list[list[str]], cfg, droppable: set[str] | None = None):
        from rnntool.features import normalize_word

        types: dict[str, int] = {}
        self.rows = [np.fromiter((types.setdefault(w, len(types) + 1) for w in tokens), np.int64, len(tokens))
                     for tokens in token_lists]
        self.lengths = np.array([len(r) for r in self.rows], np.int64)
        names = list(types)
        self.word = np.array([0, *(cfg.word_id(w) for w in names)], np.int64)
        self.case = np.array([0, *(casing(w) for w in names)], np.int64)
        normal = normalize_word if cfg.normalize_words else (lambda w: w)
        self.drop = np.array([False, *(bool(droppable) and normal(w) in droppable for w in names)])
        char_ids = [cfg.char_ids(w) for w in names]
        self.chars = np.zeros((len(names) + 1, max((len(c) for c in char_ids), default=1)), np.int64)
        self.char_len = np.zeros(len(names) + 1, np.int64)
        for row, ids in enumerate(char_ids, start=1):
            self.chars[row, : len(ids)] = ids
            self.char_len[row] = len(ids)

    def batch(self, idx: np.ndarray, targets: np.ndarray, total: int | None = None, weight: float = 1.0):
        from rnntool.nn.classifier import ClassifierBatch

        lengths = self.lengths[idx]
        rows = np.zeros((len(idx), int(lengths.max())), np.int64)
        for b, i in enumerate(idx):
            rows[b, : lengths[b]] = self.rows[i]
        types, type_index = np.unique(rows, return_inverse=True)
        type_chars = self.chars[types][:, : max(1, int(self.char_len[types].max()))]
        arrays = (self.word[rows], self.case[rows], type_chars, type_index.reshape(rows.shape))
        return ClassifierBatch(*(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays),
                               lengths=torch.from_numpy(lengths), targets=torch.from_numpy(targets[idx]),
                               droppable=torch.from_numpy(self.drop[rows]), texts=total or len(idx), weight=weight,
                               order=idx)


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Evaluation batches: texts by length, so padding stays small."""
    order = np.argsort(lengths, kind="stable")
    return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]


class TextBatches:
    """Each epoch: texts shuffled (from ``seed + epoch``), sorted by length within chunks of
    LENGTH_SORT_CHUNK batches, cut into batches, batch order shuffled again. Under torchrun
    each rank takes its rows of every batch."""

    def __init__(self, table: TextTable, targets: np.ndarray, batch_size: int, seed: int, dist: Distributed,
                 pin: bool = False):
        self.table, self.targets, self.batch_size, self.seed, self.dist, self.pin = (
            table, targets, batch_size, seed, dist, pin)
        self.steps_per_epoch = -(-len(table.lengths) // batch_size)
        self._plan: tuple[int, list[np.ndarray]] | None = None

    def plan(self, epoch: int) -> list[np.ndarray]:
        if self._plan is None or self._plan[0] != epoch:
            rng = np.random.default_rng(self.seed + epoch)
            order = rng.permutation(len(self.table.lengths))
            chunk = self.batch_size * LENGTH_SORT_CHUNK
            batches = []
            for start in range(0, len(order), chunk):
                part = order[start: start + chunk]
                part = part[np.argsort(self.table.lengths[part], kind="stable")]
                batches += [part[i: i + self.batch_size] for i in range(0, len(part), self.batch_size)]
            self._plan = (epoch, [batches[i] for i in rng.permutation(len(batches))])
        return self._plan[1]

    def batch(self, epoch: int, index: int):
        idx = self.plan(epoch)[index]
        share = np.array_split(idx, self.dist.world_size)[self.dist.rank]
        if len(share):
            batch = self.table.batch(share, self.targets, total=len(idx))
        else:  # fewer texts than ranks: step on one at weight 0 (DDP needs every rank)
            batch = self.table.batch(idx[:1], self.targets, total=len(idx), weight=0.0)
        return batch.pin_memory() if self.pin else batch

    def state_dict(self, dist: Distributed) -> dict:
        return {}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        pass
