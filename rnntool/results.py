"""What the library returns: small, plain result objects.

Each is a dataclass with ``to_dict()``, and the CLI's JSON output (``--format jsonl``,
``--json``) is made from it, so the API, the command line and the server say the same
thing in the same words. Imports nothing heavy: no numpy, no torch.

Character offsets (``start``, ``end``) index the text that was given, so a page or an
editor can highlight the original: ``text[token.start:token.end]``. The classes use
``__slots__``: a tagged file makes one Token per word, and that stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


__all__ = [
    "Generation", "GenerationEvent", "LineScore", "Perplexity", "Token", "Span", "Sentence", "Document", "Classification", "Evaluation", "TrainResult", "ModelInfo", "Summary", "LayerRun", "PrepResult",
]

def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# --- language models ---------------------------------------------------------------------

@dataclass(slots=True)
class Generation:
    """One generated continuation: its prompt, the text sampled after it, the number of
    tokens sampled, why it stopped (``max_tokens``, ``stop``: a stop string, ``eos``: a
    line end with ``stop_at_eos``) and, when asked for, the tokens' summed log-probability."""

    prompt: str
    text: str = ""
    tokens: int = 0
    logprob_sum: float | None = None  # None: not asked for
    stop_reason: str = "max_tokens"

    @property
    def mean_logprob(self) -> float | None:
        return self.logprob_sum / self.tokens if self.tokens and self.logprob_sum is not None else None

    def to_dict(self) -> dict:
        return {"prompt": self.prompt, "text": self.text, "tokens": self.tokens,
                "mean_logprob": _round(self.mean_logprob, 4), "stop_reason": self.stop_reason}


@dataclass(slots=True)
class GenerationEvent:
    """One step of ``LanguageModel.generate_stream``: a piece of sample ``index``'s text as it
    is sampled, or (``done``) that sample, finished."""

    index: int  # the sample's place in the input (with num=N, prompt i's samples are i*N ... i*N+N-1)
    prompt: str
    piece: str | None = None
    done: Generation | None = None


@dataclass(slots=True)
class LineScore:
    """A line scored from the start-of-text state, its line end included: the total
    log-probability in nats, the tokens predicted, and the perplexity over them."""

    text: str
    logprob: float
    tokens: int

    @property
    def ppl(self) -> float:
        return math.exp(-self.logprob / self.tokens)

    def to_dict(self) -> dict:
        return {"text": self.text, "logprob": round(self.logprob, 4), "tokens": self.tokens,
                "ppl": round(self.ppl, 4)}


@dataclass(slots=True)
class Perplexity:
    """A text read as one stream with the state carried: the loss in nats per token, the
    perplexity, bits per character (character models), the tokens predicted and how many
    of them were ``<unk>``."""

    loss: float
    ppl: float
    tokens: int
    unk: int = 0
    bpc: float | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"loss": self.loss, "ppl": self.ppl}
        if self.bpc is not None:
            out["bpc"] = self.bpc
        out["tokens"] = self.tokens
        if self.tokens:
            out["unk"] = self.unk
        return out


# --- taggers -------------------------------------------------------------------------------

@dataclass(slots=True)
class Token:
    """A token, its tag, the probability of that tag (None when not asked for), and where
    it is in the text given (``start``/``end``; None when the tokenizer changed it beyond
    finding, which NLTK's rules never do)."""

    text: str
    tag: str
    probability: float | None = None
    start: int | None = None
    end: int | None = None


@dataclass(slots=True)
class Span:
    """An entity (IOB taggers): its type, its character offsets in the text given, its text,
    and its tokens (``token_start`` up to, not including, ``token_end``, in its sentence)."""

    type: str
    start: int | None
    end: int | None
    text: str
    token_start: int
    token_end: int


@dataclass(slots=True)
class Sentence:
    """One tagged sentence."""

    text: str
    tokens: list[Token]
    spans: list[Span] | None = None  # None: the model tags no entities
    scored: bool = field(default=True, repr=False)  # were the tags' probabilities asked for

    @property
    def words(self) -> list[str]:
        return [t.text for t in self.tokens]

    @property
    def tags(self) -> list[str]:
        return [t.tag for t in self.tokens]

    def to_dict(self) -> dict:
        record: dict[str, Any] = {"tokens": self.words, "tags": self.tags}
        if self.scored:
            record["confidence"] = [round(t.probability, 4) for t in self.tokens if t.probability is not None]
        if self.spans is not None:
            words = self.words  # as `tag --format jsonl` writes a span: its tokens, joined by spaces
            record["spans"] = [{"start": s.token_start, "end": s.token_end, "type": s.type,
                                "text": " ".join(words[s.token_start:s.token_end])} for s in self.spans]
        return record

    def offsets_dict(self) -> dict:
        """``to_dict()`` with every token's and span's character offsets (the library's and the
        server's form; the CLI's ``tag --format jsonl`` keeps the token-index form above)."""
        record = self.to_dict()
        record["offsets"] = [[t.start, t.end] for t in self.tokens]
        if self.spans is not None:
            for out, span in zip(record["spans"], self.spans):
                out["char_start"], out["char_end"], out["text"] = span.start, span.end, span.text
        return record


