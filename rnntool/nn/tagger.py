"""The BiLSTM tagger in torch: word + character-CNN + casing features -> BiLSTM ->
per-token scores, with softmax or CRF output."""

from __future__ import annotations

import re

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

    def loss(self, first_layer: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of both directions. first_layer [B, T, 2H]; words [B, T]
        (T >= 2), ids in frequency order, so ids past the head's vocabulary become <unk> (1)."""
        hidden = first_layer.shape[-1] // 2
        target = torch.where(words < self.vocab, words, torch.ones_like(words))
        forward = self.next_word(first_layer[:, :-1, :hidden]).float()
        backward = self.previous_word(first_layer[:, 1:, hidden:]).float()
        return (F.cross_entropy(forward.reshape(-1, self.vocab), target[:, 1:].reshape(-1))
                + F.cross_entropy(backward.reshape(-1, self.vocab), target[:, :-1].reshape(-1))) / 2


class BiLSTMTagger(nn.Module):
    """The recurrent stack is one single-layer bidirectional module per layer, run
    layer by layer with dropout between them -- what a stacked nn.LSTM computes, but
    the language-model loss needs the first layer's output (training speed measured
    the same, docs/benchmarks.md). The model file keeps the stacked module's names
    (``rnn.weight_ih_l1``...) that the numpy runtime reads, see numpy_weights."""

    def __init__(self, cfg: TaggerConfig, lm_vocab: int = 0):
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
        self.rnn = nn.ModuleList(
            make_rnn(cfg.cell, features if k == 0 else 2 * cfg.hidden, cfg.hidden, 1, 0.0, bidirectional=True,
                     batch_first=True)
            for k in range(cfg.layers)
        )
        self.output = nn.Linear(2 * cfg.hidden, len(cfg.tags))
        self.crf = CRF(len(cfg.tags)) if cfg.crf else None
        self.lm_heads = LanguageModelHeads(cfg.hidden, lm_vocab, cfg.dropout) if lm_vocab else None

    def layer_outputs(self, words, cases, type_chars, type_index) -> list[torch.Tensor]:
        """Each BiLSTM layer's output [B, T, 2H] for a batch of equal-length sentences
        (training batches are bucketed by exact length, so the layers run unpacked, on
        torch's fast path). words/cases/type_index [B, T]; type_chars [U, L]: characters
        of the batch's distinct words (row 0 padding); type_index points into it."""
        parts = [self.word_embedding(words)]
        if self.cfg.char_filters:
            parts.append(self.chars(type_chars)[type_index])
        if self.cfg.case_emb:
            parts.append(self.case_embedding(cases))
        x = torch.cat(parts, dim=-1)
        outputs = []
        for layer in self.rnn:
            x, _ = layer(self.drop(x))
            outputs.append(x)
        return outputs

    def scores(self, top_layer: torch.Tensor) -> torch.Tensor:
        return self.output(self.drop(top_layer))

    def emissions(self, words, cases, type_chars, type_index) -> torch.Tensor:
        """Scores [B, T, K] (see layer_outputs for the inputs)."""
        return self.scores(self.layer_outputs(words, cases, type_chars, type_index)[-1])

    def loss(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean loss per token; padding never counts."""
        n = mask.sum()
        if self.crf is not None:
            return self.crf.nll(emissions, tags, mask) / n
        flat = emissions.reshape(-1, emissions.shape[-1])
        return F.cross_entropy(flat[mask.reshape(-1)], tags.reshape(-1)[mask.reshape(-1)])

    def _file_names(self) -> dict[str, str]:
        """state_dict name -> model file name, for what the model file stores (no LM heads)."""
        return {name: _file_name(name) for name in self.state_dict() if not name.startswith("lm_heads.")}

    def n_params(self) -> int:
        """Parameters of the model file (the training-only heads left out)."""
        state = self.state_dict()
        return sum(state[name].numel() for name in self._file_names())

    def numpy_weights(self) -> dict[str, np.ndarray]:
        """The model file's tensors: per-layer modules under the stacked names, no LM heads."""
        state = self.state_dict()
        return {file: state[name].detach().to("cpu", torch.float32).numpy().copy()
                for name, file in self._file_names().items()}

    def load_numpy_weights(self, tensors: dict[str, np.ndarray]) -> None:
        module_name = {file: name for name, file in self._file_names().items()}
        self.load_state_dict({module_name[k]: torch.from_numpy(np.asarray(v, np.float32)) for k, v in tensors.items()},
                             strict=self.lm_heads is None)


_LAYER_PARAM = re.compile(r"rnn\.(\d+)\.(\w+)_l0(_reverse)?$")


def _file_name(name: str) -> str:
    """``rnn.1.weight_ih_l0_reverse`` (layer module 1) -> ``rnn.weight_ih_l1_reverse`` (stacked)."""
    m = _LAYER_PARAM.fullmatch(name)
    return f"rnn.{m[2]}_l{m[1]}{m[3] or ''}" if m else name
