"""Labelled training texts (a classifier's) and tagged sentences (a tagger's) streamed to
disk, so that a training set of any size costs memory for its vocabulary and a few bytes per
text, not for its text.

One pass over the input tokenizes a chunk of texts at a time and writes each text as the ids
of its distinct token strings ("types") into a scratch file, memory-mapped once the pass is
done; what stays in memory is the type table, each text's start, length and label set, and
the data checksum. Batches gather their rows from the map (random access, so an epoch is
shuffled as a whole, exactly as a list in memory would be) and hand the pages back every
few batches (text.corpus.release_pages), so the map does not pile up in the resident set.
A tagged sentence's tags are a second map beside its words' ids.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import IO

import numpy as np

from rnntool.text.corpus import IdStream, release_pages, scratch_file
from rnntool.text.labelled import Example
from rnntool.text.tagged import TaggedSentence, iob1_to_iob2, is_iob
from rnntool.text.tokenize import Tokenizer

CHUNK_TEXTS = 4096  # texts tokenized together (Treebank's rules and Kiwi run over many at once)
COUNT_CHUNK = 1 << 22  # ids counted at a time when the vocabulary is built


@dataclass
class PackedTexts:
    """Tokenized texts as rows of one table of distinct token strings."""

    types: list[str]  # a type id's token string; ids start at 1 (0 pads)
    ids: np.ndarray  # int32, every text's type ids one text after another (memory-mapped when read from a file)
    starts: np.ndarray  # int64 [texts]: where each text's ids begin
    lengths: np.ndarray  # int64 [texts]
    label_sets: list[tuple[str, ...]]  # the distinct label sets (sorted), in order of first appearance
    label_set: np.ndarray  # int32 [texts]: each text's label set
    source: np.ndarray  # int8 [texts]: which input it came from (0: training, 1: --dev)
    sha256: str  # of the training input's examples (labels and text), the checkpoints' data checksum
    text_lines: IO[bytes] | None = None  # each text with its spacing normalised, one per line, when kept
    tags: np.ndarray | None = None  # int32, tagged sentences: each token's tag id, beside ``ids``
    tag_names: list[str] | None = None  # a tag id's tag
    scheme: str | None = None  # "iob2" when the training tags are IOB entity tags (IOB1 made IOB2)

    @classmethod
    def from_token_lists(cls, token_lists: list[list[str]]) -> "PackedTexts":
        """Texts already tokenized, packed in memory (unlabelled: one empty label set)."""
        collector = TextCollector(None, None, on_disk=False)
        for tokens in token_lists:
            collector.add_tokens(tokens, ())
        return collector.finish()

    def __len__(self) -> int:
        return len(self.lengths)

    def type_counts(self, texts: np.ndarray) -> dict[str, int]:
        """How often each token string occurs in the texts flagged by the boolean ``texts``."""
        counts = self._counts(self.ids, texts, len(self.types) + 1)
        return {self.types[i - 1]: int(c) for i, c in enumerate(counts) if c}

    def tag_counts(self, sentences: np.ndarray) -> dict[str, int]:
        """How often each tag occurs in the sentences flagged by the boolean ``sentences``."""
        counts = self._counts(self.tags, sentences, len(self.tag_names))
        return {self.tag_names[i]: int(c) for i, c in enumerate(counts) if c}

    def _counts(self, stream: np.ndarray, texts: np.ndarray, size: int) -> np.ndarray:
        """Occurrences of each id of ``stream`` (``ids`` or ``tags``) in the flagged texts,
        counted a chunk of the map at a time."""
        counts = np.zeros(size, np.int64)
        ends = self.starts + self.lengths
        first = 0
        while first < len(self):
            # whole texts up to about COUNT_CHUNK ids (at least one text)
            last = max(first + 1, int(np.searchsorted(ends, self.starts[first] + COUNT_CHUNK, "right")))
            begin, end = int(self.starts[first]), int(ends[last - 1])
            keep = np.repeat(texts[first:last], self.lengths[first:last])
            counts += np.bincount(np.asarray(stream[begin:end])[keep], minlength=size)
            release_pages(stream, begin, end)
            first = last
        return counts

    def tokens(self, i: int) -> list[str]:
        """Text ``i``'s tokens (a tagged sentence's words)."""
        return [self.types[t - 1] for t in self.ids[int(self.starts[i]): int(self.starts[i] + self.lengths[i])]]

    def sentence(self, i: int) -> tuple[list[str], list[str]]:
        """Tagged sentence ``i`` as (words, tags)."""
        span = slice(int(self.starts[i]), int(self.starts[i] + self.lengths[i]))
        return self.tokens(i), [self.tag_names[t] for t in self.tags[span]]

    def texts(self, which: np.ndarray) -> Iterator[str]:
        """The kept texts (see TextCollector) flagged by the boolean ``which``, in order."""
        if self.text_lines is None:
            raise ValueError("the texts were not kept")
        self.text_lines.seek(0)
        for keep, line in zip(which, self.text_lines):
            if keep:
                yield line.decode("utf-8").rstrip("\n")


class TextCollector:
    """Builds a PackedTexts from examples (``add``) or tagged sentences (``add_sentences``;
    ``tagged``: IOB entity tags are made IOB2 unless ``iob2`` is False), a chunk at a time.
    ``keep_texts`` also writes each text (spacing normalised) to a scratch file, for a
    language model trained on them first."""

    def __init__(self, tokenizer: Tokenizer | None, max_length: int | None, keep_texts: bool = False,
                 tagged: bool = False, on_disk: bool = True, iob2: bool = True):
        self.tokenizer, self.max_length = tokenizer, max_length
        self.types: dict[str, int] = {}
        self.label_sets: dict[tuple[str, ...], int] = {}
        self.lengths, self.label_set, self.source = array("q"), array("i"), array("b")
        self.ids = IdStream(on_disk)
        self.sha = hashlib.sha256()
        self.text_lines = scratch_file() if keep_texts else None
        # tagged sentences: their tags as read and as IOB2 (which of the two is kept is known
        # only at the end: whether every training tag is an IOB tag)
        self.tag_names: dict[str, int] = {}
        self.tags = (IdStream(on_disk), IdStream(on_disk)) if tagged else None
        self.all_iob, self.any_entity = iob2, False  # iob2 False: tags kept as read

    def add(self, examples: Iterable[Example], source: int = 0) -> int:
        """Tokenize and pack ``examples``; the number left out for having no token."""
        skipped = 0
        examples = iter(examples)
        while chunk := list(islice(examples, CHUNK_TEXTS)):
            for example, tokens in zip(chunk, self.tokenizer.tokenize_many([e.text for e in chunk])):
                if source == 0:
                    self.sha.update("\t".join(example.labels).encode())
                    self.sha.update(b"\t")
                    self.sha.update(example.text.encode())
                    self.sha.update(b"\n")
                tokens = tokens[: self.max_length]
                if not tokens:
                    skipped += 1
                    continue
                self.add_tokens(tokens, tuple(sorted(example.labels)), source)
                if self.text_lines is not None:
                    self.text_lines.write((" ".join(example.text.split()) + "\n").encode("utf-8"))
            self.ids.flush()
        return skipped

    def add_sentences(self, sentences: Iterable[TaggedSentence], source: int = 0) -> int:
        """Pack tagged sentences; how many there were."""
        count = 0
        names = self.tag_names
        for count, s in enumerate(sentences, start=1):
            if source == 0:
                self.sha.update("\t".join(s.words).encode())
                self.sha.update(b"\n")
                self.sha.update("\t".join(s.tags).encode())
                self.sha.update(b"\n")
                if self.all_iob:
                    self.all_iob = is_iob([*s.tags, "B-x"])  # every tag an IOB tag (entities or not)
                self.any_entity = self.any_entity or any(t != "O" for t in s.tags)
            self.add_tokens(s.words, (), source)
            for stream, tags in zip(self.tags, (s.tags, iob1_to_iob2(s.tags))):
                stream.pending.extend(names.setdefault(t, len(names)) for t in tags)
            if count % CHUNK_TEXTS == 0:
                self._flush()
        self._flush()
        return count

    def add_tokens(self, tokens: list[str], labels: tuple[str, ...], source: int = 0) -> None:
        types = self.types
        self.ids.pending.extend(types.setdefault(w, len(types) + 1) for w in tokens)
        self.lengths.append(len(tokens))
        self.label_set.append(self.label_sets.setdefault(labels, len(self.label_sets)))
        self.source.append(source)

    def _flush(self) -> None:
        for stream in (self.ids, *(self.tags or ())):
            stream.flush()

    def finish(self) -> PackedTexts:
        lengths = np.frombuffer(self.lengths, np.int64).copy()
        starts = np.zeros(len(lengths), np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        if self.text_lines is not None:
            self.text_lines.flush()
        tags = scheme = None
        if self.tags is not None:  # IOB1 entity tags are read as IOB2, as tagging writes them
            scheme = "iob2" if self.all_iob and self.any_entity else None
            kept, dropped = self.tags[::-1] if scheme else self.tags
            dropped.discard()
            tags = kept.finish()
        return PackedTexts(types=list(self.types), ids=self.ids.finish(), starts=starts, lengths=lengths,
                           label_sets=list(self.label_sets), label_set=np.frombuffer(self.label_set, np.int32).copy(),
                           source=np.frombuffer(self.source, np.int8).copy(), sha256=self.sha.hexdigest(),
                           text_lines=self.text_lines, tags=tags,
                           tag_names=list(self.tag_names) if self.tags is not None else None, scheme=scheme)


def take_chars(examples: Iterator[Example], limit: int) -> list[Example]:
    """The first examples of ``examples``, until their texts pass ``limit`` characters (what
    the script of a text is told from; the rest stay in the iterator)."""
    head: list[Example] = []
    seen = 0
    for example in examples:
        head.append(example)
        seen += len(example.text)
        if seen > limit:
            break
    return head


def pack_sentences(sentences: Iterable[TaggedSentence], on_disk: bool = False, iob2: bool = True) -> PackedTexts:
    """Tagged sentences packed (in memory unless ``on_disk``); IOB entity tags made IOB2
    (unless ``iob2`` is False), other tags kept as they are."""
    collector = TextCollector(None, None, tagged=True, on_disk=on_disk, iob2=iob2)
    collector.add_sentences(sentences)
    return collector.finish()
