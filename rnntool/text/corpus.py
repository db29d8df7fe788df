"""Prepared corpora: text read and tokenized once, stored as id arrays.

A prepared corpus is a directory::

    corpus.json   vocabulary, tokenizer settings, split sizes, statistics
    train.npy     token ids (memory-mappable), likewise valid.npy and test.npy

``rnntool train-lm`` reads it directly, so a large corpus is tokenized once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import chain, islice
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rnntool.config import SPLIT_MODES
from rnntool.errors import InputError, OptionError
from rnntool.fsutil import AtomicDirectory
from rnntool.parallel import Workers, default_jobs
from rnntool.text.sources import ProgressFn, TextSource
from rnntool.text.subword import subword_vocabulary
from rnntool.text.tokenize import SPECIALS, Tokenizer, TokenizerSettings, keep_chunks, known_chunks
from rnntool.text.vocab import Vocab

CORPUS_FORMAT = "rnntool-corpus"
CORPUS_FORMAT_VERSION = 1
META_FILE = "corpus.json"
SPLITS = ("train", "valid", "test")
COVERAGE_TOP_N = (10, 100, 1000, 10000)
_LINES_PER_BATCH = 4096
# Treebank word tokenizing is ~0.06 s per MB of text on one core once most words were seen
# before (the chunk cache of text/tokenize.py), several times that on new text: past this much
# text, worker processes (a spawn start each, ~0.25 s, starting from this process's chunks)
# pay for themselves (11.9 MB of prose: 1.1x over one process on 2 cores; 95 MB: 1.33x).
PARALLEL_AFTER_CHARS = 1 << 19


@dataclass
class PrepOptions:
    settings: TokenizerSettings = field(default_factory=TokenizerSettings)
    min_freq: int = 1
    max_vocab: int | None = None
    valid_frac: float = 0.1
    test_frac: float = 0.0
    split: str = "tail"  # tail: contiguous splits from the end; random: whole lines drawn at random
    seed: int = 0
    errors: str = "strict"
    text_col: str | None = None  # read one column of a CSV/TSV table with a header ...
    text_field: str | None = None  # ... or one field of JSONL records, instead of plain text

    def validate(self) -> None:
        if self.text_col is not None and self.text_field is not None:
            raise InputError("give --text-col (CSV/TSV with a header) or --text-field (JSONL), not both")
        for name, frac in (("valid_frac", self.valid_frac), ("test_frac", self.test_frac)):
            if not 0.0 <= frac < 1.0:
                raise OptionError(name, "must be in [0, 1)", frac)
        if self.valid_frac + self.test_frac >= 1.0:
            raise InputError(
                f"--valid-frac {self.valid_frac} and --test-frac {self.test_frac} leave no training data; "
                "make them smaller"
            )
        if self.split not in SPLIT_MODES:
            raise InputError(f"unknown split mode {self.split!r}; use one of: {', '.join(SPLIT_MODES)}")

    def to_dict(self) -> dict:
        return {**asdict(self), "settings": self.settings.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> "PrepOptions":
        return cls(**{**data, "settings": TokenizerSettings.from_dict(data["settings"])})


CHUNK = 1 << 20  # ids per pass over a split (memory stays bounded however large the corpus)
CHUNK_CHARS = 1 << 22  # characters tokenized together


class _Interner(dict):
    """token -> provisional id, in order of first appearance."""

    def __missing__(self, token: str) -> int:
        i = self[token] = len(self)
        return i


def release_pages(array: np.ndarray, start: int, stop: int) -> None:
    """Take the pages under ``array[start:stop]`` out of this process's resident set, when the
    array is a shared memory map (a corpus or scratch file). The data stays in the file and the
    page cache and comes back on the next access; without this, every pass over a mapped
    corpus would leave all of it counted in the process's RSS."""
    import mmap

    mapping = getattr(array, "_mmap", None)
    if (mapping is None or getattr(array, "mode", None) not in ("r", "r+", "w+")  # never a private (copy) map
            or not hasattr(mapping, "madvise") or stop <= start):
        return
    begin, length = page_span(array[start:stop], np.frombuffer(mapping, dtype=np.uint8, count=1).ctypes.data,
                              mmap.PAGESIZE)
    mapping.madvise(mmap.MADV_DONTNEED, begin, length)


