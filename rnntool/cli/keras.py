"""rnntool layer: run Keras-syntax layers on given vectors and show what they return."""

from __future__ import annotations

import json
import re
import sys

import typer

from rnntool.cli import app
from rnntool.cli.common import handle_errors, info, print_json
from rnntool.errors import RnntoolError


def _input_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    sizes = re.findall(r"-?\d+", text)
    if not sizes or re.sub(r"[\d\s,x()\[\]-]", "", text) or any(int(s) < 1 for s in sizes):
        raise RnntoolError(f"--input-shape takes positive sizes like 1,4,5 (batch, timesteps, features), got {text!r}")
    return tuple(int(s) for s in sizes)


def _read_input(path: str):
    import numpy as np

    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as e:
        raise RnntoolError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise RnntoolError(f"{path} is not UTF-8 text; give a JSON nested list") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise RnntoolError(f"{path} is not JSON ({e.msg} at line {e.lineno}); give a nested list such as "
                           "[[[0.1, 0.2], [0.3, 0.4]]]") from None
    try:
        array = np.array(data)
    except ValueError:
        raise RnntoolError(f"{path}: the nested lists must all have the same length at each depth") from None
    if array.dtype.kind not in "iuf":
        raise RnntoolError(f"{path}: the input must hold only numbers, as a nested list")
    return array


def _format(value) -> str:
    import numpy as np

    return np.array2string(value, precision=8, suppress_small=False, max_line_width=100, threshold=10_000)


@app.command("layer")
@handle_errors
def layer_command(
    spec: str = typer.Option(..., "--spec", metavar="LAYERS",
                             help="Keras-syntax layers, ';'-separated: \"SimpleRNN(3, return_sequences=True, return_state=True, input_shape=(4, 5))\"."),
    input_file: str = typer.Option(None, "--input", "-i", metavar="FILE|-",
                                   help="JSON nested list (batch, timesteps, features), or token ids (batch, timesteps) when the spec starts with Embedding; a (timesteps, features) list is one sequence."),
    input_shape: str = typer.Option(None, "--input-shape", metavar="B,T,F",
                                    help="Without --input: random values in [0, 1) of this shape (default: the spec's input shape, batch 1)."),
    seed: int = typer.Option(0, "--seed", metavar="S", help="Seed for random initialisers and random input."),
    explain: bool = typer.Option(False, "--explain", help="Also show the first recurrent layer's computation one step at a time (first sequence)."),
    json_out: bool = typer.Option(False, "--json", help="Print {\"outputs\": [{\"name\", \"shape\", \"value\"}...]} (and \"explain\")."),
) -> None:
    """Run Keras-syntax layers forward (numpy) and print every tensor they return.

    The last layer's outputs are printed with their shapes: hidden states (with
    return_sequences=True) or the last hidden state, and with return_state=True the
    last state and, for LSTM, the last cell state (forward and backward for
    Bidirectional). Weights come from the spec's initialisers with Keras's defaults
    (glorot_uniform kernels, orthogonal recurrent kernels, zero biases, LSTM
    unit_forget_bias=True), so constant initialisers such as
    kernel_initializer=Constant(0.1) give Keras's numbers exactly.
    """
    from rnntool.keras.forward import FORMULAS, check_input, explain as explain_steps, first_recurrent
    from rnntool.keras.forward import make_weights, random_input, run, with_batch_axis
    from rnntool.keras.spec import build, parse

    layers = parse(spec)
    shape = _input_shape(input_shape)
    if input_file is not None:
        if shape is not None:
            raise RnntoolError("give --input or --input-shape, not both")
        raw = _read_input(input_file)
        build(layers, with_batch_axis(layers, raw.shape))
        x = check_input(layers, raw)
        note = f"read the {tuple(raw.shape)} input as one sequence: shape {tuple(x.shape)}" if x.ndim != raw.ndim else ""
    else:
        if shape is not None:
            shape = with_batch_axis(layers, shape)
        build(layers, shape)
        x = check_input(layers, random_input(layers, seed, shape))
        kind = "token ids" if layers[0].cls == "Embedding" else "random values in [0, 1)"
        note = f"input: {kind}, shape {tuple(x.shape)} (--seed {seed}; give --input FILE for your own)"
    weights = make_weights(layers, seed)
    outputs = run(layers, weights, x)
    if note:
        info(note)
    steps = None
    if explain:
        rnn_layer, rnn_weights, rnn_input = first_recurrent(layers, weights, x)
        steps = (rnn_layer, explain_steps(rnn_layer.recurrent, rnn_weights, rnn_input))
    if json_out:
        doc = {"outputs": [{"name": o.name, "shape": list(o.value.shape), "value": o.value.tolist()} for o in outputs]}
        if steps:
            doc["explain"] = {"layer": steps[0].name, "cell": steps[0].recurrent.cls,
                              "steps": [{k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in s.items()}
                                        for s in steps[1]]}
        print_json(doc)
        return
    out = sys.stdout
    if steps:
        layer, rows = steps
        rnn = layer.recurrent
        act = rnn.args.get("activation", "tanh")
        out.write(f"{layer.name} ({rnn.cls}, {rnn.args['units']} units), the first sequence one step at a time"
                  f"{' (forward direction)' if layer.cls == 'Bidirectional' else ''}:\n")
        for formula in FORMULAS[rnn.cls]:
            out.write(f"  {formula.format(act=act)}\n")
        for row in rows:
            out.write(f"t={row['t']}\n")
            for key, value in row.items():
                if key != "t":
                    out.write(f"  {key:<18} {_format(value)}\n")
        out.write("\n")
    for o in outputs:
        out.write(f"{o.name}: shape {tuple(o.value.shape)}\n{_format(o.value)}\n")
