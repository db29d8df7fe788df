import json

import pytest

from helpers import assert_one_line_error, shared
from rnntool.text.corpus import load_corpus


def test_prep_json_stats_on_stdout_table_on_stderr(cli, tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("the cat sat on the mat\nthe end\n" * 20)
    out = tmp_path / "a.corpus"
    result = cli("prep", src, "-o", out, "--json", "--level", "word", "--tokenizer", "whitespace", "--valid-frac", "0.25")
    assert result.exit_code == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["tokens"] == 20 * 10
    assert stats["vocab_size"] == 3 + 6
    assert stats["split_tokens"]["valid"] == 50
    assert "vocabulary" in result.stderr  # the table goes to stderr
    assert load_corpus(out).stats == {k: v for k, v in stats.items() if k != "output"}


def test_prep_reads_stdin_and_quiet_prints_nothing_to_stderr(cli, tmp_path):
    out = tmp_path / "s.corpus"
    result = cli("prep", "-", "-o", out, "--level", "char", "--valid-frac", "0", "-q", input="abc\nabd\n")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "" and result.stdout == ""
    corpus = load_corpus(out)
    assert "".join(corpus.vocab.decode(corpus.splits["train"])) == "abc\nabd\n"


def test_prep_cleanups_from_the_command_line(cli, tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("Héllo, World! HELLO world.\n", encoding="utf-8")
    out = tmp_path / "c"
    result = cli("prep", src, "-o", out, "--lower", "--strip-punct", "--ascii", "--valid-frac", "0", "-q", "--level", "word")
    assert result.exit_code == 0, result.stderr
    corpus = load_corpus(out)
    assert corpus.vocab.itos[3:] == ["hello", "world"]


def write_bytes(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make_input, extra, fragment",
    [
        (lambda p: p / "missing.txt", [], "no such file"),
        (lambda p: p, [], "is a directory"),
        (lambda p: write_bytes(p, "empty.txt", b""), [], "is empty"),
        (lambda p: write_bytes(p, "bin.dat", b"\x7fELF\x00\x01\x02"), [], "binary file"),
        (lambda p: write_bytes(p, "latin1.txt", "caf\xe9\n".encode("latin-1")), [], "not valid UTF-8 (byte offset 3)"),
        (lambda p: write_bytes(p, "punct.txt", b"!!! ??? ...\n"), ["--strip-punct", "--level", "word"], "has no text"),
        (lambda p: write_bytes(p, "spaces.txt", b"   \n\t \n  \n"), [], "has no text (nothing but white space"),
        (lambda p: write_bytes(p, "ok.txt", b"a b c d\n"), ["--valid-frac", "0.7", "--test-frac", "0.3"], "leave no training data"),
        (lambda p: "nltk:no_such_corpus", [], "unknown nltk corpus"),
    ],
)
def test_bad_input_is_one_line_error_and_exit_1(cli, tmp_path, make_input, extra, fragment):
    result = cli("prep", make_input(tmp_path), "-o", tmp_path / "out.corpus", *extra)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "out.corpus").exists()


def test_output_in_missing_directory(cli, tmp_path):
    src = write_bytes(tmp_path, "ok.txt", b"a b\n")
    result = cli("prep", src, "-o", tmp_path / "no" / "such" / "dir.corpus")
    assert_one_line_error(result, "does not exist")


def test_existing_non_corpus_output_is_not_touched(cli, tmp_path):
    src = write_bytes(tmp_path, "ok.txt", b"a b\n" * 10)
    target = tmp_path / "notes.txt"
    target.write_text("important")
    result = cli("prep", src, "-o", target)
    assert_one_line_error(result, "already exists")
    assert target.read_text() == "important"


def test_invalid_utf8_replaced_on_request(cli, tmp_path):
    src = write_bytes(tmp_path, "latin1.txt", "caf\xe9 ok\n".encode("latin-1") * 5)
    result = cli("prep", src, "-o", tmp_path / "c", "--errors", "replace", "--valid-frac", "0", "-q", "--level", "word", "--tokenizer", "whitespace")
    assert result.exit_code == 0, result.stderr
    assert "caf\ufffd" in load_corpus(tmp_path / "c").vocab.itos


def test_usage_errors_exit_2(cli, tmp_path):
    assert cli("prep", "-o", tmp_path / "x").exit_code == 2  # no INPUT
    assert cli("prep", "a.txt", "-o", tmp_path / "x", "--level", "byte").exit_code == 2


def test_alice_word_and_char_statistics(cli, tmp_path):
    alice = shared("alice", "alice.txt")
    result = cli("prep", alice, "--level", "word", "-o", tmp_path / "w", "--json", "-q")
    stats = json.loads(result.stdout)
    assert 2500 <= stats["vocab_size"] <= 4000
    assert 28_000 <= stats["tokens"] <= 40_000
    result = cli("prep", alice, "--level", "char", "-o", tmp_path / "c", "--json", "-q")
    stats = json.loads(result.stdout)
    assert 60 <= stats["vocab_size"] <= 85
    assert "\ufeff" not in load_corpus(tmp_path / "c").vocab.itos  # BOM stripped
    assert "\r" not in load_corpus(tmp_path / "c").vocab.itos  # CRLF normalised
