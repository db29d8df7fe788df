"""The models a server answers with: each loaded once, by a name a request can give."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rnntool.errors import InputError

KIND_ORDER = ("lm", "tagger", "classifier")
MODEL_SUFFIX = ".safetensors"


class UnknownModelError(InputError):
    """A request named a model the server does not have (HTTP 404)."""


@dataclass
class ServedModel:
    name: str
    model: object  # rnntool.LanguageModel | Tagger | Classifier
    source: str  # the bundled name or the file it came from

    @property
    def kind(self) -> str:
        return self.model.kind

    def describe(self, default: bool) -> dict:
        """The model as ``GET /v1/models`` lists it (OpenAI's model object, and more)."""
        runtime_facts: dict = {}
        m = self.model
        if m.kind == "lm":
            runtime_facts = {"level": m.level, "vocab_size": m.vocab_size}
        elif m.kind == "tagger":
            runtime_facts = {"tags": m.tags, "scheme": m.scheme}
        elif m.kind == "classifier":
            runtime_facts = {"labels": m.labels, "multilabel": m.multilabel}
        created = int(os.stat(m.path).st_mtime) if m.path is not None else 0
        return {"id": self.name, "object": "model", "created": created, "owned_by": "rnntool",
                "kind": self.kind, "default": default, "source": self.source, **runtime_facts}


def model_name(spec: str) -> tuple[str | None, str]:
    """(the name given, the model) for a ``NAME=MODEL`` or ``MODEL`` argument."""
    name, sep, rest = spec.partition("=")
    if sep and name and rest and "/" not in name and not Path(spec).exists():
        return name, rest
    return None, spec


class ServedModels:
    """Loaded models by name, and each kind's default (what a request without ``model`` gets)."""

    def __init__(self, served: list[ServedModel], defaults: dict[str, str]):
        self.by_name = {s.name: s for s in served}
        self.defaults = defaults

    @classmethod
    def load(cls, specs: list[str] | tuple[str, ...] = ()) -> ServedModels:
        """Load ``specs`` (bundled names, model files, ``NAME=MODEL``); none: every bundled
        model and, for each kind, the model the CLI would choose (your latest trained one...)."""
        import rnntool
        from rnntool.userstate import resolve_model

        chosen = {kind: resolve_model(kind, None)[0] for kind in KIND_ORDER}
        if not specs:
            specs = [*rnntool.bundled_names(),
                     *(path for path in chosen.values() if path and not _is_bundled_path(path))]
        served: list[ServedModel] = []
        for spec in specs:
            name, source = model_name(spec)
            model = rnntool.load(source)
            if name is None:
                name = model.name or _file_name(source)
            if any(s.name == name for s in served):
                raise InputError(f"two models would be named {name!r}: name one with NAME={source}")
            served.append(ServedModel(name, model, source))
        defaults = {}
        for kind in KIND_ORDER:
            of_kind = [s for s in served if s.kind == kind]
            if not of_kind:
                continue
            cli_choice = [s for s in of_kind if chosen[kind] and _same_file(s.model.path, chosen[kind])]
            defaults[kind] = (cli_choice or of_kind)[0].name
        return cls(served, defaults)

    def get(self, name: str | None, kind: str, endpoint: str) -> ServedModel:
        """The model a request names (or the kind's default), which must be of ``kind``."""
        from rnntool.errors import WrongKindError
        from rnntool.kinds import display_name

        of_kind = [n for n, s in self.by_name.items() if s.kind == kind]
        if name is None:
            if kind not in self.defaults:
                raise UnknownModelError(f"this server has no {display_name(kind)} for {endpoint}: "
                                        f"start it with one (rnntool serve MODEL ...)")
            name = self.defaults[kind]
        served = self.by_name.get(name)
        if served is None:
            known = ", ".join(self.by_name) or "none"
            raise UnknownModelError(f"no model named {name!r} here (served: {known}; GET /v1/models lists them)")
        if served.kind != kind:
            others = f" (served {display_name(kind)}s: {', '.join(of_kind)})" if of_kind else ""
            raise WrongKindError(f"{name} is a {display_name(served.kind)}; {endpoint} takes a "
                                 f"{display_name(kind)}{others}")
        return served

    def listing(self) -> list[dict]:
        return [s.describe(self.defaults.get(s.kind) == n) for n, s in self.by_name.items()]


def _file_name(source: str) -> str:
    name = Path(source).name
    return name[: -len(MODEL_SUFFIX)] if name.endswith(MODEL_SUFFIX) and len(name) > len(MODEL_SUFFIX) else name


def _is_bundled_path(path: str) -> bool:
    from rnntool.kinds import KINDS

    return any(_same_file(b.path, path) for k in KINDS.values() for b in k.bundled)


def _same_file(a, b) -> bool:
    try:
        return a is not None and os.path.samefile(a, b)
    except OSError:
        return False