def page_span(part: np.ndarray, base: int, page: int) -> tuple[int, int]:
    """(offset, length) from address ``base``, the start rounded down to a page, of the bytes
    ``part`` spans: reading order does not matter (a backward model reads a reversed view,
    whose first item lies at its highest address)."""
    low, high = getattr(np.lib, "array_utils", np).byte_bounds(part)  # (numpy 1.x: np.byte_bounds)
    begin = low - base
    begin -= begin % page
    return begin, high - base - begin


def chunks(ids: np.ndarray) -> Iterator[np.ndarray]:
    """Copies of ``ids`` a CHUNK at a time, each chunk's pages released as it is read."""
    for start in range(0, len(ids), CHUNK):
        chunk = np.array(ids[start: start + CHUNK])
        release_pages(ids, start, start + CHUNK)
        yield chunk


def copy_chunks(source: np.ndarray, out: np.ndarray, table: np.ndarray | None = None) -> None:
    """``out[:] = source`` (through ``table`` when given), a chunk at a time, the pages of both
    released as they are done."""
    for start, chunk in zip(range(0, len(source), CHUNK), chunks(source)):
        out[start: start + len(chunk)] = chunk if table is None else table[chunk]
        release_pages(out, start, start + len(chunk))


def ids_sha256(ids: np.ndarray) -> str:
    """sha256 of the ids as int64, a chunk at a time (the data checksum of checkpoints)."""
    h = hashlib.sha256()
    for chunk in chunks(ids):
        h.update(chunk.astype(np.int64).tobytes())
    return h.hexdigest()


def scratch_file():
    """A file in $TMPDIR without a name (O_TMPFILE, or unlinked at once): the kernel frees it
    when the last descriptor or mapping goes, so a killed prep or train-lm leaves nothing."""
    import tempfile

    return tempfile.TemporaryFile(prefix="rnntool-prep-")


def scratch_array(n: int, dtype) -> np.ndarray:
    """A zeroed, writable array of ``n`` items memory-mapped onto a scratch file."""
    if not n:
        return np.zeros(0, dtype=dtype)
    with scratch_file() as f:
        return np.memmap(f, dtype=dtype, mode="w+", shape=(n,))


class IdStream:
    """int32 ids appended a chunk at a time to an unnamed scratch file (or to memory, for
    texts already in memory), memory-mapped when done."""

    def __init__(self, on_disk: bool):
        self.file = scratch_file() if on_disk else None
        self.pending: list[int] = []
        self.written = 0

    def flush(self) -> None:
        if self.file is not None and self.pending:
            self.file.write(np.asarray(self.pending, np.int32).tobytes())
            self.written += len(self.pending)
            self.pending = []

    def finish(self) -> np.ndarray:
        if self.file is None:
            return np.asarray(self.pending, np.int32)
        self.flush()
        self.file.flush()
        # the map keeps the unnamed file's data after the file object is closed
        ids = np.memmap(self.file, np.int32, "r", shape=(self.written,)) if self.written else np.zeros(0, np.int32)
        self.file.close()
        return ids

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()


class EncodedBatch(NamedTuple):
    """A batch of word-level pieces as a worker process sends it back: its types in order of
    first appearance, each token's index into them (int32, the tokenizer's line end after
    every piece that ends a line), and the lines and characters it held. Far smaller than
    the tokens, and all the main process has left to do is map a few thousand types to ids."""

    types: list[str]
    ids: np.ndarray
    lines: int
    characters: int


