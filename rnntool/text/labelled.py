"""Reading labelled texts for classification: ``label<TAB>text`` lines, fastText
lines (``__label__X [__label__Y ...] text``), CSV/TSV tables with a header (quoted
fields through the ``csv`` module), and JSONL records; plain text for classifying.

Every reader yields :class:`Example` records in input order, with the text
normalised to Unicode NFC (an NFD file gives the same examples as its NFC copy)
and the input line kept for ``--keep-input``. The format is detected from the
first lines unless given; :func:`detect_format` says what it saw.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from rnntool.config import CLASSIFY_INPUTS, choice
from rnntool.errors import InputError
from rnntool.text.sources import TextSource, nfc

FASTTEXT_PREFIX = "__label__"
FORMAT_NAMES = {"tsv": "label<TAB>text lines", "fasttext": "fastText __label__ lines", "jsonl": "JSONL records",
                "csv": "a table with a header", "text": "one text per line"}
# header names that say which column holds what (lower-cased)
TEXT_NAMES = ("text", "document", "sentence", "review", "content", "body", "message", "sms", "comment", "tweet")
LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target", "topic", "y")
_FASTTEXT_LABEL = re.compile(rf"{FASTTEXT_PREFIX}(\S+)\s*")


@dataclass
class Example:
    text: str
    labels: list[str] = field(default_factory=list)
    line: int = 0  # where the record starts in its input (1-based)
    raw: str = ""  # the input record as it was (for --keep-input)


@dataclass(frozen=True)
class LabelledFormat:
    """How to read one input: the format and, for tables and JSONL, where text and labels are."""

    name: str = "auto"
    text_col: str | None = None  # tables: header name or 1-based number
    label_col: str | None = None
    text_field: str = "text"  # JSONL
    label_field: str = "label"
    label_sep: str | None = None  # tsv/csv: several labels in one field, split on this
    delimiter: str | None = None  # tables: detected (tab, comma, semicolon, bar) unless given

    def __post_init__(self) -> None:
        choice(self.name, CLASSIFY_INPUTS, "format")

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def with_name(self, name: str) -> "LabelledFormat":
        return LabelledFormat(name, self.text_col, self.label_col, self.text_field, self.label_field, self.label_sep,
                              self.delimiter)

    def describe(self) -> str:
        return FORMAT_NAMES.get(self.name, self.name)


def _header_fields(line: str) -> tuple[str | None, list[str]]:
    """The delimiter and fields of a line that looks like a table header, else (None, [])."""
    for delimiter in ("\t", ",", ";", "|"):
        if delimiter in line:
            fields = [f.strip().strip('"').lower() for f in next(csv.reader([line], delimiter=delimiter))]
            if any(f in TEXT_NAMES for f in fields) and any(f in LABEL_NAMES for f in fields):
                return delimiter, fields
    return None, []


def _delimiter_with(line: str, column: str | None) -> str | None:
    """The delimiter under which a header line has a column named ``column`` (--text-col NAME)."""
    if column is None or column.lstrip("-").isdigit():
        return None
    for delimiter in ("\t", ",", ";", "|"):
        if delimiter in line and column.strip().lower() in (
                f.strip().lower() for f in next(csv.reader([line], delimiter=delimiter))):
            return delimiter
    return None


def detect_format(first_lines: list[str], fmt: LabelledFormat, allow_text: bool = False) -> LabelledFormat:
    """The format of an input from its first lines (``fmt.name == "auto"``)."""
    if fmt.name != "auto":
        return fmt
    sample = [line for line in first_lines if line.strip()]
    if not sample:
        return fmt.with_name("text" if allow_text else "tsv")
    first = sample[0].lstrip("\ufeff")
    if first.startswith(FASTTEXT_PREFIX):
        return fmt.with_name("fasttext")
    if first.lstrip().startswith("{"):
        try:
            if isinstance(json.loads(first), dict):
                return fmt.with_name("jsonl")
        except ValueError:
            pass
    if fmt.text_col is not None or fmt.label_col is not None or _header_fields(first)[0] is not None:
        return fmt.with_name("csv")
    if not allow_text and sum("\t" in line for line in sample) == len(sample):
        return fmt.with_name("tsv")
    if allow_text:
        return fmt.with_name("text")
    raise InputError("cannot tell how the labelled data is laid out (not label<TAB>text, fastText, a table with a "
                       "text and a label column, or JSONL); give --format")


def _labels(value: str, sep: str | None) -> list[str]:
    parts = value.split(sep) if sep else [value]
    return [nfc(p.strip()) for p in parts if p.strip()]


def read_tsv(lines: Iterable[str], name: str, fmt: LabelledFormat, labelled: bool = True) -> Iterator[Example]:
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        label, tab, text = line.partition("\t")
        if not tab:
            raise InputError(f"{name} line {n}: no tab between the label and the text (label<TAB>text lines)")
        yield Example(nfc(text), _labels(label, fmt.label_sep), n, line)


def read_fasttext(lines: Iterable[str], name: str, fmt: LabelledFormat, labelled: bool = True) -> Iterator[Example]:
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        rest, labels = line.lstrip(), []
        while (m := _FASTTEXT_LABEL.match(rest)) is not None:
            labels.append(nfc(m.group(1)))
            rest = rest[m.end():]
        if labelled and not labels:
            raise InputError(f"{name} line {n}: no {FASTTEXT_PREFIX} label at the start of the line")
        yield Example(nfc(rest), labels, n, line)


def _shown(header: list[str]) -> str:
    """Header fields for a one-line message (a quoted field may hold a line break)."""
    fields = [h if h.isprintable() else repr(h) for h in header]
    return ", ".join(fields) if any(f.strip() for f in fields) else "none"


def _column(spec: str | None, header: list[str], names: tuple[str, ...], what: str, source: str) -> int | None:
    lowered = [h.strip().lower() for h in header]
    if spec is None:
        found = [i for i, h in enumerate(lowered) if h in names]
        return found[0] if found else None
    if spec.lstrip("-").isdigit():
        index = int(spec)
        if not 1 <= index <= len(header):
            raise InputError(f"{source} has no column {index} (it has {len(header)}); {what} columns count from 1")
        return index - 1
    if spec.strip().lower() in lowered:
        return lowered.index(spec.strip().lower())
    raise InputError(f"{source} has no column {spec!r} (its columns: {_shown(header)}); "
                       f"choose the {what} column with --{what}-col")


def read_table(lines: Iterable[str], name: str, fmt: LabelledFormat, labelled: bool = True) -> Iterator[Example]:
    """A delimited table with a header row; quoted fields (and newlines inside them) as the
    csv module reads them; unbalanced quotes are an error, not a silently swallowed file."""
    lines = iter(lines)
    first = next(lines, "")
    delimiter = fmt.delimiter or _header_fields(first)[0] or _delimiter_with(first, fmt.text_col) or \
        ("\t" if "\t" in first else ",")
    reader = csv.reader(_chain_lines(first, lines), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
        text_i = _column(fmt.text_col, header, TEXT_NAMES, "text", name)
        label_i = _column(fmt.label_col, header, LABEL_NAMES, "label", name) if labelled or fmt.label_col else None
        if text_i is None:
            raise InputError(f"{name}: no text column among {_shown(header)}; choose it with --text-col")
        if labelled and label_i is None:
            raise InputError(f"{name}: no label column among {_shown(header)}; choose it with --label-col")
        start = reader.line_num + 1
        for row in reader:
            n = start
            start = reader.line_num + 1
            if not row or not any(cell.strip() for cell in row):
                continue
            needed = max(text_i, label_i if label_i is not None else -1)
            if len(row) <= needed:
                raise InputError(f"{name} line {n}: {len(row)} fields where the header has {len(header)}")
            labels = _labels(row[label_i], fmt.label_sep) if label_i is not None else []
            yield Example(nfc(row[text_i]), labels, n, delimiter.join(row))
    except csv.Error as e:
        raise InputError(f"{name} line {reader.line_num}: {e} (unbalanced quotes?); fix the quoting or read the "
                           "file with --format tsv") from None


def _chain_lines(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first + "\n"
    for line in rest:
        yield line + "\n"


def read_jsonl(lines: Iterable[str], name: str, fmt: LabelledFormat, labelled: bool = True) -> Iterator[Example]:
    kind = None  # str or list: one file must not mix single labels and label lists
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as e:
            raise InputError(f"{name} line {n}: not a JSON object ({e.msg})") from None
        if not isinstance(record, dict):
            raise InputError(f"{name} line {n}: not a JSON object")
        text = record.get(fmt.text_field)
        if not isinstance(text, str):
            raise InputError(f"{name} line {n}: no text in field {fmt.text_field!r} (set it with --text-field)")
        labels: list[str] = []
        if labelled or fmt.label_field in record:
            value = record.get(fmt.label_field)
            if value is None and labelled:
                raise InputError(f"{name} line {n}: no label in field {fmt.label_field!r} (set it with --label-field)")
            this = "list" if isinstance(value, list) else "single"
            if labelled and kind is not None and this != kind:
                raise InputError(f"{name} line {n}: a {'label list' if this == 'list' else 'single label'} after "
                                   f"{'label lists' if kind == 'list' else 'single labels'}; one file is single-label "
                                   "or multi-label")
            kind = this
            labels = [nfc(str(v)) for v in (value if isinstance(value, list) else [value] if value is not None else [])]
        yield Example(nfc(text), labels, n, line)


def read_plain(lines: Iterable[str], name: str, fmt: LabelledFormat, labelled: bool = False) -> Iterator[Example]:
    for n, line in enumerate(lines, start=1):
        yield Example(nfc(line), [], n, line)  # every line, blank ones too: one answer per input line


READERS = {"tsv": read_tsv, "fasttext": read_fasttext, "csv": read_table, "jsonl": read_jsonl, "text": read_plain}


def read_examples(spec: str, fmt: LabelledFormat, errors: str = "strict", labelled: bool = True,
                  on_detect=None) -> Iterator[Example]:
    """Stream the examples of one input. ``labelled``: labels are required (training and
    evaluation); otherwise they are read when present (classify). ``on_detect(format)``
    hears what auto-detection chose."""
    source = TextSource(spec)
    lines = source.lines(errors, allow_empty=not labelled)
    # classify streams: its layout is told from the first line, not after waiting for 20
    sample = 20 if labelled else 1
    head: list[str] = []
    for line in lines:
        head.append(line)
        if len(head) >= sample:
            break
    chosen = detect_format(head, fmt, allow_text=not labelled)
    if chosen.name == "text" and labelled:
        raise InputError(f"{source.name}: plain text has no labels; give labelled data (see --format)")
    if on_detect is not None:
        on_detect(chosen)
    yield from READERS[chosen.name](_replay(head, lines), source.name, chosen, labelled)


def column_texts(source: TextSource, text_col: str | None, text_field: str | None, errors: str = "strict",
                 progress=None) -> Iterator[str]:
    """The texts of one column of a headed CSV/TSV table (``text_col``: a header name or a
    number from 1) or of one field of JSONL records (``text_field``), read by the same
    readers as labelled data; a record's inner line breaks become spaces (one record, one line)."""
    if (text_col is None) == (text_field is None):
        raise InputError("give --text-col (CSV/TSV with a header) or --text-field (JSONL), not both")
    fmt = LabelledFormat("csv", text_col=text_col) if text_col is not None else LabelledFormat("jsonl", text_field=text_field)
    for example in READERS[fmt.name](source.lines(errors, progress), source.name, fmt, labelled=False):
        yield " ".join(example.text.splitlines())


def _replay(head: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from head
    yield from rest
