"""The BiLSTM tagger in torch: word + character-CNN + casing features -> BiLSTM ->
per-token scores, with softmax or CRF output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnntool.nn.base import FileModule, TensorBatch
from rnntool.nn.encoder import RecurrentStack, TokenFeatures, stacked_name
from rnntool.tagging import TaggerConfig


class CRF(nn.Module):
    """Linear-chain CRF: transitions[i, j] scores tag i followed by tag j."""

    def __init__(self, n_tags: int):
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(n_tags, n_tags))
        self.start = nn.Parameter(torch.zeros(n_tags))
        self.end = nn.Parameter(torch.zeros(n_tags))

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Sum over the batch of -log p(tags | emissions). emissions [B, T, K], mask [B, T] bool."""
        B, T, K = emissions.shape
        maskf = mask.float()
        # score of the gold path
        score = self.start[tags[:, 0]] + emissions[:, 0].gather(1, tags[:, :1]).squeeze(1)
        for t in range(1, T):
            step = self.transitions[tags[:, t - 1], tags[:, t]] + emissions[:, t].gather(1, tags[:, t: t + 1]).squeeze(1)
            score = score + step * maskf[:, t]
        lengths = mask.sum(1)
        last = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)
        score = score + self.end[last]
        # partition function
        alpha = self.start + emissions[:, 0]  # [B, K]
        for t in range(1, T):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1), dim=1)
            alpha = torch.where(mask[:, t: t + 1], nxt, alpha)
        log_z = torch.logsumexp(alpha + self.end, dim=1)
        return (log_z - score).sum()


