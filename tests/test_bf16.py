"""The bf16 training path, run on purpose on any x86 CPU.

On a CPU with AVX512-BF16 or AMX, ``--precision auto`` trains in bf16 (torch autocast); on
others (this project's CI) it picks fp32, so without these tests the precision a user's
machine picks would be an untested one. Here the CPU is made to look like a bf16 one and
oneDNN is switched off: autocast then runs what it covers (the linear layers, the output
softmax) in bf16 on any CPU, emulated, while the recurrent layers stay in fp32 (only oneDNN
has bf16 LSTM/GRU kernels on CPUs)."""

import os
import signal

import numpy as np
import pytest
import torch

import rnntool
from helpers import cat_text
from rnntool.modelfile import load_model
from rnntool.train.checkpoint import load_checkpoint
from test_tagger import pos_corpus

pytestmark = pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setattr("rnntool.train.precision._cpu_has_bf16", lambda: True)
    monkeypatch.setattr("rnntool.train.precision._cpu_bf16_rnn_runs", lambda: True)
    with torch.backends.mkldnn.flags(enabled=False):
        yield


def spam_rows(n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        spam = rng.random() < 0.4
        words = ["win", "free", "cash", "prize", "now"] if spam else ["see", "you", "at", "home", "later"]
        rows.append(("spam" if spam else "ham") + "\t" + " ".join(rng.choice(words, int(rng.integers(2, 7)))))
    return "\n".join(rows) + "\n"


def train(kind: str, tmp_path, **options):
    events = []
    out = tmp_path / f"{kind}.safetensors"
    if kind == "lm":
        data = tmp_path / "cats.txt"
        data.write_text(cat_text(400))  # not a tiny text: tiny ones train in fp32 whatever the CPU
        result = rnntool.train_lm(data, out, level="char", layers=1, emb=16, hidden=32, bptt=16, batch_size=8,
                                  seed=1, on_event=events.append, remember=False, **options)
    elif kind == "tagger":
        data = tmp_path / "pos.txt"
        data.write_text(pos_corpus(200, 0))
        result = rnntool.train_tagger(data, out, word_emb=16, hidden=16, char_filters=8, lr=1e-2, seed=1,
                                      on_event=events.append, remember=False, **options)
    else:
        data = tmp_path / "spam.tsv"
        data.write_text(spam_rows(300, 0))
        result = rnntool.train_classifier(data, out, word_emb=16, hidden=16, char_filters=8, lr=1e-2, seed=1,
                                          on_event=events.append, remember=False, **options)
    return result, events


def test_auto_on_a_bf16_cpu_picks_bf16_for_language_models_only(bf16_cpu, tmp_path):
    """Measured per kind: taggers' and classifiers' small matrices train faster in fp32."""
    for kind in ("lm", "tagger", "classifier"):
        result, events = train(kind, tmp_path, max_steps=2)
        picked = "bf16" if kind == "lm" else "fp32"
        assert next(e for e in events if e["event"] == "start")["precision"] == picked, kind
        assert rnntool.info(result.model_path).header["training"]["precision"] == picked, kind


@pytest.mark.parametrize("kind", ["lm", "tagger", "classifier"])
def test_every_kind_trains_in_bf16(bf16_cpu, tmp_path, kind):
    # 8 epochs for the tagger: its defaults' dropout 0.4 and LM loss learn 200 sentences more slowly
    options = {"max_steps": 60} if kind == "lm" else {"epochs": 8 if kind == "tagger" else 4, "precision": "bf16"}
    result, events = train(kind, tmp_path, **options)  # the LM by auto's choice, the others asked for
    assert next(e for e in events if e["event"] == "start")["precision"] == "bf16"
    assert rnntool.info(result.model_path).header["training"]["precision"] == "bf16"
    model = load_model(result.model_path)
    assert {t.dtype for t in model.tensors.values()} == {np.dtype(np.float32)}  # files keep fp32 weights
    losses = [e["loss"] for e in events if e["event"] == "step"]
    assert all(np.isfinite(losses)) and np.mean(losses[-3:]) < losses[0]  # it learned, in bf16
    loaded = rnntool.load(result.model_path)  # the numpy runtime serves what bf16 trained
    if kind == "lm":
        assert loaded.score("the cat sat on the mat").ppl < loaded.vocab_size / 2  # well below a uniform guess
    elif kind == "tagger":
        assert [t.tag for t in loaded.tag("the cat sees a dog .").tokens][:3] == ["DET", "NOUN", "VERB"]
    else:
        assert loaded.classify("win free cash prize now").label == "spam"
        assert loaded.classify("see you at home later").label == "ham"


def test_a_bf16_run_interrupted_and_resumed_gives_the_uninterrupted_weights(bf16_cpu, tmp_path):
    data = tmp_path / "cats.txt"
    data.write_text(cat_text(400))
    options = dict(level="char", layers=1, emb=16, hidden=32, bptt=16, batch_size=8, seed=1, max_steps=40,
                   eval_every=10, remember=False)
    whole = rnntool.train_lm(data, tmp_path / "whole.safetensors", **options)

    def interrupt(event):
        if event["event"] == "step" and event["step"] == 17:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(rnntool.TrainingInterrupted) as stopped:
        rnntool.train_lm(data, tmp_path / "cut.safetensors", on_event=interrupt, **options)
    assert 17 <= load_checkpoint(stopped.value.result.checkpoint, "lm")["progress"]["step"] < 40  # stopped mid-run
    resumed = rnntool.train_lm(data, tmp_path / "cut.safetensors", resume=stopped.value.result.checkpoint,
                               remember=False)
    assert resumed.summary["steps"] == 40
    assert rnntool.info(resumed.model_path).header["training"]["precision"] == "bf16"
    a, b = load_model(whole.model_path).tensors, load_model(resumed.model_path).tensors
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    fp32 = rnntool.train_lm(data, tmp_path / "fp32.safetensors", **{**options, "precision": "fp32"})
    c = load_model(fp32.model_path).tensors
    assert any(not np.array_equal(a[name], c[name]) for name in a)  # bf16 arithmetic really ran
