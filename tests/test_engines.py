"""The onnxruntime engine (RNNTOOL_ENGINE=onnxruntime, the [fast] extra; under auto, the
default, long streams' scoring) against the numpy reference: every cell, one and two directions, one and two layers, sequences of any length;
and rnntool's own ONNX protobuf bytes against the onnx package's."""

from __future__ import annotations

import numpy as np
import pytest

import rnntool

from helpers import run_rnntool
from rnntool.runtime.cells import RNNStack

ort = pytest.importorskip("onnxruntime")


def random_stack(cell: str, layers: int, bidirectional: bool, inputs: int = 7, hidden: int = 5, seed: int = 0):
    from rnntool.arch import GATES

    rng = np.random.default_rng(seed)
    g = GATES[cell] * hidden
    weights = {}
    for layer in range(layers):
        width = inputs if layer == 0 else hidden * (2 if bidirectional else 1)
        for suffix in ([""] + (["_reverse"] if bidirectional else [])):
            for name, shape in (("weight_ih", (g, width)), ("weight_hh", (g, hidden)), ("bias_ih", (g,)),
                                ("bias_hh", (g,))):
                weights[f"{name}_l{layer}{suffix}"] = rng.uniform(-0.8, 0.8, shape).astype(np.float32)
    return RNNStack(cell, weights, layers, bidirectional=bidirectional)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "rnn-relu"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_onnxruntime_stack_equals_the_numpy_reference(cell, layers, bidirectional):
    from rnntool.runtime.ort import OrtStack

    stack = random_stack(cell, layers, bidirectional)
    lengths = np.array([4, 1, 6, 3])  # a reverse pass starts at each sequence's own end
    x = np.random.default_rng(1).standard_normal((6, 4, 7)).astype(np.float32)
    for b, n in enumerate(lengths):
        x[n:, b] = 0.0
    want, want_state = stack.forward(x, lengths=lengths)
    got, got_state = OrtStack(stack).run(x, lengths)
    np.testing.assert_allclose(got, want, atol=1e-5)  # zero past each sequence's end in both
    if cell == "lstm":
        np.testing.assert_allclose(got_state[0], want_state[0], atol=1e-5)
        np.testing.assert_allclose(got_state[1], want_state[1], atol=1e-5)
    else:
        np.testing.assert_allclose(got_state, want_state, atol=1e-5)


def test_auto_scores_long_streams_on_onnxruntime_and_everything_else_on_numpy(monkeypatch):
    from rnntool.errors import InputError
    from rnntool.runtime.ort import STREAM_AFTER, packed_engine, stream_engine

    for value in (None, "auto"):  # unset is auto
        if value is None:
            monkeypatch.delenv("RNNTOOL_ENGINE", raising=False)
        else:
            monkeypatch.setenv("RNNTOOL_ENGINE", value)
        assert packed_engine() == "numpy"
        assert stream_engine(STREAM_AFTER - 1) == "numpy"
        assert stream_engine(STREAM_AFTER) == "onnxruntime"
    monkeypatch.setenv("RNNTOOL_ENGINE", "numpy")
    assert packed_engine() == stream_engine(10 ** 9) == "numpy"
    monkeypatch.setenv("RNNTOOL_ENGINE", "onnxruntime")
    assert packed_engine() == stream_engine(1) == "onnxruntime"
    monkeypatch.setenv("RNNTOOL_ENGINE", "tensorrt")
    with pytest.raises(InputError, match="use one of: auto, numpy, onnxruntime"):
        packed_engine()


