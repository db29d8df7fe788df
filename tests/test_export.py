"""rnntool export: a language model as ONNX, run by onnxruntime, gives the numpy runtime's
log-probabilities and states, for every cell and both softmaxes, with the state carried
between calls; the header rides along; other kinds and bad outputs are one-line errors."""

import json

import numpy as np
import pytest

import rnntool
from helpers import assert_one_line_error, cat_text
from rnntool.onnx_export import export

ort = pytest.importorskip("onnxruntime", reason="running the exported graph needs the [fast] extra")


@pytest.fixture(scope="module")
def small_lms(tmp_path_factory):
    """Tiny language models of every cell, one with the adaptive softmax and one tied."""
    d = tmp_path_factory.mktemp("lms")
    text = d / "cats.txt"
    text.write_text(cat_text(200))
    made = {}
    for name, options in {"gru-adaptive": dict(cell="gru", level="word", softmax="adaptive", layers=2),
                          "rnn-tied": dict(cell="rnn", level="char", tie=True, emb=16, layers=1),
                          "relu": dict(cell="rnn-relu", level="char", layers=2)}.items():
        options = {"hidden": 16, "emb": 8, "bptt": 8, "batch_size": 4, **options}
        made[name] = rnntool.train_lm(text, d / f"{name}.safetensors", max_steps=3, seed=1, remember=False,
                                      **options).model_path
    return made


def numpy_run(runtime, ids: np.ndarray, state=None):
    h, state = runtime.hidden(ids, state)
    T, B, H = h.shape
    return runtime.log_probs(h.reshape(T * B, H)).reshape(T, B, -1), state


def onnx_run(session, ids: np.ndarray, state):
    lstm = isinstance(state, tuple)
    feed = {"tokens": ids.astype(np.int64), "h0": state[0] if lstm else state}
    if lstm:
        feed["c0"] = state[1]
    out = session.run(None, feed)
    return out[0], ((out[1], out[2]) if lstm else out[1])


@pytest.mark.parametrize("name", ["shakespeare-char", "gru-adaptive", "rnn-tied", "relu"])
def test_the_onnx_graph_gives_the_numpy_runtimes_log_probs_and_states(small_lms, tmp_path, name):
    source = small_lms.get(name, name)
    path = export(source, tmp_path / "m.onnx")
    runtime = rnntool.load(source)._runtime
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    ids = rng.integers(0, len(runtime.vocab), size=(12, 3))  # 12 steps of 3 streams
    expected, expected_state = numpy_run(runtime, ids, runtime.zero_state(3))
    # in two calls, the state fed back: what a generating client does
    first, state = onnx_run(session, ids[:5], runtime.zero_state(3))
    second, state = onnx_run(session, ids[5:], state)
    got = np.concatenate([first, second])
    assert got.shape == (12, 3, len(runtime.vocab))
    np.testing.assert_allclose(got, expected, atol=2e-4, rtol=1e-4)
    np.testing.assert_allclose(np.exp(got).sum(-1), 1.0, atol=1e-4)  # normalised, adaptive softmax too
    for a, b in zip(state if isinstance(state, tuple) else (state,),
                    expected_state if isinstance(expected_state, tuple) else (expected_state,)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_the_header_rides_along_and_the_vocabulary_turns_text_into_ids(tmp_path):
    path = export("shakespeare-char", tmp_path / "s.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    header = json.loads(session.get_modelmeta().custom_metadata_map["rnntool"])
    assert header == rnntool.info("shakespeare-char").header
    itos = header["vocab"]["tokens"]
    ids = np.array([[itos.index(c)] for c in "ROMEO"])
    lm = rnntool.load("shakespeare-char")
    zeros = lm._runtime.zero_state(1)
    log_probs, _ = onnx_run(session, ids, zeros)
    # the log-probability of "ROMEO"'s last four letters, as rnntool's scorer sees them
    onnx_total = sum(float(log_probs[t, 0, ids[t + 1, 0]]) for t in range(4))
    numpy_lp, _ = lm._runtime.target_log_probs(ids[:-1], ids[1:], lm._runtime.zero_state(1))
    assert onnx_total == pytest.approx(float(numpy_lp.sum()), abs=1e-3)


def test_onnx_checks_the_graph(tmp_path):
    onnx = pytest.importorskip("onnx", reason="the onnx package is a dev dependency")
    onnx.checker.check_model(onnx.load(str(export("shakespeare-char", tmp_path / "s.onnx"))), full_check=True)


def test_cli_export_writes_the_file_and_prints_its_path(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("export", "shakespeare-char")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "shakespeare-char.onnx\n" and (tmp_path / "shakespeare-char.onnx").stat().st_size > 1e6
    named = cli("export", "shakespeare-char", "-o", tmp_path / "x.onnx", "--format", "onnx")
    assert named.exit_code == 0 and named.stdout == f"{tmp_path / 'x.onnx'}\n"


def test_what_cannot_be_exported_is_a_one_line_error(cli, tmp_path):
    assert_one_line_error(cli("export", "sms-spam", "-o", tmp_path / "c.onnx"), "only language models")
    assert_one_line_error(cli("export", "en-ewt-upos", "-o", tmp_path / "t.onnx"), "only language models")
    assert_one_line_error(cli("export", "shakespeare-char", "--format", "tflite", "-o", tmp_path / "x"),
                          "unknown format 'tflite'")
    assert_one_line_error(cli("export", tmp_path / "missing.safetensors", "-o", tmp_path / "m.onnx"),
                          "no such model file")
    assert_one_line_error(cli("export", "shakespeare-char", "-o", tmp_path / "no" / "m.onnx"), "does not exist")
    assert_one_line_error(cli("export", "shakespeare-char", "-o", tmp_path / "m.safetensors"), "ending .onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, nothing left half-written


def test_export_imports_neither_torch_nor_onnx(tmp_path):
    import subprocess
    import sys

    from helpers import ROOT

    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "rnntool", "export", "shakespeare-char", "-o",
                           str(tmp_path / "s.onnx")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "torch" not in imported and "onnx" not in imported and "onnxruntime" not in imported
