"""rnntool's public API (re-exported by the ``rnntool`` package; see docs/api.md).

Only what ``rnntool.__all__`` names is public; the modules here are how it is built.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rnntool.api.checks import checked_arguments
from rnntool.api.loading import Model, bundled_names, load

if TYPE_CHECKING:  # the result classes are imported where results are made
    from rnntool.results import Evaluation, LayerRun, ModelInfo, Perplexity, Summary


def evaluate(model: Model | str, data, **options) -> Evaluation | Perplexity:
    """What the ``eval-*`` commands print, as an object: ``model`` (loaded, or anything ``load``
    takes) on ``data`` (a file, or for language models a list of files read as one stream).
    ``options`` are the kind's ``evaluate`` keywords (``format``, ``column``, ``threshold``...)."""
    if not isinstance(model, Model):
        model = load(model)
    return model.evaluate(data, **options)


def info(model: str | os.PathLike) -> ModelInfo:
    """A model file's header, read without its weights (fast, and numpy-free): a bundled model's
    name or a path. What ``rnntool info --json`` prints is ``info(model).to_dict()``."""
    from pathlib import Path

    from rnntool.kinds import display_name
    from rnntool.modelfile import read_header, tensor_count
    from rnntool.results import ModelInfo
    from rnntool.userstate import locate

    path = Path(locate(os.fspath(model)))
    header = read_header(path)
    return ModelInfo(header, path, os.path.getsize(path), tensor_count(path), display_name(header["kind"]))


@checked_arguments
def summary(model: str | os.PathLike | None = None, *, spec: str | None = None, cell: str = "lstm",
            vocab: int = 10000, emb: int = 100, hidden: int = 128, layers: int = 1, classes: int | None = None,
            bidirectional: bool = False, pool: str = "last", tie: bool = False, softmax: str = "full") -> Summary:
    """A layer table with output shapes and parameter counts, as ``rnntool summary`` prints it:
    of a model file (or bundled name), read from its header; of Keras-syntax layers (``spec``:
    "Embedding(5000, 100); SimpleRNN(128); Dense(1)", counted as Keras counts); or of an
    rnntool model described by ``cell``/``vocab``/``emb``/``hidden``/``layers`` (a language
    model, or with ``classes`` a classifier). rnntool's cells have two bias vectors per gate
    (b_ih, b_hh); where the textbook's single-bias count differs, both are given."""
    from rnntool import arch
    from rnntool.api.checks import whole_number
    from rnntool.config import CELLS, SOFTMAXES, choice
    from rnntool.errors import InputError
    from rnntool.results import Summary

    if spec is not None:
        if model:
            raise InputError("give a MODEL file or --spec, not both")
        from rnntool.keras.spec import render, summarize, summary_json

        layer_list = summarize(spec)
        return Summary("sequential", render(layer_list), summary_json(layer_list))
    if bidirectional and not classes:
        raise InputError("--bidirectional describes a classifier spec: add --classes N "
                         "(rnntool language models are one-directional), or use --spec \"Bidirectional(LSTM(...))\"")
    whole_number(vocab, "vocab", 1)  # here: the configs call it vocab_size, which is not this function's name
    if model:
        from rnntool.kinds import get_kind
        from rnntool.modelfile import read_header
        from rnntool.userstate import locate

        header = read_header(locate(os.fspath(model)))
        kind = get_kind(header["kind"])
        rows, title = kind.load("summary")(header["config"]), f"{os.fspath(model)} ({kind.display})"
    elif classes:
        from rnntool.classification import POOLS

        choice(cell, CELLS, "cell")
        choice(pool, POOLS, "pool")
        config = arch.classifier_spec(cell, vocab, emb, hidden, layers, classes, bidirectional, pool)
        rows = arch.classifier_summary_from_config(config)
        title = "classifier spec (train-classifier --char-filters 0 --case-emb 0)"
    else:
        choice(cell, CELLS, "cell")
        choice(softmax, SOFTMAXES, "softmax")
        rows = arch.lm_summary(arch.LMConfig(vocab_size=vocab, cell=cell, emb=emb, hidden=hidden, layers=layers,
                                             tie=tie, softmax=softmax))
        title = "language model spec"
    total, textbook = sum(r.params for r in rows), sum(r.textbook_params for r in rows)
    return Summary(title, arch.render_summary(title, rows, total, textbook),
                   {"layers": [r.__dict__ for r in rows], "total_params": total, "textbook_params": textbook})


