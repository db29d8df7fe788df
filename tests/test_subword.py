"""Subword tokenizers (--tokenizer bpe|unigram): SentencePiece pieces learned from the training
text, carried in corpora and model files, and joined back into exactly the text they split."""

from __future__ import annotations

import json
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("sentencepiece")

import rnntool  # noqa: E402
from helpers import assert_one_line_error, run_rnntool  # noqa: E402
from rnntool.errors import InputError  # noqa: E402
from rnntool.modelfile import read_header  # noqa: E402
from rnntool.text.subword import SubwordDetokenizer, learn_subwords, subword_vocabulary  # noqa: E402
from rnntool.text.tokenize import EOS, SPECIALS, Tokenizer, TokenizerSettings, make_detokenizer  # noqa: E402
from rnntool.text.vocab import Vocab  # noqa: E402

ENGLISH = ["the cat sat on the mat", "a dog ate the bone by the gate", "birds sang in the old oak tree",
           "the cat and the dog sat in the sun", "Alice was beginning to get very tired of sitting"]
KOREAN = ["이 영화 정말 재밌어요", "배우들 연기가 너무 좋았다", "다시 보고 싶은 영화", "지루하고 재미없어요"]
TINY = dict(layers=1, emb=16, hidden=32, precision="fp32", seed=1)


def corpus_lines(repeat: int = 6) -> list[str]:
    return (ENGLISH + KOREAN) * repeat


@pytest.fixture(scope="module")
def unigram_settings():
    settings = TokenizerSettings("word", "unigram", vocab_size=400)
    return settings.learned_from(corpus_lines())


def joined(settings: TokenizerSettings, lines: list[str], at_line_start: bool = True) -> str:
    """The lines tokenized and streamed back through the detokenizer, a piece at a time."""
    tokens = Tokenizer(settings).tokenize_many(lines)
    detok = make_detokenizer(settings)
    detok.reset(at_line_start)
    out = []
    for line in tokens:
        out += [detok(t) for t in line] + [detok(EOS)]
    return "".join(out) + detok.flush()


def test_the_pieces_are_learned_from_the_text_and_carried_in_the_settings(unigram_settings):
    assert unigram_settings.subwords and unigram_settings.subword_model
    again = TokenizerSettings.from_dict(json.loads(json.dumps(unigram_settings.to_dict())))
    assert again == unigram_settings  # through a model header and back
    pieces = Tokenizer(again).tokenize("the cat sat on the mat")
    assert 1 < len(pieces) < len("the cat sat on the mat")  # neither characters nor one blob
    assert pieces[0].startswith("\u2581")  # a word's first piece carries its space


def test_the_same_text_learns_the_same_pieces():
    """DDP ranks learn their pieces each on its own, and a resumed run relearns nothing: both
    rest on SentencePiece being deterministic for a given text."""
    first = learn_subwords("bpe", corpus_lines(), 400)
    assert learn_subwords("bpe", corpus_lines(), 400) == first


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                        max_size=40), min_size=1, max_size=4))
def test_detokenizing_gives_back_exactly_the_text(unigram_settings, lines):
    """Any text -- runs of spaces, tabs, characters the pieces never saw (spelled as bytes) --
    comes back byte for byte (NFC: every rnntool reader normalises so)."""
    from rnntool.text.sources import nfc

    lines = [nfc(line) for line in lines]
    assert joined(unigram_settings, lines) == "".join(line + "\n" for line in lines)


def test_a_character_spelled_as_bytes_is_released_when_its_last_byte_arrives(unigram_settings):
    detok = SubwordDetokenizer(unigram_settings.subword_model, EOS, SPECIALS)
    assert [detok(p) for p in ["\u2581", "<0xE2>", "<0x98>", "<0x83>"]] == ["", "", "", "\u2603"]
    assert "".join(detok(p) for p in Tokenizer(unigram_settings).tokenize("the")) == " the"


