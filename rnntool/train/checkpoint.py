"""Resumable training state: one checkpoint file beside the model file.

A checkpoint holds everything a resumed run needs to continue exactly where the
interrupted one stopped: the model and optimizer state, the loop's progress
(position, history, best score, the step of the last evaluation), the best
weights so far, the data's own state (an LM's carried hidden state), and the
random-number states of every rank (CPU and CUDA). It is written through the
atomic-write path every output uses, and loaded with ``weights_only=True``: plain
tensors and containers, never pickled code.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from rnntool.errors import RnntoolError
from rnntool.fsutil import atomic_write
from rnntool.kinds import display_name

CHECKPOINT_FORMAT = "rnntool-checkpoint"
CHECKPOINT_VERSION = 2


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write atomically: an interrupted save keeps the previous checkpoint whole."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str | os.PathLike, kind: str) -> dict:
    """Load a checkpoint of ``kind`` safely (tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise RnntoolError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for damaged or foreign files, pickled code included
        raise RnntoolError(f"{path} is not an rnntool training checkpoint or is damaged "
                           f"({type(e).__name__}); it cannot be resumed") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RnntoolError(f"{path} is not an rnntool training checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise RnntoolError(f"{path} has checkpoint version {state.get('version')}; this rnntool resumes version "
                           f"{CHECKPOINT_VERSION} (start the run again without --resume)")
    if state.get("kind") != kind:
        raise RnntoolError(f"{path} is a {display_name(state.get('kind'))} checkpoint; "
                           f"this command resumes {display_name(kind)} checkpoints")
    return state


def checkpoint_path_for(model_path: Path) -> Path:
    """alice.lm.safetensors -> alice.lm.ckpt"""
    name = model_path.name
    stem = name[: -len(".safetensors")] if name.endswith(".safetensors") else name
    return model_path.with_name(stem + ".ckpt")


def rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)
