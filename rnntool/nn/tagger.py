"""The BiLSTM tagger in torch: word + character-CNN + casing features -> BiLSTM ->
per-token scores, with softmax or CRF output."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnntool.nn.lm import make_rnn
from rnntool.tagging import TaggerConfig


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


class BiLSTMTagger(nn.Module):
    def __init__(self, cfg: TaggerConfig):
        super().__init__()
        self.cfg = cfg
        self.word_embedding = nn.Embedding(len(cfg.words), cfg.word_emb, padding_idx=0)
        features = cfg.word_emb
        if cfg.char_filters:
            self.chars = CharCNN(len(cfg.chars), cfg.char_emb, cfg.char_filters, cfg.char_kernel)
            features += cfg.char_filters
        if cfg.case_emb:
            self.case_embedding = nn.Embedding(cfg.n_cases, cfg.case_emb)
            features += cfg.case_emb
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = make_rnn(cfg.cell, features, cfg.hidden, cfg.layers, cfg.dropout, bidirectional=True,
                            batch_first=True)
        self.output = nn.Linear(2 * cfg.hidden, len(cfg.tags))
        self.crf = CRF(len(cfg.tags)) if cfg.crf else None

    def emissions(self, words, cases, type_chars, type_index) -> torch.Tensor:
        """Scores [B, T, K] for a batch of equal-length sentences (training batches are
        bucketed by exact length, so the BiLSTM runs unpacked, on torch's fast path).
        words/cases/type_index [B, T]; type_chars [U, L]: characters of the batch's
        distinct words (row 0 padding); type_index points into it."""
        parts = [self.word_embedding(words)]
        if self.cfg.char_filters:
            parts.append(self.chars(type_chars)[type_index])
        if self.cfg.case_emb:
            parts.append(self.case_embedding(cases))
        out, _ = self.rnn(self.drop(torch.cat(parts, dim=-1)))
        return self.output(self.drop(out))

    def loss(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean loss per token; padding never counts."""
        n = mask.sum()
        if self.crf is not None:
            return self.crf.nll(emissions, tags, mask) / n
        flat = emissions.reshape(-1, emissions.shape[-1])
        return F.cross_entropy(flat[mask.reshape(-1)], tags.reshape(-1)[mask.reshape(-1)])

    def numpy_weights(self) -> dict[str, np.ndarray]:
        return {k: v.detach().to("cpu", torch.float32).numpy().copy() for k, v in self.state_dict().items()}
