"""rnntool: recurrent-network text models, from Python and from the command line.

    import rnntool
    lm = rnntool.load("shakespeare-char")
    for piece in lm.generate("ROMEO:", max_tokens=200, seed=1):
        print(piece, end="", flush=True)

The public names are those in ``__all__`` (docs/api.md is the tour); everything else is
internal. Importing rnntool is cheap: each name is imported when first used, using a
loaded model never imports torch, and the ``train_*`` functions import it when called.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~10 ms at start-up)

__version__ = "0.2.0.dev0"

from rnntool.errors import (  # noqa: E402  (cheap, and every caller wants them)
    InputError,
    ModelFileError,
    OptionError,
    OutOfRangeError,
    RnntoolError,
    RnntoolWarning,
    WrongKindError,
)

# public name -> the module that defines it (imported on first use)
_LAZY = {
    "load": "rnntool.api.loading",
    "bundled_names": "rnntool.api.loading",
    "Model": "rnntool.api.loading",
    "models": "rnntool.api",
    "read_lines": "rnntool.api.io",
    "read_text": "rnntool.api.io",
    "info": "rnntool.api",
    "summary": "rnntool.api",
    "layer": "rnntool.api",
    "text_size": "rnntool.api.io",
    "evaluate": "rnntool.api",
    "export": "rnntool.onnx_export",
    "onnx_feed": "rnntool.onnx_export",
    "quantize": "rnntool.quantization",
    "Quantization": "rnntool.quantization",
    "LanguageModel": "rnntool.api.lm",
    "Tagger": "rnntool.api.tagger",
    "Classifier": "rnntool.api.classifier",
    "train_lm": "rnntool.api.training",
    "train_tagger": "rnntool.api.training",
    "train_classifier": "rnntool.api.training",
    "prep": "rnntool.api.training",
    "TrainingInterrupted": "rnntool.api.training",
    "is_main_process": "rnntool.api.training",
    "Generation": "rnntool.results",
    "GenerationEvent": "rnntool.results",
    "LineScore": "rnntool.results",
    "Perplexity": "rnntool.results",
    "Token": "rnntool.results",
    "Span": "rnntool.results",
    "Sentence": "rnntool.results",
    "Document": "rnntool.results",
    "Classification": "rnntool.results",
    "Evaluation": "rnntool.results",
    "TrainResult": "rnntool.results",
    "PrepResult": "rnntool.results",
    "ModelInfo": "rnntool.results",
    "Summary": "rnntool.results",
    "LayerRun": "rnntool.results",
}

__all__ = [
    "__version__",
    "RnntoolError", "InputError", "OutOfRangeError", "OptionError", "ModelFileError", "WrongKindError",
    "RnntoolWarning",
    *_LAZY,
]


# public modules, reachable as attributes too (rnntool.plots.plot_logs after ``import rnntool``)
_MODULES = ("defaults", "plots", "corpora", "serve")  # serve: with the [serve] extra


def __getattr__(name: str) -> object:
    if name in _MODULES:
        return importlib.import_module(f"rnntool.{name}")  # importing a submodule binds it here
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rnntool' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_MODULES))


if TYPE_CHECKING:  # for type checkers and IDEs: the lazy names, as they will be
    from rnntool.api import evaluate, info, layer, models, summary
    from rnntool.api.classifier import Classifier
    from rnntool.api.io import read_lines, read_text, text_size
    from rnntool.api.lm import LanguageModel
    from rnntool.api.loading import Model, bundled_names, load
    from rnntool.onnx_export import export, onnx_feed
    from rnntool.api.tagger import Tagger
    from rnntool.api.training import (
        TrainingInterrupted, is_main_process, prep, train_classifier, train_lm, train_tagger,
    )
    from rnntool.results import (
        Classification, Document, Evaluation, Generation, GenerationEvent, LayerRun, LineScore, ModelInfo, Perplexity,
        PrepResult, Sentence, Span, Summary, Token, TrainResult,
    )
