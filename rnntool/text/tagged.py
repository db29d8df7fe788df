"""Reading and writing tagged sentences: CoNLL-U, CoNLL column files, word/TAG
lines and NLTK's tagged corpora; IOB scheme handling for entity tags."""

from __future__ import annotations

import re
from itertools import chain, islice
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from rnntool.config import TAGGED_FORMATS
from rnntool.errors import InputError
from rnntool.text.sources import NLTK_PREFIX, TextSource, nltk_corpus_reader

CONLLU_COLUMNS = 10
_IOB_TAG = re.compile(r"^(O|[BIES]-.+)$")


@dataclass
class TaggedSentence:
    words: list[str]
    tags: list[str]
    # for CoNLL/CoNLL-U output: the original lines/columns, kept as they were
    rows: list = field(default_factory=list, repr=False)
    comments: list[str] = field(default_factory=list, repr=False)
    passthrough: str | None = None  # a block to copy to the output as it is (CoNLL -DOCSTART-, when tagging)


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    return enumerate(lines, start=1)


def _blocks(lines: Iterable[str]) -> Iterator[list[tuple[int, str]]]:
    """Blank-line separated blocks of (line number, line); trailing whitespace dropped."""
    block: list[tuple[int, str]] = []
    for number, line in _numbered(lines):
        line = line.rstrip()
        if not line:
            if block:
                yield block
                block = []
            continue
        block.append((number, line))
    if block:
        yield block


def detect_format(lines: list[str]) -> str:
    """conllu / conll / wordtag from the first lines of a file."""
    sample = [l for l in (x.rstrip() for x in lines) if l and not l.startswith("#")][:50]
    if not sample:
        return "wordtag"
    first = sample[0].split("\t")
    if len(first) == CONLLU_COLUMNS and re.match(r"^\d+([-.]\d+)?$", first[0]):
        return "conllu"
    def wordtag_line(line: str) -> bool:
        parts = line.split()
        return len(parts) >= 1 and all("/" in p.strip("/") for p in parts)
    if sum(wordtag_line(l) for l in sample) >= 0.8 * len(sample):
        return "wordtag"
    return "conll"


def read_conllu(lines: Iterable[str], name: str, column: str = "upos") -> Iterator[TaggedSentence]:
    """Words and UPOS/XPOS tags ("_" where there is none: text to tag); multiword-token
    ranges and empty nodes are skipped, comments and the parsed rows kept (for writing the
    file back). One reader for training, evaluation and tagging: the same checks for all."""
    import conllu

    if column not in ("upos", "xpos"):
        raise InputError(f"CoNLL-U --column must be upos or xpos, not {column!r}")
    for block in _blocks(lines):
        comments = [line for _, line in block if line.startswith("#")]
        rows = [(n, line) for n, line in block if not line.startswith("#")]
        if not rows:  # comments alone (a file cut short after "# newdoc ...")
            continue
        for n, line in rows:
            cols = line.split("\t")
            if len(cols) != CONLLU_COLUMNS:
                raise InputError(
                    f"{name} line {n}: expected {CONLLU_COLUMNS} tab-separated CoNLL-U columns, found {len(cols)}"
                )
        try:
            tokens = conllu.parse("\n".join(line for _, line in rows) + "\n\n")[0]
        except conllu.exceptions.ParseException as e:
            raise InputError(f"{name} line {rows[0][0]}: bad CoNLL-U sentence ({e})") from None
        words, tags, kept = [], [], []
        for token in tokens:
            if not isinstance(token["id"], int):
                continue  # 3-4 multiword range or 5.1 empty node
            words.append(token["form"])
            tags.append(token[column] or "_")
            kept.append(token)
        if words:
            yield TaggedSentence(words, tags, rows=tokens, comments=comments)


def _column_index(column: str | int | None, width: int, name: str, line_no: int) -> int:
    index = -1 if column in (None, "") else int(column)
    if index == 0 or abs(index) > width or (index > 0 and index > width):
        raise InputError(f"{name} line {line_no}: there is no column {index} (the line has {width})")
    return index - 1 if index > 0 else width + index