class LanguageModelHeads(nn.Module):
    """Next-word and previous-word prediction from the first BiLSTM layer's forward
    and backward halves (Rei 2017, "Semi-supervised multitask learning for sequence
    labeling"): a training-only loss that makes the layer model its context, which
    helps most on words the tag data rarely shows. Never stored in the model file."""

    PROJECTION = 64

    def __init__(self, hidden: int, vocab: int, dropout: float):
        super().__init__()
        self.vocab = vocab

        def head() -> nn.Sequential:
            return nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, self.PROJECTION), nn.Tanh(),
                                 nn.Linear(self.PROJECTION, vocab))

        self.next_word, self.previous_word = head(), head()

    def loss(self, first_layer: torch.Tensor, words: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Cross-entropy of both directions, averaged over them (``reduction`` within each).
        first_layer [B, T, 2H]; words [B, T] (T >= 2), ids in frequency order, so ids past
        the head's vocabulary become <unk> (1)."""
        hidden = first_layer.shape[-1] // 2
        target = torch.where(words < self.vocab, words, torch.ones_like(words))
        forward = self.next_word(first_layer[:, :-1, :hidden]).float()
        backward = self.previous_word(first_layer[:, 1:, hidden:]).float()
        return (F.cross_entropy(forward.reshape(-1, self.vocab), target[:, 1:].reshape(-1), reduction=reduction)
                + F.cross_entropy(backward.reshape(-1, self.vocab), target[:, :-1].reshape(-1),
                                  reduction=reduction)) / 2


@dataclass
class TaggerBatch(TensorBatch):
    """Sentences of one length T (so no padding): words/cases/type_index/tags [B, T];
    type_chars [U + 1, L] the characters of the batch's distinct words (row 0 padding),
    which type_index points into; droppable [B, T] the rarest in-vocabulary words
    (candidates for word dropout). ``sentences`` is the size of the whole (global)
    batch, so that ranks' losses add up to its mean; a rank with no share of a small
    batch gets one sentence at ``weight`` 0 (DDP needs every rank to step)."""

    words: torch.Tensor
    cases: torch.Tensor
    type_chars: torch.Tensor
    type_index: torch.Tensor
    tags: torch.Tensor
    droppable: torch.Tensor
    sentences: int
    weight: float = 1.0
    order: np.ndarray | None = None  # the sentences' indices in the data (dev batches)
    lm_features: torch.Tensor | None = None  # [B, T, D] the character LMs' states (--char-lm)

    @property
    def tokens(self) -> int:
        return self.sentences * self.words.shape[1]


class TaggerModule(FileModule):
    """The recurrent stack is one single-layer bidirectional module per layer, run
    layer by layer with dropout between them -- what a stacked nn.LSTM computes, but
    the language-model loss needs the first layer's output (training speed measured
    the same, docs/benchmarks.md). The model file keeps the stacked module's names
    (``rnn.weight_ih_l1``...) that the numpy runtime reads, see file_names.

    Training-only settings: ``lm_vocab``/``lm_weight`` for the language-model loss,
    ``word_dropout`` for the rate at which the rarest words become <unk>.

    ``char_lm_tensors``: the weights of the character language models of ``cfg.char_lms``
    (file names, char_lm.K.*, rnntool.runtime.charlm.PREFIX). They are frozen and their features come with each batch
    (computed once, rnntool.runtime.charlm), so they are no part of the torch module: they
    only ride along into the model file."""

    def __init__(self, cfg: TaggerConfig, lm_vocab: int = 0, lm_weight: float = 0.0, word_dropout: float = 0.0,
                 char_lm_tensors: dict[str, np.ndarray] | None = None):
        super().__init__()
        self.cfg = cfg
        self.char_lm_tensors = dict(char_lm_tensors or {})
        self.lm_weight = lm_weight
        self.word_dropout = word_dropout
        self.features = TokenFeatures(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = RecurrentStack(cfg.cell, cfg.feature_size, cfg.hidden, cfg.layers)
        self.output = nn.Linear(2 * cfg.hidden, len(cfg.tags))
        self.crf = CRF(len(cfg.tags)) if cfg.crf else None
        self.lm_heads = LanguageModelHeads(cfg.hidden, lm_vocab, cfg.dropout) if lm_vocab else None

    def layer_outputs(self, words, cases, type_chars, type_index, lm_features=None) -> list[torch.Tensor]:
        """Each BiLSTM layer's output [B, T, 2H] for a batch of equal-length sentences
        (training batches are bucketed by exact length, so the layers run unpacked, on
        torch's fast path). words/cases/type_index [B, T]; type_chars [U, L]: characters
        of the batch's distinct words (row 0 padding); type_index points into it;
        lm_features [B, T, D]: the character LMs' states (a model with --char-lm)."""
        x = self.features(words, cases, type_chars, type_index)
        if self.cfg.char_lms:
            x = torch.cat([x, lm_features.to(x.dtype)], dim=-1)
        return self.rnn.run(x, self.drop)

    def scores(self, top_layer: torch.Tensor) -> torch.Tensor:
        return self.output(self.drop(top_layer))

    def emissions(self, words, cases, type_chars, type_index, lm_features=None) -> torch.Tensor:
        """Scores [B, T, K] (see layer_outputs for the inputs)."""
        return self.scores(self.layer_outputs(words, cases, type_chars, type_index, lm_features)[-1])

    def forward(self, batch: TaggerBatch) -> torch.Tensor:
        """The batch's share of the mean loss per token of its (global) batch."""
        words = batch.words
        if self.training and self.word_dropout > 0:  # the rarest words stand in for unseen ones
            drop = batch.droppable & (torch.rand(words.shape, device=words.device) < self.word_dropout)
            words = words.masked_fill(drop, 1)
        layers = self.layer_outputs(words, batch.cases, batch.type_chars, batch.type_index, batch.lm_features)
        emissions = self.scores(layers[-1]).float()
        T = words.shape[1]
        if self.crf is not None:
            loss = self.crf.nll(emissions, batch.tags, torch.ones_like(batch.tags, dtype=torch.bool))
        else:
            loss = F.cross_entropy(emissions.reshape(-1, emissions.shape[-1]), batch.tags.reshape(-1), reduction="sum")
        loss = loss / (batch.sentences * T)
        if self.lm_heads is not None and self.lm_weight > 0 and T > 1:
            # the words as they are, not word-dropped: the heads predict the text
            lm = self.lm_heads.loss(layers[0], batch.words, reduction="sum") / (batch.sentences * (T - 1))
            loss = loss + self.lm_weight * lm
        return loss * batch.weight

    def file_names(self) -> dict[str, str]:
        """Per-layer modules under the stacked names; no language-model heads."""
        return {name: stacked_name(name.removeprefix("features.")) for name in self.state_dict()
                if not name.startswith("lm_heads.")}

    def file_weights(self) -> dict[str, np.ndarray]:
        return {**super().file_weights(), **self.char_lm_tensors}

    def n_params(self) -> int:
        return super().n_params() + sum(t.size for t in self.char_lm_tensors.values())

    def load_file_weights(self, tensors: dict[str, np.ndarray]) -> None:
        super().load_file_weights({k: v for k, v in tensors.items() if not k.startswith("char_lm.")})