def test_one_engine_scores_a_whole_stream_chosen_from_its_first_window(monkeypatch):
    """A text of many windows is scored on one engine (chosen by the first, full window), and
    a text shorter than STREAM_AFTER on numpy; the figures agree with numpy's either way."""
    import rnntool.runtime.ort as ort_module
    import rnntool.runtime.scoring as scoring

    monkeypatch.delenv("RNNTOOL_ENGINE", raising=False)
    monkeypatch.setattr(scoring, "EVAL_WINDOW", 64)
    monkeypatch.setattr(ort_module, "STREAM_AFTER", 64)
    lm = rnntool.load("shakespeare-char")._runtime
    engines = []
    scored = lm.target_log_probs

    def spy(*args, engine=None, **kwargs):
        engines.append(engine)
        return scored(*args, engine=engine, **kwargs)

    monkeypatch.setattr(lm, "target_log_probs", spy)
    long_text = [("Now is the winter of our discontent", True)] * 6  # 216 tokens: 4 windows
    got = scoring.evaluate_pieces(lm, long_text)
    assert engines == ["onnxruntime"] * 4
    engines.clear()
    short = scoring.evaluate_pieces(lm, long_text[:1])  # 36 tokens: under STREAM_AFTER
    assert engines == ["numpy"]
    monkeypatch.setenv("RNNTOOL_ENGINE", "numpy")
    engines.clear()
    want = scoring.evaluate_pieces(lm, long_text)
    assert engines == ["numpy"] * 4
    assert got["tokens"] == want["tokens"] == 216 and short["tokens"] == 36
    assert got["loss"] == pytest.approx(want["loss"], abs=1e-5)


@pytest.mark.parametrize("command, model, text", [
    ("tag", "en-ewt-upos", "The quick brown fox jumps over the lazy dog.\nI saw her.\nA\nNew York's mayor met 3 people."),
    ("classify", "sms-spam", "WINNER!! Claim your prize now\nsee you at 5\nok"),
])
def test_commands_answer_the_same_on_either_engine(tmp_path, command, model, text):
    import json

    source = tmp_path / "in.txt"
    source.write_text(text + "\n")
    answers = {}
    for engine in ("numpy", "onnxruntime"):
        result = run_rnntool(command, "-m", model, source, "--format", "jsonl",
                             env={"RNNTOOL_ENGINE": engine})
        assert result.returncode == 0, result.stderr
        answers[engine] = [json.loads(line) for line in result.stdout.decode().splitlines()]
    a, b = answers["numpy"], answers["onnxruntime"]
    assert len(a) == len(b) >= len(text.splitlines())
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key, value in x.items():
            if isinstance(value, float) or (isinstance(value, list) and value and isinstance(value[0], float)):
                np.testing.assert_allclose(y[key], value, atol=1e-4)  # probabilities: float tolerance
            elif isinstance(value, dict):
                assert value.keys() == y[key].keys()
                np.testing.assert_allclose(list(y[key].values()), list(value.values()), atol=1e-4)
            else:
                assert y[key] == value, key  # tags, labels, tokens: the same


def test_score_and_eval_lm_give_the_same_figures_on_either_engine(tmp_path):
    """Lines of different lengths in one batch (each stops at its own length) and a text longer
    than one chunk of steps (the state carried from chunk to chunk)."""
    import json

    lines = tmp_path / "lines.txt"
    lines.write_text("To be, or not to be\nA\nWhat light through yonder window breaks? " * 3 + "\n")
    long_text = tmp_path / "long.txt"
    long_text.write_text("Now is the winter of our discontent made glorious summer by this sun of York.\n" * 8)
    got = {}
    for engine in ("numpy", "onnxruntime"):
        scored = run_rnntool("score", "shakespeare-char", lines, "--format", "jsonl", env={"RNNTOOL_ENGINE": engine})
        evaluated = run_rnntool("eval-lm", "shakespeare-char", long_text, "--json", env={"RNNTOOL_ENGINE": engine})
        assert scored.returncode == 0 and evaluated.returncode == 0, scored.stderr + evaluated.stderr
        got[engine] = ([json.loads(line)["logprob"] for line in scored.stdout.decode().splitlines()],
                       json.loads(evaluated.stdout)["loss"])
    assert len(got["numpy"][0]) == 7
    np.testing.assert_allclose(got["onnxruntime"][0], got["numpy"][0], rtol=1e-4, atol=1e-3)
    assert got["onnxruntime"][1] == pytest.approx(got["numpy"][1], abs=1e-5)


