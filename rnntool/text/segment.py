"""Sentence splitting and word tokenization for raw text, without NLTK data.

NLTK's Punkt sentence splitter needs downloaded data, so sentences are split by
rule: after . ! ? (and closing quotes/brackets) followed by space and an
uppercase letter, digit or opening quote -- unless the word before is a known
abbreviation or a single initial. Words are split by NLTK's Treebank tokenizer
rules (contractions, punctuation), as the tagger's training data is.
"""

from __future__ import annotations

import re

from rnntool.text.tokenize import treebank_tokenizer

ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "e.g", "i.e", "cf", "al", "inc", "ltd",
    "co", "corp", "dept", "univ", "gen", "gov", "sen", "rep", "rev", "capt", "col", "lt", "sgt", "no", "vol",
    "fig", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k",
    "a.m", "p.m", "approx", "est", "ave", "blvd", "rd",
}
_BOUNDARY = re.compile(r"""([.!?]+["')\]]*)\s+(?=["'(\[]?[A-Z0-9])""")


def split_sentences(text: str) -> list[str]:
    """Sentences of one line of text (a sentence never spans lines)."""
    text = text.strip()
    if not text:
        return []
    sentences, start = [], 0
    for m in _BOUNDARY.finditer(text):
        end = m.end(1)
        before = text[start:m.start(1)].split()
        last = before[-1].lower().rstrip(".") if before else ""
        if m.group(1).startswith(".") and (last in ABBREVIATIONS or (len(last) == 1 and last.isalpha())):
            continue
        sentences.append(text[start:end].strip())
        start = m.end()
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


def tokenize_sentences(sentences: list[str]) -> list[list[str]]:
    """Treebank-style tokens of each sentence, with the PTB quote tokens mapped back to plain
    quotes; all sentences at once (``tokenize_lines``)."""
    return [['"' if t in ("``", "''") else t for t in tokens] for tokens in treebank_tokenizer().tokenize_lines(sentences)]


def sentence_offsets(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text`` in ``text``: its lines, each split by
    ``split_sentences`` (a sentence never spans lines)."""
    out = []
    line_start = 0
    for line in text.split("\n"):
        at = 0
        for sentence in split_sentences(line):
            at = line.index(sentence, at)  # split_sentences returns stripped pieces of the line, in order
            out.append((line_start + at, line_start + at + len(sentence)))
            at += len(sentence)
        line_start += len(line) + 1
    return out


_QUOTES = ('"', "``", "''")


def token_offsets(text: str, tokens: list[str]) -> list[tuple[int, int] | tuple[None, None]]:
    """Where each token of ``text`` is in it, in order: (start, end), or (None, None) for a
    token that cannot be found there. Treebank words are the text's own characters apart from
    double quotes, which ``tokenize_sentences`` writes as '"' whether the text had ", `` or ''."""
    out: list = []
    at = 0
    for token in tokens:
        while at < len(text) and text[at].isspace():
            at += 1
        if text.startswith(token, at):
            out.append((at, at + len(token)))
            at += len(token)
            continue
        if token == '"':
            quote = next((q for q in _QUOTES if text.startswith(q, at)), None)
            if quote is not None:
                out.append((at, at + len(quote)))
                at += len(quote)
                continue
        found = text.find(token, at)
        if found < 0:
            out.append((None, None))
            continue
        out.append((found, found + len(token)))
        at = found + len(token)
    return out
