"""The text classifier in torch: token features -> recurrent stack (padding never
reaches a state: nn/encoder.TextStack) -> pooling (last states, mean, max, or
attention) -> dropout -> one output per class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnntool.classification import ClassifierConfig
from rnntool.nn.base import FileModule, TensorBatch
from rnntool.nn.encoder import TextStack, TokenFeatures, stacked_name


@dataclass
class ClassifierBatch(TensorBatch):
    """Texts padded to the longest: words/cases/type_index [B, T] (0 past each end);
    type_chars [U + 1, L] the characters of the batch's distinct words; lengths [B];
    targets [B] class ids, or [B, C] 0/1 for multi-label; droppable [B, T] the rarest
    in-vocabulary words. ``texts`` is the size of the whole (global) batch, so that ranks'
    losses add up to its mean; a rank with no share of a small batch gets one text at
    ``weight`` 0."""

    words: torch.Tensor
    cases: torch.Tensor
    type_chars: torch.Tensor
    type_index: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    droppable: torch.Tensor
    texts: int
    weight: float = 1.0
    order: np.ndarray | None = None  # the texts' indices in the data

    @property
    def tokens(self) -> int:
        return self.texts


class ClassifierModule(FileModule):
    """Training-only settings: ``class_weights`` (imbalance), ``word_dropout``."""

    def __init__(self, cfg: ClassifierConfig, class_weights: list[float] | None = None, word_dropout: float = 0.0):
        super().__init__()
        self.cfg = cfg
        self.word_dropout = word_dropout
        self.class_weights = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        self.features = TokenFeatures(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = TextStack(cfg.cell, cfg.feature_size, cfg.hidden, cfg.layers, cfg.bidirectional)
        size = cfg.encoded_size
        if cfg.pool == "attention":  # additive attention: score_t = v . tanh(W h_t + b)
            self.attention = nn.Linear(size, size)
            self.attention_score = nn.Linear(size, 1, bias=False)
        self.output = nn.Linear(size, len(cfg.labels))

    def encode(self, words, cases, type_chars, type_index, lengths) -> torch.Tensor:
        """One vector [B, D] per text (lengths >= 1)."""
        out = self.rnn.run(self.features(words, cases, type_chars, type_index), lengths, self.drop)
        lengths = lengths.to(out.device)
        if self.cfg.pool == "last":  # the forward state at each text's end; the backward state at its start
            H = self.cfg.hidden
            last = out[torch.arange(len(lengths), device=out.device), lengths - 1, :H]
            return torch.cat([last, out[:, 0, H:]], dim=-1) if self.cfg.bidirectional else last
        mask = torch.arange(words.shape[1], device=out.device)[None, :] < lengths[:, None]
        out = out.masked_fill(~mask[:, :, None], 0.0)
        if self.cfg.pool == "mean":
            return out.sum(dim=1) / lengths.to(out.dtype)[:, None]
        if self.cfg.pool == "max":
            return out.masked_fill(~mask[:, :, None], float("-inf")).max(dim=1).values
        scores = self.attention_score(torch.tanh(self.attention(out))).squeeze(-1)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
        return (weights[:, :, None] * out).sum(dim=1)

    def logits(self, words, cases, type_chars, type_index, lengths) -> torch.Tensor:
        return self.output(self.drop(self.encode(words, cases, type_chars, type_index, lengths)))

    def forward(self, batch: ClassifierBatch) -> torch.Tensor:
        """The batch's share of the mean loss per text of its (global) batch."""
        words = batch.words
        if self.training and self.word_dropout > 0:  # the rarest words stand in for unseen ones
            drop = batch.droppable & (torch.rand(words.shape, device=words.device) < self.word_dropout)
            words = words.masked_fill(drop, 1)
        logits = self.logits(words, batch.cases, batch.type_chars, batch.type_index, batch.lengths).float()
        weights = None if self.class_weights is None else self.class_weights.to(logits.device)
        if self.cfg.multilabel:
            loss = F.binary_cross_entropy_with_logits(logits, batch.targets, pos_weight=weights, reduction="sum")
            loss = loss / logits.shape[1]
        else:
            loss = F.cross_entropy(logits, batch.targets, weight=weights, reduction="sum")
        return loss / batch.texts * batch.weight

    def file_names(self) -> dict[str, str]:
        return {name: stacked_name(name.removeprefix("features.")) for name in self.state_dict()}
