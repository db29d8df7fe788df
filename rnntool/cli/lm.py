"""rnntool train-lm / eval-lm / score / summary: recurrent language models."""

from __future__ import annotations

import shlex
import sys
from enum import Enum

import typer

from rnntool.cli import app
from rnntool.cli.common import err_console, handle_errors, info, parse_meta, print_json
from rnntool.cli.prep import DecodeErrors, Level, WordTokenizer
from rnntool.recipes import describe_lm_defaults


class Cell(str, Enum):
    lstm = "lstm"
    gru = "gru"
    rnn = "rnn"
    rnn_relu = "rnn-relu"


class Softmax(str, Enum):
    full = "full"
    adaptive = "adaptive"


class Optimizer(str, Enum):
    adam = "adam"
    adamw = "adamw"
    sgd = "sgd"


class Schedule(str, Enum):
    cosine = "cosine"
    plateau = "plateau"
    constant = "constant"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


PRECISION_HELP = ("Arithmetic of the training passes: bf16 autocast (weights and optimizer stay fp32), fp32, or auto: "
                  "bf16 on GPUs with native bf16, and on CPUs with AVX512-BF16/AMX for language models (taggers, "
                  "measured faster in fp32 there, stay fp32 on CPUs).")


class ScoreFormat(str, Enum):
    tsv = "tsv"
    jsonl = "jsonl"


def _value(option):
    return option.value if isinstance(option, Enum) else option


class GracefulStop:
    """First SIGINT/SIGTERM asks the run to stop after the current step (it then
    saves a checkpoint); a second Ctrl-C aborts at once."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        import signal

        self.previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in self.previous:
            signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write("\nrnntool: stopping after this step and saving a checkpoint (Ctrl-C again to abort)\n")

    def __exit__(self, *exc):
        import signal

        for s, handler in self.previous.items():
            signal.signal(s, handler)

    def __call__(self) -> bool:
        return self.requested


TRAIN_LM_HELP = f"""Train a word- or character-level RNN language model with teacher forcing.

The text is one stream cut into --batch-size parallel streams and windows of
--bptt steps; the hidden state flows from window to window (truncated BPTT).
Validation runs every epoch (and every --eval-every steps); the best model is
kept. Ctrl-C or SIGTERM stops cleanly, leaving the best model and a resumable
checkpoint (MODEL with .ckpt) for --resume. Prints the model path on stdout.

