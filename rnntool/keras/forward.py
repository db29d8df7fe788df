"""Run a Keras-syntax spec forward on the numpy runtime (``rnntool layer``).

Weights are made in Keras's layout and order (kernel [features, gates*units],
recurrent_kernel [units, gates*units], bias; LSTM gates i, f, c, o; GRU gates
z, r, h with ``reset_after=True``) by Keras's initialisers, then mapped onto the
runtime's torch layout (``runtime.cells.RNNStack``), which does the recurrent
work. ``explain`` recomputes the first recurrent layer one step at a time,
straight from the Keras formulas, as the "RNN in numpy" tutorials do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnntool.errors import RnntoolError
from rnntool.keras.initializers import initialize
from rnntool.keras.spec import RECURRENT, Initializer, Layer, fmt_shape, input_rank
from rnntool.runtime.cells import RNNStack, sigmoid

# Keras gate blocks, in the order torch's layout (and the runtime) wants them
_TORCH_BLOCKS = {"SimpleRNN": [0], "LSTM": [0, 1, 2, 3], "GRU": [1, 0, 2]}


@dataclass
class Output:
    name: str
    value: np.ndarray


def activation(name: str | None, x: np.ndarray) -> np.ndarray:
    if name in (None, "linear"):
        return x
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return sigmoid(x.copy())
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if name == "elu":
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))
    if name == "selu":
        return 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0.0)))
    if name == "softplus":
        return np.logaddexp(0.0, x)
    if name == "softsign":
        return x / (1.0 + np.abs(x))
    if name == "swish":
        return x * sigmoid(x.copy())
    if name == "exponential":
        return np.exp(x)
    raise RnntoolError(f"unknown activation {name!r}")  # spec.py accepts only the names above


def _check_runnable(rnn: Layer) -> None:
    a = rnn.args
    if rnn.cls == "SimpleRNN" and a["activation"] not in ("tanh", "relu"):
        raise RnntoolError(f"{rnn.where}: rnntool layer runs SimpleRNN with activation 'tanh' or 'relu'")
    if rnn.cls in ("LSTM", "GRU") and (a["activation"] != "tanh" or a["recurrent_activation"] != "sigmoid"):
        raise RnntoolError(f"{rnn.where}: rnntool layer runs {rnn.cls} with activation='tanh' and "
                           "recurrent_activation='sigmoid' (Keras's defaults)")
    if rnn.cls == "GRU" and not a["reset_after"]:
        raise RnntoolError(f"{rnn.where}: rnntool layer runs GRUs with reset_after=True (Keras's default); "
                           "summary --spec counts reset_after=False too")


def _recurrent_weights(rnn: Layer, features: int, rng: np.random.Generator) -> dict:
    """kernel, recurrent_kernel, bias, drawn in that order as Keras builds them."""
    units, gates = rnn.args["units"], RECURRENT[rnn.cls]
    w = {"kernel": initialize(rnn.args["kernel_initializer"], (features, gates * units), rng),
         "recurrent_kernel": initialize(rnn.args["recurrent_initializer"], (units, gates * units), rng)}
    if rnn.args["use_bias"]:
        init: Initializer = rnn.args["bias_initializer"]
        if rnn.cls == "LSTM" and rnn.args["unit_forget_bias"]:  # the forget gate's bias starts at one
            w["bias"] = np.concatenate([initialize(init, (units,), rng), np.ones(units, np.float32),
                                        initialize(init, (2 * units,), rng)])
        elif rnn.cls == "GRU":
            w["bias"] = initialize(init, (2, gates * units), rng)  # input and recurrent biases
        else:
            w["bias"] = initialize(init, (gates * units,), rng)
    return w


MAX_INPUT_VALUES = 10_000_000
MAX_PARAMS = 50_000_000  # rnntool layer is for looking at layers, not for building models


def make_weights(layers: list[Layer], seed: int = 0) -> list[dict]:
    """Every layer's weights in Keras's layout, as Keras would build the model."""
    total = sum(layer.params for layer in layers)
    if total > MAX_PARAMS:
        raise RnntoolError(f"the spec has {total:,} parameters; rnntool layer runs at most {MAX_PARAMS:,} "
                           "(summary --spec counts any size)")
    rng = np.random.default_rng(seed)
    weights = []
    for layer in layers:
        w: dict = {}
        if layer.cls == "Embedding":
            w["embeddings"] = initialize(layer.args["embeddings_initializer"],
                                         (layer.args["input_dim"], layer.args["output_dim"]), rng)
        elif layer.recurrent is not None:
            features = layer.input_shape[2]
            w["forward"] = _recurrent_weights(layer.recurrent, features, rng)
            if layer.cls == "Bidirectional":
                w["backward"] = _recurrent_weights(layer.recurrent, features, rng)
        elif layer.cls in ("Dense", "TimeDistributed") and (layer.inner or layer).cls == "Dense":
            dense = layer.inner or layer
            features, units = dense.input_shape[-1], dense.args["units"]
            w["kernel"] = initialize(dense.args["kernel_initializer"], (features, units), rng)
            if dense.args["use_bias"]:
                w["bias"] = initialize(dense.args["bias_initializer"], (units,), rng)
        weights.append(w)
    return weights


def _blocks(m: np.ndarray, cls: str, units: int) -> np.ndarray:
    """Columns (last axis) in Keras gate order -> torch gate order."""
    return np.concatenate([m[..., k * units:(k + 1) * units] for k in _TORCH_BLOCKS[cls]], axis=-1)


def torch_layout(rnn: Layer, w: dict, suffix: str = "_l0") -> dict[str, np.ndarray]:
    """One direction's Keras weights under torch's names and shapes."""
    units, cls = rnn.args["units"], rnn.cls
    g = RECURRENT[cls] * units
    bias = w.get("bias")
    if bias is None:
        b_ih = b_hh = np.zeros(g, np.float32)
    elif cls == "GRU":
        b_ih, b_hh = _blocks(bias[0], cls, units), _blocks(bias[1], cls, units)
    else:
        b_ih, b_hh = _blocks(bias, cls, units), np.zeros(g, np.float32)
    return {f"weight_ih{suffix}": _blocks(w["kernel"], cls, units).T,
            f"weight_hh{suffix}": _blocks(w["recurrent_kernel"], cls, units).T,
            f"bias_ih{suffix}": b_ih, f"bias_hh{suffix}": b_hh}


def _run_recurrent(layer: Layer, w: dict, x: np.ndarray) -> list[Output]:
    rnn = layer.recurrent
    _check_runnable(rnn)
    bidirectional = layer.cls == "Bidirectional"
    if rnn.args["go_backwards"]:
        if bidirectional:
            raise RnntoolError(f"{layer.where}: go_backwards inside Bidirectional is not supported")
        x = x[:, ::-1]
    cell = {"SimpleRNN": "rnn-relu" if rnn.args["activation"] == "relu" else "rnn", "LSTM": "lstm", "GRU": "gru"}
    weights = torch_layout(rnn, w["forward"])
    if bidirectional:
        weights.update(torch_layout(rnn, w["backward"], "_l0_reverse"))
    stack = RNNStack(cell[rnn.cls], weights, layers=1, bidirectional=bidirectional)
    out, state = stack.forward(np.ascontiguousarray(x.transpose(1, 0, 2)))
    out = out.transpose(1, 0, 2)  # [B, T, H * dirs]
    h, c = state if rnn.cls == "LSTM" else (state, None)
    units = rnn.args["units"]
    sequences = rnn.args["return_sequences"]
    if sequences:
        parts = [out[..., :units], out[..., units:]] if bidirectional else [out]
    else:
        parts = [h[0], h[1]] if bidirectional else [h[0]]
    what = "hidden states" if sequences else "hidden state"
    if not bidirectional:
        main = [Output(what, parts[0])]
    else:
        mode = layer.args["merge_mode"]
        fwd, bwd = parts
        if mode is None:
            main = [Output(f"forward {what}", fwd), Output(f"backward {what}", bwd)]
        else:
            merged = {"concat": lambda: np.concatenate([fwd, bwd], axis=-1), "sum": lambda: fwd + bwd,
                      "mul": lambda: fwd * bwd, "ave": lambda: (fwd + bwd) / 2}[mode]()
            main = [Output(what, merged)]
    if not rnn.args["return_state"]:
        return main
    states = []
    for d, direction in enumerate(["forward ", "backward "] if bidirectional else [""]):
        states.append(Output(f"{direction}last state", h[d]))
        if c is not None:
            states.append(Output(f"{direction}last cell state", c[d]))
    return main + states


def run(layers: list[Layer], weights: list[dict], x: np.ndarray) -> list[Output]:
    """The last layer's outputs for input ``x`` (each layer feeds its main output on)."""
    outputs = [Output("input", x)]
    for layer, w in zip(layers, weights):
        x = outputs[0].value
        cls = layer.cls
        if cls == "Embedding":
            vocab = layer.args["input_dim"]
            if layer.args["mask_zero"]:
                raise RnntoolError(f"{layer.where}: rnntool layer does not apply masks; drop mask_zero=True")
            if x.dtype.kind not in "iu":
                raise RnntoolError("a spec that starts with Embedding takes integer token ids, "
                                   "not real numbers")
            if x.size and (x.min() < 0 or x.max() >= vocab):
                raise RnntoolError(f"token ids must be in [0, {vocab}) for Embedding({vocab}, ...); "
                                   f"got {int(x.min())}..{int(x.max())}")
            outputs = [Output("output", w["embeddings"][x])]
        elif layer.recurrent is not None:
            outputs = _run_recurrent(layer, w, x.astype(np.float32))
        elif cls in ("Dense", "TimeDistributed"):
            inner = layer.inner or layer
            if inner.cls == "Dense":
                y = x.astype(np.float32) @ w["kernel"]
                if "bias" in w:
                    y = y + w["bias"]
                x = activation(inner.args["activation"], y)
            elif inner.cls == "Activation":
                x = activation(inner.args["activation"], x)
            outputs = [Output("output", x)]
        elif cls == "Activation":
            outputs = [Output("output", activation(layer.args["activation"], x))]
        elif cls == "Flatten":
            outputs = [Output("output", x.reshape(x.shape[0], -1))]
        else:  # Dropout is the identity at inference
            outputs = [Output("output", x)]
    return [Output(o.name, np.asarray(o.value, dtype=np.float32)) for o in outputs]


