"""Recurrent stacks on onnxruntime: an engine for the tagger's and classifier's packed scans
and for language models' scoring (``score``, ``eval-lm``), where the ``[fast]`` extra is
installed (``pip install "rnntool[fast]"``: onnxruntime; the graphs are written by
rnntool.runtime.onnx_proto, not the onnx package, whose import alone takes a second).

``RNNTOOL_ENGINE`` chooses: ``numpy`` or ``onnxruntime`` everywhere, or ``auto`` (the default),
onnxruntime only where it measured clearly faster on whole commands (docs/benchmarks.md):

- a long text scored as one stream (``eval-lm``, ``LanguageModel.perplexity``/``evaluate``):
  onnxruntime from STREAM_AFTER tokens on, where it is installed (1.5x numpy at 40,000
  characters, 1.6-1.8x on 0.27 MB; under ~4,000 tokens its import and session cost more than
  it saves);
- packed scans (``tag``, ``classify``) and ``score``'s line batches: numpy. On its own an LSTM
  layer ran 2-4x faster on onnxruntime than numpy's scan with the input projection
  (bench/engines.py), but the numpy runtime projects first-layer inputs once per word type,
  and whole ``tag``/``classify`` runs were 0.71-0.91x on onnxruntime. ``score`` ran 1.01-1.24x
  across runs and machines: too little and too unsteady to import onnxruntime for, and its
  line batches would be split between engines by size.

The numpy runtime (rnntool.runtime.cells) stays the reference; tests/test_engines.py holds
the two together for every cell, direction and depth.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib.util import find_spec

import numpy as np

from rnntool.errors import InputError

ENGINE_ENV = "RNNTOOL_ENGINE"
ENGINES = ("auto", "numpy", "onnxruntime")
STREAM_AFTER = 4_096  # tokens: a stream this long is scored on onnxruntime under auto
MINIMUM_VERSION = (1, 17)  # the [fast] extra's: the opset of rnntool's graphs


def chosen_engine() -> str:
    """``$RNNTOOL_ENGINE``: auto (the default), numpy or onnxruntime (checked to be installed)."""
    chosen = os.environ.get(ENGINE_ENV) or "auto"
    if chosen not in ENGINES:
        raise InputError(f"${ENGINE_ENV} is {chosen!r}; use one of: {', '.join(ENGINES)}")
    if chosen == "onnxruntime" and not _installed():
        raise InputError(f"${ENGINE_ENV}=onnxruntime needs the fast extra: pip install \"rnntool[fast]\"")
    return chosen


def packed_engine() -> str:
    """The engine for packed scans and line-by-line scoring: onnxruntime only when
    ``$RNNTOOL_ENGINE`` says so (auto picks numpy: faster on these paths)."""
    return "onnxruntime" if chosen_engine() == "onnxruntime" else "numpy"


def stream_engine(tokens: int, build=None) -> str:
    """The engine that scores a text of ``tokens`` tokens (at least) as one stream: under auto,
    onnxruntime from STREAM_AFTER tokens on where it is installed and imports, else numpy.
    Under auto, ``build`` (the session's builder) is tried first: a session onnxruntime cannot
    build (a version that lacks an operator) leaves the text to numpy."""
    chosen = chosen_engine()
    if chosen != "auto":
        return chosen
    if tokens < STREAM_AFTER or not _usable():
        return "numpy"
    try:
        if build is not None:
            build()
    except Exception:  # noqa: BLE001 -- auto is a speed choice: numpy gives the same figures
        return "numpy"
    return "onnxruntime"


@lru_cache(maxsize=1)
def _installed() -> bool:
    return find_spec("onnxruntime") is not None


@lru_cache(maxsize=1)
def _usable() -> bool:
    """onnxruntime is installed, imports, and is of the [fast] extra's versions (auto falls
    back to numpy where an explicit ``onnxruntime`` would raise or fail)."""
    if not _installed():
        return False
    import importlib

    try:
        version = importlib.import_module("onnxruntime").__version__
        return tuple(int(part) for part in version.split(".")[:2]) >= MINIMUM_VERSION
    except Exception:  # noqa: BLE001 -- a broken installation, or a version string we cannot read
        return False


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as e:  # installed but broken (a numpy or C++ runtime it was not built for)
        raise InputError(f"${ENGINE_ENV}=onnxruntime: onnxruntime does not import ({e}); reinstall it "
                         f"(pip install --force-reinstall \"rnntool[fast]\") or unset ${ENGINE_ENV}") from None
    return onnxruntime


def _session(graph: bytes):
    """An onnxruntime session of ``graph`` on the CPU, as every engine graph runs."""
    ort = _import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = _threads()
    options.log_severity_level = 3  # warnings about unused initialisers and the like stay quiet
    # no spinning between calls: the reader thread and the output writer share the cores
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def _onnx_order(m: np.ndarray, cell: str) -> np.ndarray:
    """torch's gate blocks (LSTM i, f, g, o; GRU r, z, n) in ONNX's order (i, o, f, c; z, r, h)."""
    if cell == "lstm":
        i, f, g, o = np.split(m, 4, axis=0)
        return np.concatenate([i, o, f, g], axis=0)
    if cell == "gru":
        r, z, n = np.split(m, 3, axis=0)
        return np.concatenate([z, r, n], axis=0)
    return m


def _threads() -> int:
    """The threads a session may use: one in rnntool's worker processes (which set the BLAS
    libraries to one thread each), else onnxruntime's choice (0: the cores)."""
    value = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS") or ""
    return int(value) if value.isdigit() else 0


