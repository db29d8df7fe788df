"""Training a recurrent language model with teacher forcing over long streams.

The training ids form one stream, cut into ``batch_size`` parallel streams
(columns) and windows of ``bptt`` steps. At every position the input is the
true token t and the target token t+1; the hidden state at the end of window k
seeds window k+1 (detached: truncated back-propagation through time).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from rnntool.arch import LMConfig
from rnntool.errors import RnntoolError
from rnntool.nn.lm import RNNLM, detach_state
from rnntool.text.corpus import PrepOptions
from rnntool.train.data import LMData
from rnntool.train.common import autocast
from rnntool.train.loop import EventFn, TrainConfig, TrainingRun, resumed_config

LN2 = math.log(2.0)


@dataclass
class LMTrainConfig(TrainConfig):
    bptt: int = 128

    def validate(self) -> None:
        super().validate()
        if self.bptt < 1:
            raise RnntoolError("--bptt must be at least 1")


def stream_columns(ids: np.ndarray, batch: int) -> np.ndarray:
    """[n] -> [n // batch, batch]: column b is the b-th contiguous slice of the stream."""
    n = len(ids) // batch
    return np.asarray(ids[: n * batch]).reshape(batch, n).T


def windows(columns: np.ndarray, bptt: int) -> list[int]:
    return list(range(0, len(columns) - 1, bptt))


def window_tensors(columns: np.ndarray, start: int, bptt: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    length = min(bptt, len(columns) - 1 - start)
    chunk = torch.from_numpy(np.ascontiguousarray(columns[start: start + length + 1], dtype=np.int64)).to(device)
    return chunk[:-1], chunk[1:]


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


def evaluate(model: RNNLM, ids: np.ndarray, batch: int, bptt: int, device) -> tuple[float, int]:
    """Mean loss (nats/token) over ``ids`` as ``batch`` streams with the state carried."""
    batch = max(1, min(batch, len(ids) // 2))
    columns = stream_columns(ids, batch)
    model.eval()
    total, count = 0.0, 0
    state = None
    with torch.no_grad():
        for start in windows(columns, bptt):
            x, y = window_tensors(columns, start, bptt, device)
            features, state = model(x, state)
            total += float(model.loss(features, y, reduction="sum"))
            count += y.numel()
    model.train()
    return total / max(count, 1), count


def metrics_for(loss: float, level: str) -> dict:
    out = {"loss": loss, "ppl": math.exp(min(loss, 700))}
    if level == "char":
        out["bpc"] = loss / LN2
    return out


class LMTrainer(TrainingRun):
    """Teacher forcing over parallel streams with truncated BPTT."""

    kind = "lm"

    def __init__(self, model_cfg: LMConfig, cfg: LMTrainConfig, data: LMData, output: Path, checkpoint: Path,
                 record: dict, on_event: EventFn | None = None):
        cfg.validate()
        check_lengths(data, cfg)
        self.model_cfg, self.data = model_cfg, data
        self.columns = stream_columns(data.train, cfg.batch_size)
        self.starts = windows(self.columns, cfg.bptt)
        self.steps_per_epoch = len(self.starts)
        torch.manual_seed(cfg.seed)
        super().__init__(RNNLM(model_cfg), cfg, output, checkpoint, record, on_event, data.data_sha256)
        self.state = None  # hidden state carried from window to window
        self.prep = PrepOptions(settings=data.settings)  # what made the data (for resuming on text)
        self.valid_specs: list[str] = []

    def start_epoch(self) -> None:
        self.state = None  # each epoch starts from the zero state

    def train_step(self) -> tuple[torch.Tensor, int]:
        x, y = window_tensors(self.columns, self.starts[self.batch_index], self.cfg.bptt, self.device)
        self.state = detach_state(self.state)
        with autocast(self.device, self.precision):  # the output layer too: it is most of the arithmetic
            features, self.state = self.model(x, self.state)
            loss = self.model.loss(features, y)
        return loss, y.numel()

    def step_metrics(self, loss: float) -> dict:
        return metrics_for(loss, self.data.settings.level)

    def validation_tokens(self) -> int:
        return len(self.data.valid)

    def validate(self) -> tuple[float, dict]:
        loss, _ = evaluate(self.model, self.data.valid, self.cfg.batch_size, self.cfg.bptt, self.device)
        return -loss, metrics_for(loss, self.data.settings.level)

    def final_metrics(self) -> dict:
        if self.data.test is None or len(self.data.test) < 2 or self.best_weights is None:
            return {}
        self.model.load_numpy_weights(self.best_weights)
        self.model.to(self.device)
        test_loss, _ = evaluate(self.model, self.data.test, self.cfg.batch_size, self.cfg.bptt, self.device)
        return {"test": metrics_for(test_loss, self.data.settings.level)}

    def weights(self) -> dict[str, np.ndarray]:
        return self.model.numpy_weights()

    def header(self) -> dict:
        return {
            "config": self.model_cfg.to_dict(),
            "vocab": self.data.vocab.to_dict(),
            "tokenizer": self.data.settings.to_dict(),
            "training": {"sources": self.data.sources},
        }

    def extra_state(self) -> dict:
        state = list(self.state) if isinstance(self.state, tuple) else self.state
        return {
            "model_config": self.model_cfg.to_dict(),
            "vocab": self.data.vocab.to_dict(),
            "tokenizer": self.data.settings.to_dict(),
            "prep": {**{k: v for k, v in asdict(self.prep).items() if k != "settings"},
                     "settings": self.prep.settings.to_dict()},
            "valid_specs": self.valid_specs,
            "hidden": state,
        }

    def restore_extra(self, ckpt: dict) -> None:
        hidden = ckpt["hidden"]
        if isinstance(hidden, list):
            hidden = tuple(h.to(self.device) for h in hidden)
        elif hidden is not None:
            hidden = hidden.to(self.device)
        self.state = hidden


def default_output(input_spec: str, kind: str = "lm") -> Path:
    """Next to the input: alice.txt -> alice.lm.safetensors."""
    if input_spec == "-" or input_spec.startswith("nltk:"):
        raise RnntoolError(f"reading {input_spec}: give the model file name with -o MODEL")
    p = Path(input_spec.rstrip("/"))
    stem = p.name[: -len(p.suffix)] if p.suffix and p.is_file() else p.name
    if p.suffix == ".corpus":
        stem = p.stem
    return p.with_name(f"{stem}.{kind}.safetensors")


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
) -> tuple[dict, Path]:
    """Train (or resume training) a language model; returns (summary, model path).

    ``model_options`` / ``train_options`` override the level's defaults
    (rnntool.recipes); when resuming, everything comes from the checkpoint.
    """
    from rnntool.fsutil import check_output_path
    from rnntool.recipes import lm_defaults
    from rnntool.text.tokenize import TokenizerSettings
    from rnntool.train.common import checkpoint_path_for, load_checkpoint, resolve_device
    from rnntool.train.data import load_lm_data

    output = Path(output) if output else default_output(input_spec)
    check_output_path(output)
    resolve_device((train_options or {}).get("device") or "auto")  # fail before reading any data
    if resume is not None:
        ckpt = load_checkpoint(resume, "lm")
        saved_prep = ckpt["prep"]
        prep = PrepOptions(settings=TokenizerSettings.from_dict(saved_prep.pop("settings")), **saved_prep)
        data = load_lm_data(input_spec, prep, ckpt.get("valid_specs") or [], progress)
        model_cfg = LMConfig.from_dict(ckpt["model_config"])
        cfg = resumed_config(LMTrainConfig(**ckpt["train_config"]), train_options)
        trainer = LMTrainer(model_cfg, cfg, data, output, Path(resume), record or {}, on_event)
        trainer.prep, trainer.valid_specs = prep, ckpt.get("valid_specs") or []
        trainer.restore(ckpt)
    else:
        prep = prep or PrepOptions()
        data = load_lm_data(input_spec, prep, valid_specs, progress)
        defaults = lm_defaults(data.settings.level, len(data.vocab), {**(model_options or {}), **(train_options or {})})
        model_fields = {k: defaults.pop(k) for k in list(defaults) if k in LMConfig.__dataclass_fields__}
        model_cfg = LMConfig(vocab_size=len(data.vocab), **model_fields)
        if defaults.get("epochs") is None and defaults.get("max_time") is None and defaults.get("max_steps") is None:
            defaults["epochs"] = 10
        cfg = LMTrainConfig(**{k: v for k, v in defaults.items() if k in LMTrainConfig.__dataclass_fields__})
        trainer = LMTrainer(model_cfg, cfg, data, output, checkpoint_path_for(output), record or {}, on_event)
        trainer.prep, trainer.valid_specs = prep, list(valid_specs or [])
    result = trainer.run(should_stop)
    result["model"] = str(output)
    result["checkpoint"] = str(trainer.checkpoint) if trainer.checkpoint.exists() else None
    return result, output
