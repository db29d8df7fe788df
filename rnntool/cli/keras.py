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
    """The JSON in ``path`` (``-``: stdin): the nested list rnntool.layer reads."""
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as e:
        raise RnntoolError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise RnntoolError(f"{path} is not UTF-8 text; give a JSON nested list") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RnntoolError(f"{path} is not JSON ({e.msg} at line {e.lineno}); give a nested list such as "
                           "[[[0.1, 0.2], [0.3, 0.4]]]") from None


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
    import rnntool

    shape = _input_shape(input_shape)
    data = None
    if input_file is not None:
        if shape is not None:
            raise RnntoolError("give --input or --input-shape, not both")
        data = _read_input(input_file)
    ran = rnntool.layer(spec, data, input_shape=shape, seed=seed, explain=explain, input_name=input_file)
    if ran.note:
        info(ran.note)
    if json_out:
        print_json(ran.to_dict())
        return
    out = sys.stdout
    steps = ran.explained
    if steps:
        out.write(f"{steps['layer']} ({steps['cell']}, {steps['units']} units), the first sequence one step at a time"
                  f"{' (forward direction)' if steps['forward_only'] else ''}:\n")
        for formula in steps["formulas"]:
            out.write(f"  {formula}\n")
        for row in steps["steps"]:
            out.write(f"t={row['t']}\n")
            for key, value in row.items():
                if key != "t":
                    out.write(f"  {key:<18} {_format(value)}\n")
        out.write("\n")
    for name, value in ran.outputs:
        out.write(f"{name}: shape {tuple(value.shape)}\n{_format(value)}\n")
