"""--init-from for language models: continuing a model on new text (rnntool.train.transfer)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_one_line_error, cat_text_file
from rnntool.arch import LMConfig
from rnntool.modelfile import load_model, read_header
from rnntool.text.tokenize import TokenizerSettings
from rnntool.text.vocab import Vocab
from rnntool.train.transfer import LMStart

TINY = dict(layers=1, emb=8, hidden=16)
TINY_TRAIN = dict(bptt=8, batch_size=4, lr=1e-2, precision="fp32")


@pytest.fixture(scope="module")
def base_lm(tmp_path_factory):
    """A tiny character model of the cat text."""
    import rnntool

    tmp = tmp_path_factory.mktemp("base")
    result = rnntool.train_lm(cat_text_file(tmp), tmp / "base.safetensors", **TINY, **TINY_TRAIN, epochs=2, seed=1)
    return result.model_path


def poem(tmp_path, text="The cat sat on the mat.\nZebras qu\u00efck!\n" * 20):
    path = tmp_path / "poem.txt"
    path.write_text(text)
    return path


def test_continued_model_keeps_its_rows_and_appends_the_new_types(base_lm, tmp_path):
    import rnntool

    base = load_model(base_lm, kind="lm")
    old_vocab = base.header["vocab"]["tokens"]
    # lr ~0: what is saved is what training started from
    result = rnntool.train_lm(poem(tmp_path), tmp_path / "ft.safetensors", init_from=base_lm, max_steps=1,
                              lr=1e-12, bptt=8, batch_size=4, precision="fp32", seed=1)
    tuned = load_model(result.model_path, kind="lm")
    vocab = tuned.header["vocab"]["tokens"]
    new = [t for t in vocab if t not in old_vocab]
    assert vocab[: len(old_vocab)] == old_vocab  # every old id means what it meant
    assert new and set(new) == set(poem(tmp_path).read_text()) - set(old_vocab)  # the letters the cat text lacks
    old_emb, emb = base.tensors["embedding.weight"], tuned.tensors["embedding.weight"]
    np.testing.assert_allclose(emb[: len(old_vocab)], old_emb, atol=1e-6)
    np.testing.assert_allclose(emb[len(old_vocab):], np.repeat(old_emb.mean(0, keepdims=True), len(new), 0), atol=1e-6)
    for name, tensor in base.tensors.items():  # the recurrent stack is the base model's
        if name.startswith("rnn."):
            np.testing.assert_allclose(tuned.tensors[name], tensor, atol=1e-6)
    assert tuned.config["hidden"] == 16 and tuned.config["vocab_size"] == len(vocab)
    assert tuned.header["training"]["init_from"] == str(base_lm)
    assert tuned.header["tokenizer"] == base.header["tokenizer"]


def test_continuing_beats_starting_over_on_the_same_budget(base_lm, tmp_path):
    """The base model already knows the cat text's words: a few steps on text like it leave it far
    ahead of a model trained from scratch for the same steps."""
    import rnntool

    text = poem(tmp_path, "the cat sat on the mat and the dog sat on the log\n" * 10)
    common = dict(max_steps=5, bptt=8, batch_size=4, precision="fp32", seed=1, valid_frac=0.2)
    tuned = rnntool.train_lm(text, tmp_path / "ft.safetensors", init_from=base_lm, lr=1e-3, **common)
    scratch = rnntool.train_lm(text, tmp_path / "sc.safetensors", **TINY, lr=1e-3, **common)
    assert tuned.summary["valid"]["loss"] < 0.8 * scratch.summary["valid"]["loss"]


def test_word_vocabulary_cut_offs_apply_to_the_new_words_only(tmp_path):
    start = LMStart("base", LMConfig(vocab_size=5), Vocab(["<pad>", "<unk>", "<eos>", "a", "b"]),
                    TokenizerSettings(level="word"), {})
    new = Vocab(["<pad>", "<unk>", "<eos>", "c", "a", "d", "e"], [0, 0, 9, 5, 4, 2, 1])
    assert start.extended_vocab(new).itos == ["<pad>", "<unk>", "<eos>", "a", "b", "c", "d", "e"]
    assert start.extended_vocab(new, min_freq=2).itos == ["<pad>", "<unk>", "<eos>", "a", "b", "c", "d"]
    assert start.extended_vocab(new, max_size=6).itos == ["<pad>", "<unk>", "<eos>", "a", "b", "c"]
    assert start.extended_vocab(new).counts[3:] == [4, 0, 5, 2, 1]  # the new text's counts


@pytest.mark.parametrize("softmax", ["full", "adaptive"])
def test_grown_weights_load_into_the_bigger_model(softmax):
    """Embedding and output rows grow with the vocabulary (adaptive softmax: the last cluster's)."""
    import torch

    from rnntool.nn.lm import LMModule

    options = dict(emb=8, hidden=16, layers=1, softmax=softmax, **({"cutoffs": [6]} if softmax == "adaptive" else {}))
    cfg = LMConfig(vocab_size=10, **options)
    torch.manual_seed(0)
    base = LMModule(cfg)
    start = LMStart("base", cfg, Vocab(["<pad>", "<unk>", "<eos>", *"abcdefg"]), TokenizerSettings(), base.file_weights())
    bigger = start.model_config(13, {})
    assert bigger.cutoffs == cfg.cutoffs and bigger.vocab_size == 13
    model = LMModule(bigger)
    model.load_file_weights(start.weights_for(bigger))
    grown = model.file_weights()
    for name, tensor in base.file_weights().items():
        if grown[name].shape == tensor.shape:
            np.testing.assert_array_equal(grown[name], tensor)
        else:  # one row per type: the old rows, then three of their mean
            np.testing.assert_allclose(grown[name][: len(tensor)], tensor)
            np.testing.assert_allclose(grown[name][len(tensor):], np.repeat(tensor.mean(0, keepdims=True), 3, 0),
                                       rtol=1e-6)
            assert len(grown[name]) - len(tensor) == 3, name


def test_refusals_are_one_line_errors(cli, base_lm, tmp_path):
    text = poem(tmp_path)
    out = tmp_path / "x.safetensors"
    assert_one_line_error(cli("train-lm", text, "--init-from", base_lm, "--level", "word", "-o", out), "drop --level word")
    assert_one_line_error(cli("train-lm", text, "--init-from", base_lm, "--hidden", "32", "-o", out), "drop --hidden 32")
    assert_one_line_error(cli("train-lm", text, "--init-from", "en-ewt-upos", "-o", out), "language model")
    assert_one_line_error(cli("train-lm", text, "--init-from", tmp_path / "missing.safetensors", "-o", out), "missing")
    corpus = tmp_path / "words"
    assert cli("prep", text, "--level", "word", "-o", corpus).exit_code == 0
    assert_one_line_error(cli("train-lm", corpus, "--init-from", base_lm, "-o", out), "prepare it again")
    assert not out.exists()
    # the same architecture, given again, is no conflict; dropout may change
    result = cli("train-lm", text, "--init-from", base_lm, "--hidden", "16", "--dropout", "0.1", "--max-steps", "1",
                 "--bptt", "8", "--batch-size", "4", "-q", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert read_header(out, kind="lm")["config"]["dropout"] == 0.1


def test_a_continued_run_resumes_to_the_same_weights(base_lm, tmp_path):
    """The checkpoint records --init-from: a resumed run rebuilds the same extended vocabulary
    (from the base model again) and ends where an uninterrupted run ends."""
    from rnntool.train.lm import train_lm

    text = str(poem(tmp_path))
    common = dict(model_options={}, train_options={**TINY_TRAIN, "epochs": 2, "seed": 1}, init_from=str(base_lm))
    full, full_path = train_lm(text, tmp_path / "full.safetensors", **common)
    calls = {"n": 0}

    def stop_after_5():
        calls["n"] += 1
        return calls["n"] == 5

    part, part_path = train_lm(text, tmp_path / "part.safetensors", should_stop=stop_after_5, **common)
    assert part["stop_reason"] == "interrupted" and part["steps"] == 5
    resumed, _ = train_lm(text, part_path, resume=tmp_path / "part.ckpt")
    assert resumed["steps"] == full["steps"] > 5
    a, b = load_model(full_path), load_model(part_path)
    assert a.header["vocab"] == b.header["vocab"]
    for name in a.tensors:
        np.testing.assert_array_equal(a.tensors[name], b.tensors[name], err_msg=name)


TAGGED = ["The/DET cat/NOUN sat/VERB ./PUNCT", "A/DET dog/NOUN ran/VERB ./PUNCT", "The/DET dog/NOUN sat/VERB ./PUNCT"] * 8


@pytest.fixture(scope="module")
def word_lm(tmp_path_factory):
    """A tiny word model whose text has words the tagging data lacks (and "The" besides "the")."""
    import rnntool

    tmp = tmp_path_factory.mktemp("words")
    text = tmp / "words.txt"
    text.write_text("the cat sat on the mat .\nThe zebra ran past the cat .\nthe dog sat .\n" * 20)
    return rnntool.train_lm(text, tmp / "words.safetensors", level="word", emb=12, hidden=16, layers=1, max_steps=3,
                            bptt=8, batch_size=4, precision="fp32", seed=1).model_path


def test_a_tagger_starts_from_a_word_models_embeddings_and_first_layer(word_lm, tmp_path):
    import rnntool
    from rnntool.features import normalize_word

    data = tmp_path / "train.txt"
    data.write_text("\n".join(TAGGED) + "\n")
    events = []
    result = rnntool.train_tagger(data, tmp_path / "t.safetensors", init_from=word_lm, hidden=16, max_steps=1,
                                  lr=1e-12, batch_size=4, precision="fp32", seed=1, on_event=events.append)
    lm, tagger = load_model(word_lm, kind="lm"), load_model(result.model_path, kind="tagger")
    words = tagger.config["words"]
    assert tagger.config["word_emb"] == 12  # the model's embedding size
    assert {"zebra", "mat", "past"} <= set(words)  # words only the model's text had keep their embeddings
    lm_tokens = lm.header["vocab"]["tokens"]
    lm_rows = {}
    for i, token in enumerate(lm_tokens):
        lm_rows.setdefault(normalize_word(token), i)
    emb = tagger.tensors[next(n for n in tagger.tensors if n.endswith("word_embedding.weight"))]
    for word in ("the", "cat", "zebra"):
        np.testing.assert_allclose(emb[words.index(word)], lm.tensors["embedding.weight"][lm_rows[word]], atol=1e-6)
    assert lm_rows["the"] == lm_tokens.index("the")  # the most frequent form stands for both "the" and "The"
    # the first layer's forward direction: the model's recurrent weights, and its input weights
    # for the word-embedding inputs (the character and casing inputs come after them)
    np.testing.assert_allclose(tagger.tensors["rnn.weight_hh_l0"], lm.tensors["rnn.weight_hh_l0"], atol=1e-6)
    np.testing.assert_allclose(tagger.tensors["rnn.weight_ih_l0"][:, :12], lm.tensors["rnn.weight_ih_l0"], atol=1e-6)
    assert not np.allclose(tagger.tensors["rnn.weight_hh_l0_reverse"][:, :12], lm.tensors["rnn.weight_hh_l0"][:, :12])
    notes = [e["message"] for e in events if e["event"] == "note" and "starting from" in e["message"]]
    assert notes and "first recurrent layer" in notes[0], notes
    assert tagger.header["training"]["init_from"] == str(word_lm)


def test_a_tagger_refuses_what_cannot_start_it(cli, base_lm, word_lm, tmp_path):
    data = tmp_path / "train.txt"
    data.write_text("\n".join(TAGGED) + "\n")
    out = tmp_path / "t.safetensors"
    assert_one_line_error(cli("train-tagger", data, "--init-from", base_lm, "-o", out), "character model")
    assert_one_line_error(cli("train-tagger", data, "--init-from", word_lm, "--word-emb", "50", "-o", out),
                          "drop --word-emb 50")
    assert_one_line_error(cli("train-tagger", data, "--init-from", "en-ewt-upos", "-o", out), "language model")
    assert not out.exists()


# --word-vectors: word2vec / GloVe / fastText text files

def vectors_file(path, rows, header=True):
    lines = [f"{len(rows)} {len(rows[0][1])}"] if header else []
    lines += [" ".join([word, *(f"{x:g}" for x in vector)]) for word, vector in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


VECTORS = [("the", [0.5, -1.0, 2.0]), ("The", [9.0, 9.0, 9.0]), ("cat", [1.0, 1.0, 1.0]), ("zebra", [3.0, 0.0, -3.0]),
           ("dog", [0.25, 0.5, 0.75]), ("the", [7.0, 7.0, 7.0])]


@pytest.mark.parametrize("header", [True, False])
def test_vectors_files_with_and_without_the_count_line(tmp_path, header):
    from rnntool.text.vectors import read_word_vectors

    words, vectors = read_word_vectors(vectors_file(tmp_path / "v.vec", VECTORS, header))
    assert words == ["the", "The", "cat", "zebra", "dog"]  # a repeated word keeps its first line
    np.testing.assert_array_equal(vectors[0], [0.5, -1.0, 2.0])
    assert vectors.dtype == np.float32 and vectors.shape == (5, 3)
    # the words the data has, and the file's first `limit` others
    words, _ = read_word_vectors(tmp_path / "v.vec", wanted=lambda w: w == "dog", limit=1)
    assert words == ["the", "dog"]


def test_gzipped_vectors_are_read_as_they_are(tmp_path):
    import gzip

    from rnntool.text.vectors import read_word_vectors

    plain = vectors_file(tmp_path / "v.txt", VECTORS[:3], header=False)
    packed = tmp_path / "v.txt.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_word_vectors(packed)[0] == ["the", "The", "cat"]


@pytest.mark.parametrize("content, fragment", [
    ("2 3\na 1 2 3\nb 1 2\n", "line 3: 2 numbers where the file's vectors have 3"),
    ("a 1 2 x\n", "line 1: not a number"),
    ("a 1 nan 2\n", "not finite"),
    ("", "holds no word vectors"),
    ("\n\n", "holds no word vectors"),
])
def test_damaged_vectors_files_are_one_line_errors(tmp_path, content, fragment):
    from rnntool.errors import InputError
    from rnntool.text.vectors import read_word_vectors

    path = tmp_path / "v.vec"
    path.write_text(content)
    with pytest.raises(InputError, match=fragment):
        read_word_vectors(path)


def test_binary_word2vec_and_other_bytes_say_what_to_do(tmp_path):
    from rnntool.errors import InputError
    from rnntool.text.vectors import read_word_vectors

    binary = tmp_path / "GoogleNews.bin"
    binary.write_bytes(b"2 3\nthe " + np.array([1, 2, 3], "<f4").tobytes() + b"\xff\x00cat " + bytes(12))
    with pytest.raises(InputError, match="binary word2vec.*save_word2vec_format"):
        read_word_vectors(binary)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9 1 2\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8.*--errors replace"):
        read_word_vectors(latin)
    assert read_word_vectors(latin, errors="replace")[0] == ["caf\ufffd"]
    with pytest.raises(InputError, match="no such word vectors file"):
        read_word_vectors(tmp_path / "missing.vec")


def test_a_tagger_starts_from_word_vectors(tmp_path):
    import rnntool

    data = tmp_path / "train.txt"
    data.write_text("\n".join(TAGGED) + "\n")
    vectors = vectors_file(tmp_path / "v.vec", VECTORS)
    events = []
    result = rnntool.train_tagger(data, tmp_path / "t.safetensors", word_vectors=vectors, max_steps=1, lr=1e-12,
                                  batch_size=4, precision="fp32", seed=1, on_event=events.append)
    tagger = load_model(result.model_path, kind="tagger")
    words, emb = tagger.config["words"], tagger.tensors["word_embedding.weight"]
    assert tagger.config["word_emb"] == 3 and "zebra" in words  # the vectors' size; their words join
    # the tagger lowercases words: "the" and "The" are one word, and the file's first form wins
    np.testing.assert_allclose(emb[words.index("the")], [0.5, -1.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(emb[words.index("zebra")], [3.0, 0.0, -3.0], atol=1e-6)
    assert any("the vectors of" in e.get("message", "") for e in events)
    assert tagger.header["training"]["word_vectors"] == str(vectors)


def test_a_classifier_starts_from_word_vectors_and_refuses_what_cannot(cli, base_lm, tmp_path):
    import rnntool

    data = tmp_path / "train.tsv"
    data.write_text("".join(f"{label}\t{text}\n" for label, text in [("pos", "the cat"), ("neg", "the dog")] * 20))
    vectors = vectors_file(tmp_path / "v.vec", VECTORS)
    result = rnntool.train_classifier(data, tmp_path / "c.safetensors", word_vectors=vectors, max_steps=1, lr=1e-12,
                                      batch_size=4, precision="fp32", seed=1, pretrain=False, tokenizer="whitespace")
    model = load_model(result.model_path, kind="classifier")
    words, emb = model.config["words"], model.tensors[next(n for n in model.tensors if n.endswith("word_embedding.weight"))]
    assert model.config["word_emb"] == 3 and "zebra" in words
    assert model.header["training"]["word_vectors"] == str(vectors)
    np.testing.assert_allclose(emb[words.index("cat")], [1.0, 1.0, 1.0], atol=1e-6)
    out = tmp_path / "x.safetensors"
    assert_one_line_error(cli("train-classifier", data, "--word-vectors", vectors, "--init-from", base_lm, "-o", out),
                          "not both")
    assert_one_line_error(cli("train-classifier", data, "--word-vectors", vectors, "--word-emb", "50", "-o", out),
                          "drop --word-emb 50")
    assert_one_line_error(cli("train-classifier", data, "--word-vectors", vectors, "--level", "char", "-o", out),
                          "word-level")
    assert not out.exists()


def test_frozen_vectors_keep_their_rows_through_training_and_a_resume(cli, tmp_path):
    """--freeze-vectors: the rows the vectors gave stay exactly (after a --resume too), words
    without vectors learn; --tune-vectors (the default) moves them; with --weight-decay, or
    without vectors, it is a one-line error."""
    from rnntool.errors import RnntoolError
    from rnntool.train.tagger import train_tagger as fit

    data = tmp_path / "train.txt"
    data.write_text("\n".join(TAGGED) + "\n")
    vectors = vectors_file(tmp_path / "v.vec", VECTORS)
    given = {"the": [0.5, -1.0, 2.0], "cat": [1.0, 1.0, 1.0], "dog": [0.25, 0.5, 0.75]}

    def rows(path):
        tagger = load_model(path, kind="tagger")
        words, emb = tagger.config["words"], tagger.tensors["word_embedding.weight"]
        return {w: emb[words.index(w)] for w in (*given, "sat")}

    def train(name, tune, **kw):
        train_options = {"max_steps": 12, "lr": 0.05, "batch_size": 4, "precision": "fp32", "seed": 1, "min_word_freq": 1,
                         "tune_vectors": tune, **kw.pop("train", {})}
        return fit(str(data), tmp_path / name, word_vectors=str(vectors), train_options=train_options, **kw)

    _, frozen = train("frozen.safetensors", False)
    _, tuned = train("tuned.safetensors", True)
    start = fit(str(data), tmp_path / "start.safetensors", word_vectors=str(vectors),
                train_options={"max_steps": 1, "lr": 1e-12, "precision": "fp32", "seed": 1, "min_word_freq": 1})[1]
    for word, vector in given.items():
        np.testing.assert_array_equal(rows(frozen)[word], np.float32(vector))
        assert np.abs(rows(tuned)[word] - np.float32(vector)).max() > 1e-3
    assert np.abs(rows(frozen)["sat"] - rows(start)["sat"]).max() > 1e-3  # no vector: it learns
    calls = iter(range(100))
    part, path = train("resumed.safetensors", False, should_stop=lambda: next(calls) == 5)
    assert part["steps"] < 12 and (tmp_path / "resumed.ckpt").exists()  # interrupted, a checkpoint left
    with pytest.raises(RnntoolError, match=r"drop --tune-vectors \(checkpoint: --freeze-vectors\)"):
        fit(str(data), path, resume=tmp_path / "resumed.ckpt", train_options={"tune_vectors": True})
    fit(str(data), path, resume=tmp_path / "resumed.ckpt")
    for word, vector in given.items():
        np.testing.assert_array_equal(rows(path)[word], np.float32(vector))
    out = tmp_path / "x.safetensors"
    assert_one_line_error(cli("train-tagger", data, "--freeze-vectors", "-o", out),
                          "--freeze-vectors applies to --word-vectors FILE")
    assert_one_line_error(cli("train-tagger", data, "--word-vectors", vectors, "--freeze-vectors", "--weight-decay",
                              "0.01", "-o", out), "--weight-decay 0.01 would shrink them: drop one")
    assert not out.exists()


def test_a_classifier_freezes_its_vectors_too(tmp_path):
    import rnntool

    data = tmp_path / "train.tsv"
    data.write_text("".join(f"{label}\t{text}\n" for label, text in [("pos", "the cat"), ("neg", "the dog")] * 20))
    vectors = vectors_file(tmp_path / "v.vec", VECTORS)
    result = rnntool.train_classifier(data, tmp_path / "c.safetensors", word_vectors=vectors, tune_vectors=False,
                                      max_steps=10, lr=0.05, batch_size=4, precision="fp32",
                                      seed=1, pretrain=False, tokenizer="whitespace", min_word_freq=1)
    model = load_model(result.model_path, kind="classifier")
    words, emb = model.config["words"], model.tensors[next(n for n in model.tensors if n.endswith("word_embedding.weight"))]
    np.testing.assert_array_equal(emb[words.index("cat")], np.float32([1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(emb[words.index("dog")], np.float32([0.25, 0.5, 0.75]))


def test_vectors_files_whose_words_hold_spaces(tmp_path):
    """GloVe's 840B file has words such as ". . ." and "at name@domain.com"."""
    from rnntool.text.vectors import read_word_vectors

    path = tmp_path / "glove.txt"
    path.write_text("the 0.1 0.2 0.3\n. . . 0.4 0.5 0.6\nat name@domain.com 1 2 3\n")
    words, vectors = read_word_vectors(path)
    assert words == ["the", ". . .", "at name@domain.com"]
    np.testing.assert_allclose(vectors[1], [0.4, 0.5, 0.6])


def test_damaged_and_binary_gzipped_vectors_are_one_line_errors(tmp_path):
    import gzip

    from rnntool.errors import InputError
    from rnntool.text.vectors import read_word_vectors

    corrupt = tmp_path / "v.txt.gz"
    data = bytearray(gzip.compress("".join(f"w{i} {i} {i * 7 % 13} {i % 5}\n" for i in range(2000)).encode()))
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)  # zeros over the middle of the deflate stream
    corrupt.write_bytes(bytes(data))
    with pytest.raises(InputError, match="cannot be read"):
        read_word_vectors(corrupt)
    binary = tmp_path / "GoogleNews.bin.gz"
    binary.write_bytes(gzip.compress(b"2 3\nthe " + np.array([1, 2, 3], "<f4").tobytes() + b"\xff\x00cat " + bytes(12)))
    with pytest.raises(InputError, match="binary word2vec"):
        read_word_vectors(binary)


def test_a_model_of_another_cell_gives_no_recurrent_layer(tmp_path):
    """An rnn-relu model's weights have the shapes of an rnn (tanh) layer's, but not its meaning."""
    start = LMStart("relu-lm", LMConfig(vocab_size=4, cell="rnn-relu", layers=1, emb=2, hidden=3),
                    Vocab(["<pad>", "<unk>", "<eos>", "a"]), TokenizerSettings(level="word"),
                    {"embedding.weight": np.ones((4, 2), np.float32),
                     **{f"rnn.{n}_l0": np.ones(s, np.float32) for n, s in (("weight_ih", (3, 2)), ("weight_hh", (3, 3)),
                                                                            ("bias_ih", (3,)), ("bias_hh", (3,)))}})
    state = {"features.word_embedding.weight": np.zeros((3, 2), np.float32),
             "rnn.0.weight_ih_l0": np.zeros((3, 5), np.float32), "rnn.0.weight_hh_l0": np.zeros((3, 3), np.float32),
             "rnn.0.bias_ih_l0": np.zeros(3, np.float32), "rnn.0.bias_hh_l0": np.zeros(3, np.float32)}
    words = ["<pad>", "<unk>", "a"]
    out, taken = start.encoder_weights(words, str, state, [("rnn.0.{}_l0", None)], cell="rnn")
    assert not out["rnn.0.weight_hh_l0"].any() and "no recurrent layer" in taken[1]
    out, taken = start.encoder_weights(words, str, state, [("rnn.0.{}_l0", None)], cell="rnn-relu")
    assert out["rnn.0.weight_hh_l0"].all() and "first recurrent layer" in taken[1]


def test_a_backward_model_starts_the_encoders_backward_direction():
    """A backward LM (train-lm --reverse) reads right to left: its layer goes where the encoder reads so."""
    def layer(shape_in, value):
        return {f"{{}}{n}": np.full(s, value, np.float32) for n, s in (("weight_ih", (4, shape_in)), ("weight_hh", (4, 1)),
                                                                     ("bias_ih", (4,)), ("bias_hh", (4,)))}

    start = LMStart("back-lm", LMConfig(vocab_size=4, layers=1, emb=2, hidden=1, reverse=True),
                    Vocab(["<pad>", "<unk>", "<eos>", "a"]), TokenizerSettings(level="word"),
                    {"embedding.weight": np.ones((4, 2), np.float32),
                     **{k.format("rnn.") + "_l0": v for k, v in layer(2, 7.0).items()}})
    state = {"features.word_embedding.weight": np.zeros((3, 2), np.float32),
             **{k.format("rnn.0.") + "_l0": v for k, v in layer(5, 0.0).items()},
             **{k.format("rnn.0.") + "_l0_reverse": v for k, v in layer(5, 0.0).items()}}
    words = ["<pad>", "<unk>", "a"]
    out, taken = start.encoder_weights(words, str, state, [("rnn.0.{}_l0", "rnn.0.{}_l0_reverse")])
    assert taken[1] == "its first recurrent layer (backward)"
    assert (out["rnn.0.weight_hh_l0_reverse"] == 7).all() and (out["rnn.0.weight_ih_l0_reverse"][:, :2] == 7).all()
    assert not out["rnn.0.weight_ih_l0_reverse"][:, 2:].any()  # the columns past the word embedding stay
    assert not any(out[k].any() for k in state if k.endswith("_l0") and "embedding" not in k)  # forward untouched
    out, taken = start.encoder_weights(words, str, state, [("rnn.0.{}_l0", None)])  # a one-directional encoder
    assert "reads right to left" in taken[1] and not out["rnn.0.weight_hh_l0"].any()


def test_words_from_a_model_or_vectors_are_capped():
    from rnntool.train.transfer import extend_words

    words = ["<pad>", "<unk>", "a"]
    assert extend_words(words, ["<eos>", "A", "b", "c", "d"], str.lower, limit=2) == words + ["b", "c"]


# --init-from FORWARD,BACKWARD: a bidirectional encoder from a forward and a backward model

PAIR_TEXT = "the cat sat on the mat .\nThe zebra ran past the cat .\nthe dog sat .\n" * 20


@pytest.fixture(scope="module")
def lm_pair(tmp_path_factory):
    """A forward word model of two layers and a backward one with a smaller embedding, of one text."""
    import rnntool

    tmp = tmp_path_factory.mktemp("pair")
    text = tmp / "words.txt"
    text.write_text(PAIR_TEXT)
    common = dict(level="word", hidden=16, layers=2, max_steps=3, bptt=8, batch_size=4, precision="fp32", seed=1)
    forward = rnntool.train_lm(text, tmp / "forward.safetensors", emb=8, **common).model_path
    backward = rnntool.train_lm(text, tmp / "backward.safetensors", emb=6, reverse=True, **common).model_path
    return forward, backward


def _lstm_states(tensors: dict, inputs: np.ndarray, layers: int, bidirectional: bool) -> np.ndarray:
    """The top layer's states [T, H * dirs] of the LSTM stack whose model-file tensors are ``tensors``."""
    import torch

    lstm = torch.nn.LSTM(inputs.shape[1], tensors["rnn.weight_hh_l0"].shape[1], num_layers=layers,
                         bidirectional=bidirectional)
    lstm.load_state_dict({k.removeprefix("rnn."): torch.from_numpy(v) for k, v in tensors.items()
                          if k.startswith("rnn.")})
    with torch.no_grad():
        return lstm(torch.from_numpy(inputs)[:, None])[0][:, 0].numpy()


@pytest.mark.parametrize("order", ["forward,backward", "backward,forward"])
def test_a_classifier_starts_from_a_forward_and_a_backward_model_as_the_two_models(lm_pair, tmp_path, order, caplog):
    """Each direction of the encoder reads a text as its own model does: the forward one's states
    are the forward model's, the backward one's the backward model's reading right to left."""
    import rnntool

    forward, backward = lm_pair
    spec = ",".join(str(lm_pair[0] if part == "forward" else lm_pair[1]) for part in order.split(","))
    data = tmp_path / "train.tsv"
    data.write_text("".join(f"{'pos' if i % 2 else 'neg'}\t{'the cat sat .' if i % 2 else 'the dog ran past .'}\n"
                            for i in range(40)))
    with caplog.at_level("INFO", logger="rnntool"):
        result = rnntool.train_classifier(data, tmp_path / "c.safetensors", init_from=spec, max_steps=1, lr=1e-12,
                                          calibrate=False, precision="fp32", seed=1)
    model, f, b = (load_model(p) for p in (result.model_path, forward, backward))
    config = model.header["config"]
    assert config["bidirectional"] is True and config["word_emb"] == 8 + 6 and config["layers"] == 2
    assert model.header["training"]["init_from"] == spec
    said = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("starting from"))
    assert "2 recurrent layers (forward)" in said and "2 recurrent layers (backward)" in said
    sentence = "the zebra sat on the mat .".split()
    ours = model.tensors["word_embedding.weight"][[config["words"].index(w) for w in sentence]]
    theirs = [m.tensors["embedding.weight"][[m.header["vocab"]["tokens"].index(w) for w in sentence]] for m in (f, b)]
    np.testing.assert_allclose(ours, np.concatenate(theirs, axis=1), atol=1e-6)
    states = _lstm_states(model.tensors, ours, 2, True)
    np.testing.assert_allclose(states[:, :16], _lstm_states(f.tensors, theirs[0], 2, False), atol=1e-5)
    np.testing.assert_allclose(states[:, 16:], _lstm_states(b.tensors, theirs[1][::-1].copy(), 2, False)[::-1],
                               atol=1e-5)
    # and it classifies on the numpy runtime like any bidirectional classifier
    assert rnntool.load(result.model_path).classify(["the cat sat ."])[0].label in ("pos", "neg")


def test_a_language_model_pair_that_cannot_be_one_encoder_is_refused(cli, lm_pair, base_lm, tmp_path):
    import rnntool

    forward, backward = lm_pair
    text = tmp_path / "words.txt"
    text.write_text(PAIR_TEXT)
    wide = rnntool.train_lm(text, tmp_path / "wide.safetensors", level="word", emb=6, hidden=24, layers=2, reverse=True,
                            max_steps=1, bptt=8, batch_size=4, precision="fp32").model_path
    data = tmp_path / "train.tsv"
    data.write_text("pos\tthe cat sat .\nneg\tthe dog ran .\n" * 20)
    out = tmp_path / "c.safetensors"
    for spec, fragment, *given in (
            (f"{forward},{forward}", "both read left to right; give a forward and a backward"),
            (f"{forward},{wide}", "need one shape: train both with the same --cell, --layers, --hidden"),
            (f"{base_lm},{backward}", "train both with the same tokenizer"),
            (f"{forward},{backward},{forward}", "give one language model, or a forward and a backward"),
            (f"{forward},", "joined by a comma (FORWARD,BACKWARD)"),
            # shape options the models contradict are refused, not silently overridden
            (f"{forward},{backward}", "both directions, word embeddings of 14, no character or casing features); "
                                      "drop --unidirectional --hidden 99", "--unidirectional", "--hidden", "99"),
            (str(forward), f"drop --bidirectional (or give the other direction's model too: --init-from {forward},BACKWARD)",
             "--bidirectional"),
            (str(backward), f"--init-from FORWARD,{backward})", "--bidirectional"),
            (f"{forward},{backward}", "keeps its tokenizer: drop --lower", "--lower"),
            (str(forward), "drop --char-filters 8", "--char-filters", "8")):
        assert_one_line_error(cli("train-classifier", data, "--init-from", spec, "-o", out, "--max-steps", "1",
                                  *given), fragment)
    assert not out.exists()


def test_a_tagger_starts_from_a_forward_and_a_backward_model(lm_pair, tmp_path):
    import rnntool

    forward, backward = lm_pair
    data = tmp_path / "train.txt"
    data.write_text("\n".join(TAGGED) + "\n")
    result = rnntool.train_tagger(data, tmp_path / "t.safetensors", init_from=f"{backward},{forward}", hidden=16,
                                  max_steps=1, lr=1e-12, batch_size=4, precision="fp32", seed=1)
    tagger, f, b = (load_model(p) for p in (result.model_path, forward, backward))
    assert tagger.config["word_emb"] == 14
    ih, ih_back = tagger.tensors["rnn.weight_ih_l0"], tagger.tensors["rnn.weight_ih_l0_reverse"]
    np.testing.assert_allclose(ih[:, :8], f.tensors["rnn.weight_ih_l0"], atol=1e-6)
    np.testing.assert_allclose(ih_back[:, 8:14], b.tensors["rnn.weight_ih_l0"], atol=1e-6)
    for others in (ih[:, 8:], ih_back[:, :8], ih_back[:, 14:]):  # each reads its own inputs (zero, lr 1e-12 aside)
        assert np.abs(others).max() < 1e-9
    np.testing.assert_allclose(tagger.tensors["rnn.weight_hh_l0_reverse"], b.tensors["rnn.weight_hh_l0"], atol=1e-6)


def test_a_model_file_whose_name_holds_a_comma_is_one_model(lm_pair, tmp_path):
    import shutil

    from rnntool.train.transfer import LMPair, load_language_models

    odd = tmp_path / "run,2" / "lm.safetensors"
    odd.parent.mkdir()
    shutil.copy(lm_pair[0], odd)
    assert isinstance(load_language_models(str(odd)), LMStart)
    assert isinstance(load_language_models(f"{lm_pair[1]}, {lm_pair[0]}"), LMPair)  # either order, spaces allowed


def test_a_classifier_started_from_a_pair_resumes_after_an_interruption(lm_pair, tmp_path):
    """The resumed run rebuilds the pair's bidirectional encoder from its checkpoint, not anew."""
    import os
    import signal

    import rnntool

    data = tmp_path / "train.tsv"
    data.write_text("pos\tthe cat sat .\nneg\tthe dog ran past .\n" * 20)
    spec = f"{lm_pair[0]},{lm_pair[1]}"

    def interrupt(event):
        if event["event"] == "step" and event["step"] == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(rnntool.TrainingInterrupted) as stopped:
        rnntool.train_classifier(data, tmp_path / "c.safetensors", init_from=spec, max_steps=6, device="cpu",
                                 precision="fp32", seed=1, on_event=interrupt)
    first = stopped.value.result
    resumed = rnntool.train_classifier(data, tmp_path / "c.safetensors", init_from=spec, max_steps=6, device="cpu",
                                       precision="fp32", seed=1, resume=first.checkpoint)
    assert resumed.summary["steps"] == 6
    header = read_header(resumed.model_path)
    assert header["config"]["bidirectional"] is True and header["config"]["word_emb"] == 14
    assert header["training"]["init_from"] == spec
