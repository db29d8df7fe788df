"""The language-model recipe: teacher forcing over long streams.

The training ids form one stream, cut into ``batch_size`` parallel streams
(columns) and windows of ``bptt`` steps. At every position the input is the
true token t and the target token t+1; the hidden state at the end of window k
seeds window k+1 (detached: truncated back-propagation through time).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from rnntool.arch import LMConfig
from rnntool.config import LMTrainConfig
from rnntool.errors import RnntoolError
from rnntool.nn.lm import PAD_ID, LMModule, LMWindow, StateCarry
from rnntool.text.tokenize import Tokenizer
from rnntool.recipes import lm_configs
from rnntool.text.corpus import PrepOptions
from rnntool.train.batching import LMStreams, PagesBehind, stream_columns, window_tensors, windows
from rnntool.train.data import LMData, load_lm_data
from rnntool.train.loop import EventFn, Job
from rnntool.train.runs import prepare

LN2 = math.log(2.0)


TINY_STEPS = 300  # a text of a few sentences: this many updates, as the tutorials' 200 epochs give


def fit_to_text(data: LMData, cfg: LMTrainConfig, given: dict, world_size: int = 1, streams: bool = False) -> bool:
    """A text shorter than one batch of streams (the tutorials' three sentences) trains as
    they do: every line its own stream, read from the start-of-text state that generation
    starts from (so a line's first word brings back the line), --batch-size the number of
    lines and --bptt the longest line, and Adam at 1e-2 for enough updates to learn it --
    wherever the user left the defaults (what they set is kept, and refused below if too
    big; setting --batch-size or --bptt keeps the text one stream). The word recipe's SGD at
    lr 20 is tuned for Penn Treebank and stalls on a dozen tokens (the character recipe's
    Adam stays). ``streams``: a model continued from one trained on streams keeps reading
    streams (from a zero state, its first characters of every line would be guesses). Whether
    the text was that small."""
    n = len(data.train)
    if n >= cfg.batch_size * (cfg.bptt + 1):
        return False
    before = (cfg.batch_size, cfg.bptt)  # the defaults
    line_end = line_end_id(data)
    lines = text_lines(data.train, line_end)
    if "batch_size" not in given and "bptt" not in given and lines and not streams:
        cfg.line_streams = True
        # rounded up to a multiple of the ranks (the extra rows are padding alone, which counts nothing)
        cfg.batch_size = -(-len(lines) // world_size) * world_size
        cfg.bptt = max(len(line) for line in lines) + 1
        changes = ["one stream per line:", f"--batch-size {cfg.batch_size}", f"--bptt {cfg.bptt}"]
    else:
        if "batch_size" not in given:
            cfg.batch_size = max(1, n // (cfg.bptt + 1))
        if "bptt" not in given and n < cfg.batch_size * (cfg.bptt + 1):
            cfg.bptt = max(1, n // cfg.batch_size - 1)
        if (cfg.batch_size, cfg.bptt) == before:
            return True
        changes = [f"--batch-size {cfg.batch_size}", f"--bptt {cfg.bptt}"]
    if "optimizer" not in given and "lr" not in given and cfg.optimizer == "sgd":
        cfg.optimizer, cfg.lr, cfg.clip = "adam", 1e-2, max(cfg.clip, 1.0)
        changes.append("--optimizer adam --lr 0.01")
    if not any(k in given for k in ("epochs", "max_time", "max_steps")):
        steps_per_epoch = 1 if cfg.line_streams else max(1, (n - 1) // (cfg.batch_size * cfg.bptt))
        cfg.epochs, cfg.max_time, cfg.max_steps = max(1, -(-TINY_STEPS // steps_per_epoch)), None, None
        changes.append(f"--epochs {cfg.epochs}")
    if "patience" not in given:
        cfg.patience = 10 ** 6  # it validates on what it trains on: stopping early would only stop it learning
    data.notes.append(f"the training text has {n:,} tokens (the defaults need {before[0] * (before[1] + 1):,}): "
                      f"training with {' '.join(changes)}")
    return True


def read_backward(data: LMData) -> None:
    """Every split as a backward model reads it, right to left: reversed views of the
    memory-mapped ids, so the text is neither copied nor held in memory. (A split that is the
    training text itself stays the very same array: validate_on_train_if_tiny and
    line_rows tell it apart by identity.)"""
    validates_on_train, tests_on_train = data.valid is data.train, data.test is data.train
    data.train = data.train[::-1]
    data.valid = data.train if validates_on_train else data.valid[::-1]
    if data.test is not None:
        data.test = data.train if tests_on_train else data.test[::-1]
    data.notes.append("reading the text right to left: a backward language model (--reverse)")


def line_end_id(data: LMData) -> int:
    """The id that ends a line in this data (<eos> for words, the newline for characters)."""
    return data.vocab.stoi.get(Tokenizer(data.settings).line_end, data.vocab.eos_id)


def text_lines(ids: np.ndarray, line_end: int) -> list[np.ndarray]:
    """The non-empty lines of an id stream (without their line ends)."""
    ends = np.flatnonzero(np.asarray(ids) == line_end)
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [len(ids)]])
    return [np.asarray(ids[a:b]) for a, b in zip(starts, stops) if b > a]


def line_rows(data: LMData, cfg: LMTrainConfig) -> np.ndarray:
    """The text as ``cfg.batch_size`` equal rows, one per line: line end, the line, line
    end, then padding (whose targets the loss ignores), so that each of the streams cut
    from it is exactly one line."""
    line_end = line_end_id(data)
    lines = text_lines(data.train, line_end)
    width = cfg.bptt + 1
    if len(lines) > cfg.batch_size or max(len(line) for line in lines) + 2 > width:
        raise RnntoolError("the checkpoint's one-stream-per-line layout does not fit this text; "
                           "resume with the text it was trained on")
    rows = np.full((cfg.batch_size, width), data.vocab.pad_id, dtype=np.int64)
    for row, line in zip(rows, lines):
        row[0], row[1: len(line) + 1], row[len(line) + 1] = line_end, line, line_end
    return rows.reshape(-1)


def validate_on_train_if_tiny(data: LMData, cfg: LMTrainConfig) -> None:
    """A held-out split shorter than one --bptt window cannot choose the best model (the
    tutorials hold out nothing): validate on the training text. The same rule on resume."""
    if data.valid is not data.train and len(data.valid) <= cfg.bptt:
        data.notes.append(f"the validation split has {len(data.valid)} tokens; validating on the training text")
        data.valid = data.train


def cap_validation(data: LMData, cfg: LMTrainConfig) -> None:
    """Validate on the first ``cfg.valid_tokens`` tokens of a large validation split: the
    estimate is as good (its standard error is tiny by then) and each validation costs
    seconds, not a third of an epoch. The full split is still there for eval-lm."""
    if cfg.valid_tokens and data.valid is not data.train and len(data.valid) > cfg.valid_tokens:
        data.notes.append(f"validating on the first {cfg.valid_tokens:,} of the {len(data.valid):,} validation "
                          "tokens (--valid-tokens to change; rnntool eval-lm measures the whole split)")
        data.valid = data.valid[: cfg.valid_tokens]


def check_lengths(data: LMData, cfg: LMTrainConfig) -> None:
    need = cfg.batch_size * (cfg.bptt + 1)
    if len(data.train) < need:
        raise RnntoolError(
            f"the training text has {len(data.train):,} tokens; --batch-size {cfg.batch_size} x --bptt {cfg.bptt} "
            f"needs at least {need:,}; give more text or lower --batch-size/--bptt"
        )
    if len(data.valid) < 2:
        raise RnntoolError(
            "the validation split is empty; raise --valid-frac or give a --valid file with some text"
        )


def stream_loss(model: LMModule, ids: np.ndarray, batch: int, bptt: int, device) -> float:
    """Mean loss (nats/token) over ``ids`` as ``batch`` streams with the state carried."""
    batch = max(1, min(batch, len(ids) // 2))
    columns = stream_columns(ids, batch)
    pages_behind = PagesBehind(ids, batch, range(batch))
    carry, total, count = StateCarry(), 0.0, 0
    for start in windows(columns, bptt):
        x, y = window_tensors(columns, start, bptt, device)
        pages_behind.advance(start)
        total += float(model(LMWindow(x, y, carry, norm=1)))  # norm 1: the window's summed loss
        count += int((y != PAD_ID).sum())  # padding (one stream per line) is not a target
    return total / max(count, 1)


def metrics_for(loss: float, level: str) -> dict:
    out = {"loss": loss, "ppl": math.exp(min(loss, 700))}
    if level == "char":
        out["bpc"] = loss / LN2
    return out


def train_lm(
    input_spec: str,
    output: str | Path | None = None,
    *,
    prep: PrepOptions | None = None,
    model_options: dict | None = None,
    train_options: dict | None = None,
    valid_specs: list[str] | None = None,
    resume: str | Path | None = None,
    record: dict | None = None,
    on_event: EventFn | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    progress=None,
    init_from: str | None = None,
    given_settings: dict | None = None,
) -> tuple[dict, Path]:
    """Train (or resume training) a language model; returns (summary, model path).

    ``model_options`` / ``train_options`` override the level's defaults
    (rnntool.recipes); when resuming, everything comes from the checkpoint. With
    ``init_from`` (a language model), training continues that model on the text: its
    architecture and tokenizer (``given_settings``, the tokenizer settings the caller set,
    must agree), its vocabulary extended by the text's new types (rnntool.train.transfer).
    """
    from rnntool.train.transfer import LMStart, continue_on

    setup = prepare("lm", input_spec, output, train_options, resume, record, on_event)
    prep = prep or PrepOptions()
    start = None
    if init_from is not None and not setup.resumed:
        start = LMStart.load(init_from)
        prep = replace(prep, settings=start.tokenizer_settings(given_settings or {}))
    inputs = setup.inputs({"prep": prep.to_dict(), "valid": list(valid_specs or []), "init_from": init_from})
    prep = PrepOptions.from_dict(inputs["prep"])
    if start is None and inputs.get("init_from"):
        start = LMStart.load(inputs["init_from"])  # a resumed run's vocabulary is made as it was
    if start is None:
        data = load_lm_data(input_spec, prep, inputs["valid"], progress)
        inputs["prep"] = replace(prep, settings=data.settings).to_dict()  # subword pieces: a resumed run reads with these
    else:  # every type of the text is read; the model's vocabulary decides which are kept
        data = load_lm_data(input_spec, replace(prep, min_freq=1, max_vocab=None), inputs["valid"], progress)
        data = continue_on(data, start, prep.min_freq, prep.max_vocab)
    level = data.settings.level

    def configs() -> tuple[LMConfig, LMTrainConfig]:
        if start is None:
            return lm_configs(level, len(data.vocab), model_options, train_options)
        model = start.model_config(len(data.vocab), model_options or {})
        return model, lm_configs(level, len(data.vocab), None, train_options)[1]

    model_cfg, cfg = setup.configs(LMConfig, LMTrainConfig, model_options, train_options, configs)
    if start is not None and model_cfg.vocab_size != len(data.vocab):  # a resumed run's start model changed since
        raise RnntoolError(f"this text now makes a vocabulary of {len(data.vocab):,} where the checkpoint's model has "
                           f"{model_cfg.vocab_size:,}: the --init-from model {inputs.get('init_from')} changed since; "
                           "resume with the file it started from")
    if model_cfg.reverse:
        read_backward(data)
    given = {k: v for k, v in (train_options or {}).items() if v is not None}
    if not setup.resumed and fit_to_text(data, cfg, given, setup.dist.world_size, streams=start is not None) \
            and "precision" not in given \
            and setup.precision != "fp32":
        # a few sentences train in seconds either way; in fp32 what they learn does not depend on
        # whether this CPU happens to run bf16 natively (the tutorials' outputs stay the same)
        data.notes.append(f"a tiny text trains in fp32 (not {setup.precision}: speed does not matter here)")
        setup.precision = "fp32"
    if cfg.line_streams:
        validates_on_train = data.valid is data.train
        data.train = line_rows(data, cfg)
        if validates_on_train:
            data.valid = data.train
    validate_on_train_if_tiny(data, cfg)
    cap_validation(data, cfg)
    check_lengths(data, cfg)
    for note in data.notes:
        if on_event is not None and setup.dist.is_main:
            on_event({"event": "note", "message": note})
    setup.seed(cfg)
    model = LMModule(model_cfg)
    if start is not None and not setup.resumed:  # (a resumed run's weights come from its checkpoint)
        model.load_file_weights(start.weights_for(model_cfg))

    def eval_batch(ids: np.ndarray) -> int:
        # a short text is read as fewer streams, each at least a window long: cut into
        # --batch-size streams of a few tokens, most of it would be read from a zero state
        return cfg.batch_size if cfg.line_streams else max(1, min(cfg.batch_size, len(ids) // (cfg.bptt + 1)))

    def validate(m: LMModule) -> tuple[float, dict]:
        loss = stream_loss(m, data.valid, eval_batch(data.valid), cfg.bptt, setup.device)
        return -loss, metrics_for(loss, level)

    def test(m: LMModule) -> dict:
        return metrics_for(stream_loss(m, data.test, eval_batch(data.test), cfg.bptt, setup.device), level)

    job = Job(
        model=model,
        data=LMStreams(data.train, cfg.batch_size, cfg.bptt, setup.dist, pin=setup.device.type == "cuda",
                       padded=cfg.line_streams),
        evaluate=validate,
        header={"config": model_cfg.to_dict(), "vocab": data.vocab.to_dict(), "tokenizer": data.settings.to_dict(),
                "training": {"sources": data.sources, **({"init_from": start.name} if start is not None else {})}},
        model_config=model_cfg.to_dict(),
        inputs=inputs,
        validation_tokens=len(data.valid),
        finish=(lambda m: {"test": test(m)}) if data.test is not None and len(data.test) >= 2 else None,
        step_metrics=lambda loss: metrics_for(loss, level),
    )
    return setup.fit(job, cfg, data.data_sha256, should_stop), setup.output

