"""Token features computed many words at once (character ids, casing classes) give exactly
what their one-word definitions give."""

import re
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rnntool.features import CASES, EncoderConfig, casing, clip_chars

VOCAB = EncoderConfig(words=["<pad>", "<unk>", "cat"],
                      chars=["<pad>", "<unk>", "<w>", "</w>", "c", "a", "t", "é", "\U0001F600", "\udc80", "<"])


def char_ids_one_by_one(cfg, word):
    """The definition: <w>, each (clipped) character's id or <unk>'s, </w>."""
    return [2, *(cfg.char_stoi.get(c, 1) for c in clip_chars(word)), 3]


def casing_rules(word):
    """The casing classes' definition, every rule tried in order."""
    index = CASES.index
    if word.isdigit() or re.fullmatch(r"[\d.,:/\-]+", word) and any(c.isdigit() for c in word):
        return index("numeric")
    if any(c.isdigit() for c in word):
        return index("has_digit")
    if word.islower():
        return index("lower")
    if word.isupper():
        return index("upper")
    if word[:1].isupper() and (len(word) == 1 or word[1:].islower()):
        return index("title")
    if any(c.isalpha() for c in word):
        return index("mixed")
    if all(not c.isalnum() for c in word):
        return index("punct")
    return index("other")


EDGES = ["", "c", "cat", "CAT", "x", "é", "e\u0301", "\U0001F600!", "\udc80", "\ud83d\ude00", "<w>", "<",
         "c" * 32, "a" * 33, "catdog" * 10 + "é"]


def test_char_ids_of_many_words_are_each_words_own():
    ids, lengths = VOCAB.char_id_array(EDGES)
    assert lengths.tolist() == [len(char_ids_one_by_one(VOCAB, w)) for w in EDGES]
    assert ids.tolist() == [i for w in EDGES for i in char_ids_one_by_one(VOCAB, w)]
    assert [VOCAB.char_ids(w) for w in EDGES] == [char_ids_one_by_one(VOCAB, w) for w in EDGES]
    assert VOCAB.char_ids("\udc80a<") == [2, 9, 5, 10, 3]  # a lone surrogate is a character like any other
    none, no_lengths = VOCAB.char_id_array([])
    assert none.tolist() == [] and no_lengths.tolist() == []


def test_char_ids_with_no_single_characters_in_the_vocabulary():
    bare = EncoderConfig(words=["<pad>", "<unk>"], chars=["<pad>", "<unk>", "<w>", "</w>"])
    assert bare.char_ids("ab") == [2, 1, 1, 3]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec=None), max_size=40), max_size=8))
def test_char_ids_match_the_definition_on_any_text(words):
    ids, lengths = VOCAB.char_id_array(words)
    assert ids.dtype == np.int32
    assert ids.tolist() == [i for w in words for i in char_ids_one_by_one(VOCAB, w)]
    assert lengths.tolist() == [len(clip_chars(w)) + 2 for w in words]


def test_casing_matches_its_rules_on_every_character():
    mismatches = [c for c in map(chr, range(sys.maxunicode + 1)) if casing(c) != casing_rules(c)]
    assert mismatches == []


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(min_size=1, max_size=12),
                 st.text(alphabet="aZ09.,:/-é\u0130\u01c5\u2160\u0660\U0001D7CE", min_size=1, max_size=8)))
def test_casing_matches_its_rules_on_any_word(word):
    assert casing(word) == casing_rules(word)