def test_a_continuation_keeps_the_space_of_its_first_word(unigram_settings):
    """After a prompt, a generated word's first piece starts with a space; at a line start it does not."""
    detok = make_detokenizer(unigram_settings)
    pieces = Tokenizer(unigram_settings).tokenize("the cat")
    detok.reset(at_line_start=False)
    assert "".join(map(detok, pieces)) == " the cat"
    detok.reset(at_line_start=True)
    assert "".join(map(detok, pieces)) == "the cat"
    assert detok("<unk>") == "<unk>"  # rnntool's own markers show as themselves


def test_settings_refuse_what_cannot_work():
    with pytest.raises(InputError, match="--level word"):
        TokenizerSettings("char", "bpe")
    with pytest.raises(InputError, match="--tokenizer bpe or unigram"):
        TokenizerSettings("word", "treebank", vocab_size=100)
    with pytest.raises(InputError, match="too small"):
        TokenizerSettings("word", "bpe", vocab_size=20).learned_from(corpus_lines())
    with pytest.raises(InputError, match="no lines"):
        TokenizerSettings("word", "bpe").learned_from(["", "   "])


def test_without_sentencepiece_the_error_names_the_extra(monkeypatch):
    from rnntool.text import subword

    monkeypatch.setitem(sys.modules, "sentencepiece", None)
    subword.subword_processor.cache_clear()
    with pytest.raises(InputError, match=r"rnntool\[subword\]"):
        learn_subwords("unigram", corpus_lines())
    subword.subword_processor.cache_clear()


def test_a_vocabulary_keeps_every_piece_however_rare():
    vocab = Vocab.from_counts({"\u2581a": 5, "b": 1}, min_freq=2, always=["\u2581a", "b", "c", "<unk>"])
    assert vocab.itos == list(SPECIALS) + ["\u2581a", "b", "c"]
    assert Vocab.from_counts({"\u2581a": 5, "b": 1}, min_freq=2).itos == list(SPECIALS) + ["\u2581a"]


