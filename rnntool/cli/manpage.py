"""Generate man/rnntool.1 from the Typer command tree.

click-man cannot read Typer >= 0.26 apps, so this walks the commands itself and
uses the same help records ``--help`` prints. Run ``python -m rnntool.cli.manpage
> man/rnntool.1`` after changing the CLI; a test fails when the page is stale.
"""

from __future__ import annotations

import sys

import typer

from rnntool import __version__
from rnntool.defaults import model_variables


def _roff(text: str) -> str:
    """Escape text for roff: backslashes, leading dots/quotes, hyphens in options."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in text.strip().split("\n\n") if p.strip()]


def _walk(command, path: list[str]):
    """Yield (full name, click command) for every leaf command, depth first."""
    sub = getattr(command, "commands", None)
    if sub is None:
        yield path, command
        return
    for name in sorted(sub):
        yield from _walk(sub[name], [*path, name])


def render(app: typer.Typer) -> str:
    root = typer.main.get_command(app)
    root_ctx = root.context_class(root, info_name="rnntool")
    out = [
        f'.TH RNNTOOL 1 "" "rnntool {__version__}" "User Commands"',
        ".SH NAME",
        "rnntool \\- " + _roff(_paragraphs(root.help or "")[0]),
        ".SH SYNOPSIS",
        ".B rnntool",
        "[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]",
        ".SH DESCRIPTION",
    ]
    for para in _paragraphs(root.help or "")[1:]:
        out += [_roff(para), ".PP"]
    out.append("Every command prints data on standard output and progress, messages and errors on standard error. "
               "Errors are one line, \\fBrnntool: error: ...\\fR, with exit status 1; usage errors exit with 2.")
    out += [".SH GLOBAL OPTIONS"]
    out += _options(root, root_ctx)
    out.append(".SH COMMANDS")
    for path, cmd in _walk(root, []):
        ctx = cmd.context_class(cmd, info_name=" ".join(path), parent=root_ctx)
        name = " ".join(path)
        out += [f".SS {_roff('rnntool ' + name)}"]
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        out += [f".B {_roff('rnntool ' + name)}", _roff(usage), ".PP"]
        for para in _paragraphs(cmd.help or ""):
            out += [_roff(para), ".PP"]
        out += _options(cmd, ctx)
    out += [
        ".SH DISTRIBUTED TRAINING",
        _roff("Every train-* command runs unchanged under PyTorch's launcher; put -- before the rnntool "
              "command, so that torchrun's own parser leaves its options alone:"),
        ".PP", ".nf",
        _roff("torchrun --standalone --nproc_per_node=2 -m rnntool -- train-lm big.txt --max-time 3600"),
        _roff("torchrun --nnodes=4 --nproc_per_node=8 --rdzv-backend=c10d --rdzv-endpoint=HOST:29500 \\"),
        _roff("    -m rnntool -- train-tagger train.conllu --dev dev.conllu"),
        ".fi", ".PP",
        _roff("Each rank trains on its share of every --batch-size (the global batch): NCCL on CUDA GPUs "
              "(cuda:LOCAL_RANK), gloo on CPUs. Rank 0 alone validates and writes the model file, the "
              "checkpoint, the --log events and progress. The time budget, a NaN loss, early stopping and "
              "Ctrl-C/SIGTERM stop every rank at the same step. Checkpoints resume at any number of ranks."),
        ".SH ENVIRONMENT",
        ".TP", ".B NO_COLOR", "Disable colour in messages on standard error.",
        ".TP", ".B RNNTOOL_DEBUG", "Set to 1 to show Python tracebacks (same as \\fB\\-\\-debug\\fR).",
        ".TP", ".B RNNTOOL_ADAPT_THREADS",
        _roff("Set to 0 to keep torch's thread count during CPU training; by default it follows the cores "
              "other processes leave free (checked once a second). A change of count changes the last bits "
              "of a tagger's or classifier's weights, so with 0 a resumed run is bit-identical to an "
              "uninterrupted one whatever the load."),
        ".TP", ".B RNNTOOL_SERVE_TOKEN", _roff("The bearer token of rnntool serve (as --token, kept out of ps)."),
        ".TP", ".B RNNTOOL_ENGINE",
        _roff("auto (the default), numpy or onnxruntime: the engine of the taggers' and classifiers' "
              "recurrent layers and of language models' scoring (score, eval-lm). auto runs eval-lm on "
              "onnxruntime from 4,096 tokens on where it is installed (faster there; the same figures to "
              "float rounding) and everything else on numpy; onnxruntime needs the fast extra: "
              "pip install \"rnntool[fast]\"."),
    ]
    for variable, meaning in model_variables():
        out += [".TP", f".B {variable}", _roff(meaning)]
    out += [
        ".SH SEE ALSO",
        "README.md and docs/ in the rnntool source tree.",
    ]
    return "\n".join(out) + "\n"


def _options(cmd, ctx) -> list[str]:
    out = []
    for param in cmd.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, text = record
        out += [".TP", f".B {_roff(names)}", _roff(" ".join(text.split()))]
    return out


def main() -> None:
    from rnntool.cli import app

    sys.stdout.write(render(app))


if __name__ == "__main__":
    main()
