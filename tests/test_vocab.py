from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnntool.errors import RnntoolError
from rnntool.text.vocab import Vocab


def test_reserved_ids_then_descending_frequency_ties_by_token():
    v = Vocab.from_counts({"b": 2, "a": 2, "c": 5, "d": 1})
    assert v.itos == ["<pad>", "<unk>", "<eos>", "c", "a", "b", "d"]
    assert (v.pad_id, v.unk_id, v.eos_id) == (0, 1, 2)


def test_min_freq_and_max_vocab_send_the_rest_to_unk():
    counts = {"a": 5, "b": 3, "c": 1, "d": 1}
    v = Vocab.from_counts(counts, min_freq=2)
    assert v.itos[3:] == ["a", "b"]
    assert v.encode(["a", "c", "zzz"]) == [3, 1, 1]
    v = Vocab.from_counts(counts, max_size=4)  # 3 reserved + 1
    assert v.itos[3:] == ["a"]


def test_literal_special_tokens_map_to_reserved_ids():
    v = Vocab.from_counts({"<unk>": 10, "<eos>": 7, "x": 1})
    assert len(v) == 4
    assert v.encode(["<unk>", "<eos>", "x"]) == [1, 2, 3]
    assert v.counts[:3] == [0, 10, 7]


def test_bad_limits():
    with pytest.raises(RnntoolError):
        Vocab.from_counts({"a": 1}, max_size=3)
    with pytest.raises(RnntoolError):
        Vocab.from_counts({"a": 1}, min_freq=0)


@given(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=60))
def test_order_independent_of_input_order_and_round_trips(tokens):
    v1 = Vocab.from_counts(Counter(tokens))
    v2 = Vocab.from_counts(Counter(reversed(tokens)))
    assert v1.itos == v2.itos
    known = [t for t in tokens if t not in ("<pad>", "<unk>", "<eos>")]
    assert v1.decode(v1.encode(known)) == known
    assert Vocab.from_dict(v1.to_dict()).itos == v1.itos
    freqs = v1.counts[3:]
    assert freqs == sorted(freqs, reverse=True)