def with_batch_axis(layers: list[Layer], shape: tuple) -> tuple:
    """A lone sequence (one axis short of what the first layer takes) gets a batch of one."""
    rank = input_rank(layers[0])
    return (1, *shape) if rank is not None and len(shape) == rank - 1 else tuple(shape)


def check_input(layers: list[Layer], x: np.ndarray) -> np.ndarray:
    """The input as the spec's (built) first layer needs it."""
    first = layers[0]
    declared = first.input_shape
    ids = first.cls == "Embedding"
    x = x.reshape(with_batch_axis(layers, x.shape))
    if x.ndim != len(declared):
        form = "(batch, timesteps) token ids" if ids else "(batch, timesteps, features)" if first.recurrent else \
            f"{len(declared)} axes"
        raise RnntoolError(f"the input has shape {tuple(x.shape)}; this spec takes {form}")
    for axis, (got, size) in enumerate(zip(x.shape, declared)):
        if size is not None and got != size:
            what = ["batch size", "timesteps", "features"][axis] if axis < 3 else f"size {axis}"
            raise RnntoolError(f"the input has {what} {got} but the spec declares {size} "
                               f"(input shape {tuple(x.shape)} vs {fmt_shape(declared)})")
    if 0 in x.shape:  # an empty list: nothing to run a layer over
        raise RnntoolError(f"the input is empty (shape {tuple(x.shape)}); give at least one value per axis")
    if ids:
        if x.dtype.kind == "f":
            if not np.all(np.isfinite(x)) or not np.all(x == np.round(x)) or np.any(np.abs(x) >= 2.0 ** 62):
                raise RnntoolError("a spec that starts with Embedding takes integer token ids")
            x = x.astype(np.int64)
    else:
        if not np.all(np.isfinite(x)):
            raise RnntoolError("the input holds NaN or infinite values")
        x = x.astype(np.float32)
    return x


