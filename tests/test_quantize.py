"""rnntool quantize: int8 (per-row scales) and float16 weights in a smaller file that loads as
any other, measured on dev data before it is written (and refused past the bounds), recorded
in the header, refused by an rnntool too old to read it; bad input is a one-line error."""

import json
import pickle

import numpy as np
import pytest

import rnntool
from helpers import assert_one_line_error, cat_text, ner_sentences, tiny_ner_tagger
from rnntool import quantization
from rnntool.modelfile import FORMAT_QUANTIZED, load_model, tensor_count
from rnntool.quantization import SCALE_SUFFIX, dequantize, quantize_tensors

SMS = ["Win a FREE prize now! Call 0800 123 456 to claim", "are we still on for lunch tomorrow?",
       "URGENT: your account is locked, reply with your PIN", "ok see you at 6"]


def test_int8_rows_round_to_their_own_scale():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(64, 100)).astype(np.float32) * rng.uniform(0.01, 3, size=(64, 1)).astype(np.float32)
    w[5] = 0.0  # a padding row
    tensors = {"big": w, "bias": rng.normal(size=64).astype(np.float32), "small": w[:8, :8].copy(),
               "ids": np.arange(5, dtype=np.int64)}
    stored, lowered = quantize_tensors(tensors, "int8")
    assert lowered == ["big"] and stored["big"].dtype == np.int8
    assert stored["big"].min() >= -127 and stored["big"].max() <= 127
    assert set(stored) == {*tensors, "big" + SCALE_SUFFIX}
    back = dequantize({"quantized": {"weights": "int8"}}, stored)
    assert set(back) == set(tensors)  # the scales are not weights
    step = np.abs(w).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(back["big"] - w) <= step / 2 + 1e-7)  # each row within half its own step
    assert np.abs(back["big"] - w).max() > 0  # it did round
    assert np.all(back["big"][5] == 0)
    for name in ("bias", "small"):  # vectors and small matrices are kept exactly
        assert back[name].dtype == np.float32 and np.array_equal(back[name], tensors[name])
    assert back["ids"].dtype == np.int64 and np.array_equal(back["ids"], tensors["ids"])


def test_fp16_halves_every_float_tensor():
    w = np.linspace(-2, 2, 6000, dtype=np.float32).reshape(60, 100)
    stored, lowered = quantize_tensors({"w": w, "b": w[0]}, "fp16")
    assert lowered == ["w", "b"] and stored["w"].dtype == np.float16
    back = dequantize({"quantized": {"weights": "fp16"}}, stored)
    assert back["w"].dtype == np.float32 and np.allclose(back["w"], w, rtol=1e-3, atol=1e-4)


def test_a_quantized_classifier_is_smaller_and_answers_alike(tmp_path):
    out = tmp_path / "spam.int8.safetensors"
    result = rnntool.quantize("sms-spam", out)
    assert result.path == out and out.stat().st_size == result.bytes_after
    assert result.bytes_after < 0.6 * result.bytes_before and result.measured is None
    header = load_model(out).header
    assert header["format_version"] == FORMAT_QUANTIZED and header["min_rnntool_version"] == "0.2.0"
    assert header["quantized"]["weights"] == "int8" and header["quantized"]["tensors"] == result.tensors > 0
    assert tensor_count(out) == tensor_count(rnntool.info("sms-spam").path)  # the scales are not parameters
    before, after = rnntool.load("sms-spam"), rnntool.load(out)
    a, b = before.classify(SMS), after.classify(SMS)
    assert [x.label for x in a] == [x.label for x in b]
    assert max(abs(x.probability - y.probability) for x, y in zip(a, b)) < 0.02
    # it pickles as the small file it is, and comes back quantized
    data = pickle.dumps(after)
    assert len(data) < result.bytes_after + 1000
    assert [x.label for x in pickle.loads(data).classify(SMS)] == [x.label for x in b]


