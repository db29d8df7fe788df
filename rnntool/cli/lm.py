"""rnntool train-lm / eval-lm / score / summary: recurrent language models."""

import sys
from enum import Enum
from typing import Annotated

import typer

from rnntool.cli import app
from rnntool.cli.common import handle_errors, model_completion, model_then_file_completion, model_then_files, open_model, print_json
from rnntool.cli.options import (
    FRACTION, TOKENIZER_HELP, VOCAB_SIZE_HELP, Cell, DecodeErrors, Level, Optimizer, Pool, Precision, Schedule, Softmax, TrainingOptions, WordTokenizer,
    training_option, value,
)
from rnntool.defaults import SUBWORD_TOKENIZERS, VALID_FRAC, default_text, describe_lm_defaults


class ScoreFormat(str, Enum):
    tsv = "tsv"
    jsonl = "jsonl"


TRAIN_LM_HELP = f"""Train a word- or character-level RNN language model with teacher forcing.

The text is one stream cut into --batch-size parallel streams and windows of
--bptt steps; the hidden state flows from window to window (truncated BPTT).
Validation runs every epoch (and every --eval-every steps); the best model is
kept. Ctrl-C or SIGTERM stops cleanly, leaving the best model and a resumable
checkpoint (MODEL with .ckpt) for --resume. Prints the model path on stdout.
Under torchrun (torchrun ... -m rnntool -- train-lm ...) the same command trains
on every rank, --batch-size being the global batch.

Defaults: {describe_lm_defaults()}.
"""