def encode_batch(tokenizer: Tokenizer, pieces: Sequence[tuple[str, bool]]) -> EncodedBatch:
    """``pieces`` (text, ends_a_line) as an ``EncodedBatch``."""
    local = _Interner()
    lookup = local.__getitem__
    texts = [p for p, _ in pieces]
    ends = [e for _, e in pieces]
    if all(ends):
        out = list(map(lookup, tokenizer.tokenize_flat(texts)))
    else:  # pieces of a long line: the line end after the last only
        out = []
        line_end = tokenizer.line_end
        for tokens, end in zip(tokenizer.tokenize_many(texts), ends):
            out.extend(map(lookup, tokens))
            if end:
                out.append(lookup(line_end))
    lines = sum(ends)
    return EncodedBatch(list(local), np.asarray(out, dtype=np.int32), lines, sum(map(len, texts)) + lines)


class _StreamBuilder:
    """Tokenizes text into provisional-id streams, one scratch file per split: nothing of the
    corpus but its vocabulary stays in memory."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.char_level = tokenizer.settings.level == "char"
        self.interner = _Interner()
        for special in SPECIALS:
            self.interner[special]  # specials get provisional ids 0..2 (word level)
        self.files = {s: scratch_file() for s in SPLITS}
        self.sizes = dict.fromkeys(SPLITS, 0)
        self.characters = 0
        self.lines = 0

    @property
    def line_end_id(self) -> int:
        return ord("\n") if self.char_level else self.interner[self.tokenizer.line_end]

    def add(self, pieces: Sequence[tuple[str, bool]], split: str, encoded: "EncodedBatch | None" = None) -> None:
        """Append (text, ends_a_line) pieces to ``split``; word level uses ``encoded`` (the
        pieces' ``encode_batch``) when it was made elsewhere."""
        if not pieces:
            return
        if self.char_level:
            ends = sum(e for _, e in pieces)
            self.lines += ends
            self.characters += sum(len(p) for p, _ in pieces) + ends
            clean = self.tokenizer.clean
            text = "".join(clean(p) + ("\n" if e else "") for p, e in pieces)
            ids = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int32)
        else:
            types, local_ids, lines, characters = encoded if encoded is not None else encode_batch(self.tokenizer, pieces)
            self.lines += lines
            self.characters += characters
            # the batch's types in their order of first appearance: the provisional ids (and so
            # the vocabulary's order among equal counts) are what token-by-token interning gives
            remap = np.fromiter(map(self.interner.__getitem__, types), dtype=np.int32, count=len(types))
            ids = remap[local_ids]
        self.files[split].write(ids.tobytes())
        self.sizes[split] += len(ids)

    def streams(self) -> dict[str, np.ndarray]:
        """The provisional ids of each split, memory-mapped."""
        out = {}
        for split, f in self.files.items():
            f.flush()
            n = self.sizes[split]
            out[split] = np.memmap(f, dtype=np.int32, mode="r", shape=(n,)) if n else np.zeros(0, dtype=np.int32)
            f.close()  # the mapping keeps the (nameless) file
        return out

    def type_of(self, provisional: int) -> str:
        if self.char_level:
            return chr(provisional)
        if not hasattr(self, "_types"):
            self._types = list(self.interner)
        return self._types[provisional]

    def n_types(self) -> int:
        return 0x110000 if self.char_level else len(self.interner)


def _next_line_start(stream: np.ndarray, cut: int, line_end: int) -> int | None:
    """The first position at or after ``cut`` that starts a line, or None (a chunk at a time)."""
    if cut <= 0 or stream[cut - 1] == line_end:
        return cut
    for start in range(cut, len(stream), CHUNK):
        ends = np.flatnonzero(stream[start: start + CHUNK] == line_end)
        if len(ends):
            return start + int(ends[0]) + 1
    return None


