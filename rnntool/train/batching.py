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
from rnntool.train.labelled_texts import pack_sentences
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


def rank_batch(make, idx: np.ndarray, dist: Distributed, pin: bool):
    """This rank's rows of the global batch ``idx``, as ``make(rows, total=, weight=)`` builds
    them; a rank without a share (fewer items than ranks) steps on one at weight 0, since DDP
    needs every rank. ``pin``: page-locked, so copies to the GPU run asynchronously."""
    share = np.array_split(idx, dist.world_size)[dist.rank]
    batch = make(share, total=len(idx)) if len(share) else make(idx[:1], total=len(idx), weight=0.0)
    return batch.pin_memory() if pin else batch


def make_batches(sentences: list[TaggedSentence], cfg: TaggerConfig, batch_size: int,
                 droppable: set[str] | None = None) -> list[TaggerBatch]:
    """Batches of sentences of one length each (no padding, so the recurrent layers run on
    torch's fast unpacked path), for sentences in memory, their tags as given."""
    table = SentenceTable(pack_sentences(sentences, iob2=False), cfg, droppable)
    return [table.batch(idx) for idx in length_buckets(table.lengths, batch_size)]


class SentenceBatches:
    """Exact-length buckets in a fresh order each epoch (from ``seed + epoch``, so a resumed
    run sees the same order), each batch gathered from the table when it is used. Under
    torchrun each rank takes its rows of every bucket."""

    def __init__(self, table: "SentenceTable", batch_size: int, seed: int, dist: Distributed, pin: bool = False):
        self.table, self.seed, self.dist, self.pin = table, seed, dist, pin
        self.buckets = length_buckets(table.lengths, batch_size)
        self.steps_per_epoch = len(self.buckets)
        self._order: tuple[int, np.ndarray] | None = None

    def batch(self, epoch: int, index: int) -> TaggerBatch:
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng(self.seed + epoch).permutation(self.steps_per_epoch))
        return rank_batch(self.table.batch, self.buckets[self._order[1][index]], self.dist, self.pin)

    def state_dict(self, dist: Distributed) -> dict:
        return {}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        pass


# --- tables of packed texts: a classifier's texts of any length, a tagger's sentences ---------

LENGTH_SORT_CHUNK = 50  # batches' worth of texts sorted by length together: little padding, still shuffled


RELEASE_EVERY = 16  # batches between hand-backs of a memory-mapped table's pages


class TypeFeatures:
    """Some of a PackedTexts' texts (``select``: their indices, default all), with each
    distinct token string's features computed once (word id, casing, characters,
    droppable), so a batch is a few numpy gathers from the texts' ids."""

    def __init__(self, packed, cfg, droppable: set[str] | None = None, select: np.ndarray | None = None,
                 features: "TypeFeatures | None" = None):
        """``features``: another table of the same data and model, whose per-type features
        this one shares (a dev table beside the training table; only ``droppable`` differs)."""
        self.packed = packed
        select = np.arange(len(packed)) if select is None else select
        self.starts, self.lengths = packed.starts[select], packed.lengths[select]
        names = packed.types
        normal = normalize_word if cfg.normalize_words else (lambda w: w)
        self.drop = np.array([False, *(bool(droppable) and normal(w) in droppable for w in names)])
        if features is not None:
            self.word, self.case, self.chars, self.char_len = (features.word, features.case, features.chars,
                                                               features.char_len)
        else:
            self.word = np.array([0, *(cfg.word_id(w) for w in names)], np.int64)
            self.case = np.array([0, *(casing(w) for w in names)], np.int64)
            chars, lengths = cfg.char_id_matrix(names)
            # int32 (a batch's rows are made int64): a vocabulary of millions of types stays affordable
            self.chars = np.concatenate([np.zeros((1, chars.shape[1]), np.int32), chars])  # row 0: padding
            self.char_len = np.concatenate([[0], lengths])
        self.batches_read = 0

    def batch_read(self) -> None:
        """Every RELEASE_EVERY batches, hand the pages of the maps read back."""
        self.batches_read += 1
        if self.batches_read % RELEASE_EVERY == 0:
            for stream in (self.packed.ids, self.packed.tags, getattr(self, "lm_features", None)):
                if stream is not None:
                    release_pages(stream, 0, len(stream))

    def type_chars(self, types: np.ndarray) -> np.ndarray:
        """The characters of the type ids ``types`` (sorted, distinct), trimmed to the longest."""
        return self.chars[types][:, : max(1, int(self.char_len[types].max()))].astype(np.int64)


