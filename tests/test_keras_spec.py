"""Keras-syntax specs: `summary --spec` counts and shapes, `rnntool layer` outputs.

Counts are held to arithmetic written out here (Keras: one bias vector per gate,
GRU reset_after=True two); layer outputs to torch's own modules with the weights
mapped by hand below, and to values computed by hand for one step.
"""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from helpers import assert_one_line_error
from rnntool.errors import RnntoolError
from rnntool.keras.forward import explain, first_recurrent, make_weights, run
from rnntool.keras.spec import summarize


def counts(spec):
    return [(layer.name, layer.output_shape, layer.params) for layer in summarize(spec)]


def test_tutorial_counts_follow_the_arithmetic():
    # SimpleRNN(3) on 10 features: W_x 10*3 + W_h 3*3 + b 3 = 42
    assert counts("SimpleRNN(3, input_shape=(2, 10))") == [("simple_rnn", (None, 3), 42)]
    assert counts("SimpleRNN(3, batch_input_shape=(8, 2, 10))") == [("simple_rnn", (8, 3), 42)]
    assert counts("SimpleRNN(3, batch_input_shape=(8, 2, 10), return_sequences=True)")[0][1] == (8, 2, 3)
    # the quiz: Embedding 5000*100 = 500,000; SimpleRNN 128*(100+128)+128 = 29,312; Dense 128*1+1 = 129
    layers = counts("Embedding(5000, 100); SimpleRNN(128); Dense(1, activation='sigmoid')")
    assert layers == [("embedding", (None, None, 100), 500_000), ("simple_rnn", (None, 128), 29_312),
                      ("dense", (None, 1), 129)]
    # deep RNN: 8*(5+8)+8 = 112, then 8*(8+8)+8 = 136
    deep = counts("SimpleRNN(8, input_length=10, input_dim=5, return_sequences=True);"
                  "SimpleRNN(8, return_sequences=True)")
    assert deep == [("simple_rnn", (None, 10, 8), 112), ("simple_rnn_1", (None, 10, 8), 136)]
    # bidirectional: two copies of 112, outputs concatenated to 16
    assert counts("Bidirectional(SimpleRNN(8, return_sequences=True), input_shape=(10, 5))") == [
        ("bidirectional", (None, 10, 16), 224)]
    # LSTM: 4 gates * (3*(5+3) + 3) = 108; GRU (reset_after): 3*3*(5+3) + 2*3*3 = 90; without: 81
    assert counts("LSTM(3, input_shape=(4, 5))")[0][2] == 108
    assert counts("GRU(3, input_shape=(4, 5))")[0][2] == 90
    assert counts("GRU(3, input_shape=(4, 5), reset_after=False)")[0][2] == 81
    assert counts("SimpleRNN(3, input_shape=(2, 10), use_bias=False)")[0][2] == 39
    # many-to-many tagger: BiLSTM 2*4*(8*(10+8)+8) = 1,216; TimeDistributed Dense 16*5+5 = 85
    tagger = counts("Embedding(1000, 10, input_length=4); Bidirectional(LSTM(8, return_sequences=True));"
                    "TimeDistributed(Dense(5, activation='softmax'))")
    assert tagger == [("embedding", (None, 4, 10), 10_000), ("bidirectional", (None, 4, 16), 1_216),
                      ("time_distributed", (None, 4, 5), 85)]


def test_return_state_shapes_are_lists():
    assert counts("LSTM(3, return_state=True, input_shape=(4, 5))")[0][1] == [(None, 3), (None, 3), (None, 3)]
    assert counts("SimpleRNN(3, return_sequences=True, return_state=True, input_shape=(4, 5))")[0][1] == [
        (None, 4, 3), (None, 3)]
    assert counts("Bidirectional(LSTM(8, return_state=True), input_shape=(10, 5))")[0][1] == [
        (None, 16), (None, 8), (None, 8), (None, 8), (None, 8)]


