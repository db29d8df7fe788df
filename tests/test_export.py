"""rnntool export: a language model as ONNX, run by onnxruntime, gives the numpy runtime's
log-probabilities and states, for every cell and both softmaxes, with the state carried
between calls; a tagger its emissions (and CRF), a classifier its logits and calibrated
probabilities, for every cell, pooling, direction and feature set; the header rides along;
what cannot be exported and bad outputs are one-line errors."""

import json

import numpy as np
import pytest

import rnntool
from helpers import assert_one_line_error, cat_text, ner_sentences
from rnntool.onnx_export import export
from rnntool.runtime.tagger import decode_tokens

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


@pytest.mark.parametrize("name", ["shakespeare-char", "sms-spam", "en-ewt-upos"])
def test_onnx_checks_the_graph(tmp_path, name):
    onnx = pytest.importorskip("onnx", reason="the onnx package is a dev dependency")
    onnx.checker.check_model(onnx.load(str(export(name, tmp_path / "s.onnx"))), full_check=True)


def test_cli_export_writes_the_file_and_prints_its_path(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("export", "shakespeare-char")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "shakespeare-char.onnx\n" and (tmp_path / "shakespeare-char.onnx").stat().st_size > 1e6
    named = cli("export", "shakespeare-char", "-o", tmp_path / "x.onnx", "--format", "onnx")
    assert named.exit_code == 0 and named.stdout == f"{tmp_path / 'x.onnx'}\n"


def test_what_cannot_be_exported_is_a_one_line_error(cli, tmp_path):
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


# --- taggers and classifiers ------------------------------------------------------------------

TEXTS = ["the cat sat on the mat", "a dog ran", "cats", "THE Cat SAT 42 times on 3.5 mats !",
         "an unseen zebra-like word appeared", "a-word-longer-than-the-character-cnn-reads-" * 3]
CLASSIFIER = dict(hidden=12, word_emb=8, char_filters=6, max_steps=3, seed=1, precision="fp32", min_word_freq=1)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    d = tmp_path_factory.mktemp("labelled")
    rows = [f"{'pos' if i % 2 else 'neg'}\t{line}" for i, line in enumerate(cat_text(60).splitlines())]
    (d / "train.tsv").write_text("\n".join(rows) + "\n")
    multi = [f"{'a,b' if i % 3 == 0 else 'a' if i % 3 == 1 else 'b'}\t{line}"
             for i, line in enumerate(cat_text(60).splitlines())]
    (d / "multi.tsv").write_text("\n".join(multi) + "\n")
    (d / "ner.conll").write_text(ner_sentences(60, 0))
    return d


def run_graph(path, model, token_lists, names):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(names, rnntool.onnx_feed(model, token_lists))


@pytest.mark.parametrize("options", [
    dict(pool="max", cell="lstm"),
    dict(pool="mean", cell="gru", bidirectional=False, case_emb=0),
    dict(pool="last", cell="lstm", layers=2),
    dict(pool="last", cell="rnn", bidirectional=False),
    dict(pool="attention", cell="rnn-relu", char_filters=0),
    dict(pool="attention", cell="lstm", layers=2, case_emb=4),
    dict(pool="mean", cell="lstm", char_filters=0, case_emb=0)], ids=lambda o: "-".join(map(str, o.values())))
def test_a_classifier_graph_gives_the_runtimes_logits_and_probabilities(labelled, tmp_path, options):
    model = rnntool.train_classifier(labelled / "train.tsv", tmp_path / "c.safetensors", **{**CLASSIFIER, **options})
    runtime = rnntool.load(model.model_path)._runtime
    token_lists = [runtime.tokens(t) for t in TEXTS]
    logits, probs = run_graph(export(model.model_path, tmp_path / "c.onnx"), model.model_path,
                              token_lists, ["logits", "probabilities"])
    np.testing.assert_allclose(logits, runtime.logits(token_lists), atol=1e-5)
    np.testing.assert_allclose(probs, runtime.probabilities(token_lists), atol=1e-5)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    # a text alone gives what it gives beside longer ones: padding changes nothing
    alone = run_graph(tmp_path / "c.onnx", model.model_path, token_lists[2:3], ["logits"])[0]
    np.testing.assert_allclose(alone[0], logits[2], atol=1e-5)


def test_a_classifier_started_from_a_language_model_reads_words_as_written(labelled, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(cat_text(60))
    lm = rnntool.train_lm(text, tmp_path / "lm.safetensors", level="word", hidden=12, emb=8, max_steps=3, seed=1,
                          precision="fp32", remember=False)
    model = rnntool.train_classifier(labelled / "train.tsv", tmp_path / "c.safetensors", init_from=str(lm.model_path),
                                     max_steps=3, seed=1, precision="fp32")
    runtime = rnntool.load(model.model_path)._runtime
    assert not runtime.cfg.normalize_words and not runtime.cfg.char_filters
    token_lists = [runtime.tokens(t) for t in TEXTS]
    (probs,) = run_graph(export(model.model_path, tmp_path / "c.onnx"), model.model_path, token_lists,
                         ["probabilities"])
    np.testing.assert_allclose(probs, runtime.probabilities(token_lists), atol=1e-5)


def test_a_multilabel_classifier_graph_gives_independent_calibrated_probabilities(labelled, tmp_path):
    model = rnntool.train_classifier(labelled / "multi.tsv", tmp_path / "m.safetensors", label_sep=",", **CLASSIFIER)
    runtime = rnntool.load(model.model_path)._runtime
    assert runtime.cfg.multilabel
    token_lists = [runtime.tokens(t) for t in TEXTS]
    (probs,) = run_graph(export(model.model_path, tmp_path / "m.onnx"), model.model_path,
                         token_lists, ["probabilities"])
    np.testing.assert_allclose(probs, runtime.probabilities(token_lists), atol=1e-5)


@pytest.mark.parametrize("crf", [True, False], ids=["crf", "softmax"])
def test_a_tagger_graph_gives_the_runtimes_emissions_and_the_same_tags(labelled, tmp_path, crf):
    model = rnntool.train_tagger(labelled / "ner.conll", tmp_path / "t.safetensors", crf=crf, hidden=12, word_emb=8,
                                 char_filters=6, max_steps=5, seed=1, precision="fp32", layers=2 if crf else 1)
    runtime = rnntool.load(model.model_path)._runtime
    token_lists = [t.split() for t in ["Alice Smith went to Paris .", "Bob went to New York and London today .",
                                       "Zoë"]]
    names = ["emissions", "transitions", "start", "end"] if crf else ["emissions"]
    got = run_graph(export(model.model_path, tmp_path / "t.onnx"), model.model_path, token_lists,
                    names)
    emissions, lengths = runtime.emissions(token_lists)
    inside = np.arange(emissions.shape[1])[None, :] < lengths[:, None]
    onnx_emissions = got[0].transpose(1, 0, 2)  # [T, B, K] -> [B, T, K]
    np.testing.assert_allclose(onnx_emissions[inside], emissions[inside], atol=1e-5)
    if crf:
        for value, expected in zip(got[1:], runtime.crf):
            np.testing.assert_array_equal(value, expected)
    # decoding the graph's scores with the CRF it carries gives rnntool's tags
    crf_given = tuple(got[1:]) if crf else None
    ids, _ = decode_tokens(onnx_emissions[inside], lengths, crf_given)
    assert [runtime.tags[i] for i in ids] == [t for tags in runtime.tag(token_lists)[0] for t in tags]


def test_the_bundled_tagger_and_classifiers_export_and_agree(tmp_path):
    for name, texts in {"en-ewt-upos": ["The quick brown fox jumps over the lazy dog .", "Hi !"],
                        "sms-spam": ["WINNER!! claim your free prize now", "ok see you at 5"],
                        "ko-sentiment": ["진짜 재밌어요 최고의 영화", "시간 낭비"]}.items():
        runtime = rnntool.load(name)._runtime
        path = export(name, tmp_path / f"{name}.onnx")
        if name == "en-ewt-upos":
            token_lists = [t.split() for t in texts]
            (emissions,) = run_graph(path, name, token_lists, ["emissions"])
            expected, lengths = runtime.emissions(token_lists)
            for b, n in enumerate(lengths):
                np.testing.assert_allclose(emissions[:n, b], expected[b, :n], atol=1e-5)
        else:
            token_lists = [runtime.tokens(t) for t in texts]
            (probs,) = run_graph(path, name, token_lists, ["probabilities"])
            np.testing.assert_allclose(probs, runtime.probabilities(token_lists), atol=1e-5)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert json.loads(session.get_modelmeta().custom_metadata_map["rnntool"]) == rnntool.info(name).header


def test_the_feed_splits_text_as_the_model_reads_it_and_refuses_what_a_graph_cannot_read(tmp_path):
    spam = rnntool.load("sms-spam")
    tokens = spam._runtime.tokens("WINNER!! claim your prize")
    text_feed, token_feed = rnntool.onnx_feed(spam, ["WINNER!! claim your prize"]), rnntool.onnx_feed(spam, [tokens])
    assert text_feed.keys() == token_feed.keys() and all((text_feed[k] == token_feed[k]).all() for k in text_feed)
    assert text_feed["lengths"].tolist() == [len(tokens)]
    tagger_feed = rnntool.onnx_feed("en-ewt-upos", ["Don't stop.", ["Do", "n't"]])
    assert tagger_feed["lengths"].tolist() == [4, 2]  # Do n't stop .
    with pytest.raises(rnntool.InputError, match="2 sentences"):
        rnntool.onnx_feed("en-ewt-upos", ["He left. She came."])
    long_text = " ".join(["word"] * (spam._runtime.cfg.max_length + 5))
    assert rnntool.onnx_feed(spam, [long_text, long_text.split()])["lengths"].tolist() == [spam._runtime.cfg.max_length] * 2
    with pytest.raises(rnntool.InputError, match="at least one token"):
        rnntool.onnx_feed(spam, [["hello"], []])
    with pytest.raises(rnntool.InputError, match="a list of texts"):
        rnntool.onnx_feed(spam, "hello")
    with pytest.raises(rnntool.WrongKindError, match="token ids"):
        rnntool.onnx_feed("shakespeare-char", ["hello"])
