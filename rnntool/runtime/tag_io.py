"""Reading text to tag and writing tagged output, streamed batch by batch."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from rnntool.errors import RnntoolError
from rnntool.runtime.stream import ModelAnswers, answer_stream
from rnntool.runtime.tagger import TaggerRuntime
from rnntool.text.sources import TextSource
from rnntool.text.tagged import read_conll, read_conllu, spans


TEXT_LINES_AT_ONCE = 256  # lines of a file tokenized together (``units_text``)


@dataclass
class Unit:
    """One input sentence (or a line/block passed through unchanged)."""

    tokens: list[str]
    text: str | None = None
    rows: list = field(default_factory=list)  # CoNLL rows / CoNLL-U TokenList
    comments: list[str] = field(default_factory=list)
    passthrough: str | None = None  # e.g. a -DOCSTART- block


def units_text(lines: Iterable[str], lines_at_once: int = 1) -> Iterator[Unit]:
    """Sentences of raw text, tokenized ``lines_at_once`` lines at a time (Treebank rules run
    once over many sentences much faster than once a sentence; 1 for a pipe or terminal,
    whose lines are answered as they come). A line that cannot be read (bad UTF-8) fails the
    run only after every line before it has been answered."""
    from itertools import islice

    from rnntool.runtime.stream import UntilError
    from rnntool.text.segment import split_sentences, tokenize_sentences

    source = UntilError(lines)
    while True:
        group = list(islice(source, lines_at_once))
        sentences = [sentence for line in group for sentence in split_sentences(line)]
        for sentence, tokens in zip(sentences, tokenize_sentences(sentences)):
            yield Unit(tokens, text=sentence)
        source.raise_error()  # after the lines before it
        if len(group) < lines_at_once:
            return


def units_tokens(lines: Iterable[str]) -> Iterator[Unit]:
    for line in lines:
        yield Unit(line.split())  # an empty line stays an empty sentence: one output per input line


def units_conll(lines: Iterable[str], name: str) -> Iterator[Unit]:
    for s in read_conll(lines, name, tagged=False):
        yield Unit(s.words, rows=s.rows, passthrough=s.passthrough)


def units_conllu(lines: Iterable[str], name: str) -> Iterator[Unit]:
    for s in read_conllu(lines, name):
        yield Unit(s.words, rows=s.rows, comments=s.comments)


def read_units(input_file: str, kind: str, errors: str) -> Iterator[Unit]:
    source = TextSource(input_file)
    lines = source.lines(errors, allow_empty=True)
    if kind == "text":
        return units_text(lines, 1 if source.streams else TEXT_LINES_AT_ONCE)
    if kind == "tokens":
        return units_tokens(lines)
    if kind == "conll":
        return units_conll(lines, source.name)
    if kind == "conllu":
        return units_conllu(lines, source.name)
    raise RnntoolError(f"unknown input kind {kind!r}")


def format_unit(unit: Unit, tags: list[str], conf: list[float] | None, fmt: str, tagger: TaggerRuntime) -> str:
    if unit.passthrough is not None:
        return unit.passthrough + "\n\n" if fmt in ("conll", "tsv", "conllu") else ""
    words = unit.tokens
    if fmt == "wordtag":
        return " ".join(f"{w}/{t}" for w, t in zip(words, tags)) + "\n"
    if fmt == "tsv":
        return "".join(f"{w}\t{t}\n" for w, t in zip(words, tags)) + "\n"
    if fmt == "jsonl":
        record = {"tokens": words, "tags": tags}
        if conf is not None:
            record["confidence"] = [round(c, 4) for c in conf]
        if tagger.cfg.scheme:
            record["spans"] = [{"start": s, "end": e, "type": t, "text": " ".join(words[s:e])}
                               for s, e, t in sorted(spans(tags))]
        return json.dumps(record, ensure_ascii=False) + "\n"
    if fmt == "conll":
        if unit.rows:
            return "".join(" ".join([*row, t]) + "\n" for row, t in zip(unit.rows, tags)) + "\n"
        return "".join(f"{w} {t}\n" for w, t in zip(words, tags)) + "\n"
    if fmt == "conllu":
        return _conllu(unit, tags, tagger)
    raise RnntoolError(f"unknown output format {fmt!r}")


def _conllu(unit: Unit, tags: list[str], tagger: TaggerRuntime) -> str:
    field_name = "xpos" if tagger.cfg.column == "xpos" else "upos"
    if unit.rows and not isinstance(unit.rows[0], list):  # a CoNLL-U TokenList: fill in our column
        it = iter(tags)
        for token in unit.rows:
            if isinstance(token["id"], int):
                token[field_name] = next(it)
        body = unit.rows.serialize()
        return "".join(c + "\n" for c in unit.comments) + body
    lines = [f"# text = {unit.text}"] if unit.text else []
    for i, (w, t) in enumerate(zip(unit.tokens, tags), start=1):
        upos, xpos = (t, "_") if field_name == "upos" else ("_", t)
        lines.append(f"{i}\t{w}\t_\t{upos}\t{xpos}\t_\t_\t_\t_\t_")
    return "\n".join(lines) + "\n\n"


@dataclass
class TagAnswers(ModelAnswers):
    """``tag``'s output for a batch of units; workers may answer too (``ModelAnswers``)."""

    model: TaggerRuntime | None
    fmt: str
    warn: Callable[[str], None] | None = None
    KIND, ANSWERS = "tagger", "tags"

    def build(self, model_file) -> TaggerRuntime:
        return TaggerRuntime(model_file)

    def __call__(self, pending: list[Unit]) -> str:
        self.load()
        if self.letters is not None:
            self.letters.check(w for u in pending for w in u.tokens)
        tags, conf = self.model.tag([u.tokens for u in pending], confidences=self.fmt == "jsonl")
        return "".join(format_unit(u, t, None if conf is None else conf[i], self.fmt, self.model)
                       for i, (u, t) in enumerate(zip(pending, tags)))


def tag_stream(tagger: TaggerRuntime, input_file: str, kind: str, fmt: str, batch: int, errors: str, out,
               warn=lambda message: None, jobs: int = 1) -> None:
    """Tag ``input_file`` batch by batch (see runtime/stream.py: a batch goes out when full
    or as soon as the input pauses, so a line typed or piped in is answered at once; past
    the first batches of a file, ``jobs`` processes tag). ``warn`` hears once if the text
    is mostly in letters the model never saw."""
    answer_stream(read_units(input_file, kind, errors), TagAnswers(tagger, fmt, warn), batch, out, jobs)