def test_measured_on_dev_data_and_recorded(tmp_path, cli):
    dev = tmp_path / "dev.tsv"
    dev.write_text("".join(f"{'spam' if i % 2 == 0 else 'ham'}\t{t}\n" for i, t in enumerate(SMS * 5)))
    out = tmp_path / "spam.safetensors"
    result = cli("quantize", "sms-spam", "--dev", dev, "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    measured = shown["measured"]
    assert measured["metric"] == "accuracy" and measured["data"] == "dev.tsv" and measured["within"] is True
    assert measured["cost"] == pytest.approx(measured["fp32"] - measured["quantized"])
    assert measured["fp32"] == rnntool.evaluate("sms-spam", str(dev)).accuracy
    assert "with int8" in result.stderr and "bytes" in result.stderr
    assert load_model(out).header["quantized"]["measured"] == measured
    info = cli("info", out)
    assert "quantized weights" in info.stdout and '"within": true' in info.stdout


def test_past_the_bound_nothing_is_written(tmp_path, cli, monkeypatch):
    dev = tmp_path / "dev.tsv"
    dev.write_text("".join(f"ham\t{t}\n" for t in SMS))
    monkeypatch.setattr(quantization, "MAX_ACCURACY_DROP", -1.0)  # any result breaks it
    out = tmp_path / "spam.safetensors"
    result = cli("quantize", "sms-spam", "--dev", dev, "-o", out, "-q")
    assert_one_line_error(result, "nothing written")
    assert "--weights fp16" in result.stderr and not out.exists()


def test_a_tagger_measures_entity_f1_and_tags_alike(tmp_path):
    model = tiny_ner_tagger(tmp_path)
    dev = tmp_path / "dev.conll"
    dev.write_text(ner_sentences(30, 7))
    result = rnntool.quantize(model, tmp_path / "ner.fp16.safetensors", weights="fp16", dev=str(dev))
    assert result.measured["metric"] == "entity_f1" and result.measured["within"]
    text = "Alice Smith went to New York ."
    tags = lambda m: [t.tag for s in rnntool.load(m).tag([text.split()])[0].sentences for t in s.tokens]  # noqa: E731
    assert tags(result.path) == tags(model)


def test_a_language_model_measures_its_loss(tmp_path):
    text = tmp_path / "cats.txt"
    text.write_text(cat_text(300))
    lm = rnntool.train_lm(text, tmp_path / "lm.safetensors", level="char", hidden=64, emb=16, max_steps=30,
                          seed=1, remember=False).model_path
    dev = tmp_path / "dev.txt"
    dev.write_text(cat_text(20))
    result = rnntool.quantize(lm, tmp_path / "lm.int8.safetensors", dev=str(dev))
    m = result.measured
    assert m["metric"] == "loss" and m["bound"] == 0.01 and m["within"]
    assert m["cost"] == pytest.approx(m["quantized"] - m["fp32"])  # a loss may only rise so far
    assert m["quantized"] == pytest.approx(rnntool.evaluate(result.path, str(dev)).loss)
    first = rnntool.load(result.path).generate_text("the ", max_tokens=20, seed=3)
    assert first == rnntool.load(result.path).generate_text("the ", max_tokens=20, seed=3)  # reproducible


def test_an_older_rnntool_refuses_a_quantized_file(tmp_path, monkeypatch):
    out = rnntool.quantize("sms-spam", tmp_path / "q.safetensors").path
    from rnntool import modelfile

    monkeypatch.setattr(modelfile, "__version__", "0.1.0")
    with pytest.raises(rnntool.ModelFileError, match="needs rnntool 0.2.0 or newer"):
        load_model(out)


def test_bad_requests_are_one_line_errors(tmp_path, cli):
    quantized = tmp_path / "q.safetensors"
    assert cli("quantize", "sms-spam", "-o", quantized).exit_code == 0
    assert_one_line_error(cli("quantize", quantized, "-o", tmp_path / "again.safetensors"), "quantized already")
    assert_one_line_error(cli("quantize", "sms-spam", "--weights", "int4", "-o", tmp_path / "x.safetensors"),
                          "unknown --weights")
    assert_one_line_error(cli("quantize", "sms-spam", "--column", "3", "--dev", tmp_path / "d.tsv"),
                          "--column reads a tagger's")
    assert_one_line_error(cli("quantize", quantized, "-o", quantized), "quantized already")
    copy = tmp_path / "spam.safetensors"
    copy.write_bytes(rnntool.info("sms-spam").path.read_bytes())
    assert_one_line_error(cli("quantize", copy, "-o", copy), "is the model itself")
    assert not (tmp_path / "x.safetensors").exists()


def test_a_damaged_scale_table_is_refused(tmp_path):
    from rnntool.modelfile import ModelFile, model_bytes

    out = rnntool.quantize("sms-spam", tmp_path / "q.safetensors").path
    model = load_model(out)
    stored = {k: v for k, v in model.stored.items() if not k.endswith(SCALE_SUFFIX)}
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(model_bytes(ModelFile(model.header, stored, None, stored=stored)))
    with pytest.raises(rnntool.ModelFileError, match="no scales"):
        rnntool.load(broken)


@pytest.mark.parametrize("shape", [(0, 4), (5,), ()])
def test_an_int8_tensor_of_no_rows_is_refused(shape):
    stored = {"w": np.zeros(shape, np.int8), "w" + SCALE_SUFFIX: np.ones(shape[:1], np.float32)}
    with pytest.raises(rnntool.ModelFileError, match="no scales of its shape"):
        dequantize({"quantized": {"weights": "int8"}}, stored)
    with pytest.raises(rnntool.ModelFileError, match="unknown kind"):
        dequantize({"quantized": {"weights": "int4"}}, stored)
