import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import assert_one_line_error
from rnntool import __version__
from rnntool.errors import RnntoolError
from rnntool.kinds import BUNDLED_DIR, KINDS
from rnntool.modelfile import (FIRST_READER, FORMAT_PLAIN, HEADER_KEY, MIN_READER_FIELD, MODEL_FORMAT_VERSION,
                               OLDEST_READABLE_FORMAT, load_model, read_header, save_model)

NEWER = MODEL_FORMAT_VERSION + 1  # a format version no rnntool of today reads


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
    assert model.header["format_version"] == FORMAT_PLAIN  # the oldest format that holds float weights
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
    size = path.stat().st_size
    with pytest.raises(RnntoolError, match=f"truncated: {size - 10:,} of {size:,} bytes"):
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


# --- the model-file version policy (docs/stability.md) ---------------------------------------

BUNDLED_FILES = sorted(BUNDLED_DIR.glob("*.safetensors"))


def crafted(path, format_version, **fields):
    """A model file written as some other rnntool would write it: any format version and header."""
    from safetensors.numpy import save

    header = {"format": "rnntool-model", "format_version": format_version, "kind": "lm",
              "config": {"cell": "lstm", "hidden": 4}, "rnntool_version": "9.9.9", **fields}
    path.write_bytes(save({"emb.weight": np.zeros((3, 4), np.float32)}, metadata={HEADER_KEY: json.dumps(header)}))
    return path


def refusals(cli, path):
    """The messages load_model, read_header and `rnntool info` give for ``path`` (all must refuse it)."""
    messages = []
    for read in (load_model, read_header):
        with pytest.raises(RnntoolError) as e:
            read(path)
        messages.append(str(e.value))
    result = cli("info", path)
    assert_one_line_error(result, "format version")
    messages.append(result.stderr.strip().removeprefix("rnntool: error: "))
    return messages


def test_the_bundled_models_are_the_files_the_kinds_ship():
    assert BUNDLED_FILES == sorted(b.path for kind in KINDS.values() for b in kind.bundled)


@pytest.mark.parametrize("path", BUNDLED_FILES, ids=lambda p: p.stem)
def test_every_bundled_model_written_by_older_code_still_loads(path):
    header = read_header(path)
    assert header["format_version"] == 1 and OLDEST_READABLE_FORMAT <= 1 <= MODEL_FORMAT_VERSION
    model = load_model(path, kind=header["kind"])
    assert model.header == header and model.tensors
    runtime = KINDS[header["kind"]].load("runtime").load(path)
    assert runtime is not None


def test_a_new_file_records_the_oldest_rnntool_that_reads_it(tmp_path):
    path = tmp_path / "m.safetensors"
    make(path)
    header = read_header(path)
    assert header["format_version"] == FORMAT_PLAIN == 1
    assert header[MIN_READER_FIELD] == FIRST_READER[FORMAT_PLAIN]
    assert FIRST_READER[1] == "0.1.0"
    # every format this rnntool reads has its first reader recorded, none newer than this rnntool
    for version in range(OLDEST_READABLE_FORMAT, MODEL_FORMAT_VERSION + 1):
        assert tuple(map(int, FIRST_READER[version].split("."))) <= tuple(map(int, __version__.split(".")[:3]))


@pytest.mark.parametrize("format_version, fields, shown, needs", [
    (NEWER, {MIN_READER_FIELD: "0.9.0"}, str(NEWER), "rnntool 0.9.0 or newer"),
    (NEWER, {}, str(NEWER), "a newer rnntool"),  # a writer that did not record its first reader
    (NEWER, {MIN_READER_FIELD: "soon\nplease"}, str(NEWER), "a newer rnntool"),  # garbage is never shown
    ("x", {}, '"x"', "a newer rnntool"),
    (True, {}, "true", "a newer rnntool"),  # JSON true == 1 in Python: still not a version
    (1.0, {}, "1.0", "a newer rnntool"),
    (0, {}, "0", "a newer rnntool"),
    ([1] * 1000, {}, "<a JSON list>", "a newer rnntool"),
])
def test_a_newer_or_unknown_format_is_refused_in_one_line(cli, tmp_path, format_version, fields, shown, needs):
    path = crafted(tmp_path / "future.safetensors", format_version, **fields)
    messages = refusals(cli, path)
    assert messages[0] == messages[1] == messages[2], messages  # header-only and full load agree
    assert messages[0] == (f"{path} is model format version {shown}, which needs {needs} "
                           f"(this is rnntool {__version__}); upgrade with: pip install -U rnntool")


def test_a_readable_format_that_asks_for_a_newer_rnntool_is_refused(cli, tmp_path):
    path = crafted(tmp_path / "new-kind.safetensors", 1, **{MIN_READER_FIELD: "0.7.1"})
    messages = refusals(cli, path)
    assert messages[0] == messages[1] == messages[2]
    assert "format version 1, which needs rnntool 0.7.1 or newer" in messages[0]


@pytest.mark.parametrize("min_reader", ["0.1.0", "0.0.9", None, "garbage", 7, ["0.9.0"]])
def test_a_readable_format_with_an_older_or_garbled_first_reader_loads(tmp_path, min_reader):
    fields = {} if min_reader is None else {MIN_READER_FIELD: min_reader}
    path = crafted(tmp_path / "m.safetensors", 1, **fields)
    assert read_header(path)["format_version"] == 1
    assert load_model(path).tensors["emb.weight"].shape == (3, 4)


def test_after_a_format_bump_older_files_still_load(tmp_path, monkeypatch):
    """What bumping the format a writer uses to NEWER does to the check: every version up to
    it loads, the next does not."""
    import rnntool.modelfile as modelfile

    monkeypatch.setattr(modelfile, "MODEL_FORMAT_VERSION", NEWER)
    monkeypatch.setattr(modelfile, "FORMAT_PLAIN", NEWER)
    monkeypatch.setitem(modelfile.FIRST_READER, NEWER, __version__)
    *olds, new, newer = (crafted(tmp_path / f"v{v}.safetensors", v) for v in range(1, NEWER + 2))
    assert [load_model(old).header["format_version"] for old in olds] == list(range(1, NEWER))
    assert read_header(new)["format_version"] == NEWER
    with pytest.raises(RnntoolError, match=f"format version {NEWER + 1}, which needs a newer rnntool"):
        read_header(newer)
    make(tmp_path / "written.safetensors")
    assert read_header(tmp_path / "written.safetensors")[MIN_READER_FIELD] == __version__
