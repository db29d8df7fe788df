"""rnntool models and rnntool info: what there is, and what a model file records."""

import json
import subprocess
import sys

import pytest

from helpers import ROOT, assert_one_line_error
from rnntool.modelfile import load_model
from rnntool.userstate import locate, remember_latest

BUNDLED = {"shakespeare-char": "lm", "ko-novel": "lm", "en-ewt-upos": "tagger", "en-ewt-upos-accurate": "tagger",
           "en-ewt-xpos": "tagger",
           "sms-spam": "classifier", "ko-sentiment": "classifier"}


def test_models_lists_the_bundled_models_and_the_latest_of_each_kind(cli, tmp_path):
    listing = json.loads(cli("models", "--json").stdout)
    assert {b["name"]: b["kind"] for b in listing["bundled"]} == BUNDLED
    assert all(b["size"] > 0 and b["licence"] and b["trained_on"] for b in listing["bundled"])
    assert listing["latest"] == []  # a fresh user state
    remember_latest("classifier", locate("sms-spam"))
    remember_latest("tagger", tmp_path / "gone.safetensors")
    listing = json.loads(cli("models", "--json").stdout)
    latest = {m["kind"]: m for m in listing["latest"]}
    assert latest["classifier"]["exists"] and latest["classifier"]["metrics"]["valid"]["accuracy"] > 0.9
    assert latest["tagger"]["exists"] is False
    table = cli("models", env={"COLUMNS": "200"}).stdout
    for name in BUNDLED:
        assert name in table
    assert "missing" in table and "gone.safetensors" in table


def test_info_reads_everything_the_header_records(cli):
    path = locate("sms-spam")
    model = load_model(path, kind="classifier")
    full = json.loads(cli("info", "sms-spam", "--json").stdout)
    assert full["path"] == path and full["kind"] == "classifier"
    assert full["parameters"] == sum(t.size for t in model.tensors.values())
    assert full["config"]["labels"] == ["ham", "spam"]
    assert len(full["training"]["data_sha256"]) == 64 and "versions" in full["training"]
    text = cli("info", path).stdout
    first = text.splitlines()[0]
    assert first.startswith(f"{path}: classifier, {full['parameters']:,} parameters")
    assert "format rnntool-model v1" in first
    words = model.config["words"]
    assert f'"size": {len(words)}' in text and words[-1] not in text  # the vocabulary as its size and a sample
    assert "training configuration:" in text and "temperature:" in text


def test_info_refuses_what_is_not_a_model(cli, tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 64)
    assert_one_line_error(cli("info", junk), "damaged")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(open(locate("sms-spam"), "rb").read()[:100])  # header length says more than is there
    assert_one_line_error(cli("info", cut), "damaged")
    assert_one_line_error(cli("info", tmp_path / "none.safetensors"), "no such model file")
    assert_one_line_error(cli("info", tmp_path), "directory")


@pytest.mark.parametrize("args", [["models"], ["info", "en-ewt-upos"], ["plot", "--help"]])
def test_models_info_and_plot_help_import_neither_torch_nor_numpy(args):
    code = ("import sys\n"
            f"sys.argv = ['rnntool', *{args!r}]\n"
            "from rnntool.cli import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "sys.stderr.write(repr(sorted(m for m in ('torch', 'numpy') if m in sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("[]"), result.stderr
