"""rnntool quantize: a model file with 8- or 16-bit weights, measured before it is written."""

from __future__ import annotations

import typer

from rnntool.cli import app
from rnntool.cli.common import handle_errors, info, model_completion, print_json


@app.command("quantize")
@handle_errors
def quantize_command(
    model: str = typer.Argument(..., metavar="MODEL", autocompletion=model_completion(),
                                help="A model file or a bundled model's name."),
    output: str = typer.Option(None, "-o", "--output", metavar="FILE",
                               help="Where to write it [default: the model's name with .WEIGHTS.safetensors, here]."),
    weights: str = typer.Option("int8", "--weights", metavar="WEIGHTS",
                                help="int8 (a quarter of the bytes: one scale per row) or fp16 (half) [int8]."),
    dev: str = typer.Option(None, "--dev", metavar="FILE",
                            help="Data to measure on first, as the kind's eval-* command reads it; past the bound "
                                 "(0.1 point of accuracy or entity F1, 0.01 nats per token) nothing is written."),
    layout: str = typer.Option("auto", "--format", metavar="FORMAT", help="--dev's layout, as eval-tagger's or "
                               "eval-classifier's --format [auto]."),
    column: str = typer.Option(None, "--column", metavar="COL", help="Taggers: --dev's tag column, as eval-tagger's."),
    text_col: str = typer.Option(None, "--text-col", metavar="COL", help="Classifiers: --dev's text column."),
    label_col: str = typer.Option(None, "--label-col", metavar="COL", help="Classifiers: --dev's label column."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages on stderr."),
) -> None:
    """Write a model with its large matrices as int8 (one float32 scale per row) or its
    weights as float16: a smaller file that every command loads as any other (the weights
    turn back into float32 when loaded; the answers move by the rounding). With --dev, the
    model's metric is measured with both weights first and recorded in the file (rnntool
    info shows it). Prints the path written."""
    import rnntool

    about = rnntool.info(model)
    kind = about.kind
    options = {"lm": {}, "tagger": {"format": layout, "column": column},
               "classifier": {"format": layout, "text_col": text_col, "label_col": label_col}}[kind]
    given = {"--column": column, "--text-col": text_col, "--label-col": label_col}
    for flag, value in given.items():
        if value is not None and flag.lstrip("-").replace("-", "_") not in options:
            raise rnntool.InputError(f"{flag} reads a {'tagger' if flag == '--column' else 'classifier'}'s "
                                     f"--dev file; {model} is a {about.display}")
    result = rnntool.quantize(model, output, weights=weights, dev=dev, **(options if dev is not None else {}))
    measured = result.measured
    if measured is None:
        info("rnntool: not measured (no --dev): give the model's dev data to check what the weights cost", quiet)
    else:
        unit = " nats/token" if measured["metric"] == "loss" else ""
        info(f"rnntool: {measured['metric']} on {measured['data']}: {measured['fp32']:.4f} with float32, "
             f"{measured['quantized']:.4f} with {weights}{unit}", quiet)
    info(f"rnntool: {result.bytes_before:,} -> {result.bytes_after:,} bytes "
         f"({result.bytes_after / result.bytes_before:.0%}); {result.tensors} tensors at {weights}", quiet)
    if json_out:
        print_json(result.to_dict())
    else:
        print(result.path)
