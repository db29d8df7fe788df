"""The training loop every model kind runs on.

    start ─► budget left? ──no──► validate (if not just done) ─► finish (test, calibration) ─► best model
               │yes
               ▼
             lr from the schedule ─► batch(epoch, i) ─► loss = model(batch) ─► backward, clip, step
               │
               ▼
             sync point (every step on CPU, every 20 on GPUs, and before each validation):
             sum [loss, elapsed, stop requests] over ranks ─► NaN? fail · step event
               │
               ├─ end of epoch or --eval-every ─► validate on rank 0, broadcast ─► best model,
               │                                   checkpoint, early stopping
               └─ Ctrl-C/SIGTERM on any rank ─► checkpoint and stop, every rank at the same step

The loop knows a model only through ``model(batch) -> loss`` and
``model.file_weights()``, and its data only as a :class:`BatchSource`; a kind hands
it a :class:`Job` (its data, how to score it, what its model file holds), and the
run preparation (train/runs.py) a ``TrainingSetup`` (where the model and its
checkpoint go, on which device and ranks, a checkpoint to resume). Everything the
loop decides -- budgets, the learning-rate schedule, early stopping, where a resumed
run continues -- is kept in :class:`Progress`, which checkpoints carry whole, so a
resumed run is bit-identical on CPU to one that was never interrupted (at the same thread
count: see parallel.ThreadGovernor).
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from rnntool import __version__
from rnntool.config import TrainConfig
from rnntool.errors import RnntoolError
from rnntool.modelfile import save_model
from rnntool.nn.base import FileModule
from rnntool.parallel import ThreadGovernor
from rnntool.train.checkpoint import rng_state, save_checkpoint, set_rng_state
from rnntool.train.distributed import RANK_SEED_STRIDE, Distributed
from rnntool.train.optim import cosine_lr, make_optimizer
from rnntool.train.precision import autocast, grad_scaler

if TYPE_CHECKING:  # runs.py builds on this module
    from rnntool.train.runs import TrainingSetup

EventFn = Callable[[dict], None]
GPU_SYNC_EVERY = 20  # steps between host syncs on accelerators (CPU steps are synchronous anyway)


class Batch(Protocol):
    """One training step's batch (nn/: LMWindow, TaggerBatch, ClassifierBatch)."""

    @property
    def tokens(self) -> int:  # what the step adds to tokens_seen (texts, for a classifier)
        ...

    def to(self, device: torch.device) -> Batch:
        ...


class BatchSource(Protocol):
    """A kind's training data as the loop reads it (train/batching.py): ``batch`` is a pure
    function of its arguments and the source's own state, which checkpoints carry."""

    steps_per_epoch: int

    def batch(self, epoch: int, index: int) -> Batch:
        ...

    def state_dict(self, dist: Distributed) -> dict:  # collective: every rank's share of the state
        ...

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        ...


@dataclass
class Job:
    """What a model kind gives the loop."""

    model: FileModule  # model(batch) -> loss
    data: BatchSource
    evaluate: Callable[[FileModule], tuple[float, dict]]  # (score, higher is better; metrics)
    header: dict  # config / vocab / tokenizer / training.sources for the model file
    model_config: dict  # how to rebuild the model (checkpoints)
    inputs: dict  # how the data was read (checkpoints, so a resumed run reads it the same way)
    validation_tokens: int = 0  # the validation data in the units of batch.tokens: time kept back under --max-time
    # after training, with the best weights loaded: final metrics (an LM's test scores, a
    # classifier's calibration), merged into the result; it may update ``header`` too
    finish: Callable[[FileModule], dict] | None = None
    step_metrics: Callable[[float], dict] = field(default=lambda loss: {})


@dataclass
class Progress:
    """Where a run stands; checkpoints carry it whole."""

    epoch: int = 0
    batch_index: int = 0
    step: int = 0
    elapsed: float = 0.0  # seconds of training and validation (the same on every rank)
    tokens_seen: int = 0
    lr: float = 0.0
    best_score: float = -math.inf  # higher is better
    best_metrics: dict = field(default_factory=dict)
    bad_evals: int = 0
    history: list = field(default_factory=list)
    saved_model: bool = False
    last_eval_step: int = -1
    eval_seconds: float | None = None


