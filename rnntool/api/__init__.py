"""rnntool's public API (re-exported by the ``rnntool`` package; see docs/api.md).

Only what ``rnntool.__all__`` names is public; the modules here are how it is built.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rnntool.api.loading import Model, bundled_names, load

if TYPE_CHECKING:  # the result classes are imported where results are made
    from rnntool.results import Evaluation, ModelInfo, Perplexity


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


__all__ = ["Model", "bundled_names", "evaluate", "info", "load", "models"]