def read_conll(lines: Iterable[str], name: str, column: str | int | None = None,
               tagged: bool = True) -> Iterator[TaggedSentence]:
    """Whitespace-separated columns, word first; ``column`` 1-based, negative from the end
    (default: the last). ``-DOCSTART-`` blocks are skipped, or, when tagging (``tagged``
    False: the tag column may be missing), passed through."""
    width = None
    for block in _blocks(lines):
        words, tags, rows = [], [], []
        if block[0][1].split()[0] == "-DOCSTART-":
            if not tagged:
                yield TaggedSentence([], [], passthrough="\n".join(line for _, line in block))
            continue
        for n, line in block:
            cols = line.split()
            if width is None:
                width = len(cols)
                if width < 2 and tagged:
                    raise InputError(f"{name} line {n}: no tag column (need word and tag columns)")
            elif len(cols) != width:
                raise InputError(f"{name} line {n}: {len(cols)} columns where earlier lines have {width}")
            words.append(cols[0])
            rows.append(cols)
            if tagged:
                k = _column_index(column, width, name, n)
                if k == 0:
                    raise InputError(f"{name}: column 1 holds the words; choose the tag column with --column")
                tags.append(cols[k])
        if words:
            yield TaggedSentence(words, tags, rows=rows)


def read_wordtag(lines: Iterable[str], name: str) -> Iterator[TaggedSentence]:
    """One sentence per line as word/TAG tokens (the tag after the last slash)."""
    for n, line in _numbered(lines):
        parts = line.split()
        if not parts:
            continue
        words, tags = [], []
        for part in parts:
            word, slash, tag = part.rpartition("/")
            if not slash or not word or not tag:
                raise InputError(f"{name} line {n}: token {part!r} is not word/TAG")
            words.append(word)
            tags.append(tag)
        yield TaggedSentence(words, tags)


def read_nltk_tagged(spec: str) -> Iterator[TaggedSentence]:
    corpus_name, _, fileid = spec.partition("/")
    reader = nltk_corpus_reader(corpus_name)
    if not hasattr(reader, "tagged_sents"):
        raise InputError(f"nltk corpus {corpus_name!r} has no tagged sentences")
    for sentence in reader.tagged_sents(fileid or None):
        if sentence:
            words, tags = zip(*sentence)
            yield TaggedSentence(list(words), list(tags))


def iter_tagged(spec: str, fmt: str = "auto", column: str | None = None,
                errors: str = "strict") -> tuple[Iterator[TaggedSentence], str]:
    """The tagged sentences of one input as they are read (a file of any size), and the
    format they are read in (told from the first 200 lines)."""
    if fmt not in TAGGED_FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of: {', '.join(TAGGED_FORMATS)}")
    if spec.startswith(NLTK_PREFIX):
        return read_nltk_tagged(spec[len(NLTK_PREFIX):]), "nltk"
    source = TextSource(spec)
    lines = source.lines(errors)
    head = list(islice(lines, 200))
    if fmt == "auto":
        fmt = detect_format(head)
    rest = chain(head, lines)
    if fmt == "conllu":
        return read_conllu(rest, source.name, column or "upos"), fmt
    if fmt == "conll":
        return read_conll(rest, source.name, column), fmt
    return read_wordtag(rest, source.name), fmt


def read_tagged(spec: str, fmt: str = "auto", column: str | None = None, errors: str = "strict") -> tuple[list[TaggedSentence], str]:
    """All tagged sentences of one input, and the format they were read in."""
    sentences, fmt = iter_tagged(spec, fmt, column, errors)
    sentences = list(sentences)
    if not sentences:
        raise InputError(f"{spec} has no tagged sentences")
    return sentences, fmt


# --- IOB entity tags -------------------------------------------------------------------------

def is_iob(tags: Iterable[str]) -> bool:
    seen_entity = False
    for tag in tags:
        if not _IOB_TAG.match(tag):
            return False
        seen_entity = seen_entity or tag != "O"
    return seen_entity


def iob1_to_iob2(tags: list[str]) -> list[str]:
    """I-X that starts an entity (after O or another type) becomes B-X."""
    out = []
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        prev = tag
    return out


def spans(tags: list[str]) -> set[tuple[int, int, str]]:
    """Entity spans (start, end exclusive, type) of IOB2 tags, conlleval-style: an I-X
    that does not continue an X entity starts a new one."""
    result = set()
    start, kind = None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, t = tag.partition("-")
        begins = prefix in ("B", "S") or (prefix in ("I", "E") and (kind != t))
        if start is not None and (tag == "O" or begins):
            result.add((start, i, kind))
            start, kind = None, None
        if begins:
            start, kind = i, t
        if prefix in ("E", "S") and start is not None:
            result.add((start, i + 1, kind))
            start, kind = None, None
    return result
