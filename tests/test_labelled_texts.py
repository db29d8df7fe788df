"""Labelled training texts and tagged sentences streamed to a memory-mapped file
(train/labelled_texts.py): what comes out of the map is what was read, whatever the
chunking, and the dev split, counts, targets and batches over it are those of the texts in
memory."""

from collections import Counter

import numpy as np
import pytest

from rnntool.classification import ClassifierConfig
from rnntool.errors import RnntoolError
from rnntool.features import build_vocabularies, vocabularies_from_counts
from rnntool.tagging import TaggerConfig, casing
from rnntool.text.labelled import Example
from rnntool.text.tagged import TaggedSentence
from rnntool.text.tokenize import Tokenizer, TokenizerSettings
from rnntool.train import labelled_texts
from rnntool.train.batching import SentenceTable, Targets, TextTable
from rnntool.train.classifier import split_dev
from rnntool.train.labelled_texts import PackedTexts, TextCollector, pack_sentences, take_chars
from rnntool.train.tagger import split_dev as tagger_split_dev

TEXTS = ["Free entry now! Win a prize", "see you at 5", "   ", "Call me back, please.", "ok", "WIN cash now",
         "the meeting moved to Monday", "", "Lunch?", "free free free"]
LABELS = [["spam"], ["ham"], ["ham"], ["ham"], ["ham"], ["spam"], ["ham"], ["spam"], ["ham"], ["spam", "promo"]]


def examples():
    return [Example(t, list(labels), n) for n, (t, labels) in enumerate(zip(TEXTS, LABELS), start=1)]


def pack(max_length=4, keep_texts=True, source=0):
    tokenizer = Tokenizer(TokenizerSettings("word", tokenizer="whitespace"))
    collector = TextCollector(tokenizer, max_length, keep_texts=keep_texts)
    skipped = collector.add(examples(), source)
    return collector.finish(), skipped, tokenizer


def tokens_of(packed, i):
    start, length = packed.starts[i], packed.lengths[i]
    return [packed.types[t - 1] for t in packed.ids[start: start + length]]


@pytest.mark.parametrize("chunk", [1, 3, 4096])
def test_the_map_holds_what_the_tokenizer_gave(monkeypatch, chunk):
    monkeypatch.setattr(labelled_texts, "CHUNK_TEXTS", chunk)
    packed, skipped, tokenizer = pack()
    assert isinstance(packed.ids, np.memmap)  # on disk, not a list in memory
    expected = [tokenizer.tokenize(t)[:4] for t in TEXTS]
    kept = [(t, labels) for t, labels in zip(expected, LABELS) if t]
    assert skipped == 2 and len(packed) == len(kept) == 8
    assert [tokens_of(packed, i) for i in range(len(packed))] == [t for t, _ in kept]
    assert [packed.label_sets[s] for s in packed.label_set] == [tuple(sorted(labels)) for _, labels in kept]
    assert packed.label_sets == [("spam",), ("ham",), ("promo", "spam")]  # in order of first appearance
    # the texts kept for a language model: those with a token, spacing normalised
    assert list(packed.texts(np.ones(len(packed), bool))) == [" ".join(t.split()) for t in TEXTS if t.split()]
    assert list(packed.texts(np.arange(len(packed)) % 2 == 1)) == ["see you at 5", "ok", "the meeting moved to Monday",
                                                                  "free free free"]


def test_the_checksum_sees_labels_and_texts_of_the_training_input_only():
    base = pack()[0].sha256
    assert pack()[0].sha256 == base
    tokenizer = Tokenizer(TokenizerSettings("word", tokenizer="whitespace"))
    changed = examples()
    changed[4].labels = ["spam"]
    collector = TextCollector(tokenizer, 4)
    collector.add(changed)
    assert collector.finish().sha256 != base
    collector = TextCollector(tokenizer, 4)
    collector.add(examples())
    collector.add([Example("a dev text", ["ham"])], source=1)  # --dev data is not the training data
    packed = collector.finish()
    assert packed.sha256 == base and packed.source.tolist() == [0] * 8 + [1]