def test_pasted_tutorial_code_reads_as_a_spec():
    code = """
        from tensorflow.keras.models import Sequential
        from tensorflow.keras.layers import SimpleRNN, Embedding, Dense
        vocab_size = 5000
        hidden_units = 2 * 64
        model = Sequential()
        model.add(Embedding(vocab_size, 100))
        model.add(tf.keras.layers.SimpleRNN(hidden_units))
        model.add(Dense(1, activation='sigmoid'))
        model.summary()
    """
    assert [c[2] for c in counts(code)] == [500_000, 29_312, 129]
    assert [c[2] for c in counts("Sequential([Input(shape=(2, 10)), SimpleRNN(3)])")] == [42]


@pytest.mark.parametrize("spec, fragment", [
    ("SimpleRNN(3)", "needs its input size"),
    ("SimpleRNN(3, input_shape=(2, 10)); SimpleRNN(3)", "set return_sequences=True"),
    ("SimpleRNN(3, input_shape=(2, 10)); TimeDistributed(Dense(2))", "return_sequences=True"),
    ("LSTM(3, return_state=True, input_shape=(2, 3)); Dense(1)", "only the last layer"),
    ("SimpleRNN(3, input_shape=(2, 10), units=4)", "given twice"),
    ("SimpleRNN(3, input_shape=(2, 10), foo=1)", "no argument 'foo'"),
    ("Conv1D(3)", "unknown layer Conv1D"),
    ("SimpleRNN(hidden, input_shape=(2, 10))", "unknown name 'hidden'"),
    ("SimpleRNN(0, input_shape=(2, 10))", "positive whole number"),
    ("SimpleRNN(3, input_shape=(2, 10)", "not Keras call syntax"),
    ("Dense(2, kernel_initializer='nope', input_shape=(3,))", "unknown initializer"),
    ("Bidirectional(Dense(2), input_shape=(3, 4))", "wraps a recurrent layer"),
    ("Dropout(1.5)", "rate must be in [0, 1)"),
    ("", "no layers"),
])
def test_specs_keras_would_reject_get_one_line_errors(cli, spec, fragment):
    assert_one_line_error(cli("summary", "--spec", spec), fragment)


def test_spec_is_never_executed(cli, tmp_path):
    marker = tmp_path / "pwned"
    for spec in (f"__import__('os').system('touch {marker}')", f"open({str(marker)!r}, 'w')",
                 f"SimpleRNN(3, input_shape=(2, 10), name=__import__('os').system('touch {marker}'))"):
        result = cli("summary", "--spec", spec)
        assert result.exit_code == 1
    assert not marker.exists()


def test_summary_table_and_json(cli):
    table = cli("summary", "--spec", "Embedding(5000, 100); SimpleRNN(128); Dense(1, activation='sigmoid')")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0] == 'Model: "sequential"'
    assert "embedding (Embedding)" in table.stdout and "(None, None, 100)" in table.stdout
    assert "Total params: 529,441" in lines
    doc = json.loads(cli("summary", "--spec", "LSTM(3, return_state=True, input_shape=(4, 5))", "--json").stdout)
    assert doc == {"layers": [{"name": "lstm", "type": "LSTM", "output_shape": [[None, 3], [None, 3], [None, 3]],
                               "params": 108}], "total_params": 108}
    # a spec never changes what a model file reports, and the old flags refuse what they cannot describe
    assert_one_line_error(cli("summary", "--bidirectional"), "--classes")


def sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


def layer_outputs(spec, x, seed=0):
    layers = summarize(spec)
    return {o.name: o.value for o in run(layers, make_weights(layers, seed), np.asarray(x))}