def random_input(layers: list[Layer], seed: int, shape: tuple | None = None) -> np.ndarray:
    """Values in [0, 1) (token ids below the vocabulary size for Embedding), as
    ``np.random.random``, of ``shape`` or else the (built) first layer's input shape,
    batch 1 if open."""
    first = layers[0]
    shape = list(shape or first.input_shape)
    if None not in shape and int(np.prod(shape)) > MAX_INPUT_VALUES:
        raise RnntoolError(f"--input-shape {tuple(shape)} is {int(np.prod(shape)):,} values; at most "
                           f"{MAX_INPUT_VALUES:,}")
    if shape[0] is None:
        shape[0] = 1
    if None in shape:
        raise RnntoolError("the spec leaves the number of timesteps open; give --input-shape BATCH,TIMESTEPS"
                           f"{',FEATURES' if len(shape) == 3 else ''} or --input FILE")
    rng = np.random.default_rng([seed, 1])  # a stream of its own: the weights use seed alone
    if first.cls == "Embedding":
        return rng.integers(0, first.args["input_dim"], size=shape)
    return rng.random(shape).astype(np.float32)


def first_recurrent(layers: list[Layer], weights: list[dict], x: np.ndarray):
    """The first recurrent layer, its forward weights and its input (for ``explain``)."""
    for index, layer in enumerate(layers):
        if layer.recurrent is not None:
            inner = run(layers[:index], weights[:index], x)[0].value if index else x
            return layer, weights[index]["forward"], inner
    raise RnntoolError("--explain needs a recurrent layer (SimpleRNN, LSTM or GRU) in the spec")


