"""Option definitions the commands share, and the ``training_command`` decorator.

Every ``train-*`` command declares only the options of its own kind; the
decorator adds the training options all kinds share -- the same names, the same
help, each kind's default shown in brackets -- and hands them to the command as
one :class:`TrainingOptions`. Choice enums come from the tuples in
``rnntool.config``; numbers are checked at parse time (finite, in range), so a
bad value is a usage error (exit 2) before anything runs.
"""

from __future__ import annotations

import functools
import inspect
import math
import shlex
import sys
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

import typer

from rnntool import config
from rnntool.classification import POOLS
from rnntool.recipes import default_text


def choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str-valued Enum for Typer from one of config's choice tuples."""
    return Enum(name, {v: v for v in values}, type=str)


Cell = choices("Cell", config.CELLS)
Optimizer = choices("Optimizer", config.OPTIMIZERS)
Schedule = choices("Schedule", config.SCHEDULES)
Precision = choices("Precision", config.PRECISIONS)
Softmax = choices("Softmax", config.SOFTMAXES)
DecodeErrors = choices("DecodeErrors", config.DECODE_ERRORS)
Level = choices("Level", config.LEVELS)
WordTokenizer = choices("WordTokenizer", config.WORD_TOKENIZERS)
SplitMode = choices("SplitMode", config.SPLIT_MODES)
TaggedFormat = choices("TaggedFormat", config.TAGGED_FORMATS)
TagInput = choices("TagInput", config.TAG_INPUTS)
TagOutput = choices("TagOutput", config.TAG_OUTPUTS)
Pool = choices("Pool", POOLS)


def value(option: Any) -> Any:
    """An Enum option's string, anything else as it is."""
    return option.value if isinstance(option, Enum) else option


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False):
    """A click callback: the value must be finite and within [low, high] (open ends as asked)."""

    def check(ctx, param, v):
        if v is None:
            return v
        if isinstance(v, float) and not math.isfinite(v):
            raise typer.BadParameter(f"{v} is not a finite number")
        if low is not None and (v < low or (low_open and v == low)):
            raise typer.BadParameter(f"{v:g} is too small: it must be {'>' if low_open else '>='} {low:g}")
        if high is not None and (v > high or (high_open and v == high)):
            raise typer.BadParameter(f"{v:g} is too large: it must be {'<' if high_open else '<='} {high:g}")
        return v

    return check


POSITIVE = number(0.0, low_open=True)
NON_NEGATIVE = number(0.0)
FRACTION = number(0.0, 1.0, high_open=True)  # probabilities such as dropout, fractions of a run
OPEN_PROBABILITY = number(0.0, 1.0, low_open=True, high_open=True)  # thresholds

JOBS_HELP = ("Processes that answer a large input (a file, or a pipe that keeps up) once its first "
             "batches are done [default: the usable CPUs, at most 8]; the output is the same for any N.")
TOP_P = number(0.0, 1.0, low_open=True)

PRECISION_HELP = ("Arithmetic of the training passes (weights and optimizer stay fp32): bf16 or fp16 autocast, fp32, "
                  "or auto: bf16 where the hardware does it natively (CPUs with AVX512-BF16/AMX for language models; "
                  "GPUs whose cuDNN has bf16 LSTM/GRU kernels), fp16 with loss scaling on other GPUs, else fp32.")


@dataclass(frozen=True)
class Shared:
    """One shared option: its parameter name, type, and how to declare it."""

    name: str
    annotation: Any
    decls: tuple[str, ...]
    help: str
    metavar: str | None = None
    default: Any = None
    callback: Any = None
    min: int | None = None
    model: bool = False  # part of the model's configuration (else the training run's)

    def option(self, kind: str):
        shown = default_text(kind, self.name)
        text = self.help + (f" [{shown}]" if shown is not None and self.default in (None, False, ()) else "")
        kwargs = dict(help=text, callback=self.callback)
        if self.metavar:
            kwargs["metavar"] = self.metavar
        if self.min is not None:
            kwargs["min"] = self.min
        default = [] if self.default == () else self.default
        return typer.Option(default, *self.decls, **kwargs)


