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

A tagger or a classifier becomes one graph over token features, the numpy runtime's
encoder (rnntool.runtime.encoder) written out; the caller turns text into them with the
header's tokenizer settings and vocabularies (``onnx_feed`` does it, and docs/api.md
states the rules for other languages):

    inputs   words    int64 [T, B]         word ids (lowercased, digits as 0, where the
                                           config's normalize_words says so)
             chars    int64 [T, B, C]      character ids, <w> first and </w> last, 0 after
                                           (models with a character CNN)
             case     int64 [T, B]         casing classes (models with a casing feature)
             lengths  int32 [B]            tokens per text, at least 1
    tagger   emissions  float [T, B, K]    tag scores (rows past a length: ignore them);
                                           with a CRF also transitions [K, K], start [K], end [K]
    classifier  logits float [B, C], probabilities float [B, C] (calibrated: the model's
                temperature; sigmoids for a multi-label model)

A tagger with character-LM features (``--char-lm``) takes, per character model K (0, then
1, in the order the tagger's config lists them), what that model reads and where:

             char_lm{K}_ids      int64 [S, B]   the sentence as the model reads it: its
                                                start-of-text id, then the words joined by
                                                spaces, last word first for a backward model
             char_lm{K}_lengths  int32 [B]      ids per sentence
             char_lm{K}_at       int64 [T, B]   per word, the position whose state stands for
                                                it: its last character (forward), its first
                                                (backward); past a length any index in
                                                [0, S), e.g. 0

and the graph runs each model over its ids and takes its top layer's state at those
positions beside the word's other features (rnntool.runtime.charlm, written out).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from rnntool.errors import InputError, WrongKindError

FORMATS = ("onnx",)


def _model(nodes: list, name: str, inputs: list, outputs: list, inits: list, header: dict, doc: str) -> bytes:
    """The ONNX model of a graph, the model file's header as its ``rnntool`` metadata entry."""
    from rnntool.runtime import onnx_proto as pb

    return pb.model(nodes, name, inputs, outputs, inits, metadata={"rnntool": json.dumps(header, ensure_ascii=False)},
                    doc=doc)


def _linear(nodes: list, inits: list, x: str, weight: np.ndarray, name: str, bias: np.ndarray | None = None) -> str:
    """x @ weight.T (+ bias); the transpose is an initialiser of its own."""
    from rnntool.runtime import onnx_proto as pb

    inits.append(pb.tensor(f"{name}.T", np.ascontiguousarray(weight.T)))
    nodes.append(pb.node("MatMul", [x, f"{name}.T"], [f"{name}.out" if bias is not None else name]))
    if bias is not None:
        inits.append(pb.tensor(f"{name}.bias", np.asarray(bias, np.float32)))
        nodes.append(pb.node("Add", [f"{name}.out", f"{name}.bias"], [name]))
    return name


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
        return _linear(nodes, inits, x, weight, name, bias)

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
    return _model(nodes, "rnntool-language-model", inputs, outputs, inits, header,
                  doc="An rnntool language model: token ids and a state in, next-token log-probabilities "
                      "and the state after out. The 'rnntool' metadata entry is the model file's header.")


def _encoder_nodes(encoder, cfg) -> tuple[list[bytes], list[bytes], list[bytes], str, list[str]]:
    """The text encoder (``TextEncoder``) over the inputs the module's docstring names:
    (nodes, initialisers, inputs, the top layer's outputs [T, B, H * dirs] -- zero past each
    length -- and the final states' names). Also defines ``mask`` [T, B, 1]: 1.0 at a text's
    tokens, 0.0 past its length."""
    from rnntool.runtime import onnx_proto as pb
    from rnntool.runtime.ort import stack_nodes

    nodes = [pb.node("Gather", ["word_embedding", "words"], ["word_features"], axis=0)]
    inits = [pb.tensor("word_embedding", encoder.word_emb)]
    inputs = [pb.value_info("words", pb.INT64, ["T", "B"])]
    parts = ["word_features"]
    if cfg.char_filters:
        # the character CNN of every token at once: [T * B, E, C], convolved, max over each
        # word's own positions (its ids are not 0), plus the bias, then ReLU
        inputs.append(pb.value_info("chars", pb.INT64, ["T", "B", "C"]))
        table = encoder.char_emb.copy()
        table[0] = 0.0  # padding reads as zeros, as the runtime's zero padding does
        k, E = encoder.conv_k, table.shape[1]
        conv = encoder.conv_w.reshape(k, E, -1).transpose(2, 1, 0)  # back to [F, E, k]
        inits += [pb.tensor("char_embedding", table), pb.tensor("char_conv", np.ascontiguousarray(conv)),
                  pb.tensor("char_bias", encoder.conv_b), pb.tensor("char_zero", np.array(0, np.int64)),
                  pb.tensor("char_below", np.array(-1e30, np.float32)), pb.tensor("char_axis1", np.array([1], np.int64)),
                  pb.tensor("char_from0", np.array([0], np.int64)), pb.tensor("char_from2", np.array([2], np.int64)),
                  pb.tensor("char_to3", np.array([3], np.int64)), pb.tensor("char_minus_one", np.array([-1], np.int64)),
                  pb.tensor("char_E", np.array([E], np.int64))]
        nodes += [pb.node("Shape", ["chars"], ["chars_shape"]),
                  pb.node("Slice", ["chars_shape", "char_from2", "char_to3"], ["chars_C"]),
                  pb.node("Slice", ["chars_shape", "char_from0", "char_from2"], ["chars_TB"]),
                  pb.node("Concat", ["char_minus_one", "chars_C", "char_E"], ["char_vectors_shape"], axis=0),
                  pb.node("Concat", ["char_minus_one", "chars_C"], ["char_ids_shape"], axis=0),
                  pb.node("Concat", ["chars_TB", "char_minus_one"], ["char_features_shape"], axis=0),
                  pb.node("Gather", ["char_embedding", "chars"], ["char_vectors"], axis=0),  # [T, B, C, E]
                  pb.node("Reshape", ["char_vectors", "char_vectors_shape"], ["char_rows"]),  # [N, C, E]
                  pb.node("Transpose", ["char_rows"], ["char_columns"], perm=[0, 2, 1]),  # [N, E, C]
                  # position p sees characters p - k//2 .. p + k-1 - k//2, as the runtime's windows do
                  pb.node("Conv", ["char_columns", "char_conv"], ["char_conv_out"], pads=[k // 2, k - 1 - k // 2]),
                  pb.node("Reshape", ["chars", "char_ids_shape"], ["char_ids_rows"]),  # [N, C]
                  pb.node("Equal", ["char_ids_rows", "char_zero"], ["char_padding"]),
                  pb.node("Unsqueeze", ["char_padding", "char_axis1"], ["char_padding3"]),  # [N, 1, C]
                  pb.node("Where", ["char_padding3", "char_below", "char_conv_out"], ["char_masked"]),
                  pb.node("ReduceMax", ["char_masked"], ["char_max"], axes=[2], keepdims=0),  # [N, F]
                  pb.node("Add", ["char_max", "char_bias"], ["char_biased"]),
                  pb.node("Relu", ["char_biased"], ["char_relu"]),
                  pb.node("Reshape", ["char_relu", "char_features_shape"], ["char_features"])]  # [T, B, F]
        parts.append("char_features")
    if encoder.case_emb is not None:
        inputs.append(pb.value_info("case", pb.INT64, ["T", "B"]))
        inits.append(pb.tensor("case_embedding", encoder.case_emb))
        nodes.append(pb.node("Gather", ["case_embedding", "case"], ["case_features"], axis=0))
        parts.append("case_features")
    if encoder.char_lm is not None:
        for k, lm in enumerate(encoder.char_lm.models):
            char_lm_nodes, char_lm_inits, char_lm_inputs, states = _char_lm_nodes(lm, f"char_lm{k}")
            nodes += char_lm_nodes
            inits += char_lm_inits
            inputs += char_lm_inputs
            parts.append(states)
    nodes.append(pb.node("Concat", parts, ["features"], axis=-1))
    inputs.append(pb.value_info("lengths", pb.INT32, ["B"]))
    recurrent, recurrent_inits, top, finals = stack_nodes(encoder.stack, "features", "lengths", prefix="rnn.")
    # mask [T, B, 1]: step t < each text's length
    inits += [pb.tensor("mask_zero", np.array(0, np.int64)), pb.tensor("mask_one", np.array(1, np.int64)),
              pb.tensor("mask_axis0", np.array([0], np.int64)), pb.tensor("mask_axis1", np.array([1], np.int64)),
              pb.tensor("mask_axis2", np.array([2], np.int64))]
    nodes += recurrent + [
        pb.node("Shape", ["words"], ["words_shape"]),
        pb.node("Gather", ["words_shape", "mask_zero"], ["steps"]),
        pb.node("Range", ["mask_zero", "steps", "mask_one"], ["step_index"]),
        pb.node("Unsqueeze", ["step_index", "mask_axis1"], ["step_column"]),  # [T, 1]
        pb.node("Cast", ["lengths"], ["lengths64"], to=pb.INT64),
        pb.node("Unsqueeze", ["lengths64", "mask_axis0"], ["length_row"]),  # [1, B]
        pb.node("Less", ["step_column", "length_row"], ["inside"]),
        pb.node("Unsqueeze", ["inside", "mask_axis2"], ["inside3"]),
        pb.node("Cast", ["inside3"], ["mask"], to=pb.FLOAT)]
    return nodes, inits + recurrent_inits, inputs, top, finals


def _char_lm_nodes(lm, name: str) -> tuple[list[bytes], list[bytes], list[bytes], str]:
    """One character model of a ``--char-lm`` tagger over its inputs (the module's docstring):
    (nodes, initialisers, inputs, the name of its states at each word [T, B, H])."""
    from rnntool.runtime import onnx_proto as pb
    from rnntool.runtime.ort import stack_nodes

    ids, lengths, at = f"{name}_ids", f"{name}_lengths", f"{name}_at"
    inputs = [pb.value_info(ids, pb.INT64, [f"{name}_S", "B"]), pb.value_info(lengths, pb.INT32, ["B"]),
              pb.value_info(at, pb.INT64, ["T", "B"])]
    nodes = [pb.node("Gather", [f"{name}.embedding", ids], [f"{name}.embedded"], axis=0)]
    inits = [pb.tensor(f"{name}.embedding", lm.embedding), pb.tensor(f"{name}.axis2", np.array([2], np.int64))]
    recurrent, recurrent_inits, top, _ = stack_nodes(lm.stack, f"{name}.embedded", lengths, prefix=f"{name}.rnn.")
    nodes += recurrent + [
        pb.node("Transpose", [top], [f"{name}.by_sentence"], perm=[1, 0, 2]),  # [B, S, H]
        pb.node("Transpose", [at], [f"{name}.at_by_sentence"], perm=[1, 0]),  # [B, T]
        pb.node("Unsqueeze", [f"{name}.at_by_sentence", f"{name}.axis2"], [f"{name}.index"]),  # [B, T, 1]
        pb.node("GatherND", [f"{name}.by_sentence", f"{name}.index"], [f"{name}.picked"], batch_dims=1),  # [B, T, H]
        pb.node("Transpose", [f"{name}.picked"], [f"{name}.states"], perm=[1, 0, 2])]  # [T, B, H]
    return nodes, inits + recurrent_inits, inputs, f"{name}.states"


def tagger_graph(runtime, header: dict) -> bytes:
    """The ONNX model (bytes) of a tagger on the numpy runtime (``TaggerRuntime``): token
    features in, tag scores (emissions) out, and a CRF's transition scores beside them."""
    from rnntool.runtime import onnx_proto as pb

    cfg = runtime.cfg
    nodes, inits, inputs, top, _ = _encoder_nodes(runtime.encoder, cfg)
    _linear(nodes, inits, top, runtime.out_w.T, "emissions", runtime.out_b)
    K = len(cfg.tags)
    outputs = [pb.value_info("emissions", pb.FLOAT, ["T", "B", K])]
    if runtime.crf is not None:
        for name, value in zip(("transitions", "start", "end"), runtime.crf):
            inits.append(pb.tensor(f"crf.{name}", np.asarray(value, np.float32)))
            nodes.append(pb.node("Identity", [f"crf.{name}"], [name]))
            outputs.append(pb.value_info(name, pb.FLOAT, [K, K] if name == "transitions" else [K]))
    return _model(nodes, "rnntool-tagger", inputs, outputs, inits, header,
                  doc="An rnntool tagger: token features in, tag scores out (Viterbi over them with a CRF's "
                      "transitions). The 'rnntool' metadata entry is the model file's header.")


def classifier_graph(runtime, header: dict) -> bytes:
    """The ONNX model (bytes) of a classifier on the numpy runtime (``ClassifierRuntime``):
    token features in, logits and calibrated class probabilities out."""
    from rnntool.runtime import onnx_proto as pb

    cfg = runtime.cfg
    nodes, inits, inputs, top, finals = _encoder_nodes(runtime.encoder, cfg)
    if cfg.pool in ("mean", "attention"):  # sums over the steps: the steps past a length must add nothing
        inits.append(pb.tensor("steps_axis", np.array([0], np.int64)))
        nodes.append(pb.node("Mul", [top, "mask"], ["masked_top"]))
    if cfg.pool in ("max", "attention"):
        inits.append(pb.tensor("pool_far_below", np.array(-1e30, np.float32)))
        nodes.append(pb.node("Cast", ["mask"], ["inside_bool"], to=9))  # BOOL
    if cfg.pool == "last":  # the top layer's final states: forward at the end, backward at the start
        dirs = cfg.directions
        inits += [pb.tensor("top_from", np.array([-dirs], np.int64)),
                  pb.tensor("top_to", np.array([np.iinfo(np.int64).max], np.int64)),
                  pb.tensor("pooled_shape", np.array([0, -1], np.int64)), pb.tensor("layers_axis", np.array([0], np.int64))]
        nodes += [pb.node("Slice", [finals[0], "top_from", "top_to", "layers_axis"], ["top_states"]),
                  pb.node("Transpose", ["top_states"], ["top_states_b"], perm=[1, 0, 2]),
                  pb.node("Reshape", ["top_states_b", "pooled_shape"], ["pooled"])]
    elif cfg.pool == "mean":
        nodes += [pb.node("ReduceSum", ["masked_top", "steps_axis"], ["summed"], keepdims=0),
                  pb.node("Cast", ["lengths"], ["lengths_float"], to=pb.FLOAT),
                  pb.node("Unsqueeze", ["lengths_float", "mask_axis1"], ["lengths_column"]),
                  pb.node("Div", ["summed", "lengths_column"], ["pooled"])]
    elif cfg.pool == "max":
        nodes += [pb.node("Where", ["inside_bool", top, "pool_far_below"], ["top_inside"]),
                  pb.node("ReduceMax", ["top_inside"], ["pooled"], axes=[0], keepdims=0)]
    else:  # attention: softmax over each text's own steps of v . tanh(W y + b)
        _linear(nodes, inits, top, runtime.att_w.T, "attention", runtime.att_b)
        inits.append(pb.tensor("attention_v", runtime.att_v[:, None].astype(np.float32)))
        nodes += [pb.node("Tanh", ["attention"], ["attention_tanh"]),
                  pb.node("MatMul", ["attention_tanh", "attention_v"], ["attention_scores"]),  # [T, B, 1]
                  pb.node("Where", ["inside_bool", "attention_scores", "pool_far_below"], ["scores_inside"]),
                  pb.node("Softmax", ["scores_inside"], ["attention_weights"], axis=0),
                  pb.node("Mul", ["masked_top", "attention_weights"], ["weighted"]),
                  pb.node("ReduceSum", ["weighted", "steps_axis"], ["pooled"], keepdims=0)]
    _linear(nodes, inits, "pooled", runtime.out_w.T, "logits", runtime.out_b)
    inits.append(pb.tensor("temperature", np.array(cfg.temperature, np.float32)))
    nodes.append(pb.node("Div", ["logits", "temperature"], ["calibrated"]))
    nodes.append(pb.node("Sigmoid", ["calibrated"], ["probabilities"]) if cfg.multilabel
                 else pb.node("Softmax", ["calibrated"], ["probabilities"], axis=-1))
    C = len(cfg.labels)
    outputs = [pb.value_info("logits", pb.FLOAT, ["B", C]), pb.value_info("probabilities", pb.FLOAT, ["B", C])]
    return _model(nodes, "rnntool-classifier", inputs, outputs, inits, header,
                  doc="An rnntool classifier: token features in, logits and calibrated class probabilities "
                      "out. The 'rnntool' metadata entry is the model file's header.")


def onnx_feed(model, texts) -> dict[str, np.ndarray]:
    """The inputs of an exported tagger's or classifier's graph (``rnntool export``) for
    ``texts``: each a string, split as the model reads it (a classifier with its own
    tokenizer, up to its ``max_length`` tokens; a tagger's one sentence into Treebank words,
    as ``tag`` splits it), or a list of tokens, taken as given. ``model``: a loaded model, a file or a
    bundled model's name. Every text needs a token. The rules it follows are spelled out in
    docs/api.md, for callers in other languages."""
    from rnntool.api.loading import Model, load
    from rnntool.api.tagger import _split

    loaded = model if isinstance(model, Model) else load(model)
    if loaded.kind == "lm":
        raise WrongKindError("a language model's graph takes token ids from its vocabulary, not features: see "
                             "docs/api.md")
    runtime = loaded._runtime
    if isinstance(texts, str):
        raise InputError("onnx_feed takes a list of texts; wrap a single text in a list")
    if loaded.kind == "classifier":
        token_lists = [runtime.tokens(t) if isinstance(t, str) else list(t)[: runtime.cfg.max_length] for t in texts]
    else:  # a row is one sentence, split into words as `tag` splits it
        token_lists = []
        for text in texts:
            sentences = _split(text)[1]
            if len(sentences) > 1:
                raise InputError(f"{text[:40]!r}... holds {len(sentences)} sentences; a tagger's graph reads one "
                                 "sentence a row, as tag does: give them one by one")
            token_lists.append(sentences[0][2] if sentences else [])
    feed = _encoder_feed(runtime.cfg, token_lists)
    char_lm = getattr(runtime.encoder, "char_lm", None)
    if char_lm is not None:
        feed.update(_char_lm_feed(char_lm, token_lists))
    return feed


def _char_lm_feed(char_lm, token_lists: list[list[str]]) -> dict[str, np.ndarray]:
    """A ``--char-lm`` tagger's inputs for its character models: what each reads and where
    (``rnntool.runtime.charlm.reading``, the function tagging itself uses)."""
    from rnntool.runtime.charlm import reading

    feed = {}
    T, B = max(map(len, token_lists)), len(token_lists)
    for k, lm in enumerate(char_lm.models):
        read = [reading(lm, words) for words in token_lists]
        ids = np.full((max(len(row) for row, _ in read), B), lm.vocab.pad_id, np.int64)
        at = np.zeros((T, B), np.int64)
        for b, (row, positions) in enumerate(read):
            ids[: len(row), b] = row
            at[: len(positions), b] = positions
        feed.update({f"char_lm{k}_ids": ids, f"char_lm{k}_lengths": np.array([len(row) for row, _ in read], np.int32),
                     f"char_lm{k}_at": at})
    return feed


def _encoder_feed(cfg, token_lists: list[list[str]]) -> dict[str, np.ndarray]:
    """``onnx_feed`` for token lists and an ``EncoderConfig``."""
    from rnntool.features import casing

    if not token_lists or not all(token_lists):
        raise InputError("every text needs at least one token: an exported graph cannot read an empty text")
    T, B = max(map(len, token_lists)), len(token_lists)
    feed = {"words": np.zeros((T, B), np.int64), "lengths": np.array([len(t) for t in token_lists], np.int32)}
    for b, tokens in enumerate(token_lists):
        feed["words"][: len(tokens), b] = [cfg.word_id(w) for w in tokens]
    if cfg.char_filters:
        matrix, _ = cfg.char_id_matrix([w for tokens in token_lists for w in tokens])
        chars = feed["chars"] = np.zeros((T, B, matrix.shape[1]), np.int64)
        t = np.concatenate([np.arange(len(tokens)) for tokens in token_lists])  # each token's step and text
        chars[t, np.repeat(np.arange(B), [len(tokens) for tokens in token_lists])] = matrix
    if cfg.case_emb:
        feed["case"] = np.zeros((T, B), np.int64)
        for b, tokens in enumerate(token_lists):
            feed["case"][: len(tokens), b] = [casing(w) for w in tokens]
    return feed


def export(model: str | os.PathLike, output: str | os.PathLike | None = None, *, format: str = "onnx") -> Path:
    """Write ``model`` (a model file or a bundled model's name) as ``format`` (ONNX) to
    ``output`` (default: the model's name with ``.onnx``, in the current directory); returns
    the path written."""
    from rnntool.api.loading import load
    from rnntool.config import choice
    from rnntool.fsutil import atomic_write_bytes

    choice(format, FORMATS, "format")
    loaded = load(model)
    runtime = loaded._runtime
    graph = {"lm": lm_graph, "tagger": tagger_graph, "classifier": classifier_graph}[loaded.kind]
    output = Path(output) if output is not None else \
        Path(Path(os.fspath(model)).name.removesuffix(".safetensors") + ".onnx")
    if output.suffix == ".safetensors":
        raise InputError(f"{output}: an ONNX file would overwrite a model file's name; give a path ending .onnx")
    atomic_write_bytes(output, graph(runtime, runtime.model_file.header))
    return output