def explain(rnn: Layer, w: dict, x: np.ndarray) -> list[dict]:
    """One step at a time, for the first sequence of the batch, straight from Keras's formulas."""
    _check_runnable(rnn)
    units = rnn.args["units"]
    kernel, recurrent = w["kernel"].astype(np.float64), w["recurrent_kernel"].astype(np.float64)
    bias = w.get("bias")
    bias = np.zeros((2, kernel.shape[1]) if rnn.cls == "GRU" else kernel.shape[1]) if bias is None else bias
    seq = x[0].astype(np.float64)
    if rnn.args["go_backwards"]:
        seq = seq[::-1]
    h = np.zeros(units)
    c = np.zeros(units)
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    steps = []
    shown = x[0][::-1] if rnn.args["go_backwards"] else x[0]
    for t, xt in enumerate(seq):
        step = {"t": t, "x": shown[t]}
        if rnn.cls == "SimpleRNN":
            pre = xt @ kernel + h @ recurrent + bias
            step["x W_x + h W_h + b"] = pre
            h = np.tanh(pre) if rnn.args["activation"] == "tanh" else np.maximum(pre, 0.0)
        elif rnn.cls == "LSTM":
            z = xt @ kernel + h @ recurrent + bias
            i, f, g, o = (z[k * units:(k + 1) * units] for k in range(4))
            i, f, g, o = sig(i), sig(f), np.tanh(g), sig(o)
            c = f * c + i * g
            h = o * np.tanh(c)
            step.update({"i (input gate)": i, "f (forget gate)": f, "c~ (candidate)": g, "o (output gate)": o,
                         "c (cell state)": c})
        else:  # GRU, reset_after=True
            xz = xt @ kernel + bias[0]
            hz = h @ recurrent + bias[1]
            z = sig(xz[:units] + hz[:units])
            r = sig(xz[units:2 * units] + hz[units:2 * units])
            cand = np.tanh(xz[2 * units:] + r * hz[2 * units:])
            h = z * h + (1.0 - z) * cand
            step.update({"z (update gate)": z, "r (reset gate)": r, "h~ (candidate)": cand})
        step["h"] = h
        steps.append(step)
    return steps


FORMULAS = {
    "SimpleRNN": ["h_t = {act}(x_t W_x + h_(t-1) W_h + b)"],
    "LSTM": ["i_t = sigmoid(x_t W_i + h_(t-1) U_i + b_i)", "f_t = sigmoid(x_t W_f + h_(t-1) U_f + b_f)",
             "c~_t = tanh(x_t W_c + h_(t-1) U_c + b_c)", "o_t = sigmoid(x_t W_o + h_(t-1) U_o + b_o)",
             "c_t = f_t * c_(t-1) + i_t * c~_t", "h_t = o_t * tanh(c_t)"],
    "GRU": ["z_t = sigmoid(x_t W_z + b_z + h_(t-1) U_z + b'_z)", "r_t = sigmoid(x_t W_r + b_r + h_(t-1) U_r + b'_r)",
            "h~_t = tanh(x_t W_h + b_h + r_t * (h_(t-1) U_h + b'_h))", "h_t = z_t * h_(t-1) + (1 - z_t) * h~_t"],
}