def stack_nodes(stack, x: str, lengths: str, initial: tuple[str, ...] = (),
                prefix: str = "") -> tuple[list[bytes], list[bytes], str, list[str]]:
    """An ``RNNStack`` as ONNX nodes and initialisers: the input ``x`` [T, B, I] and each
    sequence's length (``lengths``, or "" for every sequence whole) by name, and optionally
    the names of the initial states (h, and c for an LSTM: [layers * dirs, B, H], torch's
    order; zero if not given). Returns (nodes, initialisers, the name of the top layer's
    output [T, B, H * dirs], the names of the final states h_n and c_n, torch's order)."""
    from rnntool.runtime import onnx_proto as pb

    cell, dirs, H = stack.cell, stack.dirs, stack.hidden
    op = {"lstm": "LSTM", "gru": "GRU"}.get(cell, "RNN")
    nodes, inits = [], []
    for layer, directions in enumerate(stack.weights):
        def stacked(name: str) -> np.ndarray:
            return np.stack([_onnx_order(getattr(w, name), cell) for w in directions]).astype(np.float32)

        n = f"{prefix}layer{layer}."  # every name of this layer's nodes starts with it
        bias = np.concatenate([stacked("b_ih"), stacked("b_hh")], axis=1)
        inits += [pb.tensor(f"{n}W", stacked("w_ih")), pb.tensor(f"{n}R", stacked("w_hh")), pb.tensor(f"{n}B", bias)]
        starts = []
        if initial:  # this layer's rows of each initial state
            inits += [pb.tensor(f"{n}from", np.array([layer * dirs], np.int64)),
                      pb.tensor(f"{n}to", np.array([(layer + 1) * dirs], np.int64))]
        for k, state in enumerate(initial):
            nodes.append(pb.node("Slice", [state, f"{n}from", f"{n}to", f"{prefix}axis0"], [f"{n}initial{k}"]))
            starts.append(f"{n}initial{k}")
        attributes = {"hidden_size": H, "direction": "bidirectional" if dirs == 2 else "forward"}
        if cell == "gru":
            attributes["linear_before_reset"] = 1  # torch's GRU: r * (W_hn h + b_hn)
        if cell in ("rnn", "rnn-relu"):
            attributes["activations"] = ["Relu" if cell == "rnn-relu" else "Tanh"] * dirs
        states = [f"{n}h"] + ([f"{n}c"] if cell == "lstm" else [])
        nodes.append(pb.node(op, [x, f"{n}W", f"{n}R", f"{n}B", lengths, *starts], [f"{n}y", *states], **attributes))
        # [T, dirs, B, H] -> [T, B, dirs * H]: the next layer's input, directions side by side
        nodes.append(pb.node("Transpose", [f"{n}y"], [f"{n}yt"], perm=[0, 2, 1, 3]))
        nodes.append(pb.node("Reshape", [f"{n}yt", f"{prefix}merge"], [f"{n}out"]))
        x = f"{n}out"
    inits.append(pb.tensor(f"{prefix}merge", np.array([0, 0, -1], np.int64)))
    if initial:
        inits.append(pb.tensor(f"{prefix}axis0", np.array([0], np.int64)))
    names = [f"{prefix}h_n"] + ([f"{prefix}c_n"] if cell == "lstm" else [])
    nodes.append(pb.node("Concat", [f"{prefix}layer{k}.h" for k in range(stack.layers)], [names[0]], axis=0))
    if cell == "lstm":
        nodes.append(pb.node("Concat", [f"{prefix}layer{k}.c" for k in range(stack.layers)], [names[1]], axis=0))
    return nodes, inits, x, names


