"""The models that ship inside the package: what a new user gets right after install."""

import json
import random
import re

from helpers import run_rnntool
from rnntool.kinds import KINDS, bundled_model
from rnntool.modelfile import read_header

BUNDLED_LM = KINDS["lm"].default_bundled.path
BUNDLED_TAGGER = KINDS["tagger"].default_bundled.path

# No saved latest model and no $RNNTOOL_* variables: the bundled defaults must be chosen.
FRESH_USER = {"XDG_STATE_HOME": "/nonexistent/rnntool-test", "RNNTOOL_LM": "", "RNNTOOL_TAGGER": ""}

HAMLET = """HAMLET:
To be, or not to be, that is the question:
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune,
Or to take arms against a sea of troubles
And by opposing end them.
"""


def test_bundled_files_are_small_and_record_how_they_were_made():
    for kind in KINDS.values():
        for entry in kind.bundled:
            assert entry.path.is_file(), entry.path
            assert entry.path.stat().st_size < 8_000_000, f"{entry.path.name} should stay a few MB"
            header = read_header(entry.path)
            assert header["kind"] == kind.name
            assert kind.train_command in header["training"]["command"], entry.name
    tagger = read_header(BUNDLED_TAGGER)
    assert "CC BY-SA 4.0" in json.dumps(tagger)


def test_the_accurate_tagger_tags_as_the_fast_one_does_on_plain_text():
    """en-ewt-upos-accurate: today's train-tagger defaults, float weights (a format 1 file)."""
    out = run_rnntool("tag", "-m", "en-ewt-upos-accurate", "-", input=b"The old man sailed to the islands.\n")
    assert out.returncode == 0, out.stderr
    assert [t.rsplit("/", 1)[1] for t in out.stdout.decode().split()] == [
        "DET", "ADJ", "NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT"]
    header = read_header(bundled_model("en-ewt-upos-accurate")[1].path)
    assert header["config"]["hidden"] == 192 and header["training"]["train_config"]["lm_loss"] > 0  # not 0.1.0's
    assert header["format_version"] == 1 and "quantized" not in header


def test_tag_right_after_install_prints_sensible_tags():
    out = run_rnntool("tag", "-", input=b"The old man sailed to the islands.\n", env=FRESH_USER)
    assert out.returncode == 0, out.stderr
    assert "bundled" in out.stderr.decode()
    pairs = [tok.rsplit("/", 1) for tok in out.stdout.decode().split()]
    assert [w for w, _ in pairs] == ["The", "old", "man", "sailed", "to", "the", "islands", "."]
    assert [t for _, t in pairs] == ["DET", "ADJ", "NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT"]


def test_bundled_tagger_handles_unseen_words_through_characters():
    out = run_rnntool("tag", "-", "--input", "tokens", input=b"The zorbles were glimfing quickly .\n",
                      env=FRESH_USER)
    tags = [tok.rsplit("/", 1)[1] for tok in out.stdout.decode().split()]
    assert tags[1] == "NOUN" and tags[3] == "VERB" and tags[4] == "ADV", tags


def test_generate_right_after_install_writes_shakespeare_like_text():
    out = run_rnntool("generate", "--prime", "ROMEO:", "-n", "300", "--seed", "1", env=FRESH_USER)
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert text.startswith("ROMEO:")
    assert len(text) >= 300
    words = re.findall(r"[A-Za-z']+", text)
    # A trained model writes mostly short real-looking words, with spaces and line breaks.
    assert len(words) > 30 and sum(len(w) for w in words) / len(words) < 7
    assert "\n" in text
    again = run_rnntool("generate", "--prime", "ROMEO:", "-n", "300", "--seed", "1", env=FRESH_USER)
    assert again.stdout.decode() == text


def test_bundled_lm_finds_shakespeare_far_likelier_than_noise():
    real = run_rnntool("eval-lm", BUNDLED_LM, "-", "--json", input=HAMLET.encode())
    assert real.returncode == 0, real.stderr
    noise = "".join(random.Random(0).sample(HAMLET, len(HAMLET)))  # same characters, no language left
    shuffled = run_rnntool("eval-lm", BUNDLED_LM, "-", "--json", input=noise.encode())
    bpc_real, bpc_noise = json.loads(real.stdout)["bpc"], json.loads(shuffled.stdout)["bpc"]
    assert bpc_real < 2.6 < bpc_noise


def test_bundled_classifiers_classify_out_of_the_box():
    out = run_rnntool("classify", "-m", "sms-spam", "-", env=FRESH_USER,
                      input="WINNER!! claim your free prize now\nAre we still on for lunch tomorrow?\n".encode())
    assert out.returncode == 0, out.stderr
    assert [line.split("\t")[0] for line in out.stdout.decode().splitlines()] == ["spam", "ham"]
    out = run_rnntool("classify", "-m", "ko-sentiment", "-", env=FRESH_USER,
                      input="진짜 재밌어요 최고의 영화\n시간 낭비였다 지루하고 최악\n".encode())
    assert [line.split("\t")[0] for line in out.stdout.decode().splitlines()] == ["1", "0"]
    for name in ("sms-spam", "ko-sentiment"):
        header = read_header(KINDS["classifier"].bundled[0 if name == "sms-spam" else 1].path)
        assert header["training"]["meta"]["attribution"] and header["training"]["meta"]["licence"]


def test_without_a_classifier_the_message_names_the_bundled_ones():
    out = run_rnntool("classify", "-", env={**FRESH_USER, "RNNTOOL_CLASSIFIER": ""}, input=b"hello\n")
    assert out.returncode == 1
    assert out.stderr.decode().strip() == ("rnntool: error: no classifier: train one with rnntool train-classifier "
                                           "or pass -m MODEL (bundled: sms-spam, ko-sentiment)")


KOREAN = "그는 천천히 문을 열고 밖으로 나갔다. 하늘은 맑았고 바람이 조금 불었다.\n어머니는 부엌에서 밥을 짓고 있었다.\n"


def test_bundled_korean_generator_writes_hangul_and_knows_korean_from_noise():
    out = run_rnntool("generate", "-m", "ko-novel", "--prime", "그날 밤", "-n", "200", "--seed", "1", env=FRESH_USER)
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    hangul = sum("\uac00" <= ch <= "\ud7a3" for ch in text)
    assert text.startswith("그날 밤") and hangul > 0.6 * len(text.replace(" ", "").replace("\n", ""))
    real = run_rnntool("eval-lm", "ko-novel", "-", "--json", input=KOREAN.encode())
    noise = "".join(random.Random(0).sample(KOREAN, len(KOREAN)))
    shuffled = run_rnntool("eval-lm", "ko-novel", "-", "--json", input=noise.encode())
    assert json.loads(real.stdout)["bpc"] + 1.5 < json.loads(shuffled.stdout)["bpc"]
    header = read_header(KINDS["lm"].bundled[1].path)
    assert "KoCoNovel" in header["training"]["meta"]["attribution"] and "CC BY-SA 4.0" in header["training"]["meta"]["licence"]
