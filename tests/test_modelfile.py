import json
import subprocess
import sys

import numpy as np
import pytest

from rnntool.errors import RnntoolError
from rnntool.modelfile import HEADER_KEY, MODEL_FORMAT_VERSION, load_model, read_header, save_model


def make(path, kind="lm", **extra):
    tensors = {"emb.weight": np.arange(12, dtype=np.float32).reshape(3, 4), "bias": np.ones(4, np.float32)}
    header = {"config": {"cell": "lstm", "hidden": 4}, "vocab": {"tokens": ["<pad>", "<unk>", "<eos>"]}, **extra}
    save_model(path, kind, tensors, header)
    return tensors


def test_round_trip_header_and_weights(tmp_path):
    path = tmp_path / "m.safetensors"
    tensors = make(path, training={"command": "rnntool train-lm x"})
    model = load_model(path, kind="lm")
    assert model.kind == "lm"
    assert model.config == {"cell": "lstm", "hidden": 4}
    assert model.header["format_version"] == MODEL_FORMAT_VERSION
    assert model.header["training"]["command"] == "rnntool train-lm x"
    for name, array in tensors.items():
        np.testing.assert_array_equal(model.tensors[name], array)
    assert read_header(path)["vocab"]["tokens"][0] == "<pad>"


def test_file_is_plain_safetensors_readable_without_rnntool(tmp_path):
    path = tmp_path / "m.safetensors"
    make(path)
    from safetensors.numpy import load_file
    from safetensors import safe_open

    assert set(load_file(str(path))) == {"emb.weight", "bias"}
    with safe_open(str(path), framework="np") as f:
        assert json.loads(f.metadata()[HEADER_KEY])["kind"] == "lm"


def test_wrong_kind_unknown_version_and_damage_are_clear_errors(tmp_path):
    path = tmp_path / "m.safetensors"
    make(path, kind="tagger")
    with pytest.raises(RnntoolError, match="is a tagger, but this command needs a language model"):
        load_model(path, kind="lm")

    from safetensors.numpy import save_file

    future = tmp_path / "future.safetensors"
    save_file({"a": np.zeros(1, np.float32)}, str(future),
              metadata={HEADER_KEY: json.dumps({"format": "rnntool-model", "format_version": 99, "kind": "lm"})})
    with pytest.raises(RnntoolError, match="format version 99"):
        load_model(future)

    foreign = tmp_path / "foreign.safetensors"
    save_file({"a": np.zeros(1, np.float32)}, str(foreign))
    with pytest.raises(RnntoolError, match="not an rnntool model"):
        load_model(foreign)

    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(RnntoolError, match="damaged"):
        load_model(truncated)

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(RnntoolError, match="not an rnntool model file or is damaged"):
        load_model(garbage)
    with pytest.raises(RnntoolError, match="no such model file"):
        load_model(tmp_path / "missing.safetensors")


def test_interrupted_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    make(path)
    before = path.read_bytes()
    import rnntool.fsutil as fsutil

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(fsutil.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        make(path, training={"new": True})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # temp file cleaned up


def test_loading_a_model_does_not_import_torch(tmp_path):
    path = tmp_path / "m.safetensors"
    make(path)
    code = f"import sys; from rnntool.modelfile import load_model; load_model({str(path)!r}); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
