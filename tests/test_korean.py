"""Korean text: the morpheme tokenizer (optional [ko] extra) and its friendly absence."""

import builtins

import pytest

from rnntool.errors import RnntoolError
from rnntool.text.tokenize import Tokenizer, TokenizerSettings, kiwi_analyser


def test_kiwi_splits_korean_into_tagged_morphemes():
    pytest.importorskip("kiwipiepy")
    tokenizer = Tokenizer(TokenizerSettings("word", "kiwi"))
    assert tokenizer.tokenize("포스터보고 가볍지 않구나") == ["포스터/NNG", "보/VV", "고/EC", "가볍/VA-I", "지/EC",
                                                         "않/VX", "구나/EF"]
    many = tokenizer.tokenize_many(["영화 최고", "", "재밌어요", "\x1f", " \x1c "])
    assert many[0] == ["영화/NNG", "최고/NNG"] and many[1] == [] and many[2][0].startswith("재밌")
    assert many[3:] == [[], []] == [tokenizer.tokenize("\x1f"), tokenizer.tokenize(" \x1c ")]  # whitespace to Python


def test_without_the_extra_kiwi_is_a_one_line_install_hint(monkeypatch):
    real_import = builtins.__import__

    def no_kiwi(name, *args, **kwargs):
        if name == "kiwipiepy":
            raise ImportError("No module named 'kiwipiepy'")
        return real_import(name, *args, **kwargs)

    kiwi_analyser.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_kiwi)
    try:
        with pytest.raises(RnntoolError, match=r'pip install "rnntool\[ko\]"'):
            Tokenizer(TokenizerSettings("word", "kiwi")).tokenize("영화")
    finally:
        kiwi_analyser.cache_clear()


def test_morphemes_become_readable_korean_a_word_at_a_time():
    pytest.importorskip("kiwipiepy")
    from rnntool.text.tokenize import TokenizerSettings, make_detokenizer

    detok = make_detokenizer(TokenizerSettings("word", "kiwi"))
    pieces = [detok(t) for t in ["우리/NP", "는/JX", "저녁/NNG", "을/JKO", "먹/VV", "었/EP", "다/EF"]]
    # a word is released once the next one starts (its syllables may still contract until then)
    assert pieces[:2] == ["", ""] and pieces[2] == "우리는"
    assert "".join(pieces) + detok.flush() == "우리는 저녁을 먹었다"
    assert detok("<eos>") == "\n" and detok.flush() == ""


def test_a_morpheme_model_generates_readable_korean(cli, tmp_path):
    pytest.importorskip("kiwipiepy")
    from rnntool.corpora import get_sample

    model = tmp_path / "m.safetensors"
    trained = cli("train-lm", get_sample("ko-tiny").path, "--level", "word", "--tokenizer", "kiwi", "--seed", "1",
                  "-q", "-o", model)
    assert trained.exit_code == 0, trained.stderr
    out = cli("generate", "-m", model, "--prime", "우리는", "--greedy", "--stop-at-eos")
    assert out.stdout == "우리는 함께 저녁을 먹는다\n"