class OrtStack:
    """An ``RNNStack`` (its weights, cell, layers and directions) as one onnxruntime session:
    dense inputs [T, B, I] and each sequence's length in, the top layer's outputs
    [T, B, H * dirs] (zero past each length) and the final states [layers * dirs, B, H]
    (torch's order) out. States start at zero."""

    def __init__(self, stack):
        from rnntool.runtime import onnx_proto as pb

        nodes, inits, y, names = stack_nodes(stack, "x", "lengths")
        I = stack.weights[0][0].w_ih.shape[1]
        graph = pb.model(nodes, "rnntool-stack",
                         [pb.value_info("x", pb.FLOAT, ["T", "B", I]), pb.value_info("lengths", pb.INT32, ["B"])],
                         [pb.value_info(name, pb.FLOAT) for name in [y, *names]], inits)
        self.session = _session(graph)
        self.output_names = [y, *names]
        self.lstm = stack.cell == "lstm"

    def run(self, x: np.ndarray, lengths: np.ndarray):
        results = self.session.run(self.output_names, {"x": np.ascontiguousarray(x, np.float32),
                                                       "lengths": np.asarray(lengths, np.int32)})
        y, h_n = results[0], results[1]
        return y, ((h_n, results[2]) if self.lstm else h_n)


class OrtLanguageModel:
    """A language model (``LMRuntime``) as one onnxruntime session over the graph
    ``rnntool export`` writes (with sequence lengths): ids [T, B], a state and lengths in,
    next-token log-probabilities [T, B, V] and the state after out."""

    def __init__(self, runtime):
        from rnntool.onnx_export import lm_graph

        self.session = _session(lm_graph(runtime, {}, lengths=True))
        self.lstm = runtime.stack.cell == "lstm"

    def log_probs(self, ids: np.ndarray, state, lengths: np.ndarray | None):
        """(log-probabilities [T, B, V], the state after). A row of length 0 (its sequence
        ended in an earlier chunk) keeps its state: the operator needs lengths of at least 1,
        so it takes a step whose outputs are dropped and whose state is put back here."""
        T, B = ids.shape
        given = tuple(np.asarray(s, np.float32) for s in (state if self.lstm else (state,)))
        lengths = np.full(B, T, np.int32) if lengths is None else np.asarray(lengths, np.int32)
        feed = {"tokens": np.asarray(ids, np.int64), "lengths": np.maximum(lengths, 1),
                **dict(zip(("h0", "c0"), given))}
        out = self.session.run(None, feed)
        ended = (lengths == 0)[None, :, None]
        after = tuple(np.where(ended, old, new) for old, new in zip(given, out[1:]))
        return out[0], (after if self.lstm else after[0])