"""A trained language model on the numpy runtime: scoring text and stepping
token by token with the hidden state carried (O(1) work per new token)."""

from __future__ import annotations

import threading

import numpy as np

from rnntool.arch import LMConfig
from rnntool.modelfile import ModelFile
from rnntool.runtime import load_runtime
from rnntool.runtime.cells import RNNStack, log_softmax
from rnntool.text.tokenize import Tokenizer, TokenizerSettings
from rnntool.text.vocab import Vocab

_ORT_BUILD = threading.Lock()
# Fold the first layer's input projection into a per-token table when it stays small.
FOLD_LIMIT = 8_000_000  # floats (32 MB)


class LMRuntime:
    def __init__(self, model: ModelFile):
        self.model_file = model
        self.cfg = LMConfig.from_dict(model.config)
        self.vocab = Vocab.from_dict(model.header["vocab"])
        self.settings = TokenizerSettings.from_dict(model.header["tokenizer"])
        self.tokenizer = Tokenizer(self.settings)
        t = {k: np.asarray(v, dtype=np.float32) for k, v in model.tensors.items()}
        self.embedding = t["embedding.weight"]
        self.stack = RNNStack(self.cfg.cell, t, self.cfg.layers, prefix="rnn.")
        if self.cfg.softmax == "adaptive":
            self.head = t["decoder.head.weight"]
            self.head_bias = t.get("decoder.head.bias")
            self.tails = [(t[f"decoder.tail.{i}.0.weight"], t[f"decoder.tail.{i}.1.weight"])
                          for i in range(len(self.cfg.cutoffs))]
        else:
            self.out_w = self.embedding if self.cfg.tie else t["decoder.weight"]
            self.out_b = t["decoder.bias"]
        self.line_end_id = self.vocab.stoi.get(self.tokenizer.line_end, self.vocab.eos_id)

    @classmethod
    def load(cls, path) -> "LMRuntime":
        return load_runtime(cls, path, "lm")

    def probe(self) -> None:
        """One step from every end of the vocabulary (see runtime.check_runtime)."""
        ids = np.array([[self.line_end_id, len(self.vocab) - 1]])
        h, _ = self.hidden(ids.T, self.zero_state(2))
        if self.embedding.shape[0] != len(self.vocab) or self.logits(h[-1]).shape[-1] != len(self.vocab):
            raise ValueError(f"a vocabulary of {len(self.vocab):,} against {self.embedding.shape[0]:,} embedding rows")

    @property
    def level(self) -> str:
        return self.settings.level

    @property
    def reads_backward(self) -> bool:
        """A backward model (train-lm --reverse): it reads a text's tokens last to first."""
        return self.cfg.reverse

    # --- output layer -------------------------------------------------------------------
    def logits(self, h: np.ndarray) -> np.ndarray:
        """Unnormalised scores [N, V] (for adaptive softmax: log-probabilities)."""
        if self.cfg.softmax == "adaptive":
            return self.adaptive_log_probs(h)
        out = h @ self.out_w.T
        out += self.out_b
        return out

    def log_probs(self, h: np.ndarray) -> np.ndarray:
        return self.logits(h) if self.cfg.softmax == "adaptive" else log_softmax(self.logits(h))

    def adaptive_log_probs(self, h: np.ndarray) -> np.ndarray:
        """torch.nn.AdaptiveLogSoftmaxWithLoss.log_prob, in numpy."""
        cutoffs = [*self.cfg.cutoffs, self.cfg.vocab_size]
        head = h @ self.head.T
        if self.head_bias is not None:
            head += self.head_bias
        head_lp = log_softmax(head)
        out = np.empty((h.shape[0], self.cfg.vocab_size), dtype=np.float32)
        short = cutoffs[0]
        out[:, :short] = head_lp[:, :short]
        for i, (proj, cluster) in enumerate(self.tails):
            cluster_lp = log_softmax((h @ proj.T) @ cluster.T)
            out[:, cutoffs[i]: cutoffs[i + 1]] = cluster_lp + head_lp[:, short + i: short + i + 1]
        return out

    # --- whole sequences ----------------------------------------------------------------
    def zero_state(self, batch: int = 1):
        return self.stack.zero_state(batch)

    def hidden(self, ids: np.ndarray, state=None, lengths: np.ndarray | None = None):
        """Top-layer outputs [T, B, H] for ids [T, B], and the final state."""
        x = self.embedding[np.asarray(ids)]
        return self.stack.forward(x, state, lengths)

    def target_log_probs(self, ids: np.ndarray, targets: np.ndarray, state=None, lengths=None, chunk: int = 256,
                         engine: str | None = None):
        """log p(targets[t] | ids[..t]) for [T, B] arrays, in chunks of time steps, on ``engine``
        (numpy or onnxruntime; default: runtime.ort.packed_engine's). Returns (lp [T, B], state)."""
        T, B = ids.shape
        out = np.empty((T, B), dtype=np.float64)
        ort = self._ort(engine)
        if state is None:
            state = self.zero_state(B)
        for start in range(0, T, chunk):
            sl = slice(start, min(T, start + chunk))
            chunk_lengths = None if lengths is None else np.clip(lengths - start, 0, sl.stop - start)
            if ort is not None:
                lp, state = ort.log_probs(ids[sl], state, chunk_lengths)
            else:
                h, state = self.hidden(ids[sl], state, chunk_lengths)
                n = h.shape[0]
                lp = self.log_probs(h.reshape(n * B, -1)).reshape(n, B, -1)
            out[sl] = np.take_along_axis(lp, targets[sl][:, :, None], axis=2)[:, :, 0]
        return out, state

    def _ort(self, engine: str | None = None):
        """The onnxruntime session that scores (built once) where ``engine`` (default:
        runtime.ort.packed_engine's) is onnxruntime, else None: the numpy runtime."""
        from rnntool.runtime.ort import OrtLanguageModel, packed_engine

        if (engine or packed_engine()) != "onnxruntime":
            return None
        with _ORT_BUILD:  # the server's batch threads may ask at once: one session
            if getattr(self, "_ort_error", None) is not None:
                raise self._ort_error  # a session that could not be built is not tried again
            if getattr(self, "_ort_session", None) is None:
                try:
                    self._ort_session = OrtLanguageModel(self)
                except Exception as e:
                    self._ort_error = e
                    raise
        return self._ort_session

    def encode(self, text: str) -> list[int]:
        """The ids of ``text``'s tokens in the text's order (a backward model's reader reverses them)."""
        return self.vocab.encode(self.tokenizer.tokenize(text))