SHARED: tuple[Shared, ...] = (
    Shared("cell", Cell, ("--cell",), "Recurrent cell.", model=True),
    Shared("layers", int, ("--layers",), "Stacked recurrent layers.", "N", min=1, model=True),
    Shared("hidden", int, ("--hidden",), "Hidden units per layer (and direction).", "N", min=1, model=True),
    Shared("dropout", float, ("--dropout",), "Dropout probability.", "P", callback=FRACTION, model=True),
    Shared("batch_size", int, ("--batch-size",), "Batch size: parallel streams for language models, sentences "
           "or texts otherwise; the global batch under torchrun, split across ranks.", "B", min=1),
    Shared("epochs", int, ("--epochs",), "Passes over the training data.", "N", min=1),
    Shared("max_time", float, ("--max-time",), "Training time budget in seconds (validation included); "
           "the learning-rate schedule fits it.", "SECONDS", callback=POSITIVE),
    Shared("max_steps", int, ("--max-steps",), "Stop after N optimizer steps.", "N", min=1),
    Shared("lr", float, ("--lr",), "Learning rate.", "LR", callback=POSITIVE),
    Shared("optimizer", Optimizer, ("--optimizer",), "Optimizer."),
    Shared("weight_decay", float, ("--weight-decay",), "Weight decay.", "W", callback=NON_NEGATIVE),
    Shared("clip", float, ("--clip",), "Gradient-norm clipping, 0 for none.", "NORM", callback=NON_NEGATIVE),
    Shared("schedule", Schedule, ("--schedule",), "Learning rate: cosine decay over the run, x0.25 on a "
           "validation plateau, or constant."),
    Shared("warmup", float, ("--warmup",), "Linear warm-up over this fraction of the run.", "F", callback=FRACTION),
    Shared("patience", int, ("--patience",), "Stop after N validations without improvement.", "N", min=1),
    Shared("eval_every", int, ("--eval-every",), "Validate every N steps as well as at the end of each epoch "
           "[min(epoch, 2000)].", "STEPS", min=1),
    Shared("seed", int, ("--seed",), "Random seed (weights, dropout, data order) [0].", "S"),
    Shared("device", str, ("--device",), "auto, cpu, cuda, cuda:N or mps [auto].", "DEVICE"),
    Shared("precision", Precision, ("--precision",), PRECISION_HELP + " [auto]"),
    Shared("resume", str, ("--resume",), "Continue an interrupted run from its .ckpt file (same input); the budget, "
           "--patience, --half, --device and --precision may change.", "CHECKPOINT"),
    Shared("log", str, ("--log",), "Append every training event as a JSON line.", "FILE.jsonl"),
    Shared("half", bool, ("--half",), "Store the weights as float16: half the file size (inference still "
           "computes in float32).", default=False),
    Shared("meta", list[str], ("--meta",), "Record KEY=VALUE in the model file (e.g. licence=...; repeatable).",
           "KEY=VALUE", default=()),
    Shared("errors", DecodeErrors, ("--errors",), "Invalid UTF-8 in text input: error or replace.",
           default=DecodeErrors.strict),
    Shared("json_out", bool, ("--json",), "Print the run summary as JSON on stdout (default: the model path).",
           default=False),
    Shared("quiet", bool, ("-q", "--quiet"), "No progress or summary on stderr.", default=False),
)

MODEL_KEYS = tuple(s.name for s in SHARED if s.model)
TRAIN_KEYS = tuple(s.name for s in SHARED if not s.model and s.name in {f.name for f in fields(config.TrainConfig)})