@app.command("train-lm", help=TRAIN_LM_HELP)
@handle_errors
def train_lm_command(
    input: str = typer.Argument(..., metavar="INPUT", help="A text file, - for stdin, or a prepared corpus directory from rnntool prep."),
    output: str = typer.Option(None, "-o", "--output", metavar="MODEL",
                               help="Model file to write [default: next to INPUT, e.g. alice.lm.safetensors]."),
    init_from: str = typer.Option(None, "--init-from", metavar="LM", autocompletion=model_completion("lm"),
                                  help="Continue this language model (a file or bundled name) on INPUT: fine-tuning. Its architecture and tokenizer are kept; INPUT's new characters or words join its vocabulary."),
    reverse: bool = typer.Option(None, "--reverse", help="Train a backward model: it reads the text right to left (the last token first). It scores and evaluates text so; generate refuses it. A tagger started from it (--init-from) takes it into its backward direction; a classifier does when a forward model comes with it (--init-from FORWARD,BACKWARD). With --init-from, the direction is the model's."),
    level: Level = typer.Option(None, "--level", help="For text input: characters or words (a subword --tokenizer implies words) [default: char; with --init-from, the model's]."),
    tokenizer: WordTokenizer = typer.Option(None, "--tokenizer", help="For text input at word level: " + TOKENIZER_HELP + " [default: treebank; with --init-from, the model's]."),
    vocab_size: int = typer.Option(None, "--vocab-size", min=1, metavar="N", help="For text input: " + VOCAB_SIZE_HELP),
    lower: bool = typer.Option(False, "--lower", help="For text input: lowercase it."),
    min_freq: int = typer.Option(1, "--min-freq", min=1, metavar="N", help="For text input: rarer words become <unk>."),
    max_vocab: int = typer.Option(None, "--max-vocab", min=4, metavar="N", help="For text input: vocabulary size cap."),
    valid: list[str] = typer.Option([], "--valid", metavar="FILE", help="Validation text (default: the tail of INPUT, see --valid-frac)."),
    text_col: str = typer.Option(None, "--text-col", metavar="COL", help="Read one column of a CSV/TSV table with a header (by name or number from 1): one record per line."),
    text_field: str = typer.Option(None, "--text-field", metavar="NAME", help="Read one field of JSONL records: one record per line."),
    valid_frac: float = typer.Option(VALID_FRAC, "--valid-frac", metavar="F", callback=FRACTION,
                                     help="Fraction of INPUT's tokens held out for validation (contiguous tail)."),
    emb: int = typer.Option(None, "--emb", min=1, metavar="N", help=f"Embedding size [{default_text('lm', 'emb')}]."),
    tie: bool = typer.Option(None, "--tie/--no-tie", help=f"Share embedding and output weights (needs --emb = --hidden and a full softmax) [{default_text('lm', 'tie')}]."),
    softmax: Softmax = typer.Option(None, "--softmax", help=f"Output layer: full softmax, or adaptive softmax (fast for big vocabularies) [{default_text('lm', 'softmax')}]."),
    bptt: int = typer.Option(None, "--bptt", min=1, metavar="T", help=f"Truncated-BPTT window length [{default_text('lm', 'bptt')}]."),
    valid_tokens: int = typer.Option(None, "--valid-tokens", min=2, metavar="N",
                                     help=f"Validate on at most the first N tokens of the validation split [{default_text('lm', 'valid_tokens')}]."),
    # the training options every train-* command shares (rnntool.cli.options.SHARED)
    cell: Annotated[Cell | None, training_option("lm", "cell")] = None,
    layers: Annotated[int | None, training_option("lm", "layers")] = None,
    hidden: Annotated[int | None, training_option("lm", "hidden")] = None,
    dropout: Annotated[float | None, training_option("lm", "dropout")] = None,
    batch_size: Annotated[int | None, training_option("lm", "batch_size")] = None,
    epochs: Annotated[int | None, training_option("lm", "epochs")] = None,
    max_time: Annotated[float | None, training_option("lm", "max_time")] = None,
    max_steps: Annotated[int | None, training_option("lm", "max_steps")] = None,
    lr: Annotated[float | None, training_option("lm", "lr")] = None,
    optimizer: Annotated[Optimizer | None, training_option("lm", "optimizer")] = None,
    weight_decay: Annotated[float | None, training_option("lm", "weight_decay")] = None,
    clip: Annotated[float | None, training_option("lm", "clip")] = None,
    schedule: Annotated[Schedule | None, training_option("lm", "schedule")] = None,
    warmup: Annotated[float | None, training_option("lm", "warmup")] = None,
    patience: Annotated[int | None, training_option("lm", "patience")] = None,
    eval_every: Annotated[int | None, training_option("lm", "eval_every")] = None,
    seed: Annotated[int | None, training_option("lm", "seed")] = None,
    device: Annotated[str | None, training_option("lm", "device")] = None,
    precision: Annotated[Precision | None, training_option("lm", "precision")] = None,
    resume: Annotated[str | None, training_option("lm", "resume")] = None,
    log: Annotated[str | None, training_option("lm", "log")] = None,
    half: Annotated[bool, training_option("lm", "half")] = False,
    meta: Annotated[list[str] | None, training_option("lm", "meta")] = None,
    errors: Annotated[DecodeErrors, training_option("lm", "errors")] = DecodeErrors.strict,
    json_out: Annotated[bool, training_option("lm", "json_out")] = False,
    quiet: Annotated[bool, training_option("lm", "quiet")] = False,
) -> None:
    options = TrainingOptions.collect(locals())
    import rnntool
    from rnntool.cli.training import run_training

    model_level = value(level) or ("word" if value(tokenizer) in SUBWORD_TOKENIZERS else "char")
    if level is None and init_from is not None and not resume:  # (another kind: train_lm says so)
        model_level = rnntool.info(init_from).header.get("tokenizer", {}).get("level", model_level)
    run_training(
        lambda **run: rnntool.train_lm(
            input, output, level=value(level), tokenizer=value(tokenizer), lower=lower or None, min_freq=min_freq,
            max_vocab=max_vocab, vocab_size=vocab_size, valid=valid, valid_frac=valid_frac, text_col=text_col,
            text_field=text_field, init_from=init_from, reverse=reverse or None, emb=emb, tie=tie, softmax=value(softmax), bptt=bptt, valid_tokens=valid_tokens,
            **options.api_options(), **run),
        options, "bpc" if model_level == "char" else "ppl", "language model",
    )


@app.command("eval-lm")
@handle_errors
def eval_lm_command(
    arguments: list[str] = typer.Argument(None, metavar="[MODEL] TEXT...", autocompletion=model_then_file_completion("lm"),
                                          help="A language model (a file or a bundled name; or give it with -m), then text files or - (read as one stream)."),
    model: str = typer.Option(None, "-m", "--model", metavar="MODEL", autocompletion=model_completion("lm"),
                              help="The language model, as generate takes it (then every argument is a text)."),
    errors: DecodeErrors = typer.Option(DecodeErrors.strict, "--errors", help="Invalid UTF-8: error or replace."),
    json_out: bool = typer.Option(False, "--json", help='Print {"loss", "ppl", "bpc", "tokens"} as JSON.'),
) -> None:
    """Loss (nats per token), perplexity and, for char models, bits per character.

    The texts are one stream with the hidden state carried throughout, starting
    from the start-of-text state; every token and line end is predicted.
    """
    model, texts = model_then_files(model, arguments, "eval-lm", "TEXT")
    if not texts:
        raise typer.BadParameter("eval-lm needs a text to evaluate: rnntool eval-lm MODEL TEXT (a file, or - for stdin)")
    result = open_model("lm", model).evaluate(texts, errors=value(errors)).to_dict()
    if json_out:
        print_json(result)
    else:
        parts = [f"loss {result['loss']:.4f}", f"ppl {result['ppl']:.2f}"]
        if "bpc" in result:
            parts.append(f"bpc {result['bpc']:.4f}")
        parts.append(f"tokens {result['tokens']}")
        sys.stdout.write("  ".join(parts) + "\n")


