"""The training loop every model shares: budgets (epochs, steps, time), the
learning-rate schedule, validation with the best model kept, early stopping,
NaN detection, checkpoints for exact resumption, and progress events.

A subclass says how to run one batch, how to validate, and what goes into the
model file; this class does the rest.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from rnntool import __version__
from rnntool.errors import RnntoolError
from rnntool.modelfile import save_model
from rnntool.train.common import (
    SCHEDULES,
    cosine_lr,
    make_optimizer,
    resolve_device,
    resolve_precision,
    save_checkpoint,
)

EventFn = Callable[[dict], None]


@dataclass
class TrainConfig:
    epochs: int | None = None  # None: as many as --max-time / --max-steps allow
    max_time: float | None = None  # seconds of training (validation included)
    max_steps: int | None = None
    batch_size: int = 32
    lr: float = 2e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    beta2: float = 0.999  # Adam's second-moment decay
    clip: float = 1.0
    schedule: str = "cosine"
    warmup: float = 0.0  # fraction of the run
    lr_decay: float = 0.25  # plateau schedule: multiply on a non-improving evaluation
    patience: int = 3
    eval_every: int | None = None  # steps; None: every epoch (at most 2000 steps apart)
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto | fp32 | bf16 (autocast for the training passes)
    half: bool = False  # store the model file's weights as float16 (checkpoints stay float32)

    def validate(self) -> None:
        if self.epochs is None and self.max_time is None and self.max_steps is None:
            raise RnntoolError("give --epochs or --max-time")
        for name in ("batch_size", "patience"):
            if getattr(self, name) < 1:
                raise RnntoolError(f"--{name.replace('_', '-')} must be at least 1")
        if self.epochs is not None and self.epochs < 1:
            raise RnntoolError("--epochs must be at least 1")
        if self.max_time is not None and self.max_time <= 0:
            raise RnntoolError("--max-time must be positive")
        if not self.lr > 0:
            raise RnntoolError("--lr must be positive")
        if self.schedule not in SCHEDULES:
            raise RnntoolError(f"unknown schedule {self.schedule!r}; use one of: {', '.join(SCHEDULES)}")


# What a resumed run may change: its budget, its patience, how the model file is stored.
RESUME_OVERRIDES = ("epochs", "max_time", "max_steps", "patience", "half")


def resumed_config(cfg: TrainConfig, options: dict | None) -> TrainConfig:
    """A checkpoint's training config with the overridable options given again on top."""
    for key in RESUME_OVERRIDES:
        if (options or {}).get(key) is not None:
            setattr(cfg, key, options[key])
    return cfg