def layer(spec: str, input=None, *, input_shape: tuple[int, ...] | None = None, seed: int = 0,
          explain: bool = False, input_name: str = "the input") -> LayerRun:
    """Run Keras-syntax layers forward on numpy (``rnntool layer``): every tensor the last layer
    returns (hidden states, last state, last cell state; both directions for Bidirectional).
    ``input``: a nested list or array (batch, timesteps, features), or token ids when the spec
    starts with Embedding; a (timesteps, features) input is one sequence. Without it, random
    values of ``input_shape`` (default: the spec's, batch 1). Weights come from the spec's
    initialisers with Keras's defaults, so ``Constant(0.1)`` gives Keras's numbers exactly."""
    import numpy as np

    from rnntool.errors import InputError
    from rnntool.keras import forward
    from rnntool.keras.spec import build, parse
    from rnntool.results import LayerRun

    layers = parse(spec)
    if input is not None:
        if input_shape is not None:
            raise InputError("give --input or --input-shape, not both")
        try:
            raw = np.array(input)
        except ValueError:
            raise InputError(f"{input_name}: the nested lists must all have the same length at each depth") from None
        if raw.dtype.kind not in "iuf":
            raise InputError(f"{input_name}: the input must hold only numbers, as a nested list")
        build(layers, forward.with_batch_axis(layers, raw.shape))
        x = forward.check_input(layers, raw)
        note = f"read the {tuple(raw.shape)} input as one sequence: shape {tuple(x.shape)}" if x.ndim != raw.ndim else ""
    else:
        shape = None if input_shape is None else forward.with_batch_axis(layers, tuple(input_shape))
        build(layers, shape)
        x = forward.check_input(layers, forward.random_input(layers, seed, shape))
        kind = "token ids" if layers[0].cls == "Embedding" else "random values in [0, 1)"
        note = f"input: {kind}, shape {tuple(x.shape)} (--seed {seed}; give --input FILE for your own)"
    weights = forward.make_weights(layers, seed)
    outputs = [(o.name, o.value) for o in forward.run(layers, weights, x)]
    explained = None
    if explain:
        rnn_layer, rnn_weights, rnn_input = forward.first_recurrent(layers, weights, x)
        rnn = rnn_layer.recurrent
        act = rnn.args.get("activation", "tanh")
        explained = {"layer": rnn_layer.name, "cell": rnn.cls, "units": rnn.args["units"],
                     "forward_only": rnn_layer.cls == "Bidirectional",
                     "formulas": [f.format(act=act) for f in forward.FORMULAS[rnn.cls]],
                     "steps": forward.explain(rnn, rnn_weights, rnn_input)}
    return LayerRun(outputs, x, note, explained)


def models() -> dict:
    """The bundled models (what ``load(NAME)`` accepts), your latest trained model of each kind
    (what a bare command uses) and the environment variables naming models: what ``rnntool
    models --json`` prints."""
    from rnntool.kinds import KINDS
    from rnntool.modelfile import read_header
    from rnntool.userstate import latest_models

    bundled = [{"name": b.name, "kind": kind.name, "description": b.description, "trained_on": b.trained_on,
                "licence": b.licence, "size": os.path.getsize(b.path), "path": str(b.path)}
               for kind in KINDS.values() for b in kind.bundled if b.path.is_file()]
    latest = []
    for kind, path in sorted(latest_models().items()):
        entry = {"kind": kind, "path": path, "exists": os.path.isfile(path)}
        if entry["exists"]:
            try:
                header = read_header(path)
                entry.update(created=header.get("created"), metrics=header.get("training", {}).get("metrics", {}),
                             size=os.path.getsize(path))
            except Exception as e:  # a damaged or replaced file: say so, list the rest
                entry["problem"] = str(e)
        latest.append(entry)
    env = {kind.env: os.environ[kind.env] for kind in KINDS.values() if os.environ.get(kind.env)}
    return {"bundled": bundled, "latest": latest, "environment": env}


__all__ = ["Model", "bundled_names", "evaluate", "info", "layer", "load", "models", "summary"]