@pytest.fixture(scope="module")
def bpe_lm(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bpe")
    text = tmp / "text.txt"
    text.write_text("\n".join(corpus_lines(8)) + "\n")
    result = rnntool.train_lm(text, tmp / "lm.safetensors", tokenizer="bpe", vocab_size=400, max_steps=30,
                              batch_size=4, bptt=8, **TINY)
    return tmp, result.model_path


def test_train_lm_learns_pieces_at_word_level_and_the_file_carries_them(bpe_lm):
    _, path = bpe_lm
    header = read_header(path, kind="lm")
    settings = TokenizerSettings.from_dict(header["tokenizer"])
    assert (settings.level, settings.tokenizer, settings.vocab_size) == ("word", "bpe", 400)
    # every piece has an id, so any text can be scored (bytes for characters never seen)
    assert set(subword_vocabulary(settings.subword_model)) <= set(header["vocab"]["tokens"])
    model = rnntool.load(path)
    assert model.score("日本 ☃ zebra").tokens > 0
    assert "<unk>" not in model.tokenize("the zebra sat on the ☃")


def test_generate_joins_pieces_into_text(bpe_lm):
    tmp, path = bpe_lm
    out = run_rnntool("generate", path, "--prime", "the cat", "-n", "30", "--seed", "3", text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("the cat")
    assert "\u2581" not in out.stdout and "<0x" not in out.stdout
    info = run_rnntool("info", path, text=True)
    assert "subword_model: \"SentencePiece model, " in info.stdout
    assert len(info.stdout) < 5000  # the model's base64 is summarised, not printed


def test_an_exported_subword_lm_carries_its_pieces_and_scores_as_rnntool_does(bpe_lm):
    """The ONNX file's metadata holds the SentencePiece model: a caller with sentencepiece alone
    turns text into the ids rnntool reads, and the graph gives rnntool's log-probabilities."""
    import base64

    import numpy as np
    import sentencepiece

    ort = pytest.importorskip("onnxruntime")
    tmp, path = bpe_lm
    onnx_path = rnntool.export(path, tmp / "lm.onnx")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    header = json.loads(session.get_modelmeta().custom_metadata_map["rnntool"])
    pieces = sentencepiece.SentencePieceProcessor(
        model_proto=base64.b64decode(header["tokenizer"]["subword_model"]))
    stoi = {t: i for i, t in enumerate(header["vocab"]["tokens"])}
    text = "the cat sat by the old gate 정말 좋았다"
    runtime = rnntool.load(path)._runtime
    ids = [stoi[p] for p in pieces.encode(text, out_type=str)]
    assert ids == runtime.encode(text)
    tokens = np.array(ids)[:, None]
    state = runtime.zero_state(1)
    h, _ = runtime.hidden(tokens, state)
    expected = runtime.log_probs(h[:, 0])
    got = session.run(["log_probs"], {"tokens": tokens, "h0": state[0], "c0": state[1]})[0][:, 0]
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_prep_then_train_lm_reads_with_the_corpus_pieces(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("\n".join(corpus_lines(8)) + "\n")
    made = run_rnntool("prep", text, "-o", tmp_path / "corpus", "--tokenizer", "unigram", "--vocab-size", "400",
                       "--json", "-q", text=True)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["level"] == "word"  # a subword tokenizer implies word level
    corpus = json.loads((tmp_path / "corpus" / "corpus.json").read_text())
    model = rnntool.train_lm(tmp_path / "corpus", tmp_path / "lm.safetensors", max_steps=5, batch_size=4, bptt=8,
                             **TINY).model_path
    assert read_header(model, kind="lm")["tokenizer"]["subword_model"] == corpus["tokenizer"]["subword_model"]


@pytest.mark.parametrize("args, fragment", [
    (["--tokenizer", "bpe", "--level", "char"], "--level word"),
    (["--vocab-size", "500"], "--tokenizer bpe or unigram"),
    (["--tokenizer", "unigram", "--vocab-size", "10"], "too small"),
])
def test_train_lm_refuses_in_one_line(tmp_path, args, fragment):
    text = tmp_path / "text.txt"
    text.write_text("\n".join(corpus_lines()) + "\n")
    result = run_rnntool("train-lm", text, "--max-steps", "1", "-o", tmp_path / "m.safetensors", *args, text=True)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "m.safetensors").exists()


def test_stdin_cannot_be_read_twice(tmp_path):
    result = run_rnntool("prep", "-", "-o", tmp_path / "c", "--tokenizer", "bpe",
                         input="\n".join(corpus_lines()) + "\n", text=True)
    assert_one_line_error(result, "give a file")


def test_a_classifier_learns_pieces_from_its_training_texts(tmp_path):
    rows = [f"pos\t{t}" for t in ("정말 재밌어요", "너무 좋았다", "최고의 영화", "다시 보고 싶다")] + \
           [f"neg\t{t}" for t in ("지루하고 재미없어요", "최악의 영화", "시간 낭비", "다시는 안 본다")]
    data = tmp_path / "train.tsv"
    data.write_text("\n".join(rows * 10) + "\n")
    result = run_rnntool("train-classifier", data, "--tokenizer", "unigram", "--vocab-size", "400", "--max-steps", "40",
                         "--seed", "1", "--precision", "fp32", "-o", tmp_path / "c.safetensors", text=True)
    assert result.returncode == 0, result.stderr
    assert "learned unigram subword pieces" in result.stderr and "--min-word-freq 1" in result.stderr
    config = read_header(tmp_path / "c.safetensors", kind="classifier")["config"]
    assert config["tokenizer"]["tokenizer"] == "unigram" and config["tokenizer"]["subword_model"]
    model = rnntool.load(tmp_path / "c.safetensors")
    assert model.classify("정말 재밌어요").label == "pos"
    assert model.classify("시간 낭비").label == "neg"


def test_the_help_shows_the_pieces_learned_by_default():
    from rnntool.defaults import SUBWORD_VOCAB_SIZE

    for command in ("prep", "train-lm", "train-classifier"):
        shown = run_rnntool(command, "--help", text=True, env={"COLUMNS": "400"}).stdout
        assert f"[{SUBWORD_VOCAB_SIZE}]" in shown and "--vocab-size" in shown, command
