import json

import numpy as np
import pytest

from rnntool.errors import RnntoolError
from rnntool.text.corpus import PrepOptions, is_prepared_corpus, load_corpus, prepare_corpus
from rnntool.text.tokenize import TokenizerSettings

WORDS = TokenizerSettings(level="word", tokenizer="whitespace")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_word_stream_has_eos_at_line_ends_and_round_trips(tmp_path):
    src = write(tmp_path, "a.txt", "the cat sat\nthe dog\n")
    corpus = prepare_corpus([src], PrepOptions(WORDS, valid_frac=0.0))
    v = corpus.vocab
    assert v.decode(corpus.splits["train"]) == ["the", "cat", "sat", "<eos>", "the", "dog", "<eos>"]
    assert v.itos[:4] == ["<pad>", "<unk>", "<eos>", "the"]  # "the" is the most frequent word
    corpus.save(tmp_path / "c")
    loaded = load_corpus(tmp_path / "c")
    assert isinstance(loaded.splits["train"], np.memmap)
    assert loaded.vocab.itos == v.itos
    assert loaded.settings == WORDS
    np.testing.assert_array_equal(loaded.splits["train"], corpus.splits["train"])


def test_char_level_keeps_newlines_and_counts_code_points(tmp_path):
    src = write(tmp_path, "a.txt", "ab\nba\u00e9\n")
    corpus = prepare_corpus([src], PrepOptions(TokenizerSettings(level="char"), valid_frac=0.0))
    assert "".join(corpus.vocab.decode(corpus.splits["train"])) == "ab\nba\u00e9\n"
    assert corpus.stats["vocab_size"] == 3 + 4


def test_tail_split_is_contiguous_and_starts_at_a_line(tmp_path):
    lines = [f"w{i} x{i} y{i}" for i in range(100)]
    src = write(tmp_path, "a.txt", "\n".join(lines) + "\n")
    corpus = prepare_corpus([src], PrepOptions(WORDS, valid_frac=0.1, test_frac=0.1))
    decode = corpus.vocab.decode
    train, valid, test = (corpus.splits[s] for s in ("train", "valid", "test"))
    assert len(train) == 320 and len(valid) == 40 and len(test) == 40
    # vocabulary comes from training only: every valid/test word is unseen there
    assert set(decode(valid)) == {"<unk>", "<eos>"}
    assert corpus.stats["unk_rate"]["valid"] == pytest.approx(0.75)
    assert decode(train)[:4] == ["w0", "x0", "y0", "<eos>"]


def test_random_split_is_reproducible_with_seed_and_whole_lines(tmp_path):
    src = write(tmp_path, "a.txt", "".join(f"a{i} b\n" for i in range(200)))
    opts = PrepOptions(WORDS, valid_frac=0.2, split="random", seed=3)
    c1, c2 = prepare_corpus([src], opts), prepare_corpus([src], opts)
    for s in ("train", "valid"):
        np.testing.assert_array_equal(c1.splits[s], c2.splits[s])
    c3 = prepare_corpus([src], PrepOptions(WORDS, valid_frac=0.2, split="random", seed=4))
    assert len(c3.splits["valid"]) != len(c1.splits["valid"]) or not np.array_equal(c3.splits["valid"], c1.splits["valid"])
    valid = c1.splits["valid"]
    assert len(valid) % 3 == 0 and 0 < len(valid) < 600 * 0.4


def test_explicit_valid_and_test_files(tmp_path):
    train = write(tmp_path, "train.txt", "a b c\n")
    valid = write(tmp_path, "valid.txt", "a z\n")
    corpus = prepare_corpus([train], PrepOptions(WORDS), valid_inputs=[valid])
    assert corpus.vocab.decode(corpus.splits["valid"]) == ["a", "<unk>", "<eos>"]
    assert len(corpus.splits["test"]) == 0


def test_min_freq_and_max_vocab(tmp_path):
    src = write(tmp_path, "a.txt", "a a a b b c\n")
    corpus = prepare_corpus([src], PrepOptions(WORDS, valid_frac=0.0, min_freq=2))
    assert corpus.vocab.itos[3:] == ["a", "b"]
    assert corpus.stats["unk_rate"]["train"] == pytest.approx(1 / 7)
    corpus = prepare_corpus([src], PrepOptions(WORDS, valid_frac=0.0, max_vocab=4))
    assert corpus.vocab.itos[3:] == ["a"]


@pytest.mark.parametrize(
    "text, opts, message",
    [
        ("!!! ...\n", PrepOptions(TokenizerSettings(level="word", strip_punct=True)), "has no text"),
        ("a b c\n", PrepOptions(WORDS, valid_frac=0.6, test_frac=0.5), "leave no training data"),
        ("a\n", PrepOptions(WORDS, valid_frac=0.3), "too small for a valid split"),
        ("a b\n", PrepOptions(WORDS, valid_frac=1.0), "must be in [0, 1)"),
    ],
)
def test_bad_corpora_are_user_errors(tmp_path, text, opts, message):
    src = write(tmp_path, "a.txt", text)
    with pytest.raises(RnntoolError) as e:
        prepare_corpus([src], opts)
    assert message in str(e.value)