def _snap(stream: np.ndarray, cut: int, limit: int, line_end: int | None) -> int:
    """``cut`` moved to the next line start when one comes before ``limit`` (so no split
    starts mid-line); a corpus that is one long line is cut between tokens instead."""
    if line_end is None or cut >= limit:
        return cut
    start = _next_line_start(stream, cut, line_end)
    return start if start is not None and start < limit else cut


def _tail_split(stream: np.ndarray, opts: PrepOptions, line_end: int | None) -> dict[str, np.ndarray]:
    """Contiguous splits from the end, by tokens (then moved to line starts where there are any)."""
    n = len(stream)
    train_end = n - round(n * (opts.valid_frac + opts.test_frac))
    valid_end = n - round(n * opts.test_frac)
    train_end = _snap(stream, train_end, valid_end if opts.valid_frac else n, line_end)
    valid_end = max(train_end, _snap(stream, valid_end, n, line_end))
    return {"train": stream[:train_end], "valid": stream[train_end:valid_end], "test": stream[valid_end:]}


@dataclass
class PreparedCorpus:
    vocab: Vocab
    settings: TokenizerSettings
    splits: dict[str, np.ndarray]
    stats: dict
    sources: list[str] = field(default_factory=list)
    path: Path | None = None

    @property
    def train_sha256(self) -> str:
        return ids_sha256(self.splits["train"])

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically; an existing prepared corpus at ``path`` is replaced."""
        with AtomicDirectory(path, replace_if=is_prepared_corpus, what="prepared corpus") as tmp:
            for split, ids in self.splits.items():
                out = np.lib.format.open_memmap(tmp / f"{split}.npy", mode="w+", dtype=ids.dtype, shape=ids.shape)
                copy_chunks(ids, out)
                out.flush()
                del out
            meta = {
                "format": CORPUS_FORMAT,
                "format_version": CORPUS_FORMAT_VERSION,
                "tokenizer": self.settings.to_dict(),
                "sources": self.sources,
                "splits": {s: {"file": f"{s}.npy", "tokens": int(len(a))} for s, a in self.splits.items()},
                "train_sha256": self.train_sha256,
                "stats": self.stats,
                "vocab": self.vocab.to_dict(),
            }
            (tmp / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        self.path = Path(path)


def is_prepared_corpus(path: str | os.PathLike) -> bool:
    return (Path(path) / META_FILE).is_file()


def load_corpus(path: str | os.PathLike, mmap: bool = True) -> PreparedCorpus:
    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise InputError(f"{path} is not a prepared corpus (no {META_FILE}); make one with rnntool prep")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{meta_path} is damaged ({e}); run rnntool prep again") from None
    if meta.get("format") != CORPUS_FORMAT:
        raise InputError(f"{path} is not a prepared corpus; make one with rnntool prep")
    version = meta.get("format_version")
    if version != CORPUS_FORMAT_VERSION:
        raise InputError(
            f"{path} has corpus format version {version}; this rnntool reads version {CORPUS_FORMAT_VERSION} "
            "(run rnntool prep again)"
        )
    splits = {}
    for split, info in meta["splits"].items():
        try:
            splits[split] = np.load(path / info["file"], mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputError(f"{path / info['file']} is missing or damaged ({e}); run rnntool prep again") from None
        if len(splits[split]) != info["tokens"]:
            raise InputError(f"{path / info['file']} is truncated; run rnntool prep again")
    return PreparedCorpus(
        vocab=Vocab.from_dict(meta["vocab"]),
        settings=TokenizerSettings.from_dict(meta["tokenizer"]),
        splits=splits,
        stats=meta.get("stats", {}),
        sources=meta.get("sources", []),
        path=path,
    )


def _batched(blocks: Iterable[list[tuple[str, bool]]], size: int | None = None) -> Iterable[list[tuple[str, bool]]]:
    """Blocks of (text, ends_a_line) pieces regrouped into batches of up to ``size`` characters
    (CHUNK_CHARS) and _LINES_PER_BATCH pieces; a batch is cut where it reaches either."""
    size = size or CHUNK_CHARS
    batch: list[tuple[str, bool]] = []
    chars = 0
    for block in blocks:
        for piece in block:
            batch.append(piece)
            chars += len(piece[0])
            if chars >= size or len(batch) >= _LINES_PER_BATCH:
                yield batch
                batch, chars = [], 0
    if batch:
        yield batch


def _parallel_pays(settings: TokenizerSettings) -> bool:
    """Only Treebank words are slow enough to split across processes: characters and
    whitespace words take longer to send to a worker than to make, and kiwi runs its own
    threads."""
    return settings.level == "word" and settings.tokenizer == "treebank"


class _BatchEncoder:
    """``encode_batch`` in a worker process, which starts from the Treebank chunks this
    process has learned so far (sent once, as the worker starts)."""

    def __init__(self, settings: TokenizerSettings):
        self.settings = settings
        self.chunks = known_chunks()
        self.tokenizer: Tokenizer | None = None

    def load(self) -> None:
        keep_chunks(self.chunks)
        self.chunks = {}
        self.tokenizer = Tokenizer(self.settings)

    def __call__(self, batch: tuple[list[tuple[str, bool]], str]) -> EncodedBatch:
        pieces, _ = batch
        return encode_batch(self.tokenizer, pieces)


def _encoded(batches: Iterable[tuple[list[tuple[str, bool]], str]], settings: TokenizerSettings,
             jobs: int) -> Iterator[tuple[list[tuple[str, bool]], str, EncodedBatch | None]]:
    """(pieces, split, encoded) for each batch, in input order. ``encoded`` is None where the
    builder encodes the batch itself. Past PARALLEL_AFTER_CHARS of Treebank text, ``jobs``
    worker processes start (with the chunks learned so far), this process goes on with the
    batches until one of them is ready, and they encode the rest (``encode_batch``), at most
    two batches a worker in flight, so memory stays bounded however large the input. The
    output is the same for any ``jobs``."""
    batches = iter(batches)
    if jobs < 2 or not _parallel_pays(settings):
        for pieces, split in batches:
            yield pieces, split, None
        return
    workers = None
    chars = 0
    try:
        for pieces, split in batches:
            if workers is not None and workers.ready():
                break
            yield pieces, split, None
            chars += sum(len(p) for p, _ in pieces)
            if workers is None and chars >= PARALLEL_AFTER_CHARS:
                workers = Workers(_BatchEncoder(settings), jobs)  # they start up while this process goes on
        else:
            return
        for (pieces, split), encoded in workers.ordered(chain([(pieces, split)], batches)):
            yield pieces, split, encoded
    finally:
        if workers is not None:
            workers.close()


def _source_blocks(source: TextSource, opts: PrepOptions,
                   progress: ProgressFn | None) -> Iterator[list[tuple[str, bool]]]:
    """(text, ends_a_line) pieces of one input in lists: its lines, or the records of a text column."""
    if opts.text_col is None and opts.text_field is None:
        return source.piece_blocks(opts.errors, progress)
    from rnntool.text.labelled import column_texts

    texts = column_texts(source, opts.text_col, opts.text_field, opts.errors, progress)
    return iter(lambda: [(text, True) for text in islice(texts, _LINES_PER_BATCH)], [])


def _split_batches(sources: Sequence[tuple[TextSource, str]], opts: PrepOptions, explicit: bool,
                   progress: ProgressFn | None) -> Iterator[tuple[list[tuple[str, bool]], str]]:
    """(pieces, split) batches in input order: each input's own split, or with --split random
    every line where a seeded draw sends it (all pieces of a long line go together)."""
    rng = np.random.default_rng(opts.seed)
    bounds = (1.0 - opts.valid_frac - opts.test_frac, 1.0 - opts.test_frac)
    line_split = "train"
    at_line_start = True
    for source, split in sources:
        for batch in _batched(_source_blocks(source, opts, progress)):
            if opts.split != "random" or explicit:
                yield batch, split
                continue
            parts: dict[str, list] = {s: [] for s in SPLITS}
            for piece in batch:
                if at_line_start:
                    draw = rng.random()
                    line_split = "train" if draw < bounds[0] else "valid" if draw < bounds[1] else "test"
                parts[line_split].append(piece)
                at_line_start = piece[1]
            for s, chosen in parts.items():
                if chosen:
                    yield chosen, s


def prepare_corpus(
    inputs: Sequence[str],
    opts: PrepOptions,
    valid_inputs: Sequence[str] = (),
    test_inputs: Sequence[str] = (),
    progress: ProgressFn | None = None,
    small_ok: bool = False,
    jobs: int | None = None,
) -> PreparedCorpus:
    """Read, clean, tokenize and encode ``inputs`` into a :class:`PreparedCorpus`.

    Splits come from ``valid_inputs`` / ``test_inputs`` when given, else from the
    fractions in ``opts`` (contiguous tail by default, cut by tokens). Treebank words of a
    large input are tokenized by ``jobs`` processes (default: the usable CPUs, at most
    8, see rnntool/parallel.py); the result does not depend on ``jobs``. The vocabulary
    is built from the training split only, so valid/test words it never saw count as
    ``<unk>`` -- the honest way to measure a model on them.

    Two passes over nameless scratch files in $TMPDIR: tokens become
    provisional ids as they are read, then the vocabulary is counted and every split
    encoded a chunk at a time, so memory grows with the vocabulary, not the corpus.
    The returned splits are memory-mapped. With ``small_ok``, a text too small for its
    fractional splits keeps them empty instead of being refused (train-lm then validates
    on the training text: the tutorials' three-sentence corpora).
    """
    opts.validate()
    if not inputs:
        raise InputError("no input given; name text files, - for stdin, or nltk:<corpus>")
    labelled = [(s, "train") for s in inputs] + [(s, "valid") for s in valid_inputs] + [(s, "test") for s in test_inputs]
    sources = [(TextSource(spec), split) for spec, split in labelled]
    if sum(spec == "-" for spec, _ in labelled) > 1:
        raise InputError("stdin (-) can be read only once")
    for source, _ in sources:
        source.check()
    if opts.settings.subwords and not opts.settings.subword_model:
        opts = replace(opts, settings=_learn_subwords(sources, opts))

    builder = _StreamBuilder(Tokenizer(opts.settings))
    explicit = bool(valid_inputs or test_inputs)
    batches = _split_batches(sources, opts, explicit, progress)
    for pieces, split, encoded in _encoded(batches, opts.settings, default_jobs() if jobs is None else jobs):
        builder.add(pieces, split, encoded)

    streams = builder.streams()
    if explicit or opts.split == "random":
        splits = streams
    else:
        splits = _tail_split(streams["train"], opts, None if builder.char_level else builder.line_end_id)
    _check_nonempty(builder, splits, opts, explicit or small_ok)

    counts = np.zeros(builder.n_types(), dtype=np.int64)
    for chunk in chunks(splits["train"]):
        counts += np.bincount(chunk, minlength=len(counts))[: len(counts)]
    present = np.flatnonzero(counts)
    type_counts = {builder.type_of(int(p)): int(counts[p]) for p in present}
    pieces = subword_vocabulary(opts.settings.subword_model) if opts.settings.subwords else ()
    vocab = Vocab.from_counts(type_counts, opts.min_freq, opts.max_vocab, always=pieces)

    # provisional id -> final id, for the ids that occur anywhere
    seen = np.zeros(builder.n_types(), dtype=bool)
    for stream in splits.values():
        for chunk in chunks(stream):
            seen[chunk] = True
    used = np.flatnonzero(seen)
    table = np.full(builder.n_types(), vocab.unk_id, dtype=np.int64)
    table[used] = vocab.lookup_table([builder.type_of(int(u)) for u in used])
    dtype = np.uint16 if len(vocab) <= np.iinfo(np.uint16).max else np.int32
    encoded = {}
    for name, stream in splits.items():
        out = scratch_array(len(stream), dtype)
        copy_chunks(stream, out, table)
        encoded[name] = out

    stats = corpus_stats(builder, encoded, vocab, type_counts)
    return PreparedCorpus(vocab, opts.settings, encoded, stats, sources=[s.name for s, _ in sources])


def _learn_subwords(sources: Sequence[tuple[TextSource, str]], opts: PrepOptions) -> TokenizerSettings:
    """The settings with subword pieces learned from the training inputs: a first pass over
    them (SentencePiece samples at most SUBWORD_SAMPLE_LINES lines). With fractional splits
    that is all the text, the held-out tail too: the pieces are learned without labels or
    targets, as a vocabulary is, and the tail is not known before the text is tokenized."""
    streamed = [source.name for source, _ in sources if source.streams]
    if streamed:
        raise InputError(f"--tokenizer {opts.settings.tokenizer} reads the training text twice (once to learn its "
                         f"pieces), and {streamed[0]} can be read once; give a file")
    train = [source for source, split in sources if split == "train"]
    return opts.settings.learned_from(text for source in train for block in _source_blocks(source, opts, None)
                                      for text, _ in block)


def _text_tokens(builder: _StreamBuilder, stream: np.ndarray) -> int:
    """How many tokens are text: not line ends, and at char level not white space either (a
    file of spaces and tabs has no text to learn from). A chunk at a time."""
    total = 0
    for chunk in chunks(stream):
        text = chunk != builder.line_end_id
        if builder.char_level:
            kinds = np.unique(chunk)
            text &= ~np.isin(chunk, kinds[[chr(int(k)).isspace() for k in kinds]])
        total += int(text.sum())
    return total


def _check_nonempty(builder: _StreamBuilder, splits: dict[str, np.ndarray], opts: PrepOptions, explicit: bool) -> None:
    total_text = sum(_text_tokens(builder, a) for a in splits.values())
    if total_text == 0:
        raise InputError("the input has no text (nothing but white space and line ends after cleaning); "
                           "check the input and the --lower/--strip-punct/--ascii options")
    if not _text_tokens(builder, splits["train"]):
        raise InputError("the training split is empty; lower --valid-frac/--test-frac or give more text")
    if not explicit:
        for split, frac in (("valid", opts.valid_frac), ("test", opts.test_frac)):
            if frac > 0 and not _text_tokens(builder, splits[split]):
                raise InputError(
                    f"the corpus is too small for a {split} split of {frac}; give more text or set --{split}-frac 0"
                )


def corpus_stats(builder: _StreamBuilder, encoded: dict[str, np.ndarray], vocab: Vocab, type_counts: dict) -> dict:
    train_sorted = np.sort(np.fromiter(type_counts.values(), dtype=np.int64))[::-1]
    total_train = int(train_sorted.sum())
    coverage = {
        str(n): float(train_sorted[:n].sum() / total_train) for n in COVERAGE_TOP_N if n < len(train_sorted)
    }
    return {
        "level": builder.tokenizer.settings.level,
        "characters": builder.characters,
        "lines": builder.lines,
        "tokens": int(sum(len(a) for a in encoded.values())),
        "split_tokens": {s: int(len(a)) for s, a in encoded.items()},
        "train_types": len(type_counts),
        "vocab_size": len(vocab),
        "unk_rate": {s: sum(int((c == vocab.unk_id).sum()) for c in chunks(a)) / len(a) if len(a) else 0.0
                     for s, a in encoded.items()},
        "coverage": coverage,
    }