class Trainer:
    def __init__(self, job: Job, cfg: TrainConfig, setup: TrainingSetup, data_sha256: str):
        """``setup.checkpoint``, when resuming, must be of a run on data of ``data_sha256``."""
        self.job, self.cfg, self.setup, self.data_sha256 = job, cfg, setup, data_sha256
        self.dist, self.device, self.precision = setup.dist, setup.device, setup.precision
        self.model = job.model.to(self.device)
        if self.device.type == "cuda":
            self.model.flatten_rnns()
        self.data = job.data
        self.steps_per_epoch = self.data.steps_per_epoch
        self.optimizer = make_optimizer(cfg.optimizer, self.model.parameters(), cfg.lr, cfg.weight_decay, cfg.beta2)
        self.scaler = grad_scaler(self.device, self.precision)
        self.eval_every = cfg.eval_every or min(self.steps_per_epoch, 2000)
        self.sync_every = 1 if self.device.type == "cpu" else GPU_SYNC_EVERY
        self.progress = Progress(lr=cfg.lr)
        self.best_weights: dict[str, np.ndarray] | None = None
        self.stop_reason = ""
        if setup.checkpoint is not None:
            self.restore(setup.checkpoint)
        elif self.dist.rank:  # every rank built the same weights; dropout draws differ per rank
            torch.manual_seed(cfg.seed + RANK_SEED_STRIDE * self.dist.rank)
        self.trained = self.dist.wrap(self.model, self.device, self.model.may_skip_parameters)
        self.threads = ThreadGovernor(torch, cpu=self.device.type == "cpu")

    # --- budget and schedule --------------------------------------------------------------
    def total_steps(self) -> int | None:
        caps = [c for c in (self.cfg.epochs and self.cfg.epochs * self.steps_per_epoch, self.cfg.max_steps) if c]
        return min(caps) if caps else None

    def eval_reserve(self) -> float:
        """Seconds to keep for the final validation, so the run ends within --max-time."""
        p = self.progress
        if p.eval_seconds is not None:
            return p.eval_seconds * 1.1
        if p.tokens_seen and p.elapsed > 0:  # forward-only passes run about 3x faster than training
            return self.job.validation_tokens / (3.0 * p.tokens_seen / p.elapsed)
        return 0.0

    def fraction_done(self) -> float:
        """By steps, or by time when --max-time bounds the run (whichever is further)."""
        p, done = self.progress, 0.0
        total = self.total_steps()
        if total:
            done = p.step / total
        if self.cfg.max_time:
            done = max(done, p.elapsed / max(1e-9, self.cfg.max_time - self.eval_reserve()))
        return min(done, 1.0)

    def set_lr(self) -> None:
        if self.cfg.schedule == "cosine":
            self.progress.lr = cosine_lr(self.cfg.lr, self.fraction_done(), self.cfg.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = self.progress.lr

    def reason_to_stop(self) -> str:
        """Why the run must not take another step ('' to go on); the same on every rank."""
        p, total = self.progress, self.total_steps()
        if p.bad_evals >= self.cfg.patience:
            return f"early stop: no improvement in {self.cfg.patience} evaluations"
        if total is not None and p.step >= total:
            return "finished"
        if self.cfg.max_time is not None and p.elapsed + self.eval_reserve() >= self.cfg.max_time:
            return "time budget reached"
        return ""

    def fractional_epoch(self) -> float:
        return self.progress.epoch + self.progress.batch_index / self.steps_per_epoch

    # --- the loop -------------------------------------------------------------------------
    def fit(self, should_stop: Callable[[], bool] = lambda: False) -> dict:
        p = self.progress
        self.emit({"event": "start", "params": self.model.n_params(), "steps_per_epoch": self.steps_per_epoch,
                   "device": str(self.device), "precision": self.precision, "world_size": self.dist.world_size,
                   "backend": self.dist.backend, "epochs": self.cfg.epochs, "max_time": self.cfg.max_time,
                   "total_steps": self.total_steps(), "resumed_at_step": p.step})
        self.model.train()
        clock = time.perf_counter()
        loss_sum = torch.zeros((), device=self.device)
        pending = 0  # steps since the last sync point
        interrupted = False
        while not (reason := self.reason_to_stop()):
            self.set_lr()
            batch = self.data.batch(p.epoch, p.batch_index).to(self.device)
            with autocast(self.device, self.precision):
                loss = self.trained(batch)
            # DDP averages gradients over ranks; each rank's loss is its share of the global mean
            self.scaler.scale(loss * self.dist.world_size).backward()
            if self.cfg.clip > 0:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
            self.threads.tick()
            loss_sum += loss.detach().float()
            pending += 1
            p.step += 1
            p.tokens_seen += batch.tokens
            p.batch_index += 1
            if p.batch_index == self.steps_per_epoch:
                p.batch_index = 0
                p.epoch += 1
            eval_due = p.batch_index == 0 or p.step % self.eval_every == 0
            if not (eval_due or p.step % self.sync_every == 0):
                continue
            now = time.perf_counter()
            total_loss, seconds, stops = self.dist.all_sum([float(loss_sum), now - clock, float(should_stop())],
                                                           self.device)
            clock = now
            p.elapsed += seconds / self.dist.world_size
            mean_loss = total_loss / pending  # ranks' shares add up to the global batch's loss
            loss_sum.zero_()
            pending = 0
            if not math.isfinite(mean_loss):
                self.fail_nan()
            self.emit({"event": "step", "epoch": self.fractional_epoch(), "step": p.step, "loss": mean_loss,
                       **self.job.step_metrics(mean_loss), "lr": p.lr, "tokens_seen": p.tokens_seen,
                       "elapsed": p.elapsed, "progress": self.fraction_done()})
            if eval_due:
                self.validate_and_save()
                clock = time.perf_counter()
            if stops > 0 and not self.reason_to_stop().startswith("early stop"):
                interrupted = True
                break
        if interrupted:
            self.stop_reason = "interrupted"
            self.save_checkpoint()
            if not p.saved_model:
                # nothing validated yet: leave the current weights as the model (the loop's state
                # stays as it is, so resuming still gives the same run)
                self.write_model(self.model.file_weights(), {**self.summary(),
                                                             "note": "interrupted before the first validation"})
            return self.summary()
        self.stop_reason = reason
        if p.last_eval_step != p.step:
            self.validate_and_save()
        if self.best_weights is None and self.dist.is_main:
            raise RnntoolError("validation never gave a finite score, so there is no model to keep; "
                               "try a lower --lr or --clip")
        result = {**self.summary(), **self.finish()}
        self.write_model(self.best_weights, result)
        if self.dist.is_main and self.setup.checkpoint_path.exists():
            self.setup.checkpoint_path.unlink()
        return result

    def emit(self, event: dict) -> None:
        if self.dist.is_main and self.setup.on_event is not None:
            self.setup.on_event(event)

    def validate_and_save(self) -> None:
        """Rank 0 scores the model; every rank takes its result, so all keep one history."""
        p = self.progress
        t0 = time.perf_counter()
        outcome = None
        if self.dist.is_main:
            self.model.eval()
            with torch.no_grad():
                score, metrics = self.job.evaluate(self.model)
            self.model.train()
            outcome = (score, metrics, time.perf_counter() - t0)
        score, metrics, p.eval_seconds = self.dist.broadcast(outcome)
        p.elapsed += p.eval_seconds
        p.last_eval_step = p.step
        improved = score > p.best_score
        entry = {"step": p.step, "epoch": self.fractional_epoch(), "elapsed": p.elapsed,
                 "tokens_seen": p.tokens_seen, "lr": p.lr, **{f"valid_{k}": v for k, v in metrics.items()}}
        p.history.append(entry)
        if improved:
            p.best_score, p.best_metrics, p.bad_evals = score, metrics, 0
            if self.dist.is_main:
                self.best_weights = self.model.file_weights()
            self.write_model(self.best_weights, self.summary())
        else:
            p.bad_evals += 1
            if self.cfg.schedule == "plateau":
                p.lr *= self.cfg.lr_decay
        self.emit({"event": "eval", **entry, "improved": improved})
        self.save_checkpoint()

    def finish(self) -> dict:
        if self.job.finish is None or not self.dist.is_main or self.best_weights is None:
            return {}
        self.model.load_file_weights(self.best_weights)
        self.model.to(self.device)
        if self.device.type == "cuda":
            self.model.flatten_rnns()
        self.model.eval()
        with torch.no_grad():
            return self.job.finish(self.model)

    def summary(self) -> dict:
        p = self.progress
        return {
            "valid": p.best_metrics,
            "epochs": self.fractional_epoch(),
            "steps": p.step,
            "tokens_seen": p.tokens_seen,
            "train_seconds": round(p.elapsed, 2),
            "stop_reason": self.stop_reason or "finished",
            "params": self.model.n_params(),
            "world_size": self.dist.world_size,
            "history": p.history,
        }

    def fail_nan(self) -> None:
        p = self.progress
        where = f"epoch {p.epoch + 1}, step {p.step}"
        if p.saved_model:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in p.best_metrics.items())
            raise RnntoolError(f"the loss became NaN at {where}; stopped and kept the best model so far in "
                               f"{self.setup.output} ({shown}); try a lower --lr or --clip")
        raise RnntoolError(f"the loss became NaN at {where} before any model was saved; try a lower --lr or --clip")

    # --- files ----------------------------------------------------------------------------
    def write_model(self, weights: dict[str, np.ndarray] | None, metrics: dict) -> None:
        self.progress.saved_model = True
        if not self.dist.is_main:
            return
        header = {k: v for k, v in self.job.header.items() if k != "training"}
        header["training"] = {
            **self.setup.record,
            "data_sha256": self.data_sha256,
            "train_config": asdict(self.cfg),
            "device": str(self.device),
            "precision": self.precision,
            "world_size": self.dist.world_size,
            "backend": self.dist.backend,
            "metrics": {k: v for k, v in metrics.items() if k != "history"},
            "history": metrics.get("history", []),
            "versions": {"rnntool": __version__, "torch": torch.__version__, "numpy": np.__version__,
                         "python": platform.python_version()},
            **self.job.header.get("training", {}),
        }
        if self.cfg.half:
            weights = {k: v.astype(np.float16) if v.dtype.kind == "f" else v for k, v in weights.items()}
        save_model(self.setup.output, self.setup.kind.name, weights, header)

    def checkpoint_state(self) -> dict:
        """Collective: every rank contributes its random state and its data's state."""
        rngs = self.dist.gather(rng_state(self.device))
        data_state = self.data.state_dict(self.dist)
        best = None if self.best_weights is None else {k: torch.from_numpy(v) for k, v in self.best_weights.items()}
        return {
            "kind": self.setup.kind.name,
            "model_config": self.job.model_config,
            "train_config": asdict(self.cfg),
            "inputs": self.job.inputs,
            "data_sha256": self.data_sha256,
            "world_size": self.dist.world_size,
            "progress": asdict(self.progress),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rngs,
            "data": data_state,
            "best_weights": best,
        }

    def save_checkpoint(self) -> None:
        state = self.checkpoint_state()
        if self.dist.is_main:
            save_checkpoint(self.setup.checkpoint_path, state)

    def restore(self, ckpt: dict) -> None:
        if ckpt["data_sha256"] != self.data_sha256:
            raise RnntoolError("the checkpoint was trained on different data; resume with the same input")
        self.model.load_state_dict(ckpt["model"])
        if self.device.type == "cuda":
            self.model.flatten_rnns()
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.progress = Progress(**ckpt["progress"])
        rngs = ckpt["rng"]
        if self.dist.rank < len(rngs):
            set_rng_state(rngs[self.dist.rank], self.device)
        else:  # more ranks than the interrupted run had: new draws for the new ranks
            torch.manual_seed(self.cfg.seed + RANK_SEED_STRIDE * self.dist.rank)
        self.data.load_state_dict(ckpt["data"], self.device)
        best = ckpt.get("best_weights")
        self.best_weights = None if best is None else {k: v.numpy() for k, v in best.items()}