def test_texts_for_pretraining_line_up_with_their_texts_across_inputs():
    tokenizer = Tokenizer(TokenizerSettings("word", tokenizer="whitespace"))
    collector = TextCollector(tokenizer, 4, keep_texts=True)
    collector.add([Example("dev  one", ["ham"])], source=1)
    collector.add(examples())
    collector.add([Example("dev two", ["spam"]), Example("  ", ["spam"])], source=1)
    packed = collector.finish()
    train = packed.source == 0
    assert list(packed.texts(train)) == [" ".join(t.split()) for t in TEXTS if t.split()]
    assert list(packed.texts(~train)) == ["dev one", "dev two"]
    assert [tokens_of(packed, i) for i in np.flatnonzero(~train)] == [["dev", "one"], ["dev", "two"]]


def test_dev_texts_must_have_one_label_each_when_training_texts_do(tmp_path):
    from rnntool.text.labelled import LabelledFormat
    from rnntool.train.classifier import train_classifier

    train = tmp_path / "train.jsonl"
    train.write_text("".join(f'{{"text": "text {i}", "label": "{"ab"[i % 2]}"}}\n' for i in range(20)))
    dev = tmp_path / "dev.jsonl"
    dev.write_text('{"text": "one", "label": ["a"]}\n{"text": "two", "label": ["a", "b"]}\n')
    with pytest.raises(RnntoolError, match="texts with 2 labels where the training data has one per text"):
        train_classifier(str(train), tmp_path / "m.safetensors", dev_spec=str(dev), fmt=LabelledFormat("jsonl"),
                         train_options={"max_steps": 1})


@pytest.mark.parametrize("chunk", [1, 5, 1 << 22])
def test_token_counts_of_a_selection_are_those_of_its_token_lists(monkeypatch, chunk):
    monkeypatch.setattr(labelled_texts, "COUNT_CHUNK", chunk)
    packed = pack(max_length=100)[0]
    lists = [tokens_of(packed, i) for i in range(len(packed))]
    select = np.array([True, False, True, True, False, True, True, False])
    counts = packed.type_counts(select)
    assert counts == Counter(w for keep, tokens in zip(select, lists) if keep for w in tokens)
    assert vocabularies_from_counts(counts, 1, 8) == build_vocabularies([t for k, t in zip(select, lists) if k], 1, 8)
    words, chars, normal = vocabularies_from_counts({"Free": 2, "free": 1, "now": 1, "42": 3}, min_word_freq=2)
    assert words == ["<pad>", "<unk>", "00", "free"]  # normalised words pool their counts; "now" is too rare
    assert normal == {"free": 3, "now": 1, "00": 3}
    assert chars[4:] == ["e", "2", "4", "r", "F", "f", "n", "o", "w"]  # by count (e: 2 x 3), ties by code point
    assert packed.type_counts(np.zeros(len(packed), bool)) == {}


def old_split_dev(label_sets, frac, seed):
    """The in-memory path's split (a dict of each label set's positions), for comparison."""
    rng = np.random.default_rng(seed)
    by_label = {}
    for i, labels in enumerate(label_sets):
        by_label.setdefault(labels, []).append(i)
    dev = set()
    for ids in by_label.values():
        dev.update(rng.permutation(ids)[: int(round(len(ids) * frac))].tolist())
    return dev


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_dev_split_holds_out_the_texts_the_in_memory_path_held_out(seed):
    rng = np.random.default_rng(seed)
    names = [("b",), ("a",), ("a", "c"), ("c",), ()]
    label_sets = [names[i] for i in rng.choice(len(names), 500, p=[0.5, 0.3, 0.1, 0.08, 0.02])]
    ids = {}  # set ids in order of first appearance, as TextCollector gives them
    label_set = np.array([ids.setdefault(s, len(ids)) for s in label_sets], np.int32)
    assert set(np.flatnonzero(split_dev(label_set, 0.1, seed)).tolist()) == old_split_dev(label_sets, 0.1, seed)


