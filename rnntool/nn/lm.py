"""The recurrent language model in torch: embedding -> stacked RNN -> softmax.

Parameter names are torch's own (``rnn.weight_ih_l0`` ...); the numpy runtime
reads the same names from the model file.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnntool.arch import LMConfig
from rnntool.nn.base import FileModule
from rnntool.text.tokenize import PAD, SPECIALS

PAD_ID = SPECIALS.index(PAD)  # the specials come first in every vocabulary


def make_rnn(cell: str, input_size: int, hidden: int, layers: int, dropout: float, bidirectional: bool = False,
             batch_first: bool = False) -> nn.Module:
    kwargs = dict(num_layers=layers, dropout=dropout if layers > 1 else 0.0, bidirectional=bidirectional,
                  batch_first=batch_first)
    if cell == "lstm":
        return nn.LSTM(input_size, hidden, **kwargs)
    if cell == "gru":
        return nn.GRU(input_size, hidden, **kwargs)
    return nn.RNN(input_size, hidden, nonlinearity="relu" if cell == "rnn-relu" else "tanh", **kwargs)


class StateCarry:
    """The hidden state carried from one window of a stream to the next."""

    def __init__(self):
        self.state = None


@dataclass
class LMWindow:
    """One window of teacher forcing: ``inputs`` [T, B] ids, ``targets`` [T, B] the next
    ids; ``carry`` holds the streams' state between windows; ``norm`` is the number of
    targets in the whole (global) batch, so that ranks' losses add up to its mean."""

    inputs: torch.Tensor
    targets: torch.Tensor
    carry: StateCarry
    norm: int

    @property
    def tokens(self) -> int:
        return self.norm

    def to(self, device: torch.device) -> "LMWindow":
        return LMWindow(self.inputs.to(device, non_blocking=True), self.targets.to(device, non_blocking=True),
                        self.carry, self.norm)


class LMModule(FileModule):
    """Inputs and outputs are time-major: ids [T, B] -> features [T, B, H]."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.emb)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = make_rnn(cfg.cell, cfg.emb, cfg.hidden, cfg.layers, cfg.dropout)
        if cfg.softmax == "adaptive":
            self.decoder = nn.AdaptiveLogSoftmaxWithLoss(cfg.hidden, cfg.vocab_size, cfg.cutoffs, cfg.div_value)
        else:
            self.decoder = nn.Linear(cfg.hidden, cfg.vocab_size)
            if cfg.tie:
                self.decoder.weight = self.embedding.weight
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        if isinstance(self.decoder, nn.Linear):
            if not self.cfg.tie:
                nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
            nn.init.zeros_(self.decoder.bias)
        if self.cfg.cell == "lstm":
            # forget-gate bias 1: remember by default (Jozefowicz et al. 2015)
            for name, p in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    h = self.cfg.hidden
                    with torch.no_grad():
                        p[h: 2 * h].fill_(1.0)

    @property
    def may_skip_parameters(self) -> bool:
        return self.cfg.softmax == "adaptive"  # a tail cluster no target of a batch falls in gets no gradient

    def forward(self, batch: LMWindow) -> torch.Tensor:
        """The window's share of its batch's mean loss; the carried state moves on (detached:
        truncated back-propagation through time)."""
        features, state = self.features(batch.inputs, batch.carry.state)
        batch.carry.state = detach_state(state)
        return self.loss(features, batch.targets, reduction="sum") / batch.norm

    def features(self, ids: torch.Tensor, state=None):
        x = self.drop(self.embedding(ids))
        out, state = self.rnn(x, state)
        return self.drop(out), state

    def loss(self, features: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Cross-entropy (nats per token) of ``targets`` given ``features``."""
        flat = features.reshape(-1, features.shape[-1])
        t = targets.reshape(-1)
        if self.cfg.softmax == "adaptive":
            keep = t != PAD_ID  # as ignore_index below: padding is never a target
            nll = torch.zeros(t.shape, dtype=torch.float32, device=flat.device)
            # in float32 with autocast off: under CPU autocast torch's AdaptiveLogSoftmaxWithLoss
            # copies a bf16 cluster log-probability into its float32 output and fails (torch 2.13)
            with torch.autocast(flat.device.type, enabled=False):
                nll[keep] = -self.decoder(flat[keep].float(), t[keep]).output
            if reduction == "mean":
                return nll.sum() / keep.sum().clamp(min=1)
            return nll.sum() if reduction == "sum" else nll
        # padding (the rows of one-line streams) is never a target: the loss ignores it
        return F.cross_entropy(self.decoder(flat), t, reduction=reduction, ignore_index=PAD_ID)

    def log_probs(self, features: torch.Tensor) -> torch.Tensor:
        flat = features.reshape(-1, features.shape[-1])
        if self.cfg.softmax == "adaptive":
            out = self.decoder.log_prob(flat)
        else:
            out = F.log_softmax(self.decoder(flat), dim=-1)
        return out.reshape(*features.shape[:-1], -1)

    def file_names(self) -> dict[str, str]:
        """A tied decoder weight is stored once (as the embedding)."""
        return {name: name for name in self.state_dict() if not (self.cfg.tie and name == "decoder.weight")}

    def after_load(self) -> None:
        if self.cfg.tie:
            self.decoder.weight = self.embedding.weight


def detach_state(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()
