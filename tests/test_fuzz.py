"""Property-based tests of every reader: whatever bytes or text come in, the only
exception that may come out is RnntoolError (which the CLI turns into one line).

EXAMPLES examples per reader (hypothesis); inputs are drawn from bytes that stress
decoding (BOMs, CRLF, lone surrogates as UTF-8, NUL bytes, invalid UTF-8), tab- and
slash-rich lines for the tagged formats, and text built from the formats' own pieces."""

import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnntool.errors import RnntoolError

EXAMPLES = int(os.environ.get("RNNTOOL_FUZZ_EXAMPLES", "400"))
# derandomize: the same examples on every run, so CI never fails on a draw it cannot repeat
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

NASTY = [b"\xef\xbb\xbf", b"\xff\xfe", b"\r\n", b"\r", b"\x00", b"\xed\xa0\x80", b"\xc3", b"\xe2\x82",
         b"\t", b"\n", b"/", b" ", b"_", b"#", b"-", b'"', b",", b"{", b"}", b"__label__", b"1\t", b"\n\n"]
pieces = st.one_of(st.sampled_from(NASTY), st.binary(max_size=8),
                   st.text(max_size=8).map(lambda t: t.encode("utf-8", "surrogatepass")))
files = st.lists(pieces, max_size=40).map(b"".join)

# text in the shape of the formats, so the parsers get past their first checks
conllu_rows = st.lists(st.text(alphabet="1234567890-._\tabcDT ", max_size=40), max_size=12).map("\n".join)
tagged_lines = st.lists(st.text(alphabet="ab/NDT _\t.1", max_size=30), max_size=10).map("\n".join)
labelled_lines = st.lists(st.one_of(
    st.text(alphabet='ab\t,"{}:label_ 1\n', max_size=30),
    st.builds(lambda a, b: f'{{"text": {a!r}, "label": {b!r}}}', st.text(max_size=5), st.text(max_size=5)),
    st.builds(lambda a: f"__label__{a} text", st.text(alphabet="ab _", max_size=6)),
), max_size=10).map("\n".join)


def only_rnntool_errors(call):
    try:
        call()
    except RnntoolError as e:
        assert str(e) and "\n" not in str(e).strip(), repr(str(e))


def with_file(data: bytes, call, name="input.txt"):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        only_rnntool_errors(lambda: call(path))


@FUZZ
@given(files, st.sampled_from(["strict", "replace"]))
def test_text_decoding(data, errors):
    from rnntool.text.sources import TextSource

    with_file(data, lambda p: list(TextSource(p).pieces(errors, max_piece=16)))


@FUZZ
@given(st.one_of(files, conllu_rows.map(str.encode), tagged_lines.map(str.encode)),
       st.sampled_from(["auto", "conllu", "conll", "wordtag"]))
def test_tagged_readers(data, fmt):
    from rnntool.text.tagged import read_tagged

    with_file(data, lambda p: read_tagged(p, fmt, None, "replace"))


@FUZZ
@given(st.one_of(files, labelled_lines.map(str.encode)), st.sampled_from(["auto", "tsv", "fasttext", "csv", "jsonl"]),
       st.booleans())
def test_classifier_readers(data, fmt, labelled):
    from rnntool.text.labelled import LabelledFormat, read_examples

    with_file(data, lambda p: list(read_examples(p, LabelledFormat(fmt), "replace", labelled=labelled)))


@FUZZ
@given(st.one_of(files, labelled_lines.map(str.encode)), st.sampled_from([("1", None), (None, "text"), ("text", None)]))
def test_text_column_reader(data, column):
    from rnntool.text.labelled import column_texts
    from rnntool.text.sources import TextSource

    with_file(data, lambda p: list(column_texts(TextSource(p), *column, errors="replace")))


@FUZZ
@given(st.lists(st.text(max_size=12), max_size=4))
def test_meta_values(items):
    from rnntool.cli.common import parse_meta

    only_rnntool_errors(lambda: parse_meta(items))


@pytest.fixture(scope="module")
def generator():
    from rnntool.kinds import KINDS
    from rnntool.runtime.generate import GenerationOptions, Generator
    from rnntool.runtime.lm import LMRuntime

    lm = LMRuntime.load(KINDS["lm"].default_bundled.path)
    return Generator(lm, GenerationOptions(max_tokens=2, seed=0))


@FUZZ
@given(st.text(max_size=30))
def test_prompts(generator, prompt):
    only_rnntool_errors(lambda: generator.generate([prompt]))


@FUZZ
@given(st.one_of(st.text(max_size=60), st.text(alphabet="SimpleRNNLSTMGRUDense(),;=_ 0123456789'.[]", max_size=60)))
def test_keras_specs(spec):
    from rnntool.keras.spec import summarize

    only_rnntool_errors(lambda: summarize(spec))


# nested lists of numbers, ragged ones, and the odd value a JSON file can hold
json_values = st.recursive(
    st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
              st.text(max_size=3)),
    lambda inner: st.lists(inner, max_size=4), max_leaves=40)


@FUZZ
@given(json_values, st.sampled_from(["SimpleRNN(3)", "LSTM(2, return_sequences=True)",
                                     "Embedding(10, 4); GRU(2)", "Bidirectional(LSTM(2), input_shape=(3, 2))"]))
def test_layer_inputs(value, spec):
    import rnntool

    only_rnntool_errors(lambda: rnntool.layer(spec, value))


log_lines = st.lists(st.one_of(
    st.builds(lambda kind, step, loss: json_dumps({"event": kind, "step": step, "loss": loss}),
              st.sampled_from(["start", "step", "eval", "note", "end", 7]),
              st.one_of(st.integers(-5, 10**12), st.floats(), st.text(max_size=3), st.none()),
              st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3), st.none())),
    st.builds(lambda step: json_dumps({"event": "start", "resumed_at_step": step}),
              st.one_of(st.integers(-5, 50), st.text(max_size=2), st.none(), st.floats())),
    st.text(max_size=20)), max_size=12).map("\n".join)


def json_dumps(value) -> str:
    import json

    return json.dumps(value)


@FUZZ
@given(st.one_of(files, log_lines.map(str.encode)),
       st.sampled_from(["step", "tokens", "time"]), st.sampled_from(["loss", "ppl", "accuracy"]))
def test_plot_logs(data, x, y):
    from rnntool.curves import chart_series

    with_file(data, lambda p: chart_series([p], x, y), name="run.jsonl")
