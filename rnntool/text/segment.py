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


def tokenize_words(sentence: str) -> list[str]:
    """Treebank-style tokens, with the PTB quote tokens mapped back to plain quotes."""
    tokens = treebank_tokenizer().tokenize(sentence)
    return ['"' if t in ("``", "''") else t for t in tokens]


def tokenize_text(line: str) -> list[list[str]]:
    return [tokenize_words(s) for s in split_sentences(line)]
