"""nltk:<corpus> inputs, against NLTK data directories made here (NLTK's downloader
cannot be reached from CI). A subprocess gives nltk a fresh NLTK_DATA."""

import json

from helpers import run_rnntool, shared


def make_gutenberg(tmp_path):
    root = tmp_path / "nltk_data"
    gutenberg = root / "corpora" / "gutenberg"
    gutenberg.mkdir(parents=True)
    (gutenberg / "carroll-alice.txt").write_text("Alice was beginning to get very tired.\nSo she was considering.\n" * 30)
    (gutenberg / "austen-emma.txt").write_text("Emma Woodhouse, handsome, clever, and rich.\n" * 30)
    return root


def test_plaintext_nltk_corpus_file(tmp_path):
    data = make_gutenberg(tmp_path)
    result = run_rnntool(
        "prep", "nltk:gutenberg/carroll-alice.txt", "-o", tmp_path / "c", "--json", "-q", "--valid-frac", "0", "--level", "word",
        env={"NLTK_DATA": str(data)}, text=True,
    )
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["lines"] == 60
    assert stats["tokens"] == 30 * (8 + 1 + 5 + 1)  # words + "." + <eos> per line


def test_whole_nltk_corpus_reads_every_file(tmp_path):
    data = make_gutenberg(tmp_path)
    result = run_rnntool("prep", "nltk:gutenberg", "-o", tmp_path / "c", "--json", "-q", "--valid-frac", "0", "--level", "word",
                         env={"NLTK_DATA": str(data)}, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["lines"] == 90


def test_missing_nltk_data_names_the_download_call(tmp_path):
    result = run_rnntool("prep", "nltk:brown", "-o", tmp_path / "c", env={"NLTK_DATA": str(tmp_path)}, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith("rnntool: error: nltk corpus 'brown' is not installed")
    assert "nltk.download('brown')" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_unknown_fileid(tmp_path):
    data = make_gutenberg(tmp_path)
    result = run_rnntool("prep", "nltk:gutenberg/nope.txt", "-o", tmp_path / "c", env={"NLTK_DATA": str(data)}, text=True)
    assert result.returncode == 1
    assert "has no file 'nope.txt'" in result.stderr


def test_tagged_corpus_gives_one_sentence_per_line(tmp_path):
    data = shared("ptb-pos", "nltk_data")
    result = run_rnntool("prep", "nltk:treebank", "-o", tmp_path / "c", "--json", "-q", "--level", "word", "--tokenizer", "whitespace",
                         env={"NLTK_DATA": str(data)}, text=True)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["lines"] == 3914  # the treebank sample's sentence count
