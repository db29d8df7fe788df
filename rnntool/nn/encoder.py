"""The recurrent text encoder the tagger and the classifier share: token features
(word embedding, character CNN, casing) and a stack of recurrent layers, run
layer by layer (so a loss can reach any layer's output, and dropout sits between
them). Tagger batches hold sentences of one length (RecurrentStack); classifier
batches are padded, and run on TextStack, which keeps padding out of every state
that is read without packing the batch."""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from rnntool.features import EncoderConfig
from rnntool.nn.lm import make_rnn


class CharCNN(nn.Module):
    def __init__(self, n_chars: int, emb: int, filters: int, kernel: int):
        super().__init__()
        self.embedding = nn.Embedding(n_chars, emb, padding_idx=0)
        self.conv = nn.Conv1d(emb, filters, kernel, padding=kernel // 2)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """chars [N, L] (0 = padding) -> [N, filters] (max over positions, padding masked)."""
        # The convolution as windows @ weights: every batch has its own [N, L], and on CPU
        # oneDNN compiles a new convolution kernel for each new shape (profiled: much of the
        # fifth of training time the convolution took); a matmul needs no compilation.
        k, pad = self.conv.kernel_size[0], self.conv.padding[0]
        x = F.pad(self.embedding(chars), (0, 0, pad, pad))  # [N, L + 2p, E]
        windows = x.unfold(1, k, 1).flatten(2)  # [N, L, E * k], ordered like the weight's [F, E, k]
        h = torch.relu(F.linear(windows, self.conv.weight.flatten(1), self.conv.bias))  # [N, L, F]
        h = h.masked_fill((chars == 0).unsqueeze(2), 0.0)  # relu >= 0, so 0 never wins over a real position
        return h.max(dim=1).values


class TokenFeatures(nn.Module):
    """word embedding + character CNN + casing embedding per token (any of the last two may be off)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.word_embedding = nn.Embedding(len(cfg.words), cfg.word_emb, padding_idx=0)
        if cfg.char_filters:
            self.chars = CharCNN(len(cfg.chars), cfg.char_emb, cfg.char_filters, cfg.char_kernel)
        if cfg.case_emb:
            self.case_embedding = nn.Embedding(cfg.n_cases, cfg.case_emb)

    def forward(self, words, cases, type_chars, type_index) -> torch.Tensor:
        """words/cases/type_index [B, T]; type_chars [U, L]: characters of the batch's distinct
        words (row 0 padding), which type_index points into. -> [B, T, feature_size]"""
        parts = [self.word_embedding(words)]
        if self.cfg.char_filters:
            parts.append(self.chars(type_chars)[type_index])
        if self.cfg.case_emb:
            parts.append(self.case_embedding(cases))
        return torch.cat(parts, dim=-1)


class RecurrentStack(nn.ModuleList):
    """One single-layer bidirectional module per layer, batch first, run in turn on
    sentences of one length (no padding)."""

    def __init__(self, cell: str, input_size: int, hidden: int, layers: int):
        super().__init__(make_rnn(cell, input_size if k == 0 else 2 * hidden, hidden, 1, 0.0, bidirectional=True,
                                  batch_first=True) for k in range(layers))

    def run(self, x: torch.Tensor, drop: nn.Module) -> list[torch.Tensor]:
        """Every layer's output [B, T, 2H]; ``drop`` is applied to each layer's input."""
        outputs = []
        for layer in self:
            x, _ = layer(drop(x))
            outputs.append(x)
        return outputs


def reverse_within(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """Index [B, T] that reverses each row's first ``lengths[b]`` steps and leaves its padding
    where it is: x.gather(1, index) reads a text right to left, padding last. Its own inverse."""
    t = torch.arange(T, device=lengths.device)[None, :]
    ends = lengths[:, None]
    return torch.where(t < ends, ends - 1 - t, t)


class TextLayer(nn.Module):
    """One layer of a TextStack: a one-directional module per direction."""

    def __init__(self, cell: str, input_size: int, hidden: int, bidirectional: bool):
        super().__init__()
        self.forward_rnn = make_rnn(cell, input_size, hidden, 1, 0.0, batch_first=True)
        self.backward_rnn = make_rnn(cell, input_size, hidden, 1, 0.0, batch_first=True) if bidirectional else None

    def forward(self, x: torch.Tensor, reverse: torch.Tensor | None) -> torch.Tensor:
        """``reverse``: the reverse_within index [B, T, 1] (bidirectional layers)."""
        ahead = self.forward_rnn(x)[0]
        if self.backward_rnn is None:
            return ahead
        back = self.backward_rnn(x.gather(1, reverse.expand(-1, -1, x.shape[2])))[0]
        return torch.cat([ahead, back.gather(1, reverse.expand(-1, -1, back.shape[2]))], dim=-1)


class TextStack(nn.ModuleList):
    """Recurrent layers over padded batches of texts of different lengths, exactly: each
    direction is a one-directional module; the backward one reads every text reversed
    within its own length, so neither ever reads padding before a real token. This runs
    on the dense kernels (packed sequences measured 4.5x slower to train on CPU)."""

    def __init__(self, cell: str, input_size: int, hidden: int, layers: int, bidirectional: bool = True):
        dirs = 2 if bidirectional else 1
        super().__init__(TextLayer(cell, input_size if k == 0 else dirs * hidden, hidden, bidirectional)
                         for k in range(layers))
        self.bidirectional = bidirectional

    def run(self, x: torch.Tensor, lengths: torch.Tensor, drop: nn.Module) -> torch.Tensor:
        """The top layer's outputs [B, T, H * dirs]: valid before each text's length (what lies
        past it is never read by a state or pooling that counts)."""
        reverse = reverse_within(lengths.to(x.device), x.shape[1])[:, :, None] if self.bidirectional else None
        for layer in self:
            x = layer(drop(x), reverse)
        return x


_LAYER_PARAM = re.compile(r"rnn\.(\d+)\.(\w+)_l0(_reverse)?$")
_DIRECTION_PARAM = re.compile(r"rnn\.(\d+)\.(forward|backward)_rnn\.(\w+)_l0$")


def stacked_name(name: str) -> str:
    """A stack's parameter under the stacked module's name that model files and the numpy
    runtime use: ``rnn.1.weight_ih_l0_reverse`` (RecurrentStack layer 1) or
    ``rnn.1.backward_rnn.weight_ih_l0`` (TextStack) -> ``rnn.weight_ih_l1_reverse``."""
    if m := _LAYER_PARAM.fullmatch(name):
        return f"rnn.{m[2]}_l{m[1]}{m[3] or ''}"
    if m := _DIRECTION_PARAM.fullmatch(name):
        return f"rnn.{m[3]}_l{m[1]}{'_reverse' if m[2] == 'backward' else ''}"
    return name