class Stepper:
    """Steps B parallel streams one token at a time, with every buffer preallocated.

    Per layer, one matmul does the whole gate pre-activation: the layer's input,
    its own hidden state and a constant 1 sit side by side in one buffer
    ``[x, h, 1]``, multiplied by the stacked ``[W_ih^T; W_hh^T; b]``. The first
    layer's input part is a per-token table (embedding @ W_ih^T) when small.
    Sigmoid gates are pre-scaled by 1/2 so a single tanh call serves all gates:
    sigmoid(x) = (tanh(x/2) + 1) / 2. The state lives in these buffers.
    """

    def __init__(self, lm: LMRuntime, batch: int, logit_scale: float = 1.0, banned_ids=()):
        self.lm = lm
        self.batch = batch
        cfg = lm.cfg
        self.cell = cfg.cell
        H = self.H = cfg.hidden
        self.n_layers = cfg.layers
        layers = [layer[0] for layer in lm.stack.weights]
        first_in = cfg.emb
        self.table = None
        if cfg.vocab_size * 4 * H <= FOLD_LIMIT:
            self.table = lm.embedding @ self._input_block(layers[0])
        self.weights, self.xh, self.in_width = [], [], []
        for k, w in enumerate(layers):
            width = 0 if (k == 0 and self.table is not None) else (first_in if k == 0 else H)
            blocks = ([self._input_block(w)] if width else []) + [self._hidden_block(w), self._bias_row(w)]
            self.weights.append(np.ascontiguousarray(np.concatenate(blocks, axis=0), dtype=np.float32))
            buf = np.zeros((batch, width + H + 1), dtype=np.float32)
            buf[:, -1] = 1.0
            self.xh.append(buf)
            self.in_width.append(width)
        cols = self.weights[0].shape[1]
        self.gates = [np.empty((batch, cols), dtype=np.float32) for _ in layers]
        self.cells = [np.zeros((batch, H), dtype=np.float32) for _ in layers] if self.cell == "lstm" else None
        self.tmp = np.empty((batch, H), dtype=np.float32)
        self.top = np.zeros((batch, H + 1), dtype=np.float32)
        self.top[:, -1] = 1.0
        self.adaptive = cfg.softmax == "adaptive"
        if not self.adaptive:
            out = np.concatenate([lm.out_w.T, lm.out_b[None, :]], axis=0) * np.float32(logit_scale)
            for banned in banned_ids:
                out[-1, banned] = -1e30
            self.out = np.ascontiguousarray(out, dtype=np.float32)
            self.logits_buf = np.empty((batch, cfg.vocab_size), dtype=np.float32)
        self.logit_scale = logit_scale
        self.banned_ids = list(banned_ids)
        # One stream: matrix-vector products with [out, in] weights (OpenBLAS's gemv
        # splits them over threads better than a one-row gemm: ~1.4x on 2 cores).
        self.single = batch == 1
        if self.single:
            self.weights = [np.ascontiguousarray(w.T) for w in self.weights]
        # Views into the buffers, made once: at ~10 us a token, numpy's per-call costs matter.
        self.steps = [self._layer_views(k) for k in range(self.n_layers)]
        self.top_h = self.top[:, :H]

    def _layer_views(self, k: int) -> tuple:
        H, g = self.H, self.gates[k]
        nxt = (self.xh[k + 1] if k + 1 < self.n_layers else self.top)[:, :H]
        parts = [g[:, j * H:(j + 1) * H] for j in range(g.shape[1] // H)]
        sig = g[:, : (3 if self.cell == "lstm" else 2) * H]
        return (self.xh[k], self.weights[k], g, self.h(k), nxt, parts, sig)

    # --- weight layout: the scan layout of cells.LayerWeights (LSTM gates i, f, o, g with
    # the sigmoid gates halved); GRUs get four column blocks r, z, n(x part), n(h part),
    # since the reset gate multiplies only the hidden part.
    def _input_block(self, w) -> np.ndarray:
        if self.cell == "gru":
            H = self.H
            r, z, n = (w.w_ih[j * H:(j + 1) * H] for j in range(3))
            return np.concatenate([0.5 * r, 0.5 * z, n, np.zeros_like(n)], axis=0).T
        return w.w_ih_t

    def _hidden_block(self, w) -> np.ndarray:
        if self.cell == "gru":
            H = self.H
            r, z, n = (w.w_hh[j * H:(j + 1) * H] for j in range(3))
            return np.concatenate([0.5 * r, 0.5 * z, np.zeros_like(n), n], axis=0).T
        return w.w_hh_t

    def _bias_row(self, w) -> np.ndarray:
        H = self.H
        if self.cell == "gru":
            bi, bh = w.b_ih, w.b_hh
            return np.concatenate([0.5 * (bi[:H] + bh[:H]), 0.5 * (bi[H:2 * H] + bh[H:2 * H]),
                                   bi[2 * H:], bh[2 * H:]])[None, :]
        return w.b_in[None, :]

    # --- state --------------------------------------------------------------------------
    def h(self, k: int) -> np.ndarray:
        width = self.in_width[k]
        return self.xh[k][:, width: width + self.H]

    def set_state(self, state) -> None:
        """Load a LMRuntime state ([layers, B, H] h, and c for LSTM)."""
        h_all, c_all = state if self.cell == "lstm" else (state, None)
        for k in range(self.n_layers):
            self.h(k)[...] = h_all[k]
            if c_all is not None:
                self.cells[k][...] = c_all[k]
        self.top[:, : self.H] = h_all[-1]

    def get_state(self):
        h = np.stack([self.h(k).copy() for k in range(self.n_layers)])
        return (h, np.stack([c.copy() for c in self.cells])) if self.cell == "lstm" else h

    # --- stepping -----------------------------------------------------------------------
    def step(self, ids: np.ndarray) -> np.ndarray:
        """Feed token ids [B]; returns the top layer's hidden state [B, H] (a view)."""
        if self.table is None:
            self.xh[0][:, : self.in_width[0]] = self.lm.embedding[ids]
        tmp = self.tmp
        for k, (xh, w, g, h, nxt, parts, sig) in enumerate(self.steps):
            if self.single:
                np.dot(w, xh[0], out=g[0])
            else:
                np.matmul(xh, w, out=g)
            if k == 0 and self.table is not None:
                g += self.table[ids]
            if self.cell == "lstm":
                i, f, o, cand = parts
                np.tanh(g, out=g)
                sig += 1.0
                sig *= 0.5
                c = self.cells[k]
                c *= f
                np.multiply(i, cand, out=tmp)
                c += tmp
                np.tanh(c, out=h)
                h *= o
            elif self.cell == "gru":
                r, z, n, n_h = parts
                np.tanh(sig, out=sig)
                sig += 1.0
                sig *= 0.5
                np.multiply(r, n_h, out=tmp)
                n += tmp
                np.tanh(n, out=n)
                h -= n
                h *= z
                h += n
            elif self.cell == "rnn-relu":
                np.maximum(g, 0.0, out=h)
            else:
                np.tanh(g, out=h)
            nxt[...] = h
        return self.top_h

    def logits(self) -> np.ndarray:
        """Scaled next-token scores [B, V] for the current state (banned ids at -1e30)."""
        if self.adaptive:
            lp = self.lm.adaptive_log_probs(self.top_h) * np.float32(self.logit_scale)
            if self.banned_ids:
                lp[:, self.banned_ids] = -1e30
            return lp
        return np.matmul(self.top, self.out, out=self.logits_buf)
