"""train-lm --reverse: a backward language model reads every text right to left. What it
computes is what the same weights read forwards compute on the text reversed (lines last to
first, each line's tokens last to first), in training, scoring and evaluation alike."""

from __future__ import annotations

import mmap

import numpy as np
import pytest

import rnntool
from helpers import assert_one_line_error
from rnntool.modelfile import read_header

LINES = ["the cat sat on the mat", "a dog ate the bone", "birds sang in the old tree"]
TINY = dict(layers=1, emb=16, hidden=48, precision="fp32", seed=1)


def mirrored(text: str) -> str:
    """``text`` as a forward reader must see it to read what a backward one reads."""
    closed = text.endswith("\n")
    lines = (text[:-1] if closed else text).split("\n")
    return "\n".join(line[::-1] for line in reversed(lines)) + ("\n" if closed else "")


@pytest.fixture(scope="module")
def backward(tmp_path_factory):
    """A backward character model of three lines (the tutorials' tiny-text recipe), and the same
    weights loaded twice: once as they are, once told to read forwards."""
    tmp = tmp_path_factory.mktemp("backward")
    text = tmp / "lines.txt"
    text.write_text("\n".join(LINES) + "\n")
    path = rnntool.train_lm(text, tmp / "back.safetensors", reverse=True, **TINY).model_path
    twin = rnntool.load(path)
    twin._runtime.cfg.reverse = False
    return path, rnntool.load(path), twin


def test_the_model_file_records_the_direction(backward):
    path, model, twin = backward
    assert read_header(path, kind="lm")["config"]["reverse"] is True
    assert model._runtime.reads_backward and not twin._runtime.reads_backward


def test_training_read_the_text_right_to_left(backward):
    """Read forwards, the weights know the reversed lines and not the lines: training fed them reversed."""
    _, _, twin = backward
    for line in LINES:
        assert twin.score(line[::-1]).logprob > twin.score(line).logprob + 20, line


@pytest.mark.parametrize("text", ["the cat sat on the mat\na dog ate the bone\n", "a dog\nthe old tree", "x", "\n\n"])
def test_scores_and_losses_are_the_forward_readings_of_the_mirrored_text(backward, text):
    _, model, twin = backward
    for line in text.split("\n"):
        assert model.score(line).logprob == pytest.approx(twin.score(line[::-1]).logprob, abs=1e-6)
        assert model.score(line).tokens == len(line) + 1
    got, want = model.perplexity(text), twin.perplexity(mirrored(text))
    assert got.tokens == want.tokens == twin.perplexity(text).tokens  # the same tokens predicted as forwards
    assert got.loss == pytest.approx(want.loss, abs=1e-6)


def test_a_text_longer_than_a_window_is_read_back_across_windows(backward, monkeypatch, tmp_path):
    import rnntool.runtime.scoring as scoring

    _, model, twin = backward
    text = "".join(f"{LINES[i % 3]} {i}\n" for i in range(40))
    path = tmp_path / "long.txt"
    path.write_text(text)
    whole = model.evaluate(path)
    monkeypatch.setattr(scoring, "EVAL_WINDOW", 7)  # windows of the scratch file, each reversed, in reverse order
    windowed = model.evaluate(path)
    assert windowed.tokens == whole.tokens == len(text)
    assert windowed.loss == pytest.approx(whole.loss, abs=1e-5)
    assert whole.loss == pytest.approx(twin.perplexity(mirrored(text)).loss, abs=1e-5)


def test_onnxruntime_reads_a_backward_text_as_numpy_does(backward, monkeypatch, tmp_path):
    """The backward reading (ids reversed before scoring) holds on either engine, across windows."""
    pytest.importorskip("onnxruntime")
    import rnntool.runtime.scoring as scoring

    _, model, _ = backward
    path = tmp_path / "long.txt"
    path.write_text("".join(f"{LINES[i % 3]} {i}\n" for i in range(40)))
    monkeypatch.setattr(scoring, "EVAL_WINDOW", 64)
    got = {}
    for engine in ("numpy", "onnxruntime"):
        monkeypatch.setenv("RNNTOOL_ENGINE", engine)
        got[engine] = model.evaluate(path)
    assert got["onnxruntime"].tokens == got["numpy"].tokens
    assert got["onnxruntime"].loss == pytest.approx(got["numpy"].loss, abs=1e-5)