@dataclass(frozen=True)
class TrainingOptions:
    """The shared options of one train-* invocation."""

    values: dict

    def __getattr__(self, name: str):
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def model_options(self, **own) -> dict:
        return {**{k: value(self.values[k]) for k in MODEL_KEYS}, **{k: value(v) for k, v in own.items()}}

    def train_options(self, **own) -> dict:
        shared = {k: value(self.values[k]) for k in TRAIN_KEYS}
        shared["half"] = shared["half"] or None  # not given: the checkpoint's choice stands on resume
        return {**shared, **{k: value(v) for k, v in own.items()}}

    def record(self) -> dict:
        from rnntool.cli.common import parse_meta

        return {"command": shlex.join(["rnntool", *sys.argv[1:]]), **parse_meta(self.values["meta"])}


def with_group(func, specs: tuple[Shared, ...], kind: str | None, param: str, build):
    """``func`` with the options ``specs`` appended to its signature; their values reach it as
    one argument ``param`` = ``build(values)``. Typer reads the signature this returns."""
    own = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.name != param]
    added = [inspect.Parameter(s.name, inspect.Parameter.KEYWORD_ONLY, default=s.option(kind), annotation=s.annotation)
             for s in specs]

    @functools.wraps(func)
    def command(**kwargs):
        values = {s.name: kwargs.pop(s.name) for s in specs}
        return func(**kwargs, **{param: build(values)})

    params = own + added
    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


def training_command(app: typer.Typer, name: str, kind: str, help: str):
    """Register ``func(own options..., options: TrainingOptions)`` as command ``name`` with the
    shared training options appended (their defaults described for ``kind``)."""
    from rnntool.cli.common import handle_errors

    def decorate(func):
        app.command(name, help=help)(handle_errors(with_group(func, SHARED, kind, "options", TrainingOptions)))
        return func

    return decorate


# --- how labelled texts are read (train-classifier, eval-classifier, classify) ---------------

LabelledFormatChoice = choices("LabelledFormat", config.LABELLED_FORMATS)
ClassifyInput = choices("ClassifyInput", config.CLASSIFY_INPUTS)


def labelled_specs(format_decls: tuple[str, ...], format_type, format_help: str) -> tuple[Shared, ...]:
    return (
        Shared("format", format_type, format_decls, format_help, default=format_type.auto),
        Shared("text_col", str, ("--text-col",), "Tables: the text column, by header name or number from 1 "
               "[detected from the header: text, document, sentence, review, ...].", "COL"),
        Shared("label_col", str, ("--label-col",), "Tables: the label column, by header name or number from 1 "
               "[detected: label, class, category, sentiment, ...].", "COL"),
        Shared("text_field", str, ("--text-field",), "JSONL: the text field.", "NAME", default="text"),
        Shared("label_field", str, ("--label-field",), "JSONL: the label field (a string, or a list for "
               "multi-label data).", "NAME", default="label"),
        Shared("label_sep", str, ("--label-sep",), "label<TAB>text and tables: several labels in one field, "
               "separated by SEP (multi-label).", "SEP"),
    )


LABELLED_FORMAT_HELP = ("Input layout: label<TAB>text lines (tsv), fastText __label__ lines, a CSV/TSV table with a "
                        "header (csv), or JSONL [auto: detected from the first lines, and said].")
LABELLED = labelled_specs(("--format",), LabelledFormatChoice, LABELLED_FORMAT_HELP)
CLASSIFY_LABELLED = labelled_specs(("--input",), ClassifyInput, "Input layout: one text per line (text), or any "
                                   "train-classifier layout, whose labels are then ignored [auto: JSONL, fastText "
                                   "and headed tables are recognised; anything else is text].")


def labelled_format(values: dict):
    from rnntool.text.labelled import LabelledFormat

    return LabelledFormat(value(values["format"]), values["text_col"], values["label_col"], values["text_field"],
                          values["label_field"], values["label_sep"])


def labelled_input(specs: tuple[Shared, ...] = LABELLED):
    """Append the labelled-input options to a command; it receives them as ``fmt: LabelledFormat``."""
    return lambda func: with_group(func, specs, None, "fmt", labelled_format)
