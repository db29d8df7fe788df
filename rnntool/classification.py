"""The text classifier's configuration (torch-free: training and the numpy runtime
both read it): the shared recurrent encoder (rnntool.features), a pooling of its
outputs, and one output per class -- a softmax over them, or, for multi-label
data, independent sigmoids with a threshold."""

from __future__ import annotations

from dataclasses import dataclass, field

from rnntool.config import ConfigError, choice
from rnntool.errors import OptionError
from rnntool.features import EncoderConfig

POOLS = ("last", "mean", "max", "attention")


@dataclass(kw_only=True)
class ClassifierConfig(EncoderConfig):
    """A classifier's architecture. Its field defaults are the classifier recipe's
    (``rnntool.recipes.CLASSIFIER_MODEL``, the source a train-classifier run and its
    --help read; tests/test_options.py holds them equal); ``threshold`` is the one
    architecture default the recipe leaves to this class."""

    labels: list[str]
    dropout: float = 0.4  # the classifier recipe's (the tagger's encoder default is 0.33)
    bidirectional: bool = True
    pool: str = "max"
    multilabel: bool = False
    threshold: float = 0.5  # multi-label: a class is predicted when its probability reaches this
    temperature: float = 1.0  # fitted on the dev set after training (calibration)
    max_length: int = 400  # tokens a text is cut to (training and classifying alike)
    tokenizer: dict = field(default_factory=dict)  # TokenizerSettings.to_dict()

    TYPE = "rnn-classifier"

    def __post_init__(self) -> None:
        super().__post_init__()
        choice(self.pool, POOLS, "pool")
        if len(self.labels) < 2 and not self.multilabel:
            raise ConfigError(f"a classifier needs at least two classes; the data has {len(self.labels)}")
        if len(set(self.labels)) != len(self.labels):
            raise ConfigError("the class list has duplicates")
        if not 0.0 < self.threshold < 1.0:
            raise OptionError("threshold", "must be in (0, 1)", self.threshold)
        if not self.temperature > 0:
            raise ConfigError("the calibration temperature must be positive")
        if self.max_length < 1:
            raise OptionError("max_length", "must be at least 1", self.max_length)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def encoded_size(self) -> int:
        return self.hidden * self.directions
