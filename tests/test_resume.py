"""Exact resume from any point: before, at and after validations, into early stopping,
with a spent budget, for language models and taggers, in-process and through the CLI."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from helpers import cat_text, run_rnntool
from rnntool.errors import RnntoolError
from rnntool.modelfile import load_model, read_header
from rnntool.text.corpus import PrepOptions
from rnntool.train.checkpoint import load_checkpoint
from rnntool.train.lm import train_lm
from rnntool.train.tagger import train_tagger

TEXT = cat_text()
LM_MODEL = dict(layers=1, emb=8, hidden=16, dropout=0.2)
LM_TRAIN = dict(bptt=8, batch_size=4, lr=1e-2, epochs=3, precision="fp32")
LM_STEPS_PER_EPOCH = 118  # 4 streams of the 90% training part, windows of 8
NOUNS = ["cat", "dog", "bird", "fish", "Paris", "Alice"]


def tagged_corpus(n, seed):
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        words = ["the", *rng.choice(NOUNS, 1), "sees", "a", *rng.choice(NOUNS, 1)][: int(rng.integers(2, 6))]
        tags = ["DET", "NOUN", "VERB", "DET", "NOUN"][: len(words)]
        lines.append(" ".join(f"{w}/{t}" for w, t in zip(words, tags)))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    (d / "text.txt").write_text(TEXT)
    (d / "train.txt").write_text(tagged_corpus(150, 0))
    (d / "dev.txt").write_text(tagged_corpus(20, 1))
    return d


def stop_at(step):
    """should_stop is asked once per step on CPU: stop after ``step`` steps."""
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] == step

    return should_stop


def lm(data, out, **kw):
    train = {**LM_TRAIN, **kw.pop("train", {})}
    return train_lm(str(data / "text.txt"), out, model_options=LM_MODEL, train_options=train, **kw)


def tagger(data, out, **kw):
    train = {"epochs": 4, "lr": 1e-2, "batch_size": 8, "precision": "fp32", **kw.pop("train", {})}
    return train_tagger(str(data / "train.txt"), out, dev_spec=str(data / "dev.txt"),
                        model_options=dict(word_emb=8, hidden=8, char_filters=4), train_options=train, **kw)


def assert_same_weights(a, b):
    ta, tb = load_model(a).tensors, load_model(b).tensors
    assert ta.keys() == tb.keys()
    for name in ta:
        np.testing.assert_array_equal(ta[name], tb[name], err_msg=name)


@pytest.fixture(scope="module")
def lm_reference(data):
    return lm(data, data / "lm-full.safetensors")


@pytest.fixture(scope="module")
def tagger_reference(data):
    return tagger(data, data / "tagger-full.safetensors")


# before any validation, exactly at the first validation, just after it (mid-epoch), at the
# last step of the run (the final validation still to come)
@pytest.mark.parametrize("step", [3, LM_STEPS_PER_EPOCH, LM_STEPS_PER_EPOCH + 7, 3 * LM_STEPS_PER_EPOCH - 1])
def test_lm_resumed_is_bit_identical_to_uninterrupted(data, lm_reference, tmp_path, step):
    full, full_path = lm_reference
    assert full["steps"] == 3 * LM_STEPS_PER_EPOCH
    part, path = lm(data, tmp_path / "m.safetensors", should_stop=stop_at(step))
    assert part["stop_reason"] == "interrupted" and part["steps"] == step
    ckpt = tmp_path / "m.ckpt"
    state = load_checkpoint(ckpt, "lm")
    assert state["progress"]["step"] == step and state["world_size"] == 1
    assert state["progress"]["last_eval_step"] == (-1 if step < LM_STEPS_PER_EPOCH else
                                                   LM_STEPS_PER_EPOCH * (step // LM_STEPS_PER_EPOCH))
    assert (state["best_weights"] is None) == (step < LM_STEPS_PER_EPOCH)
    resumed, _ = train_lm(str(data / "text.txt"), path, resume=ckpt)
    assert resumed["steps"] == full["steps"] and resumed["valid"] == full["valid"]
    assert [h["valid_loss"] for h in resumed["history"]] == [h["valid_loss"] for h in full["history"]]
    assert_same_weights(full_path, path)
    assert not ckpt.exists()


@pytest.mark.parametrize("step", [2, 21, 25])  # 21 steps an epoch: before, at and after the first validation
def test_tagger_resumed_is_bit_identical_to_uninterrupted(data, tagger_reference, tmp_path, step):
    full, full_path = tagger_reference
    assert full["steps"] == 84  # 4 epochs of 21 batches (4 lengths, batches of 8)
    part, path = tagger(data, tmp_path / "t.safetensors", should_stop=stop_at(step))
    assert part["steps"] == step
    resumed, _ = train_tagger(str(data / "train.txt"), path, resume=tmp_path / "t.ckpt")
    assert resumed["valid"] == full["valid"] and resumed["steps"] == 84
    assert_same_weights(full_path, path)


def test_resume_with_a_spent_budget_writes_the_best_model_and_its_test_metrics(cli, data, tmp_path):
    corpus = tmp_path / "c.corpus"
    assert cli("prep", data / "text.txt", "-o", corpus, "--valid-frac", "0.1", "--test-frac", "0.1", "-q").exit_code == 0
    out = tmp_path / "m.safetensors"
    part, _ = train_lm(str(corpus), out, model_options=LM_MODEL, train_options=LM_TRAIN, should_stop=stop_at(130))
    steps_per_epoch = part["history"][0]["step"]
    assert part["steps"] == 130 and len(part["history"]) == 1  # interrupted after the first validation
    assert steps_per_epoch < 130
    for budget in (["--max-steps", "130"], ["--max-steps", "5"], ["--max-time", "0.01"]):  # all spent
        ckpt = tmp_path / "m.ckpt"
        if not ckpt.exists():  # each case resumes the same interruption
            train_lm(str(corpus), out, model_options=LM_MODEL, train_options=LM_TRAIN, should_stop=stop_at(130))
        result = cli("train-lm", corpus, "-o", out, "--resume", ckpt, *budget, "--json", "-q")
        assert result.exit_code == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["steps"] == 130 and summary["stop_reason"] in ("finished", "time budget reached")
        assert len(summary["valid"]) == 3 and set(summary["test"]) == {"loss", "ppl", "bpc"}
        # the run's last steps were validated once more at the end: two evaluations in all
        header = read_header(out)
        assert [h["step"] for h in header["training"]["history"]] == [steps_per_epoch, 130]
        assert header["training"]["metrics"]["test"] == summary["test"]
        assert not ckpt.exists()


def test_resume_into_early_stopping(data, tmp_path, monkeypatch):
    """Every validation after the first is worse; patience lowered on resume stops at once."""
    import rnntool.train.lm as recipe

    losses = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    monkeypatch.setattr(recipe, "stream_loss", lambda *a, **k: next(losses))
    out = tmp_path / "m.safetensors"
    part, _ = lm(data, out, train={"patience": 5, "eval_every": 20}, should_stop=stop_at(45))
    assert [h["valid_loss"] for h in part["history"]] == [1.0, 2.0]  # at steps 20 and 40
    resumed, _ = train_lm(str(data / "text.txt"), out, resume=tmp_path / "m.ckpt", train_options={"patience": 1})
    assert resumed["stop_reason"] == "early stop: no improvement in 1 evaluations"
    assert resumed["steps"] == 45 and resumed["valid"]["loss"] == 1.0
    assert len(resumed["history"]) == 3  # the steps after the last validation were validated once
    model = load_model(out)
    assert model.header["training"]["metrics"]["valid"]["loss"] == 1.0
    assert model.header["training"]["metrics"]["stop_reason"].startswith("early stop")


def test_resume_refuses_changed_settings_and_other_data(data, tmp_path):
    out = tmp_path / "m.safetensors"
    lm(data, out, should_stop=stop_at(10))
    ckpt = tmp_path / "m.ckpt"
    with pytest.raises(RnntoolError, match="--lr \\(checkpoint: 0.01\\)"):
        train_lm(str(data / "text.txt"), out, resume=ckpt, train_options={"lr": 0.5})
    with pytest.raises(RnntoolError, match="keeps its model; drop --hidden"):
        train_lm(str(data / "text.txt"), out, resume=ckpt, model_options={"hidden": 32})
    other = tmp_path / "other.txt"
    other.write_text(TEXT.replace("cat", "dog"))
    with pytest.raises(RnntoolError, match="trained on different data"):
        train_lm(str(other), out, resume=ckpt)
    with pytest.raises(RnntoolError, match="is a language model checkpoint; this command resumes tagger"):
        train_tagger(str(data / "train.txt"), out, resume=ckpt)
    assert ckpt.exists()  # refusing to resume changes nothing


def test_pickled_code_in_a_checkpoint_is_refused(tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.ckpt"
    torch.save({"format": "rnntool-checkpoint", "version": 2, "kind": "lm", "payload": Boom()}, path,
               pickle_module=pickle)
    with pytest.raises(RnntoolError, match="not an rnntool training checkpoint or is damaged"):
        load_checkpoint(path, "lm")


def test_sigint_after_the_first_validation_then_resume_equals_one_run(data, tmp_path):
    args = ["train-lm", data / "text.txt", "--layers", "1", "--emb", "8", "--hidden", "16", "--bptt", "8",
            "--batch-size", "4", "--epochs", "6", "--precision", "fp32", "--seed", "5", "-q"]
    reference = run_rnntool(*args, "-o", tmp_path / "ref.safetensors", text=True)
    assert reference.returncode == 0, reference.stderr
    log = tmp_path / "log.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "rnntool", *map(str, args), "-o", str(tmp_path / "m.safetensors"),
                             "--log", str(log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and '"event": "eval"' in log.read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "saving a checkpoint" in stderr and "Traceback" not in stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e["event"] == "eval" for e in events)
    interrupted_at = [e for e in events if e["event"] == "step"][-1]["step"]
    assert interrupted_at < 6 * LM_STEPS_PER_EPOCH
    resumed = run_rnntool(*args, "-o", tmp_path / "m.safetensors", "--resume", tmp_path / "m.ckpt", "--log", log,
                          text=True)
    assert resumed.returncode == 0, resumed.stderr
    starts = [json.loads(line) for line in log.read_text().splitlines() if '"event": "start"' in line]
    assert [s["resumed_at_step"] for s in starts] == [0, interrupted_at]
    assert_same_weights(tmp_path / "ref.safetensors", tmp_path / "m.safetensors")


def test_classifier_resumed_is_bit_identical_to_uninterrupted(tmp_path):
    from rnntool.train.classifier import train_classifier

    rng = np.random.default_rng(0)
    rows = []
    for _ in range(320):  # a dev tenth of 32 texts: enough to fit a temperature (30)
        label = "pos" if rng.random() < 0.5 else "neg"
        words = ["good", "great", "fine"] if label == "pos" else ["bad", "awful", "poor"]
        rows.append(f"{label}\t" + " ".join(rng.choice(words + ["film", "the"], int(rng.integers(2, 7)))))
    data = tmp_path / "train.tsv"
    data.write_text("\n".join(rows) + "\n")

    def run(out, **kw):
        return train_classifier(str(data), out, model_options=dict(word_emb=8, hidden=8, char_filters=4, dropout=0.3),
                                train_options={"epochs": 3, "lr": 1e-2, "batch_size": 16}, **kw)

    full, full_path = run(tmp_path / "full.safetensors")
    assert full["steps"] == 54 and "calibration" in full  # 3 epochs of 18 batches
    part, path = run(tmp_path / "c.safetensors", should_stop=stop_at(20))  # after the first validation
    assert part["steps"] == 20 and len(part["history"]) == 1
    resumed, _ = train_classifier(str(data), path, resume=tmp_path / "c.ckpt")
    assert resumed["valid"] == full["valid"] and resumed["calibration"] == full["calibration"]
    assert_same_weights(full_path, path)
    assert read_header(path)["config"]["temperature"] == read_header(full_path)["config"]["temperature"]


def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(tmp_path):
    """Two runs writing one -o would interleave model and checkpoint writes: the second is
    refused at once, and the first's files are untouched; once the first ends, -o is free."""
    import subprocess
    import sys
    import time

    from helpers import ROOT, assert_one_line_error, run_rnntool

    text = tmp_path / "t.txt"
    text.write_text("".join(f"the cat number {i % 7} sat on the mat\n" for i in range(400)))
    out = tmp_path / "m.safetensors"
    base = ["train-lm", str(text), "--emb", "8", "--hidden", "8", "--batch-size", "4", "--bptt", "8", "-o", str(out), "-q"]
    args = [*base, "--max-time", "60"]
    first = subprocess.Popen([sys.executable, "-m", "rnntool", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "m.safetensors.lock").exists():
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() < deadline, "the first run did not start within 60 s"
            time.sleep(0.05)
        second = run_rnntool(*args, cwd=ROOT)
        assert_one_line_error(second, f"(pid {first.pid}) is writing")
    finally:
        first.send_signal(2)  # SIGINT: the first run stops cleanly and saves
        try:
            first.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            first.kill()
            raise
    assert first.returncode == 0
    assert not (tmp_path / "m.safetensors.lock").exists()
    assert run_rnntool(*base, "--max-steps", "2", cwd=ROOT).returncode == 0


def test_a_killed_run_leaves_no_claim_on_its_output(tmp_path):
    import subprocess
    import sys

    from helpers import ROOT

    target = tmp_path / "m.safetensors"
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from rnntool.fsutil import OutputLock; "
                               f"lock = OutputLock({str(target)!r}); print('held', flush=True); time.sleep(60)"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    from rnntool.errors import RnntoolError
    from rnntool.fsutil import OutputLock

    try:
        with pytest.raises(RnntoolError, match="another training run"):
            OutputLock(target)
    finally:
        holder.kill()  # SIGKILL: no cleanup runs, the lock file stays behind
        holder.wait()
    assert (tmp_path / "m.safetensors.lock").exists()
    lock = OutputLock(target)  # the kernel released the dead process's lock
    lock.release()
    assert not (tmp_path / "m.safetensors.lock").exists()


def test_a_tiny_text_resumes_in_its_one_stream_per_line_layout(tmp_path):
    """A tiny text trains one line per stream; the layout is in the checkpoint's config, so
    a resumed run lays the text out the same way and ends with the uninterrupted weights."""
    from rnntool.text.tokenize import TokenizerSettings

    text = tmp_path / "tiny.txt"
    text.write_text("I love you\nyou love me\nwe are a happy family\n")
    common = dict(prep=PrepOptions(settings=TokenizerSettings("word")), model_options=dict(layers=1, emb=8, hidden=16),
                  train_options={"epochs": 40, "precision": "fp32"})
    whole, _ = train_lm(str(text), tmp_path / "a.safetensors", **common)
    train_lm(str(text), tmp_path / "b.safetensors", **common, should_stop=stop_at(25))
    assert load_checkpoint(tmp_path / "b.ckpt", "lm")["train_config"]["line_streams"] is True
    resumed, _ = train_lm(str(text), tmp_path / "b.safetensors", resume=tmp_path / "b.ckpt")
    assert whole["steps"] == resumed["steps"] == 40
    assert_same_weights(tmp_path / "a.safetensors", tmp_path / "b.safetensors")


def test_padded_line_streams_count_only_real_targets():
    """One stream per line pads the short lines: the loss reported (training and validation)
    is the mean over the real targets, and padding changes nothing."""
    from rnntool.arch import LMConfig
    from rnntool.nn.lm import PAD_ID, LMModule, LMWindow, StateCarry
    from rnntool.train.batching import LMStreams
    from rnntool.train.distributed import Distributed
    from rnntool.train.lm import stream_loss

    torch.manual_seed(0)
    model = LMModule(LMConfig(vocab_size=12, layers=1, emb=4, hidden=8)).eval()
    rows = np.array([[2, 5, 6, 7, 2], [2, 8, 2, PAD_ID, PAD_ID], [2, 9, 10, 11, 2]])
    flat = rows.reshape(-1)
    real = 4 + 2 + 4
    with torch.no_grad():
        x = torch.tensor(rows.T[:-1]), torch.tensor(rows.T[1:])
        summed = float(model(LMWindow(x[0], x[1], StateCarry(), norm=1)))
        # the same two lines without padding give the same summed loss: padding is ignored
        short = float(model(LMWindow(torch.tensor([[2], [8]]), torch.tensor([[8], [2]]), StateCarry(), norm=1)))
        rest = float(model(LMWindow(torch.tensor(rows[[0, 2]].T[:-1]), torch.tensor(rows[[0, 2]].T[1:]),
                                    StateCarry(), norm=1)))
        assert summed == pytest.approx(short + rest, rel=1e-5)
        assert stream_loss(model, flat, 3, 4, torch.device("cpu")) == pytest.approx(summed / real, rel=1e-5)
    streams = LMStreams(flat, 3, 4, Distributed(), padded=True)
    assert streams.batch(0, 0).norm == real
    assert LMStreams(flat, 3, 4, Distributed()).batch(0, 0).norm == 12
