"""Model architectures as plain data, and their true parameter counts.

Torch-free: ``rnntool summary`` and the numpy runtime read these without
importing torch; ``rnntool.nn`` builds torch modules from the same configs
(tests/test_engine.py holds the counts here to the torch modules' own).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rnntool.config import CELLS, SOFTMAXES
from rnntool.errors import OptionError, RnntoolError

GATES = {"lstm": 4, "gru": 3, "rnn": 1, "rnn-relu": 1}


def default_cutoffs(vocab_size: int) -> list[int]:
    """Adaptive-softmax clusters: a head of the most frequent words, then two tails
    (ids are frequency-ordered, so the head holds most of the probability mass)."""
    head = max(2, min(2000, vocab_size // 5))
    second = max(head + 1, min(vocab_size - 1, head * 4))
    cutoffs = [head] if second >= vocab_size - 1 else [head, second]
    return [c for c in cutoffs if c < vocab_size]


@dataclass
class LMConfig:
    """A language model's architecture. Its field defaults are the character-level recipe's
    (``rnntool.recipes.LM_MODEL["char"]``); the recipes are the source of the defaults a
    train-lm run and its --help use (a word model gets ``LM_MODEL["word"]``, and softmax and
    tying are chosen from the vocabulary), and tests/test_options.py holds these equal."""

    vocab_size: int
    cell: str = "lstm"
    layers: int = 2
    emb: int = 64
    hidden: int = 384
    dropout: float = 0.0
    tie: bool = False
    softmax: str = "full"
    cutoffs: list[int] = field(default_factory=list)
    div_value: float = 4.0
    # a backward model (train-lm --reverse): it reads every text right to left, the last token
    # first; scoring reverses what it reads, and it cannot generate left to right
    reverse: bool = False

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise RnntoolError(f"unknown cell {self.cell!r}; use one of: {', '.join(CELLS)}")
        if self.softmax not in SOFTMAXES:
            raise RnntoolError(f"unknown softmax {self.softmax!r}; use one of: {', '.join(SOFTMAXES)}")
        for name in ("layers", "emb", "hidden", "vocab_size"):
            if getattr(self, name) < 1:
                raise OptionError(name, "must be at least 1", getattr(self, name))
        if not 0.0 <= self.dropout < 1.0:
            raise OptionError("dropout", "must be in [0, 1)", self.dropout)
        if self.tie and self.emb != self.hidden:
            raise RnntoolError(
                f"--tie needs --emb equal to --hidden (got {self.emb} and {self.hidden}); "
                "make them equal or pass --no-tie"
            )
        if self.tie and self.softmax == "adaptive":
            raise RnntoolError("--tie works with --softmax full only; pass --no-tie or --softmax full")
        if self.softmax == "adaptive":
            if not self.cutoffs:
                self.cutoffs = default_cutoffs(self.vocab_size)
            if not self.cutoffs or sorted(set(self.cutoffs)) != list(self.cutoffs) or self.cutoffs[-1] >= self.vocab_size:
                raise RnntoolError(f"adaptive softmax cutoffs {self.cutoffs} must increase and stay below the vocabulary size")
            if self.hidden // (self.div_value ** len(self.cutoffs)) < 1:
                raise RnntoolError(f"--hidden {self.hidden} is too small for an adaptive softmax with "
                                   f"{len(self.cutoffs)} tail clusters; use --softmax full or a larger --hidden")

    def to_dict(self) -> dict:
        return {"type": "rnnlm", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "LMConfig":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def gates(self) -> int:
        return GATES[self.cell]


def rnn_layer_params(cell: str, input_size: int, hidden: int, bidirectional: bool = False) -> int:
    """torch's count: two bias vectors (b_ih and b_hh) per gate."""
    g = GATES[cell]
    return (g * hidden * (input_size + hidden) + 2 * g * hidden) * (2 if bidirectional else 1)


