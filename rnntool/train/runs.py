"""The one run preparation every training command shares.

Before any data is read: where the model goes (and its checkpoint), which device
and precision (failing early when they cannot work), the torchrun process group,
and, when resuming, the checkpoint -- which then supplies the configuration and
how the data was read. ``prepare`` returns all of it as a :class:`TrainingSetup`;
a kind's recipe (train/lm.py, train/tagger.py, train/classifier.py) reads its data,
builds its model and :class:`~rnntool.train.loop.Job`, and calls
:meth:`TrainingSetup.fit`, which hands the setup to the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import torch

from rnntool.config import TrainConfig, check_keys, resumed
from rnntool.errors import RnntoolError
from rnntool.fsutil import OutputLock, check_output_path
from rnntool.kinds import Kind, get_kind
from rnntool.train import distributed
from rnntool.train.checkpoint import checkpoint_path_for, load_checkpoint
from rnntool.train.loop import EventFn, Job, Trainer
from rnntool.train.precision import resolve_precision

C = TypeVar("C")
M = TypeVar("M")


def default_output(input_spec: str, kind: str) -> Path:
    """Next to the input: alice.txt -> alice.lm.safetensors."""
    if input_spec == "-" or input_spec.startswith("nltk:"):
        raise RnntoolError(f"reading {input_spec}: give the model file name with -o MODEL")
    p = Path(input_spec.rstrip("/"))
    stem = p.name[: -len(p.suffix)] if p.suffix and p.is_file() else p.name
    if p.suffix == ".corpus":
        stem = p.stem
    return p.with_name(f"{stem}.{kind}.safetensors")


@dataclass
class TrainingSetup:
    """What is settled before any data is read: where the model and its checkpoint go, on
    which device and ranks, at which precision, and the checkpoint when resuming."""

    kind: Kind
    output: Path
    checkpoint_path: Path
    checkpoint: dict | None  # the loaded checkpoint when resuming
    dist: distributed.Distributed
    device: torch.device
    precision: str
    record: dict = field(default_factory=dict)  # command line, --meta (into the model file)
    on_event: EventFn | None = None

    @property
    def resumed(self) -> bool:
        return self.checkpoint is not None

    def inputs(self, given: dict) -> dict:
        """How to read the data: as given, or as the interrupted run read it."""
        return dict(self.checkpoint["inputs"]) if self.resumed else given

    def configs(self, model_cls: type[M], train_cls: type[C], model_options: dict | None,
                train_options: dict | None, build: Callable[[], tuple[M, C]]) -> tuple[M, C]:
        """The recipe's configurations (``build``), or, when resuming, the checkpoint's: the
        model cannot change, and training only in what ``config.RESUME_OVERRIDES`` allows."""
        if not self.resumed:
            return build()
        model = model_cls.from_dict(self.checkpoint["model_config"])
        changed = sorted(k for k, v in check_keys(model_cls, model_options, self.kind.display).items()
                         if getattr(model, k) != v)
        if changed:
            raise RnntoolError(f"a resumed run keeps its model; drop {', '.join('--' + k.replace('_', '-') for k in changed)} "
                               "or start a new run without --resume")
        return model, resumed(train_cls(**self.checkpoint["train_config"]), train_options)

    def claim(self) -> list[OutputLock]:
        """Rank 0's claims on the model and the checkpoint for as long as the run writes them
        (both: a run resuming someone else's checkpoint into another -o must not write it
        alongside them)."""
        if not self.dist.is_main:
            return []
        locks = [OutputLock(self.output)]
        try:
            locks.append(OutputLock(self.checkpoint_path))
        except BaseException:
            locks[0].release()
            raise
        return locks

    def seed(self, cfg: TrainConfig) -> None:
        """Before building the model: every rank draws the same initial weights."""
        torch.manual_seed(cfg.seed)

    def fit(self, job: Job, cfg: TrainConfig, data_sha256: str, should_stop: Callable[[], bool]) -> dict:
        locks: list[OutputLock] = []
        try:
            locks = self.claim()
            try:
                result = Trainer(job, cfg, self, data_sha256).fit(should_stop)
            except RuntimeError as e:
                lost = self.dist.lost_peer(e, self.checkpoint_path)
                if lost is None:
                    raise
                raise lost from e
            # every rank through its last save and collective before any tears down its
            # process group (close(); distributed.setup says why it must be gone by exit);
            # not on the error path, where a dead peer would leave the barrier waiting
            self.dist.barrier()
        finally:
            self.dist.close()
            for lock in locks:
                lock.release()
        result["model"] = str(self.output)
        result["checkpoint"] = str(self.checkpoint_path) if self.checkpoint_path.exists() else None
        return result


def prepare(kind_name: str, input_spec: str, output: str | Path | None, train_options: dict | None,
            resume: str | Path | None, record: dict | None, on_event: EventFn | None) -> TrainingSetup:
    kind = get_kind(kind_name)
    output = Path(output) if output else default_output(input_spec, kind.name)
    check_output_path(output)
    checkpoint = load_checkpoint(resume, kind.name) if resume is not None else None
    options = train_options or {}
    saved = checkpoint["train_config"] if checkpoint else {}
    device_name = options.get("device") or saved.get("device") or "auto"
    precision_name = options.get("precision") or saved.get("precision") or "auto"
    dist, device = distributed.setup(device_name)  # fail before reading any data
    precision = resolve_precision(precision_name, device, kind.cpu_bf16)
    checkpoint_path = Path(resume) if resume is not None else checkpoint_path_for(output)
    setup = TrainingSetup(kind, output, checkpoint_path, checkpoint, dist, device, precision, dict(record or {}),
                          on_event)
    for lock in setup.claim():  # refused now, before any data is read, if another run holds them
        lock.release()
    return setup