@dataclass(slots=True)
class Document:
    """What a tagger made of one input (a text, or one pre-tokenized sentence): its
    sentences, in order. ``tokens``, ``tags`` and ``spans`` run over all of them."""

    text: str
    sentences: list[Sentence]

    @property
    def tokens(self) -> list[Token]:
        return [t for s in self.sentences for t in s.tokens]

    @property
    def tags(self) -> list[str]:
        return [t.tag for s in self.sentences for t in s.tokens]

    @property
    def spans(self) -> list[Span] | None:
        if any(s.spans is None for s in self.sentences):
            return None
        return [span for s in self.sentences for span in (s.spans or [])]

    def to_dict(self) -> dict:
        return {"text": self.text, "sentences": [s.offsets_dict() for s in self.sentences]}


# --- classifiers -----------------------------------------------------------------------------

@dataclass(slots=True)
class Classification:
    """A classified text: the predicted ``labels`` (one, or for multi-label models every
    class whose probability reaches the threshold), and every class's calibrated
    probability, in the model's class order."""

    text: str
    labels: list[str]
    probabilities: dict[str, float]

    @property
    def label(self) -> str | None:
        """The predicted class (the first one of a multi-label prediction; None if none)."""
        return self.labels[0] if self.labels else None

    @property
    def probability(self) -> float | None:
        return None if self.label is None else self.probabilities[self.label]

    def top(self, k: int = 1) -> list[tuple[str, float]]:
        """The ``k`` most likely classes with their probabilities, best first."""
        ranked = sorted(self.probabilities.items(), key=lambda kv: -kv[1])
        return ranked[:k]

    def to_dict(self) -> dict:
        return {"text": self.text, "labels": self.labels,
                "probabilities": {c: round(p, 6) for c, p in self.probabilities.items()}}


# --- evaluation and training ----------------------------------------------------------------

@dataclass
class Evaluation:
    """The numbers an ``eval-*`` command prints: ``metrics`` as a dict (its keys are the
    JSON keys of ``--json``), and each top-level one as an attribute: ``ev.accuracy``."""

    kind: str
    metrics: dict

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["metrics"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Any:
        return self.metrics[key]

    def to_dict(self) -> dict:
        return dict(self.metrics)


@dataclass(slots=True)
class TrainResult:
    """A finished (or stopped) training run: where the model is, why it stopped, the best
    validation and the test metrics, and the whole summary the CLI prints (``summary``;
    its per-validation ``history`` too)."""

    model_path: Path
    stop_reason: str
    metrics: dict
    summary: dict = field(repr=False)

    @property
    def checkpoint(self) -> Path | None:
        """The resumable checkpoint a stopped run left (None once a run has finished)."""
        path = self.summary.get("checkpoint")
        return Path(path) if path else None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.summary.items() if k != "history"}


@dataclass(slots=True)
class ModelInfo:
    """What a model file's header records, read without its weights (``rnntool info``): the
    header itself, where the file is, its size, the numbers in its tensors, and its kind's name."""

    header: dict
    path: Path
    file_size: int
    parameters: int
    display: str  # "language model", "tagger", "classifier"

    @property
    def kind(self) -> str:
        return self.header["kind"]

    def to_dict(self) -> dict:
        return {**self.header, "path": str(self.path), "file_size": self.file_size, "parameters": self.parameters}


@dataclass(slots=True)
class Summary:
    """A layer table like Keras's ``model.summary()`` (``rnntool summary``): ``table`` is the text
    it prints, ``to_dict()`` its ``--json``; ``total_params`` the parameters counted."""

    title: str
    table: str
    data: dict = field(repr=False)

    @property
    def total_params(self) -> int:
        return self.data["total_params"]

    def __str__(self) -> str:
        return self.table

    def to_dict(self) -> dict:
        return dict(self.data)


@dataclass(slots=True)
class LayerRun:
    """What Keras-syntax layers returned for an input (``rnntool layer``): ``outputs`` as
    (name, numpy array) pairs, the input they read (``input``), a ``note`` on how it was
    made or read, and with ``explain`` the first recurrent layer's computation step by step
    (``explained``: its layer name, cell, units, direction note, formulas and steps)."""

    outputs: list
    input: Any = field(repr=False)
    note: str = ""
    explained: dict | None = None

    def to_dict(self) -> dict:
        doc: dict[str, Any] = {"outputs": [{"name": name, "shape": list(value.shape), "value": value.tolist()}
                                           for name, value in self.outputs]}
        if self.explained:
            doc["explain"] = {"layer": self.explained["layer"], "cell": self.explained["cell"],
                              "steps": [{k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in step.items()}
                                        for step in self.explained["steps"]]}
        return doc


@dataclass(slots=True)
class PrepResult:
    """A prepared corpus: its directory and the statistics ``prep`` prints."""

    output: Path
    stats: dict

    def to_dict(self) -> dict:
        return {"output": str(self.output), **self.stats}