def test_constant_initialised_layers_match_hand_computed_steps():
    x = [[[1.0, 2.0], [0.5, -1.0]]]
    const = "kernel_initializer=Constant(0.1), recurrent_initializer=Constant(0.1)"
    # SimpleRNN: h1 = tanh(0.1*(1+2)) = tanh(0.3); h2 = tanh(0.1*(0.5-1) + 0.1*3*h1)
    out = layer_outputs(f"SimpleRNN(3, return_sequences=True, return_state=True, {const}, input_shape=(2, 2))", x)
    h1 = math.tanh(0.3)
    h2 = math.tanh(-0.05 + 0.3 * h1)
    np.testing.assert_allclose(out["hidden states"][0], [[h1] * 3, [h2] * 3], atol=1e-6)
    np.testing.assert_allclose(out["last state"], [[h2] * 3], atol=1e-6)
    # LSTM, zero biases but unit_forget_bias: f has bias 1. One step from zero state:
    out = layer_outputs(f"LSTM(2, return_state=True, {const}, input_shape=(1, 2))", [[[1.0, 2.0]]])
    a = 0.3
    c = sigmoid(a) * math.tanh(a)  # f * c0 vanishes
    h = sigmoid(a) * math.tanh(c)
    np.testing.assert_allclose(out["last state"], [[h, h]], atol=1e-6)
    np.testing.assert_allclose(out["last cell state"], [[c, c]], atol=1e-6)
    # second step shows the forget gate's bias of one: f = sigmoid(0.1*0 + 0.1*2h + 1)
    out = layer_outputs(f"LSTM(2, return_state=True, {const}, input_shape=(2, 2))", [[[1.0, 2.0], [0.0, 0.0]]])
    pre = 0.1 * 2 * h
    c2 = sigmoid(pre + 1.0) * c + sigmoid(pre) * math.tanh(pre)
    np.testing.assert_allclose(out["last cell state"], [[c2, c2]], atol=1e-6)
    # GRU (reset_after): z = r = sigmoid(0.3 + 0.1*bias); h~ = tanh(0.3 + r*0); h = (1 - z) * h~
    out = layer_outputs(f"GRU(2, {const}, bias_initializer=Constant(0.5), input_shape=(1, 2))", [[[1.0, 2.0]]])
    z = sigmoid(0.3 + 0.5 + 0.5)
    r = z
    cand = math.tanh(0.3 + 0.5 + r * 0.5)
    np.testing.assert_allclose(out["hidden state"], [[(1 - z) * cand] * 2], atol=1e-6)


def to_torch(cls, w, units, suffix=""):
    """Keras kernels [in, gates*units] -> torch weight_ih [gates*units, in]; GRU z,r,h -> r,z,n."""
    import torch

    def order(m):
        if cls != "GRU":
            return m
        z, r, h = (m[..., k * units:(k + 1) * units] for k in range(3))
        return np.concatenate([r, z, h], axis=-1)

    bias = w["bias"]
    b_ih, b_hh = (bias[0], bias[1]) if cls == "GRU" else (bias, np.zeros_like(bias))
    return {f"weight_ih_l0{suffix}": torch.tensor(order(w["kernel"]).T.copy()),
            f"weight_hh_l0{suffix}": torch.tensor(order(w["recurrent_kernel"]).T.copy()),
            f"bias_ih_l0{suffix}": torch.tensor(order(b_ih).copy()),
            f"bias_hh_l0{suffix}": torch.tensor(order(b_hh).copy())}


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_layer_outputs_match_torch_modules(cls, bidirectional):
    torch = pytest.importorskip("torch")
    rnn = f"{cls}(4, return_sequences=True, return_state=True, bias_initializer=RandomNormal(stddev=0.5))"
    spec = f"Bidirectional({rnn}, input_shape=(6, 3))" if bidirectional else rnn[:-1] + ", input_shape=(6, 3))"
    layers = summarize(spec)
    weights = make_weights(layers, seed=3)
    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype(np.float32)
    ours = [o.value for o in run(layers, weights, x)]
    module = {"SimpleRNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[cls](
        3, 4, batch_first=True, bidirectional=bidirectional)
    state = to_torch(cls, weights[0]["forward"], 4)
    if bidirectional:
        state.update(to_torch(cls, weights[0]["backward"], 4, "_reverse"))
    module.load_state_dict(state)
    with torch.no_grad():
        out, final = module(torch.tensor(x))
    h, c = final if cls == "LSTM" else (final, None)
    np.testing.assert_allclose(ours[0], out.numpy(), atol=1e-5)
    expected_states = []
    for d in range(2 if bidirectional else 1):
        expected_states.append(h[d].numpy())
        if c is not None:
            expected_states.append(c[d].numpy())
    assert len(ours) == 1 + len(expected_states)
    for got, want in zip(ours[1:], expected_states):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
