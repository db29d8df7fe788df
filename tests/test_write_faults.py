"""Write failures: a full disk (ENOSPC) or a failing one (EIO) injected into the model,
checkpoint, corpus and log writes (RNNTOOL_FAULT_WRITE_ERROR=ERRNO:GLOB, see fsutil), and
outputs that cannot be written. Each is one line on stderr, exit 1, the previous file as
it was, and no temporary file left behind."""

import hashlib

import pytest

from helpers import assert_one_line_error, cat_text_file, run_rnntool

SMALL = ["--layers", "1", "--emb", "8", "--hidden", "16", "--bptt", "8", "--batch-size", "4", "--epochs", "1", "-q"]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(directory):
    """Temporary files and directories of interrupted writes (.NAME.xxxx.tmp)."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") and ".tmp" in p.name)


@pytest.fixture
def text(tmp_path):
    return cat_text_file(tmp_path, 60)


def test_a_failed_model_write_leaves_the_old_model(text, tmp_path):
    model = tmp_path / "m.safetensors"
    first = run_rnntool("train-lm", text, "-o", model, *SMALL, text=True)
    assert first.returncode == 0, first.stderr
    before = digest(model)
    result = run_rnntool("train-lm", text, "-o", model, *SMALL, "--seed", "5", text=True,
                         env={"RNNTOOL_FAULT_WRITE_ERROR": "ENOSPC:m.safetensors"})
    assert_one_line_error(result, "No space left on device")
    assert str(model) in result.stderr
    assert digest(model) == before  # the previous model, byte for byte
    assert leftovers(tmp_path) == []
    assert run_rnntool("generate", "-m", model, "-n", "5", text=True).returncode == 0


def test_a_failed_checkpoint_write_is_one_line_and_tears_nothing(text, tmp_path):
    model = tmp_path / "m.safetensors"
    result = run_rnntool("train-lm", text, "-o", model, *SMALL, text=True,
                         env={"RNNTOOL_FAULT_WRITE_ERROR": "EIO:m.ckpt"})
    assert_one_line_error(result, "Input/output error")
    assert str(tmp_path / "m.ckpt") in result.stderr
    assert not (tmp_path / "m.ckpt").exists() and leftovers(tmp_path) == []
    if model.exists():  # the model written before the checkpoint is whole
        assert run_rnntool("generate", "-m", model, "-n", "5", text=True).returncode == 0


def test_a_failed_corpus_write_leaves_the_old_corpus(text, tmp_path):
    corpus = tmp_path / "c"
    assert run_rnntool("prep", text, "-o", corpus, "-q", text=True).returncode == 0
    before = {p.name: digest(p) for p in corpus.iterdir()}
    result = run_rnntool("prep", text, "--level", "word", "-o", corpus, "-q", text=True,
                         env={"RNNTOOL_FAULT_WRITE_ERROR": "ENOSPC:c"})
    assert_one_line_error(result, "No space left on device")
    assert {p.name: digest(p) for p in corpus.iterdir()} == before
    assert leftovers(tmp_path) == []
    fresh = run_rnntool("prep", text, "-o", tmp_path / "new", "-q", text=True,
                        env={"RNNTOOL_FAULT_WRITE_ERROR": "EIO:new"})
    assert_one_line_error(fresh, "Input/output error")
    assert not (tmp_path / "new").exists() and leftovers(tmp_path) == []


def test_a_failed_log_write_stops_training_in_one_line(text, tmp_path):
    result = run_rnntool("train-lm", text, "-o", tmp_path / "m.safetensors", *SMALL, "--log", tmp_path / "run.jsonl",
                         text=True, env={"RNNTOOL_FAULT_WRITE_ERROR": "ENOSPC:run.jsonl"})
    assert_one_line_error(result, "cannot write the log")
    assert "No space left on device" in result.stderr and leftovers(tmp_path) == []


def test_outputs_that_are_directories_or_unwritable(cli, text, tmp_path):
    (tmp_path / "adir").mkdir()
    assert_one_line_error(cli("train-lm", text, "-o", tmp_path / "adir", *SMALL), "is a directory")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    assert_one_line_error(cli("prep", text, "-o", tmp_path / "notes", "-q"), "is not an rnntool prepared corpus")
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep me"
    assert_one_line_error(cli("train-lm", text, "-o", tmp_path / "m.safetensors", *SMALL, "--log", tmp_path / "adir"),
                          "cannot write the log")
    # /proc refuses new files even to root (a read-only directory would not stop root)
    assert_one_line_error(cli("prep", text, "-o", "/proc/rnntool-corpus", "-q"), "cannot write")
    assert_one_line_error(cli("train-lm", text, "-o", "/proc/rnntool.safetensors", *SMALL), "cannot write")