def textbook_rnn_layer_params(cell: str, input_size: int, hidden: int) -> int:
    """The arithmetic of Keras-style textbooks: one bias per gate for SimpleRNN and
    LSTM; Keras's GRU (reset_after=True, its default) has two, as torch does."""
    if cell == "gru":
        return rnn_layer_params(cell, input_size, hidden)
    g = GATES[cell]
    return g * hidden * (input_size + hidden) + g * hidden


@dataclass
class SummaryRow:
    layer: str
    output_shape: str
    params: int
    textbook_params: int
    note: str = ""


def adaptive_params(cfg: LMConfig) -> int:
    head = cfg.hidden * (cfg.cutoffs[0] + len(cfg.cutoffs))
    bounds = [*cfg.cutoffs, cfg.vocab_size]
    tails = 0
    for i in range(len(cfg.cutoffs)):
        hsz = int(cfg.hidden // (cfg.div_value ** (i + 1)))
        tails += cfg.hidden * hsz + hsz * (bounds[i + 1] - bounds[i])
    return head + tails


def rnn_stack_rows(cell: str, layers: int, input_size: int, hidden: int, seq: str, bidirectional: bool = False) -> list[SummaryRow]:
    rows = []
    name = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN (tanh)", "rnn-relu": "RNN (ReLU)"}[cell]
    size = input_size
    dirs = 2 if bidirectional else 1
    for layer in range(layers):
        label = f"{'Bi' if bidirectional else ''}{name} {layer + 1}" if layers > 1 else f"{'Bi' if bidirectional else ''}{name}"
        p = rnn_layer_params(cell, size, hidden, bidirectional)
        tb = textbook_rnn_layer_params(cell, size, hidden) * dirs
        rows.append(SummaryRow(label, f"(batch, {seq}, {hidden * dirs})", p, tb, "two bias vectors per gate" if p != tb else ""))
        size = hidden * dirs
    return rows


def lm_summary(cfg: LMConfig) -> list[SummaryRow]:
    rows = [SummaryRow("Embedding", f"(batch, time, {cfg.emb})", cfg.vocab_size * cfg.emb, cfg.vocab_size * cfg.emb)]
    rows += rnn_stack_rows(cfg.cell, cfg.layers, cfg.emb, cfg.hidden, "time")
    if cfg.dropout:
        rows.append(SummaryRow(f"Dropout({cfg.dropout:g})", f"(batch, time, {cfg.hidden})", 0, 0))
    if cfg.softmax == "adaptive":
        n = adaptive_params(cfg)
        rows.append(SummaryRow(f"AdaptiveSoftmax(cutoffs={cfg.cutoffs})", f"(batch, time, {cfg.vocab_size})", n, n))
    elif cfg.tie:
        rows.append(SummaryRow("Dense (tied to Embedding)", f"(batch, time, {cfg.vocab_size})", cfg.vocab_size,
                               cfg.vocab_size, "weights shared with Embedding; bias only"))
    else:
        n = cfg.hidden * cfg.vocab_size + cfg.vocab_size
        rows.append(SummaryRow("Dense (softmax)", f"(batch, time, {cfg.vocab_size})", n, n))
    return rows


def lm_summary_from_config(config: dict) -> list[SummaryRow]:
    return lm_summary(LMConfig.from_dict(config))


def classifier_spec(cell: str, vocab: int, emb: int, hidden: int, layers: int, classes: int,
                    bidirectional: bool = False, pool: str = "last") -> dict:
    """The configuration of a words-only classifier (what ``train-classifier --char-filters 0
    --case-emb 0`` builds), for ``summary`` to describe."""
    return {"words": [""] * vocab, "chars": [], "word_emb": emb, "char_filters": 0, "case_emb": 0, "cell": cell,
            "hidden": hidden, "layers": layers, "bidirectional": bidirectional, "pool": pool,
            "labels": [str(i) for i in range(classes)]}


def encoder_rows(config: dict, bidirectional: bool = True) -> list[SummaryRow]:
    """Token features and the recurrent stack of a tagger or classifier (config as stored)."""
    words, chars = len(config["words"]), len(config["chars"])
    rows = [SummaryRow("Word embedding", f"(batch, time, {config['word_emb']})", words * config["word_emb"],
                       words * config["word_emb"])]
    features = config["word_emb"]
    if config.get("char_filters"):
        e, f, k = config["char_emb"], config["char_filters"], config["char_kernel"]
        rows.append(SummaryRow("Char embedding", f"(tokens, chars, {e})", chars * e, chars * e))
        rows.append(SummaryRow(f"Char CNN (kernel {k}, max-pool)", f"(batch, time, {f})", e * f * k + f, e * f * k + f))
        features += f
    if config.get("case_emb"):
        n = 9 * config["case_emb"]
        rows.append(SummaryRow("Casing embedding", f"(batch, time, {config['case_emb']})", n, n))
        features += config["case_emb"]
    for lm in config.get("char_lms", []):  # a tagger's character language models (frozen)
        cfg = LMConfig.from_dict(lm["config"])
        n = sum(r.params for r in lm_summary(cfg))
        rows.append(SummaryRow(f"Char LM, {'backward' if cfg.reverse else 'forward'} ({cfg.layers}x{cfg.hidden} "
                               f"{cfg.cell.upper()}, frozen)", f"(batch, time, {cfg.hidden})", n, n, lm.get("name", "")))
        features += cfg.hidden
    rows += rnn_stack_rows(config["cell"], config["layers"], features, config["hidden"], "time", bidirectional)
    return rows


def tagger_summary(config: dict) -> list[SummaryRow]:
    """Layers of a BiLSTM tagger (config as stored in the model file)."""
    tags = len(config["tags"])
    rows = encoder_rows(config)
    n = 2 * config["hidden"] * tags + tags
    rows.append(SummaryRow("Dense (tag scores)", f"(batch, time, {tags})", n, n))
    if config.get("crf"):
        n = tags * tags + 2 * tags
        rows.append(SummaryRow("CRF (transitions)", f"(batch, time, {tags})", n, n))
    return rows


def classifier_summary_from_config(config: dict) -> list[SummaryRow]:
    """Layers of a text classifier (config as stored in the model file)."""
    bi = config.get("bidirectional", True)
    size = config["hidden"] * (2 if bi else 1)
    classes = len(config["labels"])
    rows = encoder_rows(config, bi)
    pool = config.get("pool", "max")
    if pool == "attention":
        n = size * size + size + size
        rows.append(SummaryRow("Attention pooling", f"(batch, {size})", n, n))
    else:
        rows.append(SummaryRow(f"{pool.capitalize()} pooling" if pool != "last" else "Last state", f"(batch, {size})",
                               0, 0))
    n = size * classes + classes
    activation = "sigmoid" if config.get("multilabel") else "softmax"
    rows.append(SummaryRow(f"Dense ({activation})", f"(batch, {classes})", n, n))
    return rows


def render_summary(title: str, rows: list[SummaryRow], total: int, textbook: int) -> str:
    """The layer table ``rnntool summary`` prints (Keras's model.summary() layout)."""
    width = max(len(r.layer) for r in rows) + 2
    shape_w = max(len(r.output_shape) for r in rows) + 2
    lines = [title, "=" * (width + shape_w + 14), f"{'Layer':<{width}}{'Output shape':<{shape_w}}{'Param #':>12}",
             "-" * (width + shape_w + 14)]
    for r in rows:
        note = f"  {r.note}" if r.note else ""
        if r.params != r.textbook_params:
            note += f" (textbook: {r.textbook_params:,})"
        lines.append(f"{r.layer:<{width}}{r.output_shape:<{shape_w}}{r.params:>12,}{note}")
    lines.append("=" * (width + shape_w + 14))
    lines.append(f"Total params: {total:,}")
    if textbook != total:
        lines.append(f"Textbook single-bias count: {textbook:,} (torch's recurrent cells have b_ih and b_hh: "
                     f"+{total - textbook:,})")
    return "\n".join(lines) + "\n"