class TextTable(TypeFeatures):
    """A classifier's texts, of any length (padded per batch)."""

    def batch(self, idx: np.ndarray, targets, total: int | None = None, weight: float = 1.0):
        """The texts ``idx`` (indices into this table) as a padded batch; ``targets``: this
        table's targets, indexable by ``idx``."""
        from rnntool.nn.classifier import ClassifierBatch

        lengths = self.lengths[idx]
        width = int(lengths.max())
        positions = self.starts[idx, None] + np.arange(width)
        padding = np.arange(width) >= lengths[:, None]
        positions[padding] = 0  # any valid position; zeroed below
        rows = self.packed.ids[positions].astype(np.int64)
        rows[padding] = 0
        self.batch_read()
        types, type_index = np.unique(rows, return_inverse=True)
        arrays = (self.word[rows], self.case[rows], self.type_chars(types), type_index.reshape(rows.shape))
        return ClassifierBatch(*(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays),
                               lengths=torch.from_numpy(lengths), targets=torch.from_numpy(targets[idx]),
                               droppable=torch.from_numpy(self.drop[rows]), texts=total or len(idx), weight=weight,
                               order=idx)


class SentenceTable(TypeFeatures):
    """A tagger's sentences and their tags; a batch is sentences of one length. ``lm_features``:
    the character LMs' features [tokens, D] of every token of ``packed``, by its position in
    ``packed.ids`` (a model with --char-lm; see train.tagger.char_lm_features)."""

    def __init__(self, packed, cfg, droppable: set[str] | None = None, select: np.ndarray | None = None,
                 features: TypeFeatures | None = None, lm_features: np.ndarray | None = None):
        super().__init__(packed, cfg, droppable, select, features)
        index = {t: i for i, t in enumerate(cfg.tags)}
        self.tag = np.array([index.get(t, 0) for t in packed.tag_names] or [0], np.int64)
        self.lm_features = lm_features

    def batch(self, idx: np.ndarray, total: int | None = None, weight: float = 1.0) -> TaggerBatch:
        lengths = self.lengths[idx]
        positions = self.starts[idx, None] + np.arange(int(lengths[0]))
        rows = self.packed.ids[positions].astype(np.int64)
        tags = self.tag[self.packed.tags[positions]]
        self.batch_read()
        types, type_index = np.unique(rows, return_inverse=True)
        chars = self.type_chars(types)
        type_chars = np.zeros((len(types) + 1, chars.shape[1]), np.int64)  # row 0: padding, as the encoder expects
        type_chars[1:] = chars
        arrays = (self.word[rows], self.case[rows], type_chars, type_index.reshape(rows.shape) + 1, tags,
                  self.drop[rows])
        lm = None if self.lm_features is None else torch.from_numpy(np.ascontiguousarray(self.lm_features[positions]))
        return TaggerBatch(*(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays), sentences=total or len(idx),
                           weight=weight, order=idx, lm_features=lm)


class Targets:
    """A table's targets looked up through each text's label set: a class id each (int64)
    or, for multi-label data, a row of 0/1 per class (float32) -- built per batch, so they
    cost a label-set id per text, whatever the number of classes."""

    def __init__(self, label_set: np.ndarray, label_sets: list[tuple[str, ...]], labels: list[str], multilabel: bool):
        index = {c: i for i, c in enumerate(labels)}
        self.label_set, self.multilabel, self.classes = label_set, multilabel, len(labels)
        if multilabel:
            self.of_set = np.zeros((len(label_sets), len(labels)), np.float32)
            for row, names in enumerate(label_sets):
                self.of_set[row, [index[c] for c in names if c in index]] = 1.0
        else:
            self.of_set = np.array([index.get(names[0], 0) if names else 0 for names in label_sets], np.int64)

    def __len__(self) -> int:
        return len(self.label_set)

    def __getitem__(self, idx) -> np.ndarray:
        return self.of_set[self.label_set[idx]]

    def all(self) -> np.ndarray:
        return self.of_set[self.label_set]

    def class_counts(self) -> np.ndarray:
        """Texts per class (multi-label: texts that have it)."""
        per_set = np.bincount(self.label_set, minlength=len(self.of_set))
        if self.multilabel:
            return per_set @ self.of_set
        return np.bincount(self.of_set, weights=per_set, minlength=self.classes).astype(np.int64)


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Evaluation batches: texts by length, so padding stays small."""
    order = np.argsort(lengths, kind="stable")
    return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]


class TextBatches:
    """Each epoch: texts shuffled (from ``seed + epoch``), sorted by length within chunks of
    LENGTH_SORT_CHUNK batches, cut into batches, batch order shuffled again. Under torchrun
    each rank takes its rows of every batch."""

    def __init__(self, table: TextTable, targets: Targets, batch_size: int, seed: int, dist: Distributed,
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
        return rank_batch(lambda rows, **kw: self.table.batch(rows, self.targets, **kw), self.plan(epoch)[index],
                          self.dist, self.pin)

    def state_dict(self, dist: Distributed) -> dict:
        return {}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        pass
