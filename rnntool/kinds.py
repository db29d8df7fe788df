"""The one registry of model kinds.

Each row says what a kind is called, its training command, which numpy runtime
class serves it and which function summarises its layers, which environment
variable names a fallback model, and which models ship with rnntool. Torch-free:
classes are named as ``"module:attribute"`` and imported only when asked for, so
``--help`` and the numpy commands stay fast.

A row is only the registry's part of a kind. The classifier (the third kind) is
7 files of its own in rnntool/ -- its model configuration (classification.py),
input layouts (text/labelled.py), torch module (nn/classifier.py), recipe
(train/classifier.py), numpy runtime (runtime/classifier.py), streamed output
(runtime/classify_io.py) and commands (cli/classifier.py) -- and additions to 8
shared ones: its row here, its training configuration and choice sets (config.py),
its defaults (recipes.py), its layer summary (arch.py), its metrics (metrics.py),
its training batches (train/batching.py), its shared CLI options (cli/options.py)
and the registration of its commands (cli/__init__.py); the model-file docstring
lists the kinds too. Then its own test file, cases in 11 other test files,
the man page (generated), README and docs. It reuses the tagger's encoder
(features.py, nn/encoder.py, runtime/encoder.py), the loop, the run preparation,
the checkpoints and the model file; a kind that cannot adds those as well.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from rnntool.errors import InputError

BUNDLED_DIR = Path(__file__).with_name("bundled")


@dataclass(frozen=True)
class BundledModel:
    name: str  # what -m NAME accepts
    file: str  # under rnntool/bundled/
    description: str
    trained_on: str
    licence: str

    @property
    def path(self) -> Path:
        return BUNDLED_DIR / self.file


@dataclass(frozen=True)
class Kind:
    name: str  # the model file's "kind"
    display: str  # "language model"
    train_command: str
    env: str  # environment variable naming a fallback model
    runtime: str  # numpy runtime class with .load(path)
    api: str  # the public class a loaded model is (rnntool.load returns one)
    summary: str  # function(header config dict) -> summary rows
    cpu_bf16: bool = True  # does --precision auto pick bf16 on CPUs with native bf16 (measured per kind)
    bundled: tuple[BundledModel, ...] = field(default_factory=tuple)
    default: str | None = None  # the bundled model a command uses when none is named (classifiers: none)

    @property
    def default_bundled(self) -> BundledModel | None:
        return next((b for b in self.bundled if b.name == self.default), None)

    def load(self, attribute: str):
        """The object a row names: ``kind.load("runtime")`` imports and returns the class."""
        module, _, name = getattr(self, attribute).partition(":")
        return getattr(importlib.import_module(module), name)


KINDS: dict[str, Kind] = {
    "lm": Kind(
        name="lm", display="language model", train_command="train-lm", env="RNNTOOL_LM",
        runtime="rnntool.runtime.lm:LMRuntime", api="rnntool.api.lm:LanguageModel", summary="rnntool.arch:lm_summary_from_config",
        bundled=(BundledModel("shakespeare-char", "shakespeare-char.safetensors",
                              "character-level 2x256 LSTM: Shakespeare-like text", "tiny Shakespeare (char-rnn)",
                              "public-domain text"),
                 BundledModel("ko-novel", "ko-novel.safetensors",
                              "Korean character-level 2x256 LSTM: 1910s-1930s novel prose", "KoCoNovel (Kim et al. 2024)",
                              "CC BY-SA 4.0")),
        default="shakespeare-char",
    ),
    "tagger": Kind(
        name="tagger", display="tagger", train_command="train-tagger", env="RNNTOOL_TAGGER",
        runtime="rnntool.runtime.tagger:TaggerRuntime", api="rnntool.api.tagger:Tagger", summary="rnntool.arch:tagger_summary",
        cpu_bf16=False,  # measured: the tagger's small matrices train faster in fp32 on CPU
        bundled=(BundledModel("en-ewt-upos", "en-ewt-upos.safetensors",
                              "English universal part-of-speech tagger (BiLSTM + char CNN)",
                              "UD English-EWT v2.16", "CC BY-SA 4.0"),
                 BundledModel("en-ewt-upos-accurate", "en-ewt-upos-accurate.safetensors",
                              "English universal part-of-speech tagger, more accurate, ~0.8x the speed "
                              "(rnntool 0.2's train-tagger defaults: 1x192, language-model loss)", "UD English-EWT v2.16", "CC BY-SA 4.0"),
                 BundledModel("en-ewt-xpos", "en-ewt-xpos.safetensors",
                              "English Penn Treebank part-of-speech tagger (the tutorials' tags: NN, VBD, ...)",
                              "UD English-EWT v2.16 (XPOS column)", "CC BY-SA 4.0")),
        default="en-ewt-upos",
    ),
    "classifier": Kind(
        name="classifier", display="classifier", train_command="train-classifier", env="RNNTOOL_CLASSIFIER",
        runtime="rnntool.runtime.classifier:ClassifierRuntime", api="rnntool.api.classifier:Classifier", summary="rnntool.arch:classifier_summary_from_config",
        cpu_bf16=False,  # the encoder is the tagger's: small matrices, faster in fp32 on CPUs
        bundled=(BundledModel("sms-spam", "sms-spam.safetensors", "English SMS spam filter (BiLSTM, max pooling)",
                              "SMS Spam Collection v.1 (Almeida et al. 2011)",
                              "free, no limitations; copyright the authors, no warranty"),
                 BundledModel("ko-sentiment", "ko-sentiment.safetensors",
                              "Korean movie-review sentiment, positive (1) or negative (0)",
                              "NSMC, Naver sentiment movie corpus v1.0 (Lucy Park)", "CC0 1.0")),
        # a spam filter or a Korean sentiment model is nobody's default: without -m, a classifier
        # command uses the user's own latest model or $RNNTOOL_CLASSIFIER, else says which are bundled
    ),
}


def get_kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise InputError(f"unknown model kind {name!r}; known: {', '.join(KINDS)}") from None


def display_name(kind: str | None) -> str:
    return KINDS[kind].display if kind in KINDS else repr(kind)


def bundled_model(name: str) -> tuple[Kind, BundledModel] | None:
    """The kind and entry of a bundled model called ``name``, if there is one."""
    for kind in KINDS.values():
        for entry in kind.bundled:
            if entry.name == name:
                return kind, entry
    return None