Defaults: {describe_lm_defaults()}.
"""


@app.command("train-lm", help=TRAIN_LM_HELP)
@handle_errors
def train_lm_command(
    input: str = typer.Argument(..., metavar="INPUT", help="A text file, - for stdin, or a prepared corpus directory from rnntool prep."),
    output: str = typer.Option(None, "-o", "--output", metavar="MODEL",
                               help="Model file to write [default: next to INPUT, e.g. alice.lm.safetensors]."),
    level: Level = typer.Option(Level.char, "--level", help="For text input: characters or words."),
    tokenizer: WordTokenizer = typer.Option(WordTokenizer.treebank, "--tokenizer", help="For text input at word level."),
    lower: bool = typer.Option(False, "--lower", help="For text input: lowercase it."),
    min_freq: int = typer.Option(1, "--min-freq", min=1, metavar="N", help="For text input: rarer words become <unk>."),
    max_vocab: int = typer.Option(None, "--max-vocab", min=4, metavar="N", help="For text input: vocabulary size cap."),
    valid: list[str] = typer.Option([], "--valid", metavar="FILE", help="Validation text (default: the tail of INPUT, see --valid-frac)."),
    valid_frac: float = typer.Option(0.1, "--valid-frac", metavar="F", help="Fraction of INPUT's tokens held out for validation (contiguous tail)."),
    cell: Cell = typer.Option(None, "--cell", help="Recurrent cell [default: lstm]."),
    layers: int = typer.Option(None, "--layers", min=1, metavar="N", help="Stacked recurrent layers [default: 2]."),
    emb: int = typer.Option(None, "--emb", min=1, metavar="N", help="Embedding size [char 64, word 200]."),
    hidden: int = typer.Option(None, "--hidden", min=1, metavar="N", help="Hidden units per layer [char 384, word 200]."),
    dropout: float = typer.Option(None, "--dropout", metavar="P", help="Dropout on embeddings, between layers and on outputs [char 0, word 0.2]."),
    tie: bool = typer.Option(None, "--tie/--no-tie", help="Share embedding and output weights (needs --emb = --hidden and a full softmax) [word: when sizes allow]."),
    softmax: Softmax = typer.Option(None, "--softmax", help="Output layer: full softmax, or adaptive softmax (fast for big vocabularies) [adaptive for word vocabularies of 5000+, else full]."),
    bptt: int = typer.Option(None, "--bptt", min=1, metavar="T", help="Truncated-BPTT window length [char 32, word 35]."),
    batch_size: int = typer.Option(None, "--batch-size", min=1, metavar="B", help="Parallel streams per batch [char 32, word 20]."),
    epochs: int = typer.Option(None, "--epochs", min=1, metavar="N", help="Passes over the data [10, or unbounded with --max-time]."),
    max_time: float = typer.Option(None, "--max-time", metavar="SECONDS", help="Training time budget (validation included); the schedule fits it."),
    max_steps: int = typer.Option(None, "--max-steps", min=1, metavar="N", help="Stop after N optimizer steps."),
    lr: float = typer.Option(None, "--lr", metavar="LR", help="Learning rate [char: adam 5e-3; word: sgd 20, adam 2e-3]."),
    optimizer: Optimizer = typer.Option(None, "--optimizer", help="Optimizer [char adam, word sgd]."),
    weight_decay: float = typer.Option(None, "--weight-decay", metavar="W", help="Weight decay [0]."),
    clip: float = typer.Option(None, "--clip", metavar="NORM", help="Gradient-norm clipping, 0 for none [char 1.0, word 0.25]."),
    schedule: Schedule = typer.Option(None, "--schedule", help="Learning rate: cosine decay over the run, x0.25 on a validation plateau, or constant [cosine]."),
    warmup: float = typer.Option(None, "--warmup", metavar="F", help="Linear warm-up over this fraction of the run [char 0.05, word 0]."),
    patience: int = typer.Option(None, "--patience", min=1, metavar="N", help="Stop after N validations without improvement [3]."),
    eval_every: int = typer.Option(None, "--eval-every", min=1, metavar="STEPS", help="Validate every N steps as well as every epoch [min(epoch, 2000)]."),
    seed: int = typer.Option(0, "--seed", metavar="S", help="Random seed (weights, dropout)."),
    device: str = typer.Option("auto", "--device", metavar="DEVICE", help="auto, cpu, cuda or mps."),
    precision: Precision = typer.Option(Precision.auto, "--precision", help=PRECISION_HELP),
    resume: str = typer.Option(None, "--resume", metavar="CHECKPOINT", help="Continue an interrupted run from its .ckpt file (same INPUT)."),
    log: str = typer.Option(None, "--log", metavar="FILE.jsonl", help="Append every training event as a JSON line."),
    half: bool = typer.Option(False, "--half", help="Store the weights as float16: half the file size (inference still computes in float32)."),
    meta: list[str] = typer.Option([], "--meta", metavar="KEY=VALUE", help="Record KEY=VALUE in the model file (e.g. licence=...; repeatable)."),
    errors: DecodeErrors = typer.Option(DecodeErrors.strict, "--errors", help="Invalid UTF-8 in text input: error or replace."),
    json_out: bool = typer.Option(False, "--json", help="Print the run summary as JSON on stdout (default: the model path)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress or summary on stderr."),
) -> None:
    from rnntool.text.corpus import PrepOptions
    from rnntool.text.tokenize import TokenizerSettings
    from rnntool.train.lm import train_lm
    from rnntool.userstate import remember_latest

    prep = PrepOptions(
        settings=TokenizerSettings(level.value, tokenizer.value, lower),
        min_freq=min_freq, max_vocab=max_vocab, valid_frac=0.0 if valid else valid_frac, errors=errors.value,
    )
    model_options = dict(cell=_value(cell), layers=layers, emb=emb, hidden=hidden, dropout=dropout, tie=tie,
                         softmax=_value(softmax))
    train_options = dict(bptt=bptt, batch_size=batch_size, epochs=epochs, max_time=max_time, max_steps=max_steps,
                         lr=lr, optimizer=_value(optimizer), weight_decay=weight_decay, clip=clip,
                         schedule=_value(schedule), warmup=warmup, patience=patience, eval_every=eval_every,
                         seed=seed, device=device, precision=precision.value, half=half or None)
    record = {"command": shlex.join(["rnntool", *sys.argv[1:]]), **parse_meta(meta)}
    from rnntool.cli.training_display import TrainingDisplay, summary_table

    level_name = level.value
    with TrainingDisplay(quiet, log, "bpc" if level_name == "char" else "ppl") as display, GracefulStop() as stop:
        result, path = train_lm(input, output, prep=prep, model_options=model_options, train_options=train_options,
                                valid_specs=valid, resume=resume, record=record, on_event=display,
                                should_stop=stop)
    remember_latest("lm", path)
    if not quiet:
        best = result["valid"]
        rows = [(f"best valid {k}", f"{v:.4f}") for k, v in best.items()]
        rows += [(f"test {k}", f"{v:.4f}") for k, v in result.get("test", {}).items()]
        rows += [("stopped", result["stop_reason"]), ("epochs", f"{result['epochs']:.2f}"),
                 ("steps", f"{result['steps']:,}"), ("tokens seen", f"{result['tokens_seen']:,}"),
                 ("training time", f"{result['train_seconds']:.1f} s"), ("parameters", f"{result['params']:,}"),
                 ("model", str(path))]
        if result.get("checkpoint"):
            rows.append(("checkpoint", f"{result['checkpoint']}  (continue with --resume)"))
        err_console().print(summary_table("language model", rows))
    if json_out:
        print_json({k: v for k, v in result.items() if k != "history"})
    else:
        sys.stdout.write(f"{path}\n")


@app.command("eval-lm")
@handle_errors
def eval_lm_command(
    model: str = typer.Argument(..., metavar="MODEL", help="A language model file."),
    texts: list[str] = typer.Argument(..., metavar="TEXT", help="Text files or - (read as one stream)."),
    errors: DecodeErrors = typer.Option(DecodeErrors.strict, "--errors", help="Invalid UTF-8: error or replace."),
    json_out: bool = typer.Option(False, "--json", help='Print {"loss", "ppl", "bpc", "tokens"} as JSON.'),
) -> None:
    """Loss (nats per token), perplexity and, for char models, bits per character.

    The texts are one stream with the hidden state carried throughout, starting
    from the start-of-text state; every token and line end is predicted.
    """
    import itertools

    from rnntool.runtime.lm import LanguageModel
    from rnntool.runtime.scoring import evaluate_lines
    from rnntool.text.sources import TextSource

    lm = LanguageModel.load(model)
    lines = itertools.chain.from_iterable(TextSource(t).lines(errors.value) for t in texts)
    result = evaluate_lines(lm, lines)
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
    model: str = typer.Argument(..., metavar="MODEL", help="A language model file."),
    text: str = typer.Argument("-", metavar="FILE", help="Text to score, one item per line; - for stdin."),
    fmt: ScoreFormat = typer.Option(ScoreFormat.tsv, "--format", help="tsv: logprob<TAB>tokens<TAB>ppl; jsonl adds the text."),
    batch: int = typer.Option(64, "--batch", min=1, metavar="N", help="Lines scored together."),
    errors: DecodeErrors = typer.Option(DecodeErrors.strict, "--errors", help="Invalid UTF-8: error or replace."),
) -> None:
    """Score each line: total log-probability (nats), tokens, perplexity; one output line per input line.

    Each line is scored from the start-of-text state and includes its line end,
    so shell scripts can rank or filter sentences, e.g. sort -t$'\\t' -k3 -g.
    """
    import json
    import math

    from rnntool.runtime.lm import LanguageModel
    from rnntool.runtime.scoring import score_lines
    from rnntool.text.sources import TextSource

    lm = LanguageModel.load(model)
    out = sys.stdout
    for line, logprob, tokens in score_lines(lm, TextSource(text).lines(errors.value), batch):
        ppl = math.exp(-logprob / tokens)
        if fmt == ScoreFormat.jsonl:
            out.write(json.dumps({"text": line, "logprob": round(logprob, 4), "tokens": tokens, "ppl": round(ppl, 4)},
                                 ensure_ascii=False) + "\n")
        else:
            out.write(f"{logprob:.4f}\t{tokens}\t{ppl:.4f}\n")
        out.flush()


@app.command("summary")
@handle_errors
def summary_command(
    model: str = typer.Argument(None, metavar="[MODEL]", help="A model file; or describe a spec with the options below."),
    cell: Cell = typer.Option(Cell.lstm, "--cell", help="Spec: recurrent cell."),
    vocab: int = typer.Option(10000, "--vocab", min=1, metavar="N", help="Spec: vocabulary size."),
    emb: int = typer.Option(100, "--emb", min=1, metavar="N", help="Spec: embedding size."),
    hidden: int = typer.Option(128, "--hidden", min=1, metavar="N", help="Spec: hidden units."),
    layers: int = typer.Option(1, "--layers", min=1, metavar="N", help="Spec: stacked layers."),
    classes: int = typer.Option(None, "--classes", min=1, metavar="N", help="Spec: a many-to-one classifier with N outputs (else a language model)."),
    bidirectional: bool = typer.Option(False, "--bidirectional", help="Spec (classifier): bidirectional layers."),
    tie: bool = typer.Option(False, "--tie/--no-tie", help="Spec (language model): tied embeddings."),
    softmax: Softmax = typer.Option(Softmax.full, "--softmax", help="Spec (language model): output layer."),
    json_out: bool = typer.Option(False, "--json", help="Print the layers and counts as JSON."),
) -> None:
    """A layer table like Keras's model.summary(): output shapes and true parameter counts.

    torch's RNN/LSTM cells carry two bias vectors per gate (b_ih and b_hh); where
    that differs from the single-bias textbook arithmetic, both counts are shown.
    """
    from rnntool.arch import LMConfig, classifier_summary, lm_summary

    if model:
        from rnntool.modelfile import read_header

        header = read_header(model)
        if header["kind"] == "lm":
            rows, title = lm_summary(LMConfig.from_dict(header["config"])), f"{model} (language model)"
        else:
            from rnntool.arch import tagger_summary

            rows, title = tagger_summary(header["config"]), f"{model} ({header['kind']})"
    elif classes:
        rows = classifier_summary(cell.value, vocab, emb, hidden, layers, classes, bidirectional)
        title = "classifier spec"
    else:
        rows = lm_summary(LMConfig(vocab_size=vocab, cell=cell.value, emb=emb, hidden=hidden, layers=layers,
                                   tie=tie, softmax=softmax.value))
        title = "language model spec"
    total = sum(r.params for r in rows)
    textbook = sum(r.textbook_params for r in rows)
    if json_out:
        print_json({"layers": [r.__dict__ for r in rows], "total_params": total, "textbook_params": textbook})
        return
    sys.stdout.write(render_summary(title, rows, total, textbook))


def render_summary(title: str, rows, total: int, textbook: int) -> str:
    width = max(len(r.layer) for r in rows) + 2
    shape_w = max(len(r.output_shape) for r in rows) + 2
    lines = [title, "=" * (width + shape_w + 14), f"{'Layer':<{width}}{'Output shape':<{shape_w}}{'Param #':>12}",
             "-" * (width + shape_w + 14)]
    for r in rows:
        note = f"  {r.note}" if r.note else ""
        if r.params != r.textbook_params:
            note += f" (textbook: {r.textbook_params:,})"
        lines.append(f"{r.layer:<{width}}{r.output_shape:<{shape_w}}{r.params:>12,}{note}")
    lines.append("=" * (width + shape_w + 14))
    lines.append(f"Total params: {total:,}")
    if textbook != total:
        lines.append(f"Textbook single-bias count: {textbook:,} (torch's recurrent cells have b_ih and b_hh: "
                     f"+{total - textbook:,})")
    return "\n".join(lines) + "\n"