def test_save_replaces_an_old_corpus_but_never_other_directories(tmp_path):
    src = write(tmp_path, "a.txt", "a b\n")
    corpus = prepare_corpus([src], PrepOptions(WORDS, valid_frac=0.0))
    out = tmp_path / "out"
    corpus.save(out)
    corpus.save(out)  # replacing an earlier prepared corpus is fine
    assert is_prepared_corpus(out)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("data")
    with pytest.raises(RnntoolError, match="already exists and is not an rnntool prepared corpus"):
        corpus.save(precious)
    assert (precious / "keep.txt").read_text() == "data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "out", "precious"]  # no temp leftovers


def test_load_rejects_damaged_or_foreign_corpora(tmp_path):
    src = write(tmp_path, "a.txt", "a b\n")
    prepare_corpus([src], PrepOptions(WORDS, valid_frac=0.0)).save(tmp_path / "c")
    meta = json.loads((tmp_path / "c" / "corpus.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "c" / "corpus.json").write_text(json.dumps(meta))
    with pytest.raises(RnntoolError, match="format version 99"):
        load_corpus(tmp_path / "c")
    with pytest.raises(RnntoolError, match="not a prepared corpus"):
        load_corpus(tmp_path)


@pytest.mark.parametrize("level", ["word", "char"])
def test_one_line_corpus_is_split_by_tokens(tmp_path, level):
    # text8 and enwik8 are shipped as one line: the split must cut between tokens, not wait for a line end
    words = [f"w{i % 37}" for i in range(3000)]
    src = write(tmp_path, "one.txt", " ".join(words))
    settings = WORDS if level == "word" else TokenizerSettings(level="char")
    corpus = prepare_corpus([src], PrepOptions(settings, valid_frac=0.1, test_frac=0.1))
    sizes = {s: len(a) for s, a in corpus.splits.items()}
    total = sum(sizes.values())
    assert sizes["valid"] == pytest.approx(0.1 * total, abs=1) and sizes["test"] == pytest.approx(0.1 * total, abs=1)
    joined = np.concatenate([corpus.splits[s] for s in ("train", "valid", "test")])
    decoded = corpus.vocab.decode(joined)
    if level == "word":
        assert decoded == words + ["<eos>"]
    else:
        # the one line end falls in the test split, so the vocabulary (from train) has no "\n"
        assert "".join(decoded) == " ".join(words) + "<unk>"


@pytest.mark.parametrize("level", ["word", "char"])
def test_a_line_read_in_pieces_gives_the_same_corpus(tmp_path, level, monkeypatch):
    import rnntool.text.sources as sources

    text = " ".join(f"tok{i % 101}" for i in range(5000)) + "\nsecond line here\n"
    src = write(tmp_path, "long.txt", text)
    settings = WORDS if level == "word" else TokenizerSettings(level="char")
    opts = PrepOptions(settings, valid_frac=0.1)
    whole = prepare_corpus([src], opts)
    monkeypatch.setattr(sources, "PIECE_CHARS", 97)  # the long line arrives in ~300 pieces
    monkeypatch.setattr(sources.TextSource.pieces, "__defaults__", ("strict", None, False, 97))
    pieced = prepare_corpus([src], opts)
    assert pieced.vocab.itos == whole.vocab.itos
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(pieced.splits[split], whole.splits[split])


def test_nfd_and_nfc_text_give_the_same_corpus(tmp_path):
    import unicodedata

    text = "한국어 문장 입니다\n두 번째 문장\n" * 5
    nfc = prepare_corpus([write(tmp_path, "nfc.txt", unicodedata.normalize("NFC", text))], PrepOptions(WORDS, valid_frac=0))
    nfd = prepare_corpus([write(tmp_path, "nfd.txt", unicodedata.normalize("NFD", text))], PrepOptions(WORDS, valid_frac=0))
    assert nfd.vocab.itos == nfc.vocab.itos and "한국어" in nfc.vocab.itos
    np.testing.assert_array_equal(nfd.splits["train"], nfc.splits["train"])


def test_corpus_larger_than_one_chunk_streams_the_same(tmp_path, monkeypatch):
    import rnntool.text.corpus as corpus_module

    src = write(tmp_path, "a.txt", "".join(f"a{i % 53} b{i % 7} c\n" for i in range(2000)))
    opts = PrepOptions(WORDS, valid_frac=0.1, test_frac=0.05)
    one_pass = prepare_corpus([src], opts)
    monkeypatch.setattr(corpus_module, "CHUNK", 61)  # every array pass takes many chunks
    monkeypatch.setattr(corpus_module, "CHUNK_CHARS", 50)
    chunked = prepare_corpus([src], opts)
    assert chunked.vocab.itos == one_pass.vocab.itos
    assert chunked.stats == one_pass.stats
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(chunked.splits[split], one_pass.splits[split])
