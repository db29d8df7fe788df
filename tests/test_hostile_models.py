"""Hostile and damaged model files: each is one line naming the file and what is wrong,
from every command that reads models, and nothing is allocated beyond the file's size."""

import json
import struct

import numpy as np
import pytest

from helpers import assert_one_line_error
from rnntool.kinds import KINDS
from rnntool.modelfile import load_model, save_model

LM = KINDS["lm"].default_bundled.path
TAGGER = KINDS["tagger"].default_bundled.path
CLASSIFIER = KINDS["classifier"].bundled[0].path


def rewrite(source, target, header_change=None, tensor_change=None):
    """A copy of a bundled model with its header or tensors altered."""
    model = load_model(source)
    header = {k: v for k, v in model.header.items() if k != "kind"}
    tensors = dict(model.tensors)
    if header_change:
        header_change(header)
    if tensor_change:
        tensor_change(tensors)
    save_model(target, model.header["kind"], tensors, header)
    return target


def put(path, data: bytes):
    path.write_bytes(data)
    return path


def raw_safetensors(path, table: bytes, body: bytes = b""):
    path.write_bytes(struct.pack("<Q", len(table)) + table + body)
    return path


def commands_for(kind, path):
    return {"lm": [["generate", "-m", path, "-n", "3"], ["eval-lm", path, "-"], ["score", path, "-"]],
            "tagger": [["tag", "-m", path, "-"]], "classifier": [["classify", "-m", path, "-"]]}[kind] + \
        [["info", path], ["summary", path]]


def assert_refused_everywhere(cli, kind, path, fragment, header_only_ok=False):
    for args in commands_for(kind, path):
        result = cli(*args, input="hello world\n")
        if header_only_ok and args[0] in ("info", "summary"):
            # the header is sound and these two read nothing else (that is what makes them fast):
            # they describe it, and only loading the weights can tell what is wrong
            assert result.exit_code == 0, (args, result.stderr)
            shown = result.stdout
            assert (f"{path}: {kind if kind != 'lm' else 'language model'}" in shown if args[0] == "info"
                    else "Total params: " in shown), (args, shown)
            continue
        assert_one_line_error(result, fragment)
        assert str(path) in result.stderr, (args, result.stderr)