class TrainingRun:
    """Subclasses set ``kind`` and implement: ``steps_per_epoch``, ``train_step``,
    ``validate``, ``header`` and optionally ``extra_state`` / ``restore_extra``."""

    kind = ""
    cpu_bf16 = True  # does bf16 autocast pay off on CPUs for this model (see resolve_precision)

    def __init__(self, model: torch.nn.Module, cfg: TrainConfig, output: Path, checkpoint: Path,
                 record: dict, on_event: EventFn | None, data_sha256: str):
        self.cfg = cfg
        self.output, self.checkpoint = Path(output), Path(checkpoint)
        self.record = record
        self.emit = on_event or (lambda event: None)
        self.data_sha256 = data_sha256
        self.device = resolve_device(cfg.device)
        self.precision = resolve_precision(cfg.precision, self.device, self.cpu_bf16)
        self.model = model.to(self.device)
        self.optimizer = make_optimizer(cfg.optimizer, self.model.parameters(), cfg.lr, cfg.weight_decay, cfg.beta2)
        self.eval_every = cfg.eval_every or min(self.steps_per_epoch, 2000)
        # progress state (all of it goes into checkpoints)
        self.epoch, self.batch_index, self.step = 0, 0, 0
        self.elapsed = 0.0
        self.tokens_seen = 0
        self.lr = cfg.lr
        self.best_score = -math.inf  # higher is better
        self.best_metrics: dict = {}
        self.bad_evals = 0
        self.history: list[dict] = []
        self.saved_model = False
        self.best_weights: dict[str, np.ndarray] | None = None
        self.eval_seconds: float | None = None
        self.stop_reason = ""

    # --- to implement ---------------------------------------------------------------------
    steps_per_epoch: int = 1

    def train_step(self) -> tuple[torch.Tensor, int]:
        """Run the batch at (epoch, batch_index): return (loss, tokens)."""
        raise NotImplementedError

    def validate(self) -> tuple[float, dict]:
        """(score, metrics): higher score is better."""
        raise NotImplementedError

    def header(self) -> dict:
        """config / vocab / tokenizer ... for the model file."""
        raise NotImplementedError

    def validation_tokens(self) -> int:
        return 0

    def extra_state(self) -> dict:
        return {}

    def restore_extra(self, ckpt: dict) -> None:
        pass

    def start_epoch(self) -> None:
        pass

    def final_metrics(self) -> dict:
        return {}

    # --- budget and schedule --------------------------------------------------------------
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def total_steps(self) -> int | None:
        caps = []
        if self.cfg.epochs is not None:
            caps.append(self.cfg.epochs * self.steps_per_epoch)
        if self.cfg.max_steps is not None:
            caps.append(self.cfg.max_steps)
        return min(caps) if caps else None

    def eval_reserve(self) -> float:
        """Seconds to keep for the final validation, so the run ends within --max-time."""
        if self.eval_seconds is not None:
            return self.eval_seconds * 1.1
        if self.tokens_seen and self.elapsed > 0:  # forward-only passes run about 3x faster than training
            return self.validation_tokens() / (3.0 * self.tokens_seen / self.elapsed)
        return 0.0

    def progress(self) -> float:
        """Fraction of the run done: by steps, or by time when --max-time bounds it (whichever is further)."""
        p = 0.0
        total = self.total_steps()
        if total:
            p = self.step / total
        if self.cfg.max_time:
            p = max(p, self.elapsed / max(1e-9, self.cfg.max_time - self.eval_reserve()))
        return min(p, 1.0)

    def set_lr(self) -> None:
        if self.cfg.schedule == "cosine":
            self.lr = cosine_lr(self.cfg.lr, self.progress(), self.cfg.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def out_of_budget(self) -> bool:
        total = self.total_steps()
        if total is not None and self.step >= total:
            self.stop_reason = "finished"
            return True
        if self.cfg.max_time is not None and self.elapsed + self.eval_reserve() >= self.cfg.max_time:
            self.stop_reason = "time budget reached"
            return True
        return False

    # --- checkpoints ----------------------------------------------------------------------
    def checkpoint_state(self) -> dict:
        return {
            "kind": self.kind,
            "train_config": asdict(self.cfg),
            "data_sha256": self.data_sha256,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            "position": {"epoch": self.epoch, "batch_index": self.batch_index, "step": self.step},
            "elapsed": self.elapsed,
            "tokens_seen": self.tokens_seen,
            "lr": self.lr,
            "best_score": self.best_score,
            "best_metrics": self.best_metrics,
            "bad_evals": self.bad_evals,
            "history": self.history,
            "saved_model": self.saved_model,
            **self.extra_state(),
        }

    def restore(self, ckpt: dict) -> None:
        if ckpt["data_sha256"] != self.data_sha256:
            raise RnntoolError("the checkpoint was trained on different data; resume with the same input")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["rng"])
        pos = ckpt["position"]
        self.epoch, self.batch_index, self.step = pos["epoch"], pos["batch_index"], pos["step"]
        self.elapsed = ckpt["elapsed"]
        self.tokens_seen = ckpt["tokens_seen"]
        self.lr = ckpt["lr"]
        self.best_score = ckpt["best_score"]
        self.best_metrics = ckpt["best_metrics"]
        self.bad_evals = ckpt["bad_evals"]
        self.history = list(ckpt["history"])
        self.saved_model = ckpt["saved_model"]
        self.restore_extra(ckpt)

    # --- the loop -------------------------------------------------------------------------
    def fractional_epoch(self) -> float:
        return self.epoch + self.batch_index / self.steps_per_epoch

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> dict:
        self.emit({"event": "start", "params": self.n_params(), "steps_per_epoch": self.steps_per_epoch,
                   "device": str(self.device), "precision": self.precision, "epochs": self.cfg.epochs,
                   "max_time": self.cfg.max_time, "total_steps": self.total_steps(), "resumed_at_step": self.step})
        self.model.train()
        clock = time.perf_counter()
        last_eval_step = self.step if self.history else -1
        interrupted = nan = False
        while not self.out_of_budget():
            if self.batch_index == 0:
                self.start_epoch()
            self.set_lr()
            loss, tokens = self.train_step()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.cfg.clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
            self.optimizer.step()
            loss_value = loss.item()
            self.step += 1
            self.tokens_seen += tokens
            self.batch_index += 1
            if self.batch_index == self.steps_per_epoch:
                self.batch_index = 0
                self.epoch += 1
            now = time.perf_counter()
            self.elapsed += now - clock
            clock = now
            if not math.isfinite(loss_value):
                nan = True
                break
            self.emit({"event": "step", "epoch": self.fractional_epoch(), "step": self.step, "loss": loss_value,
                       **self.step_metrics(loss_value), "lr": self.lr, "tokens_seen": self.tokens_seen,
                       "elapsed": self.elapsed, "progress": self.progress()})
            if self.batch_index == 0 or self.step % self.eval_every == 0:
                self.validate_and_save()
                last_eval_step = self.step
                clock = time.perf_counter()
                if self.bad_evals >= self.cfg.patience:
                    self.stop_reason = f"early stop: no improvement in {self.cfg.patience} evaluations"
                    break
            if should_stop():
                interrupted = True
                self.stop_reason = "interrupted"
                break
        if nan:
            self.fail_nan()
        if interrupted:
            save_checkpoint(self.checkpoint, self.checkpoint_state())
            if not self.saved_model:
                # nothing validated yet: leave the current weights as the model (trainer state untouched,
                # so resuming still gives the same run)
                self.write_model(self.weights(), {**self.summary(), "note": "interrupted before the first validation"})
            return self.summary()
        if last_eval_step != self.step:
            self.validate_and_save()
        result = {**self.summary(), **self.final_metrics()}
        self.write_model(self.best_weights, result)
        if self.checkpoint.exists():
            self.checkpoint.unlink()
        return result

    def step_metrics(self, loss: float) -> dict:
        return {}

    def weights(self) -> dict[str, np.ndarray]:
        return {k: v.detach().to("cpu", torch.float32).numpy().copy() for k, v in self.model.state_dict().items()}

    def validate_and_save(self) -> None:
        t0 = time.perf_counter()
        self.model.eval()
        with torch.no_grad():
            score, metrics = self.validate()
        self.model.train()
        self.eval_seconds = time.perf_counter() - t0
        self.elapsed += self.eval_seconds
        improved = score > self.best_score
        entry = {"step": self.step, "epoch": self.fractional_epoch(), "elapsed": self.elapsed,
                 "tokens_seen": self.tokens_seen, "lr": self.lr, **{f"valid_{k}": v for k, v in metrics.items()}}
        self.history.append(entry)
        if improved:
            self.best_score = score
            self.best_metrics = metrics
            self.bad_evals = 0
            self.best_weights = self.weights()
            self.write_model(self.best_weights, self.summary())
        else:
            self.bad_evals += 1
            if self.cfg.schedule == "plateau":
                self.lr *= self.cfg.lr_decay
        self.emit({"event": "eval", **entry, "improved": improved})
        save_checkpoint(self.checkpoint, self.checkpoint_state())

    def summary(self) -> dict:
        return {
            "valid": self.best_metrics,
            "epochs": self.fractional_epoch(),
            "steps": self.step,
            "tokens_seen": self.tokens_seen,
            "train_seconds": round(self.elapsed, 2),
            "stop_reason": self.stop_reason or "finished",
            "params": self.n_params(),
            "history": self.history,
        }

    def fail_nan(self) -> None:
        where = f"epoch {self.epoch + 1}, step {self.step}"
        if self.saved_model:
            raise RnntoolError(
                f"the loss became NaN at {where}; stopped and kept the best model so far in {self.output} "
                f"({', '.join(f'{k} {v:.4f}' for k, v in self.best_metrics.items())}); try a lower --lr or --clip"
            )
        raise RnntoolError(f"the loss became NaN at {where} before any model was saved; try a lower --lr or --clip")

    def write_model(self, weights: dict[str, np.ndarray], metrics: dict) -> None:
        header = self.header()
        header["training"] = {
            **self.record,
            "data_sha256": self.data_sha256,
            "train_config": asdict(self.cfg),
            "metrics": {k: v for k, v in metrics.items() if k != "history"},
            "history": metrics.get("history", []),
            "versions": {"rnntool": __version__, "torch": torch.__version__, "numpy": np.__version__,
                         "python": platform.python_version()},
            **header.get("training", {}),
        }
        if self.cfg.half:
            weights = {k: v.astype(np.float16) if v.dtype.kind == "f" else v for k, v in weights.items()}
        save_model(self.output, self.kind, weights, header)
        self.saved_model = True