def test_the_onnxruntime_scorer_honours_lengths_and_states_for_every_cell():
    from rnntool.runtime.cells import RNNStack
    from rnntool.runtime.ort import OrtLanguageModel

    lm = rnntool.load("shakespeare-char")._runtime
    rng = np.random.default_rng(3)
    ids = rng.integers(0, len(lm.vocab), size=(9, 4))
    lengths = np.array([9, 1, 5, 7])
    lstm_state = tuple(rng.normal(size=s.shape).astype(np.float32) for s in lm.zero_state(4))
    for cell in ("lstm", "gru", "rnn"):
        state = lstm_state if cell == "lstm" else lstm_state[0]
        if cell != "lstm":  # the same shapes, another cell: weights cut from the LSTM's
            gates = {"gru": 3, "rnn": 1}[cell]
            lm.stack = RNNStack(cell, {k: (v[: gates * 256] if k.startswith("rnn.") else v)
                                       for k, v in lm.model_file.tensors.items()}, 2, prefix="rnn.")
        expected_h, expected_state = lm.stack.forward(lm.embedding[ids], state, lengths)
        expected = lm.log_probs(expected_h.reshape(36, -1)).reshape(9, 4, -1)
        got, got_state = OrtLanguageModel(lm).log_probs(ids, state, lengths)
        valid = np.arange(9)[:, None] < lengths[None, :]
        np.testing.assert_allclose(got[valid], expected[valid], atol=2e-4, rtol=1e-4, err_msg=cell)
        for a, b in zip(got_state if cell == "lstm" else [got_state],
                        expected_state if cell == "lstm" else [expected_state]):
            # each row's state at its own length (the cut weights are chaotic: rounding grows)
            np.testing.assert_allclose(a, b, atol=1e-3, err_msg=cell)


def test_the_onnxruntime_scorer_keeps_the_state_of_rows_that_ended_in_an_earlier_chunk(monkeypatch):
    """Chunks of 4 steps over rows of lengths 10, 2 and 6: a row that ended stays where it ended
    (the operator cannot take a length of 0), as on numpy."""
    lm = rnntool.load("shakespeare-char")._runtime
    rng = np.random.default_rng(5)
    ids, targets = (rng.integers(0, len(lm.vocab), size=(10, 3)) for _ in range(2))
    lengths = np.array([10, 2, 6])
    expected, expected_state = lm.target_log_probs(ids, targets, None, lengths, chunk=4)
    monkeypatch.setenv("RNNTOOL_ENGINE", "onnxruntime")
    got, got_state = lm.target_log_probs(ids, targets, None, lengths, chunk=4)
    valid = np.arange(10)[:, None] < lengths[None, :]
    np.testing.assert_allclose(got[valid], expected[valid], atol=2e-4)
    for a, b in zip(got_state, expected_state):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_onnx_bytes_parse_to_what_onnx_helper_makes():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from rnntool.runtime import onnx_proto as pb

    weights = np.arange(6, dtype=np.float32).reshape(2, 3)
    ours = pb.model([pb.node("LSTM", ["x", "W"], ["y"], hidden_size=5, direction="forward",
                             activations=["Tanh", "Relu"], perm=[0, 2, 1, 3], alpha=0.5)],
                    "g", [pb.value_info("x", pb.FLOAT, ["T", "B", 3])], [pb.value_info("y", pb.FLOAT)],
                    [pb.tensor("W", weights), pb.tensor("shape", np.array([0, -1], np.int64))])
    theirs = helper.make_model(
        helper.make_graph([helper.make_node("LSTM", ["x", "W"], ["y"], hidden_size=5, direction="forward",
                                            activations=["Tanh", "Relu"], perm=[0, 2, 1, 3], alpha=0.5)],
                          "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", "B", 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(weights, "W"),
                           numpy_helper.from_array(np.array([0, -1], np.int64), "shape")]),
        opset_imports=[helper.make_opsetid("", 17)], producer_name="rnntool", ir_version=8)
    parsed = onnx.ModelProto()
    parsed.ParseFromString(ours)
    assert parsed.graph == theirs.graph
    assert parsed.ir_version == 8 and [(o.domain, o.version) for o in parsed.opset_import] == [("", 17)]
    np.testing.assert_array_equal(numpy_helper.to_array(parsed.graph.initializer[1]), [0, -1])