def test_dev_split_keeps_every_label_sets_share_and_follows_the_seed():
    label_set = np.array([0] * 50 + [1] * 30 + [2] * 20, np.int32)
    dev = split_dev(label_set, 0.1, seed=3)
    assert [int(dev[label_set == s].sum()) for s in range(3)] == [5, 3, 2]
    assert np.array_equal(dev, split_dev(label_set, 0.1, seed=3))
    assert not np.array_equal(dev, split_dev(label_set, 0.1, seed=4))
    with pytest.raises(RnntoolError, match="give --dev"):
        split_dev(np.array([0, 1], np.int32), 0.1, seed=0)  # nothing rounds up to a dev text
    with pytest.raises(RnntoolError, match="give --dev"):
        split_dev(np.array([0, 1], np.int32), 1.0, seed=0)  # nothing left to train on


def test_batches_from_the_map_are_the_batches_of_the_token_lists():
    packed = pack(max_length=100)[0]
    lists = [tokens_of(packed, i) for i in range(len(packed))]
    words, chars, _ = build_vocabularies(lists)
    cfg = ClassifierConfig(words=words, chars=chars, labels=["ham", "promo", "spam"], multilabel=True,
                           tokenizer={"level": "word", "tokenizer": "whitespace"})
    select = np.array([1, 2, 4, 7])
    targets = Targets(packed.label_set[select], packed.label_sets, cfg.labels, True)
    mapped = TextTable(packed, cfg, {"free"}, select).batch(np.array([3, 0, 2]), targets)
    memory = TextTable(PackedTexts.from_token_lists([lists[i] for i in select]), cfg, {"free"}).batch(
        np.array([3, 0, 2]), targets)
    for name in ("words", "cases", "lengths", "targets", "droppable"):
        assert np.array_equal(getattr(mapped, name).numpy(), getattr(memory, name).numpy()), name
    # the character rows gathered through each text's types are the same words' characters
    for batch in (mapped, memory):
        assert batch.type_chars[batch.type_index].shape[:2] == batch.words.shape
    assert np.array_equal(mapped.type_chars[mapped.type_index].numpy(), memory.type_chars[memory.type_index].numpy())
    assert mapped.targets.numpy().tolist() == [[0, 1, 1], [1, 0, 0], [0, 0, 1]]  # {promo, spam}, {ham}, {spam}
    assert mapped.droppable.numpy()[0].tolist() == [True, True, True, False]  # "free" x3, then padding


def test_the_script_is_told_from_the_first_characters_and_the_rest_stay():
    stream = iter(examples())
    head = take_chars(stream, 30)
    assert [e.line for e in head] == [1, 2]  # 27 characters, then 39 passes 30
    assert [e.line for e in stream] == list(range(3, 11))
    assert take_chars(iter([]), 30) == []


# --- tagged sentences ------------------------------------------------------------------------

def sentences(*tagged):
    return [TaggedSentence(line.split()[::2], line.split()[1::2]) for line in tagged]


@pytest.mark.parametrize("chunk", [1, 2, 4096])
def test_tagged_sentences_come_back_from_the_map(monkeypatch, chunk):
    monkeypatch.setattr(labelled_texts, "CHUNK_TEXTS", chunk)
    data = sentences("The DET cat NOUN sat VERB", "It PRON I-X X", "Dogs NOUN")
    packed = pack_sentences(data, on_disk=True)
    assert isinstance(packed.ids, np.memmap) and isinstance(packed.tags, np.memmap)
    assert [packed.sentence(i) for i in range(3)] == [(s.words, s.tags) for s in data]
    assert packed.scheme is None  # "I-X" among POS tags is not an entity scheme: tags kept as read


