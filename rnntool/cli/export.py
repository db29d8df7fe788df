"""rnntool export: a model written for other runtimes (ONNX)."""

from __future__ import annotations

import typer

from rnntool.cli import app
from rnntool.cli.common import handle_errors, model_completion


@app.command("export")
@handle_errors
def export_command(
    model: str = typer.Argument(..., metavar="MODEL", autocompletion=model_completion(),
                                help="A model file or a bundled model's name."),
    output: str = typer.Option(None, "-o", "--output", metavar="FILE",
                               help="Where to write it [default: the model's name with .onnx, here]."),
    format: str = typer.Option("onnx", "--format", metavar="FORMAT", help="onnx (the only format so far)."),
) -> None:
    """Write a model as ONNX (opset 17) for onnxruntime and other ONNX runtimes. A language
    model: token ids and a state in, next-token log-probabilities and the state after out. A
    tagger or classifier: token features in (word and character ids, casing, lengths, and what
    a --char-lm tagger's character models read; see rnntool.onnx_feed), tag scores (and a
    CRF's transitions) or calibrated class probabilities out. The model's header (vocabularies, tokenizer) is its 'rnntool' metadata entry. Prints
    the path written."""
    import rnntool

    print(rnntool.export(model, output, format=format))