def test_generation_is_refused_in_one_line(backward, cli):
    path, model, _ = backward
    with pytest.raises(rnntool.InputError, match="right to left"):
        model.generate("the")
    with pytest.raises(rnntool.InputError, match="right to left"):
        list(model.generate_many(["the"]))
    assert_one_line_error(cli("generate", "-m", path, "--max-tokens", "5"), "cannot continue it")


def test_the_server_refuses_generation_with_a_4xx_and_still_scores(backward):
    pytest.importorskip("starlette", reason="rnntool serve needs the [serve] extra")
    httpx = pytest.importorskip("httpx")
    from helpers import Serving
    from rnntool.serve import create_app

    path, model, _ = backward
    with Serving(create_app([f"back={path}"])) as url:
        refused = httpx.post(url + "/v1/generate", json={"model": "back", "prompt": "the", "stream": False},
                             timeout=30)
        scored = httpx.post(url + "/v1/score", json={"model": "back", "text": LINES[0]}, timeout=30)
    assert refused.status_code == 400 and "right to left" in refused.json()["error"]["message"]
    assert scored.status_code == 200
    assert scored.json()["result"]["logprob"] == pytest.approx(model.score(LINES[0]).logprob, abs=1e-4)


def test_continuing_keeps_the_direction_and_a_conflicting_one_is_refused(backward, cli, tmp_path):
    path, _, _ = backward
    text = tmp_path / "more.txt"
    text.write_text("the cat ate the old bone\n" * 3)
    out = rnntool.train_lm(text, tmp_path / "more.safetensors", init_from=path, max_steps=2,
                           precision="fp32").model_path
    assert read_header(out, kind="lm")["config"]["reverse"] is True
    forward = rnntool.train_lm(text, tmp_path / "fwd.safetensors", max_steps=2, **TINY).model_path
    assert_one_line_error(cli("train-lm", text, "--init-from", forward, "--reverse", "-o", tmp_path / "x.safetensors"),
                          "drop --reverse")


def test_a_prepared_corpus_trains_backwards_from_its_memory_map(cli, tmp_path):
    """A prepared corpus is memory-mapped: the backward model reads a reversed view of it."""
    text = tmp_path / "corpus.txt"
    text.write_text("".join(f"{LINES[i % 3]} number {i}\n" for i in range(400)))
    corpus = tmp_path / "corpus"
    assert cli("prep", text, "-o", corpus).exit_code == 0
    result = cli("train-lm", corpus, "--reverse", "--max-steps", "3", "--hidden", "16", "--layers", "1",
                 "--batch-size", "8", "--bptt", "16", "-q", "-o", tmp_path / "c.safetensors")
    assert result.exit_code == 0, result.stderr
    assert read_header(tmp_path / "c.safetensors", kind="lm")["config"]["reverse"] is True


def test_pages_of_a_reversed_view_are_the_ones_under_it():
    """release_pages hands back the pages a slice spans, whichever way the view runs."""
    from rnntool.text.corpus import page_span

    page = mmap.PAGESIZE
    data = np.zeros(8 * page // 4, np.int32)
    base = data.ctypes.data
    forward = data[page // 4: 3 * page // 4]  # bytes [page, 3 page)
    backward = data[::-1][len(data) - 3 * page // 4: len(data) - page // 4]  # the same items, reversed
    assert np.array_equal(np.sort(forward), np.sort(backward)) and backward.strides[0] < 0
    assert page_span(forward, base, page) == page_span(backward, base, page) == (page, 2 * page)