def test_explain_steps_end_where_the_runtime_ends(cls):
    spec = f"Embedding(20, 4, input_length=5); {cls}(3, return_state=True)"
    layers = summarize(spec)
    weights = make_weights(layers, seed=1)
    x = np.array([[1, 5, 7, 19, 0]])
    last = {o.name: o.value for o in run(layers, weights, x)}["last state"]
    layer, w, inner = first_recurrent(layers, weights, x)
    steps = explain(layer.recurrent, w, inner)
    assert len(steps) == 5
    np.testing.assert_allclose(steps[-1]["h"], last[0], atol=1e-6)


def test_keras_default_initialisers():
    layers = summarize("LSTM(5, input_shape=(3, 7))")
    w = make_weights(layers, seed=0)[0]["forward"]
    limit = math.sqrt(6 / (7 + 20))  # glorot_uniform over the [7, 4*5] kernel
    assert w["kernel"].shape == (7, 20) and np.abs(w["kernel"]).max() <= limit
    assert np.abs(w["kernel"]).max() > 0.8 * limit
    u = w["recurrent_kernel"].astype(np.float64)  # orthogonal: the rows of [5, 20] are orthonormal
    np.testing.assert_allclose(u @ u.T, np.eye(5), atol=1e-5)
    np.testing.assert_array_equal(w["bias"], np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    emb = make_weights(summarize("Embedding(50, 8)"), seed=0)[0]["embeddings"]
    assert np.abs(emb).max() <= 0.05  # 'uniform': RandomUniform(-0.05, 0.05)


def test_layer_command_prints_every_returned_tensor(cli, tmp_path):
    data = tmp_path / "x.json"
    data.write_text(json.dumps([[0.1, 4.2, 1.5, 1.1, 2.8], [1.0, 3.1, 2.5, 0.7, 1.1]]))
    # no input_shape: the layer takes the data's shape, as a Keras layer called on an array does
    spec = "LSTM(3, return_sequences=True, return_state=True, kernel_initializer='ones', recurrent_initializer='zeros')"
    result = cli("layer", "--spec", spec, "--input", data, "--json")
    assert result.exit_code == 0, result.stderr
    outputs = json.loads(result.stdout)["outputs"]
    assert [(o["name"], o["shape"]) for o in outputs] == [
        ("hidden states", [1, 2, 3]), ("last state", [1, 3]), ("last cell state", [1, 3])]
    # step 1: every gate sees 9.7; c = sigmoid(9.7) * tanh(9.7), h = sigmoid(9.7) * tanh(c)
    c = sigmoid(9.7) * math.tanh(9.7)
    assert outputs[0]["value"][0][0] == pytest.approx([sigmoid(9.7) * math.tanh(c)] * 3, abs=1e-6)
    assert "read the (2, 5) input as one sequence" in result.stderr
    text = cli("layer", "--spec", "Bidirectional(GRU(2, return_state=True), input_shape=(4, 3))", "--explain")
    assert text.exit_code == 0, text.stderr
    for name in ("hidden state: shape (1, 4)", "forward last state: shape (1, 2)",
                 "backward last state: shape (1, 2)", "z (update gate)", "t=3"):
        assert name in text.stdout


@pytest.mark.parametrize("args, fragment", [
    (["--spec", "SimpleRNN(3, input_shape=(2, 10))", "--input-shape", "1,3,10"], "timesteps 3"),
    (["--spec", "SimpleRNN(3)"], "input size"),
    (["--spec", "Embedding(10, 2); SimpleRNN(3)"], "--input-shape"),
    (["--spec", "GRU(3, reset_after=False, input_shape=(2, 3))"], "reset_after=True"),
    (["--spec", "SimpleRNN(3, input_shape=(2, 10))", "--input-shape", "a,b"], "--input-shape"),
])
def test_layer_errors(cli, args, fragment):
    assert_one_line_error(cli("layer", *args), fragment)


@pytest.mark.parametrize("content, fragment", [
    ("not json", "not JSON"), ("[[1, 2], [3]]", "same length"), ('[["a"]]', "only numbers"),
    ("[[1.5, 2]]", "integer token ids"), ("[[3, 99]]", "[0, 10)"),
])
def test_layer_input_errors(cli, tmp_path, content, fragment):
    path = tmp_path / "in.json"
    path.write_text(content)
    spec = "Embedding(10, 2); SimpleRNN(3)" if "99" in content or "1.5" in content else "SimpleRNN(3, input_shape=(2, 2))"
    assert_one_line_error(cli("layer", "--spec", spec, "--input", path), fragment)


def test_layer_and_summary_spec_run_without_torch():
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom rnntool.cli import app\n"
            "r = CliRunner().invoke(app, ['layer', '--spec', 'LSTM(2, return_state=True, input_shape=(3, 2))'])\n"
            "assert r.exit_code == 0, r.output\n"
            "r = CliRunner().invoke(app, ['summary', '--spec', 'GRU(2, input_shape=(3, 2))'])\n"
            "assert r.exit_code == 0, r.output\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_random_input_and_weights_are_seeded():
    with pytest.raises(RnntoolError):
        summarize("SimpleRNN(3)")
    a = layer_outputs("SimpleRNN(3, input_shape=(2, 4))", np.ones((1, 2, 4), np.float32), seed=1)
    b = layer_outputs("SimpleRNN(3, input_shape=(2, 4))", np.ones((1, 2, 4), np.float32), seed=1)
    c = layer_outputs("SimpleRNN(3, input_shape=(2, 4))", np.ones((1, 2, 4), np.float32), seed=2)
    np.testing.assert_array_equal(a["hidden state"], b["hidden state"])
    assert not np.allclose(a["hidden state"], c["hidden state"])


@pytest.mark.parametrize("spec, expected", [
    ("Dense(5, input_dim=10)", [("dense", (None, 5), 55)]),  # input_dim on a Dense layer: (batch, 10)
    ("Input(batch_shape=(None, 4, 5)); LSTM(2)", [("lstm", (None, 2), 64)]),
    ("InputLayer(input_shape=(4, 5)); LSTM(2)", [("lstm", (None, 2), 64)]),
    ("keras.Sequential([Input(shape=(4, 5)), GRU(2)])", [("gru", (None, 2), 54)]),
    # a name of one's own takes no number from the default names
    ("Dense(3, name='first', input_shape=(2,)); Dense(4)", [("first", (None, 3), 9), ("dense", (None, 4), 16)]),
])
def test_more_keras_forms(spec, expected):
    assert counts(spec) == expected


@pytest.mark.parametrize("spec, fragment", [
    ("Embedding(output_dim=5)", "needs input_dim"),
    ("SimpleRNN(3, return_sequences='yes', input_shape=(2, 3))", "must be True or False"),
    ("SimpleRNN(3, time_major=True, input_shape=(2, 3))", "time_major"),
    ("Dense(2, kernel_initializer=RandomNormal(stddev='a'), input_shape=(2,))", "must be a number"),
    ("Dense(" + "1+" * 900 + "1)", "nested too deeply"),
    ("Bidirectional(LSTM(2, return_sequences=True), merge_mode=None, input_shape=(3, 4)); Dense(1)", "merge_mode=None"),
])
def test_more_specs_refused_in_one_line(cli, spec, fragment):
    assert_one_line_error(cli("summary", "--spec", spec), fragment)


def test_layer_refuses_what_would_exhaust_memory(cli):
    assert_one_line_error(cli("layer", "--spec", "LSTM(10000, input_shape=(2, 3000))"), "at most 50,000,000")
    assert_one_line_error(cli("layer", "--spec", "SimpleRNN(2)", "--input-shape", "1000,1000,1000"), "at most")


@pytest.mark.parametrize("data", ["[]", "[[]]", "[[[]]]"])
def test_an_empty_input_is_a_one_line_error(cli, data):
    for spec in ("Embedding(10, 4); GRU(2)", "SimpleRNN(3)"):
        assert_one_line_error(cli("layer", "--spec", spec, "--input", "-", input=data), "")
