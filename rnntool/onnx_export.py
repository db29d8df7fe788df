"""Writing a trained model for other runtimes: ONNX (``rnntool export``, ``rnntool.export``).

A language model becomes one ONNX graph (opset 17) that any ONNX runtime runs without
rnntool, numpy or torch:

    inputs   tokens  int64 [T, B]          token ids (the vocabulary is in the metadata)
             h0      float [L, B, H]        the state to start from (zeros: the start of a text)
             c0      float [L, B, H]        (LSTMs only)
    outputs  log_probs  float [T, B, V]     log p(next token | tokens up to t), normalised
             h_n, c_n   float [L, B, H]     the state after the last step (feed it back as h0, c0)

The graph is the numpy runtime's arithmetic (embedding lookup, the recurrent layers as ONNX
LSTM/GRU/RNN operators, the output layer with a log-softmax, or the adaptive softmax's head
and clusters), so a step there gives what ``rnntool score`` computes (tests/test_export.py
holds them together). The model file's header (vocabulary, tokenizer settings, architecture,
how it was trained) rides along as the ``rnntool`` metadata entry, JSON, so that a program
can turn text into ids the way rnntool does; a backward model (``"reverse": true`` in its
architecture) takes each text's ids last first. The graph is written by
rnntool.runtime.onnx_proto (no ``onnx`` package needed).

Taggers and classifiers are not exported yet (their character CNN and CRF decoding are more
graph than this module writes); asking is a one-line error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from rnntool.errors import InputError, WrongKindError

FORMATS = ("onnx",)


def lm_graph(runtime, header: dict, lengths: bool = False) -> bytes:
    """The ONNX model (bytes) of a language model on the numpy runtime (``LMRuntime``); with
    ``lengths``, a third input gives each sequence's length (int32 [B], at least 1), past
    which its outputs are zero and its state stays (the onnxruntime engine's scoring)."""
    from rnntool.runtime import onnx_proto as pb
    from rnntool.runtime.ort import stack_nodes

    cfg, stack = runtime.cfg, runtime.stack
    lstm = stack.cell == "lstm"
    states = ("h0", "c0") if lstm else ("h0",)
    nodes = [pb.node("Gather", ["embedding", "tokens"], ["embedded"], axis=0)]
    inits = [pb.tensor("embedding", runtime.embedding)]
    recurrent, recurrent_inits, top, finals = stack_nodes(stack, "embedded", "lengths" if lengths else "",
                                                          initial=states, prefix="rnn.")
    nodes += recurrent
    inits += recurrent_inits

    def linear(x: str, weight: np.ndarray, name: str, bias: np.ndarray | None = None) -> str:
        """x @ weight.T (+ bias); the transpose is an initialiser of its own."""
        inits.append(pb.tensor(f"{name}.T", np.ascontiguousarray(weight.T)))
        nodes.append(pb.node("MatMul", [x, f"{name}.T"], [f"{name}.out" if bias is not None else name]))
        if bias is not None:
            inits.append(pb.tensor(f"{name}.bias", bias))
            nodes.append(pb.node("Add", [f"{name}.out", f"{name}.bias"], [name]))
        return name

    if cfg.softmax == "adaptive":
        head = linear(top, runtime.head, "head", runtime.head_bias)
        nodes.append(pb.node("LogSoftmax", [head], ["head_lp"], axis=-1))
        cutoffs = [*cfg.cutoffs, cfg.vocab_size]
        short = cutoffs[0]

        def head_columns(start: int, stop: int, name: str) -> str:
            inits.extend([pb.tensor(f"{name}.from", np.array([start], np.int64)),
                          pb.tensor(f"{name}.to", np.array([stop], np.int64))])
            nodes.append(pb.node("Slice", ["head_lp", f"{name}.from", f"{name}.to", "last_axis"], [name]))
            return name

        inits.append(pb.tensor("last_axis", np.array([-1], np.int64)))
        parts = [head_columns(0, short, "shortlist")]
        for i, (projection, cluster) in enumerate(runtime.tails):
            projected = linear(top, projection, f"tail{i}.projected")
            nodes.append(pb.node("LogSoftmax", [linear(projected, cluster, f"tail{i}.scores")], [f"tail{i}.lp"],
                                 axis=-1))
            gate = head_columns(short + i, short + i + 1, f"tail{i}.gate")  # log p(cluster i)
            nodes.append(pb.node("Add", [f"tail{i}.lp", gate], [f"tail{i}"]))
            parts.append(f"tail{i}")
        nodes.append(pb.node("Concat", parts, ["log_probs"], axis=-1))
    else:
        scores = linear(top, runtime.out_w, "decoder", runtime.out_b)
        nodes.append(pb.node("LogSoftmax", [scores], ["log_probs"], axis=-1))
    nodes += [pb.node("Identity", [finals[0]], ["h_n"])] + ([pb.node("Identity", [finals[1]], ["c_n"])] if lstm else [])

    layers, H = stack.layers * stack.dirs, stack.hidden
    inputs = [pb.value_info("tokens", pb.INT64, ["T", "B"])]
    inputs += [pb.value_info(name, pb.FLOAT, [layers, "B", H]) for name in states]
    inputs += [pb.value_info("lengths", pb.INT32, ["B"])] if lengths else []
    outputs = [pb.value_info("log_probs", pb.FLOAT, ["T", "B", cfg.vocab_size])]
    outputs += [pb.value_info(name, pb.FLOAT, [layers, "B", H]) for name in (["h_n", "c_n"] if lstm else ["h_n"])]
    return pb.model(nodes, "rnntool-language-model", inputs, outputs, inits,
                    metadata={"rnntool": json.dumps(header, ensure_ascii=False)},
                    doc="An rnntool language model: token ids and a state in, next-token log-probabilities "
                        "and the state after out. The 'rnntool' metadata entry is the model file's header.")


def export(model: str | os.PathLike, output: str | os.PathLike | None = None, *, format: str = "onnx") -> Path:
    """Write ``model`` (a model file or a bundled model's name) as ``format`` (ONNX) to
    ``output`` (default: the model's name with ``.onnx``, in the current directory); returns
    the path written. Language models only for now."""
    from rnntool.api.loading import load
    from rnntool.config import choice
    from rnntool.fsutil import atomic_write_bytes

    choice(format, FORMATS, "format")
    loaded = load(model)
    if loaded.kind != "lm":
        raise WrongKindError(f"{model} is a {loaded.kind}: only language models can be exported to ONNX so far "
                             "(a tagger's or classifier's character CNN and CRF are not written yet)")
    runtime = loaded._runtime
    output = Path(output) if output is not None else \
        Path(Path(os.fspath(model)).name.removesuffix(".safetensors") + ".onnx")
    if output.suffix == ".safetensors":
        raise InputError(f"{output}: an ONNX file would overwrite a model file's name; give a path ending .onnx")
    atomic_write_bytes(output, lm_graph(runtime, runtime.model_file.header))
    return output