@pytest.mark.parametrize("name, build, fragment", [
    ("empty", lambda p: put(p, b""), "damaged"),
    ("random", lambda p: put(p, bytes(range(256)) * 4), "damaged"),
    ("longer-header-than-file", lambda p: put(p, struct.pack("<Q", 10 ** 12) + b"{}"), "damaged"),
    ("nested-table", lambda p: raw_safetensors(p, b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "damaged"),
    ("nested-header", lambda p: raw_safetensors(p, json.dumps({"__metadata__": {"rnntool": "[" * 100_000 + "]" * 100_000}})
                                                .encode()), "damaged rnntool header"),
    ("not-a-dict-header", lambda p: raw_safetensors(p, json.dumps({"__metadata__": {"rnntool": "[1, 2]"}}).encode()),
     "not an rnntool model"),
])
def test_broken_files_are_refused_in_one_line(cli, tmp_path, name, build, fragment):
    path = build(tmp_path / f"{name}.safetensors")
    assert_refused_everywhere(cli, "lm", path, fragment)


def test_nan_and_infinite_weights_are_refused(cli, tmp_path):
    def poison(tensors):
        w = tensors["decoder.bias"].copy()
        w[3] = np.nan
        tensors["decoder.bias"] = w

    path = rewrite(LM, tmp_path / "nan.safetensors", tensor_change=poison)
    assert_refused_everywhere(cli, "lm", path, "NaN or infinite weights (decoder.bias)", header_only_ok=True)
    inf = rewrite(TAGGER, tmp_path / "inf.safetensors",
                  tensor_change=lambda t: t.update({k: np.full_like(v, np.inf) for k, v in list(t.items())[:1]}))
    assert_refused_everywhere(cli, "tagger", inf, "NaN or infinite", header_only_ok=True)


@pytest.mark.parametrize("kind, source, change, fragment", [
    # tensors whose shapes disagree with the configuration
    ("lm", LM, lambda t: t.update({"decoder.weight": t["decoder.weight"][:, :10]}), "do not fit its configuration"),
    ("lm", LM, lambda t: t.pop("decoder.bias"), "do not fit its configuration"),
    ("tagger", TAGGER, lambda t: t.update({k: v[:, :3] for k, v in t.items() if k.endswith("weight_hh_l0")}),
     "do not fit its configuration"),
    ("classifier", CLASSIFIER, lambda t: t.update({k: v[:2] for k, v in t.items() if "word" in k and v.ndim == 2}),
     "do not fit its configuration"),
])
def test_tensors_that_disagree_with_the_configuration(cli, tmp_path, kind, source, change, fragment):
    path = rewrite(source, tmp_path / "bad.safetensors", tensor_change=change)
    assert_refused_everywhere(cli, kind, path, fragment, header_only_ok=True)


def test_vocabularies_with_duplicated_or_missing_entries(cli, tmp_path):
    def duplicate(header):
        header["vocab"]["tokens"][5] = header["vocab"]["tokens"][6]

    path = rewrite(LM, tmp_path / "dup.safetensors", header_change=duplicate)
    assert_refused_everywhere(cli, "lm", path, "duplicate tokens", header_only_ok=True)

    def shorten(header):
        del header["vocab"]["tokens"][-3:]
        del header["vocab"]["counts"][-3:]

    short = rewrite(LM, tmp_path / "short.safetensors", header_change=shorten)
    assert_refused_everywhere(cli, "lm", short, "embedding rows", header_only_ok=True)

    def twice(header):
        header["config"]["words"][7] = header["config"]["words"][8]

    tagger = rewrite(TAGGER, tmp_path / "words.safetensors", header_change=twice)
    assert_refused_everywhere(cli, "tagger", tagger, "lists an entry twice", header_only_ok=True)


def test_a_future_format_and_the_wrong_kind(cli, tmp_path):
    future = rewrite(LM, tmp_path / "future.safetensors", header_change=lambda h: h.update(format_version=99))
    assert_refused_everywhere(cli, "lm", future, "format version 99")
    assert_one_line_error(cli("tag", "-m", LM, "-", input="hi\n"), "is a language model")
    assert_one_line_error(cli("classify", "-m", TAGGER, "-", input="hi\n"), "needs a classifier")


@pytest.mark.parametrize("kind, source", [("lm", LM), ("tagger", TAGGER), ("classifier", CLASSIFIER)])
@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_a_file_cut_short_is_truncated_everywhere_with_its_length(cli, tmp_path, kind, source, keep):
    data = source.read_bytes()
    cut = put(tmp_path / f"cut-{kind}.safetensors", data[: int(len(data) * keep)])
    fragment = f"is truncated: {cut.stat().st_size:,} of {len(data):,} bytes"
    assert_refused_everywhere(cli, kind, cut, fragment)  # info and summary too: the header alone looks whole
    import rnntool

    for call in (lambda: rnntool.load(cut), lambda: rnntool.info(cut), lambda: rnntool.load(cut.read_bytes())):
        with pytest.raises(rnntool.ModelFileError, match="truncated"):
            call()


def test_models_lists_a_truncated_latest_model_with_its_problem(cli, tmp_path, monkeypatch):
    import rnntool
    from rnntool.userstate import remember_latest

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    cut = put(tmp_path / "latest.safetensors", CLASSIFIER.read_bytes()[:-10])
    remember_latest("classifier", str(cut))
    entry = next(e for e in rnntool.models()["latest"] if e["kind"] == "classifier")
    assert "truncated" in entry["problem"]
    result = cli("models")
    assert result.exit_code == 0 and "truncated" in result.output


def test_a_tensor_with_offsets_that_are_not_numbers_is_damaged(cli, tmp_path):
    table = json.dumps({"__metadata__": {}, "w": {"dtype": "F32", "shape": [1], "data_offsets": ["0", 4]}}).encode()
    path = raw_safetensors(tmp_path / "odd.safetensors", table, b"\0" * 4)
    assert_refused_everywhere(cli, "lm", path, "damaged")
