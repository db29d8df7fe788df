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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rnntool.config import SPLIT_MODES
from rnntool.errors import RnntoolError
from rnntool.fsutil import AtomicDirectory
from rnntool.text.sources import ProgressFn, TextSource
from rnntool.text.tokenize import SPECIALS, Tokenizer, TokenizerSettings
from rnntool.text.vocab import Vocab

CORPUS_FORMAT = "rnntool-corpus"
CORPUS_FORMAT_VERSION = 1
META_FILE = "corpus.json"
SPLITS = ("train", "valid", "test")
COVERAGE_TOP_N = (10, 100, 1000, 10000)
_LINES_PER_BATCH = 4096


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

    def validate(self) -> None:
        for name, frac in (("--valid-frac", self.valid_frac), ("--test-frac", self.test_frac)):
            if not 0.0 <= frac < 1.0:
                raise RnntoolError(f"{name} must be in [0, 1), got {frac}")
        if self.valid_frac + self.test_frac >= 1.0:
            raise RnntoolError(
                f"--valid-frac {self.valid_frac} and --test-frac {self.test_frac} leave no training data; "
                "make them smaller"
            )
        if self.split not in SPLIT_MODES:
            raise RnntoolError(f"unknown split mode {self.split!r}; use one of: {', '.join(SPLIT_MODES)}")

    def to_dict(self) -> dict:
        return {**asdict(self), "settings": self.settings.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> "PrepOptions":
        return cls(**{**data, "settings": TokenizerSettings.from_dict(data["settings"])})


class _Interner(dict):
    """token -> provisional id, in order of first appearance."""

    def __missing__(self, token: str) -> int:
        i = self[token] = len(self)
        return i


class _StreamBuilder:
    """Tokenizes lines into provisional-id streams, one per split."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.char_level = tokenizer.settings.level == "char"
        self.interner = _Interner()
        for special in SPECIALS:
            self.interner[special]  # specials get provisional ids 0..2 (word level)
        self.parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
        self.characters = 0
        self.lines = 0

    @property
    def line_end_id(self) -> int:
        return ord("\n") if self.char_level else self.interner[self.tokenizer.line_end]

    def add_lines(self, lines: Sequence[str], split: str) -> None:
        if not lines:
            return
        self.lines += len(lines)
        self.characters += sum(map(len, lines)) + len(lines)
        if self.char_level:
            clean = self.tokenizer.clean
            text = "\n".join(map(clean, lines)) + "\n"
            ids = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)
        else:
            lookup = self.interner.__getitem__
            eos = self.line_end_id
            out: list[int] = []
            for line in lines:
                out.extend(map(lookup, self.tokenizer.tokenize(line)))
                out.append(eos)
            ids = np.asarray(out, dtype=np.int64)
        self.parts[split].append(ids)

    def stream(self, split: str) -> np.ndarray:
        parts = self.parts[split]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def type_of(self, provisional: int) -> str:
        if self.char_level:
            return chr(provisional)
        if not hasattr(self, "_types"):
            self._types = list(self.interner)
        return self._types[provisional]

    def n_types(self) -> int:
        return 0x110000 if self.char_level else len(self.interner)


def _snap_to_line_start(stream: np.ndarray, cut: int, line_end: int) -> int:
    """Move ``cut`` forward to the start of the next line (just after a line end)."""
    if cut <= 0 or cut >= len(stream) or stream[cut - 1] == line_end:
        return cut
    ends = np.flatnonzero(stream[cut:] == line_end)
    return cut + int(ends[0]) + 1 if len(ends) else cut


def _tail_split(stream: np.ndarray, opts: PrepOptions, line_end: int | None) -> dict[str, np.ndarray]:
    n = len(stream)
    train_end = n - round(n * (opts.valid_frac + opts.test_frac))
    valid_end = n - round(n * opts.test_frac)
    if line_end is not None:
        train_end = _snap_to_line_start(stream, train_end, line_end)
        valid_end = max(train_end, _snap_to_line_start(stream, valid_end, line_end))
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
        return hashlib.sha256(np.ascontiguousarray(self.splits["train"]).tobytes()).hexdigest()

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically; an existing prepared corpus at ``path`` is replaced."""
        with AtomicDirectory(path, replace_if=is_prepared_corpus, what="prepared corpus") as tmp:
            for split, ids in self.splits.items():
                np.save(tmp / f"{split}.npy", ids, allow_pickle=False)
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
        raise RnntoolError(f"{path} is not a prepared corpus (no {META_FILE}); make one with rnntool prep")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RnntoolError(f"{meta_path} is damaged ({e}); run rnntool prep again") from None
    if meta.get("format") != CORPUS_FORMAT:
        raise RnntoolError(f"{path} is not a prepared corpus; make one with rnntool prep")
    version = meta.get("format_version")
    if version != CORPUS_FORMAT_VERSION:
        raise RnntoolError(
            f"{path} has corpus format version {version}; this rnntool reads version {CORPUS_FORMAT_VERSION} "
            "(run rnntool prep again)"
        )
    splits = {}
    for split, info in meta["splits"].items():
        try:
            splits[split] = np.load(path / info["file"], mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise RnntoolError(f"{path / info['file']} is missing or damaged ({e}); run rnntool prep again") from None
        if len(splits[split]) != info["tokens"]:
            raise RnntoolError(f"{path / info['file']} is truncated; run rnntool prep again")
    return PreparedCorpus(
        vocab=Vocab.from_dict(meta["vocab"]),
        settings=TokenizerSettings.from_dict(meta["tokenizer"]),
        splits=splits,
        stats=meta.get("stats", {}),
        sources=meta.get("sources", []),
        path=path,
    )


def _batched(lines: Iterable[str], size: int = _LINES_PER_BATCH) -> Iterable[list[str]]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def prepare_corpus(
    inputs: Sequence[str],
    opts: PrepOptions,
    valid_inputs: Sequence[str] = (),
    test_inputs: Sequence[str] = (),
    progress: ProgressFn | None = None,
) -> PreparedCorpus:
    """Read, clean, tokenize and encode ``inputs`` into a :class:`PreparedCorpus`.

    Splits come from ``valid_inputs`` / ``test_inputs`` when given, else from the
    fractions in ``opts`` (contiguous tail by default). The vocabulary is built
    from the training split only, so valid/test words it never saw count as
    ``<unk>`` -- the honest way to measure a model on them.
    """
    opts.validate()
    if not inputs:
        raise RnntoolError("no input given; name text files, - for stdin, or nltk:<corpus>")
    labelled = [(s, "train") for s in inputs] + [(s, "valid") for s in valid_inputs] + [(s, "test") for s in test_inputs]
    sources = [(TextSource(spec), split) for spec, split in labelled]
    if sum(spec == "-" for spec, _ in labelled) > 1:
        raise RnntoolError("stdin (-) can be read only once")
    for source, _ in sources:
        source.check()

    builder = _StreamBuilder(Tokenizer(opts.settings))
    explicit = bool(valid_inputs or test_inputs)
    rng = np.random.default_rng(opts.seed)
    for source, split in sources:
        for batch in _batched(source.lines(opts.errors, progress)):
            if opts.split == "random" and not explicit:
                _add_random(builder, batch, opts, rng)
            else:
                builder.add_lines(batch, split)

    if explicit or opts.split == "random":
        splits = {s: builder.stream(s) for s in SPLITS}
    else:
        line_end = None if builder.char_level else builder.line_end_id
        splits = _tail_split(builder.stream("train"), opts, line_end)
    _check_nonempty(builder, splits, opts, explicit)

    train = splits["train"]
    counts = np.bincount(train, minlength=0)
    present = np.flatnonzero(counts)
    type_counts = {builder.type_of(int(p)): int(counts[p]) for p in present}
    vocab = Vocab.from_counts(type_counts, opts.min_freq, opts.max_vocab)

    # provisional id -> final id, only for the ids that occur anywhere
    used = np.unique(np.concatenate([a for a in splits.values() if len(a)]))
    table = np.full(int(used[-1]) + 1, vocab.unk_id, dtype=np.int64)
    table[used] = vocab.lookup_table([builder.type_of(int(u)) for u in used])
    dtype = np.uint16 if len(vocab) <= np.iinfo(np.uint16).max else np.int32
    encoded = {s: table[a].astype(dtype) for s, a in splits.items()}

    stats = corpus_stats(builder, encoded, vocab, type_counts)
    return PreparedCorpus(vocab, opts.settings, encoded, stats, sources=[s.name for s, _ in sources])


def _add_random(builder: _StreamBuilder, lines: list[str], opts: PrepOptions, rng: np.random.Generator) -> None:
    draws = rng.random(len(lines))
    for split, lo, hi in (
        ("train", 0.0, 1.0 - opts.valid_frac - opts.test_frac),
        ("valid", 1.0 - opts.valid_frac - opts.test_frac, 1.0 - opts.test_frac),
        ("test", 1.0 - opts.test_frac, 1.0),
    ):
        chosen = [line for line, d in zip(lines, draws) if lo <= d < hi]
        builder.add_lines(chosen, split)


def _is_text_token(builder: _StreamBuilder, stream: np.ndarray) -> np.ndarray:
    """Tokens that are text: not line ends, and at char level not white space either (a file
    of spaces and tabs has no text to learn from)."""
    text = stream != builder.line_end_id
    if builder.char_level and len(stream):
        kinds = np.unique(stream)
        space = kinds[[chr(int(k)).isspace() for k in kinds]]
        text &= ~np.isin(stream, space)
    return text


def _check_nonempty(builder: _StreamBuilder, splits: dict[str, np.ndarray], opts: PrepOptions, explicit: bool) -> None:
    total_text = sum(int(_is_text_token(builder, a).sum()) for a in splits.values())
    if total_text == 0:
        raise RnntoolError("the input has no text (nothing but white space and line ends after cleaning); "
                           "check the input and the --lower/--strip-punct/--ascii options")
    if not _is_text_token(builder, splits["train"]).any():
        raise RnntoolError("the training split is empty; lower --valid-frac/--test-frac or give more text")
    if not explicit:
        for split, frac in (("valid", opts.valid_frac), ("test", opts.test_frac)):
            if frac > 0 and len(splits[split]) == 0:
                raise RnntoolError(
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
        "unk_rate": {s: float(np.mean(a == vocab.unk_id)) if len(a) else 0.0 for s, a in encoded.items()},
        "coverage": coverage,
    }