@pytest.mark.parametrize("tags, scheme, kept", [
    (["I-PER I-PER O", "O I-LOC I-ORG"], "iob2", [["B-PER", "I-PER", "O"], ["O", "B-LOC", "B-ORG"]]),  # IOB1 -> IOB2
    (["B-PER I-PER O", "O B-LOC"], "iob2", [["B-PER", "I-PER", "O"], ["O", "B-LOC"]]),
    (["O O O", "O O"], None, [["O", "O", "O"], ["O", "O"]]),  # no entity at all: not IOB data
    (["I-PER O NOUN", "O B-LOC"], None, [["I-PER", "O", "NOUN"], ["O", "B-LOC"]]),  # one tag outside the scheme
])
def test_entity_tags_are_read_as_iob2_only_when_every_training_tag_is_iob(tags, scheme, kept):
    data = [TaggedSentence([f"w{i}" for i in range(len(t.split()))], t.split()) for t in tags]
    packed = pack_sentences(data)
    assert packed.scheme == scheme
    assert [packed.sentence(i)[1] for i in range(len(data))] == kept


def test_dev_sentences_follow_the_training_scheme_and_stay_out_of_the_checksum():
    collector = TextCollector(None, None, tagged=True)
    collector.add_sentences(sentences("Ann I-PER Lee I-PER ran O"))
    collector.add_sentences(sentences("in O Rome I-LOC"), source=1)
    packed = collector.finish()
    assert packed.scheme == "iob2" and packed.sentence(1)[1] == ["O", "B-LOC"]
    assert packed.tag_counts(packed.source == 0) == {"B-PER": 1, "I-PER": 1, "O": 1}
    assert packed.tag_counts(packed.source == 1) == {"O": 1, "B-LOC": 1}
    alone = TextCollector(None, None, tagged=True)
    alone.add_sentences(sentences("Ann I-PER Lee I-PER ran O"))
    assert alone.finish().sha256 == packed.sha256


def test_sentence_batches_hold_each_words_features_and_tag():
    data = sentences("The DET cat NOUN sat VERB", "A DET Dog NOUN ran VERB", "the DET cat NOUN", "Dogs NOUN")
    words, chars, _ = build_vocabularies([s.words for s in data])
    cfg = TaggerConfig(words=words, chars=chars, tags=["NOUN", "DET", "VERB"])
    table = SentenceTable(pack_sentences(data, on_disk=True), cfg, {"cat"}, np.array([0, 1, 3]))
    batch = table.batch(np.array([1, 0]))  # the two three-word sentences
    for row, s in enumerate([data[1], data[0]]):
        assert batch.words[row].tolist() == [cfg.word_id(w) for w in s.words]
        assert batch.cases[row].tolist() == [casing(w) for w in s.words]
        assert batch.tags[row].tolist() == [cfg.tags.index(t) for t in s.tags]
        assert batch.droppable[row].tolist() == [w == "cat" for w in s.words]
        for t, w in enumerate(s.words):
            ids = cfg.char_ids(w)
            got = batch.type_chars[batch.type_index[row, t]].tolist()
            assert got[: len(ids)] == ids and not any(got[len(ids):])
    assert batch.type_chars[0].sum() == 0 and int(batch.type_index.min()) >= 1  # row 0 pads
    assert batch.order.tolist() == [1, 0] and batch.sentences == 2


def test_tagger_dev_split_holds_out_a_share_and_follows_the_seed():
    dev = tagger_split_dev(20, 0.1, seed=1)
    assert dev.sum() == 2 and np.array_equal(dev, tagger_split_dev(20, 0.1, seed=1))
    assert tagger_split_dev(3, 0.01, seed=0).sum() == 1  # at least one
    with pytest.raises(RnntoolError, match="give --dev"):
        tagger_split_dev(1, 0.5, seed=0)