@app.command("score")
@handle_errors
def score_command(
    arguments: list[str] = typer.Argument(None, metavar="[MODEL] [FILE]", autocompletion=model_then_file_completion("lm"),
                                          help="A language model (a file or a bundled name; or give it with -m), then the text to score, one item per line (- or none: stdin)."),
    model: str = typer.Option(None, "-m", "--model", metavar="MODEL", autocompletion=model_completion("lm"),
                              help="The language model, as generate takes it (then the one argument is FILE)."),
    fmt: ScoreFormat = typer.Option(ScoreFormat.tsv, "--format", help="tsv: logprob<TAB>tokens<TAB>ppl; jsonl adds the text."),
    batch: int = typer.Option(64, "--batch", min=1, metavar="N", help="Lines scored together at most; output is flushed per batch, and at once when the input pauses."),
    errors: DecodeErrors = typer.Option(DecodeErrors.strict, "--errors", help="Invalid UTF-8: error or replace."),
) -> None:
    """Score each line: total log-probability (nats), tokens, perplexity; one output line per input line.

    Each line is scored from the start-of-text state and includes its line end,
    so shell scripts can rank or filter sentences, e.g. sort -t$'\\t' -k3 -g.
    """
    model, files = model_then_files(model, arguments, "score", most_files=1)
    text = files[0] if files else "-"
    open_model("lm", model).score_file(text, sys.stdout, format=fmt.value, batch_size=batch, errors=value(errors))


@app.command("summary")
@handle_errors
def summary_command(
    model: str = typer.Argument(None, metavar="[MODEL]", help="A model file; or describe a spec with the options below."),
    spec: str = typer.Option(None, "--spec", metavar="LAYERS",
                             help="Keras-syntax layers, ';'-separated: \"Embedding(5000, 100); SimpleRNN(128); Dense(1)\". Counted as Keras counts."),
    cell: Cell = typer.Option(Cell.lstm, "--cell", help="Spec: recurrent cell."),
    vocab: int = typer.Option(10000, "--vocab", min=1, metavar="N", help="Spec: vocabulary size."),
    emb: int = typer.Option(100, "--emb", min=1, metavar="N", help="Spec: embedding size."),
    hidden: int = typer.Option(128, "--hidden", min=1, metavar="N", help="Spec: hidden units."),
    layers: int = typer.Option(1, "--layers", min=1, metavar="N", help="Spec: stacked layers."),
    classes: int = typer.Option(None, "--classes", min=1, metavar="N", help="Spec: a many-to-one classifier with N outputs (else a language model)."),
    bidirectional: bool = typer.Option(False, "--bidirectional", help="Spec (classifier): bidirectional layers."),
    pool: Pool = typer.Option(Pool.last, "--pool", help="Spec (classifier): how the outputs become one vector."),
    tie: bool = typer.Option(False, "--tie/--no-tie", help="Spec (language model): tied embeddings."),
    softmax: Softmax = typer.Option(Softmax.full, "--softmax", help="Spec (language model): output layer."),
    json_out: bool = typer.Option(False, "--json", help="Print the layers and counts as JSON."),
) -> None:
    """A layer table like Keras's model.summary(): output shapes and parameter counts.

    With --spec, the Keras model the spec describes, counted as Keras counts (one
    bias per gate; GRU reset_after=True has two). For a model file or the
    --cell/--vocab/... spec of an rnntool model, the true counts of rnntool's torch
    modules: their RNN/LSTM cells carry two bias vectors per gate (b_ih and b_hh),
    and where that differs from the single-bias textbook arithmetic, both are shown.
    """
    import rnntool

    found = rnntool.summary(model, spec=spec, cell=cell.value, vocab=vocab, emb=emb, hidden=hidden, layers=layers,
                            classes=classes, bidirectional=bidirectional, pool=pool.value, tie=tie,
                            softmax=softmax.value)
    if json_out:
        print_json(found.to_dict())
    else:
        sys.stdout.write(found.table)
