"""What every trainable model shares: the contract with the training loop and the
mapping between its torch parameters and the model file's tensors.

The loop knows nothing about a model but this: ``model(batch)`` returns the
batch's loss (the model owns its loss, as nanoGPT's ``forward(idx, targets)``
does), and ``file_weights()`` gives what the model file stores.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import torch
from torch import nn


class FileModule(nn.Module):
    # DDP must look for parameters a step did not use (adaptive-softmax clusters no
    # target fell in, say); off by default, it costs a graph traversal per step.
    may_skip_parameters = False

    def file_names(self) -> dict[str, str]:
        """state_dict name -> model file name, for the tensors the model file stores."""
        return {name: name for name in self.state_dict()}

    def file_weights(self) -> dict[str, np.ndarray]:
        """The model file's tensors as float32 numpy arrays, by file name."""
        state = self.state_dict()
        return {file: state[name].detach().to("cpu", torch.float32).numpy().copy()
                for name, file in self.file_names().items()}

    def load_file_weights(self, tensors: dict[str, np.ndarray]) -> None:
        module_name = {file: name for name, file in self.file_names().items()}
        state = {module_name[k]: torch.from_numpy(np.asarray(v, np.float32)) for k, v in tensors.items()}
        missing = self.load_state_dict(state, strict=False).missing_keys
        stored = set(self.file_names())
        if any(name in stored for name in missing):  # training-only parts may stay as they are
            raise KeyError(f"model file lacks {sorted(n for n in missing if n in stored)}")
        self.after_load()

    def after_load(self) -> None:
        """Re-tie shared weights and the like after loading."""

    def n_params(self) -> int:
        """Parameters the model file stores (training-only parts left out)."""
        state = self.state_dict()
        return sum(state[name].numel() for name in self.file_names())

    def flatten_rnns(self) -> None:
        """cuDNN wants each RNN's weights in one contiguous block after a move or a load."""
        for module in self.modules():
            if isinstance(module, nn.RNNBase):
                module.flatten_parameters()


class TensorBatch:
    """Mixin for a dataclass batch: its tensor fields move together (to a device, or pinned)."""

    def _map(self, fn):
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return type(self)(**{k: fn(v) if isinstance(v, torch.Tensor) else v for k, v in values.items()})

    def to(self, device: torch.device):
        return self._map(lambda t: t.to(device, non_blocking=True))

    def pin_memory(self):
        return self._map(lambda t: t.pin_memory())
