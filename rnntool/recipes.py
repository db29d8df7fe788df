"""Default hyperparameters per model kind, and the configurations they resolve to.

Chosen with the benchmarks in bench/ (see docs/benchmarks.md) to train something
good on a 2-core laptop CPU in minutes. Torch-free, so ``--help`` can show them.
A recipe takes the user's options (``None`` = not given), refuses keys its
configuration does not have, and settles the choices that depend on others.

This is the one place defaults live: the train-* commands' --help brackets are
made from what these recipes resolve to (``default_text``), and the model
configuration dataclasses' field defaults equal a recipe (tests/test_options.py
holds both).
"""

from __future__ import annotations

import functools
import math

from rnntool.arch import LMConfig
from rnntool.config import ClassifierTrainConfig, LMTrainConfig, TaggerTrainConfig, check_keys

# Word vocabularies at least this large get an adaptive softmax by default: with a
# full softmax over 10k words the output layer is most of the arithmetic.
ADAPTIVE_MIN_VOCAB = 5000

LM_MODEL = {
    "char": dict(cell="lstm", layers=2, emb=64, hidden=384, dropout=0.0),
    "word": dict(cell="lstm", layers=2, emb=200, hidden=200, dropout=0.2),
}
LM_TRAIN = {
    "char": dict(bptt=32, batch_size=32, optimizer="adam", clip=1.0, warmup=0.05, schedule="cosine", patience=3),
    "word": dict(bptt=35, batch_size=20, optimizer="sgd", clip=0.25, warmup=0.0, schedule="cosine", patience=3),
}
# learning rate by level and optimizer (so --optimizer adam alone gets a sensible rate)
LM_LR = {
    "char": {"adam": 5e-3, "adamw": 5e-3, "sgd": 1.0},
    "word": {"adam": 2e-3, "adamw": 2e-3, "sgd": 20.0},
}
LM_EPOCHS = 10  # when no budget is given

# One BiLSTM layer of 192 over words, 96 character filters, dropout 0.4 and the language-model
# loss at 0.25: 95.83 +- 0.05 on EWT in 600 s (3 seeds) where 1x128 without the loss gave
# 95.46, and the two-layer recipe 95.82 at half the tagging speed; this one tags at ~0.8x the
# 1x128 model's speed (docs/benchmarks.md, "train-tagger's defaults").
TAGGER_MODEL = dict(word_emb=100, char_emb=32, char_filters=96, char_kernel=3, case_emb=8, cell="lstm", hidden=192,
                    layers=1, dropout=0.4, crf=False)
TAGGER_TRAIN = dict(batch_size=32, lr=2e-3, optimizer="adam", clip=5.0, schedule="cosine", warmup=0.02,
                    word_dropout=0.25, patience=10, min_word_freq=2, lm_loss=0.25)
TAGGER_EPOCHS = 20
# With --char-lm the character LMs give each word its context (what the LM loss teaches) and
# their features make every step dearer: the smaller tagger of the character-LM runs, without
# the loss, is the default there (CoNLL-2003 --char-lm, 120 s: testb F1 0.8202 against 0.7971
# with the defaults above, 0.8137 with them but no loss; 86.19 in 600 s).
CHAR_LM_TAGGER = dict(hidden=128, char_filters=64, dropout=0.33, lm_loss=0.0)
# With a budget of time or steps the cosine schedule runs down to the budget's end, and a
# tagger stopped by patience leaves that low-rate tail unused (half the 600 s runs stopped
# early): EWT 95.95 +- 0.10 without early stopping against 95.83 +- 0.05 with patience 10,
# 3 seeds each; CoNLL-2003 85.69 against 85.67 (1 seed). The best validation is kept either way.
BUDGET_PATIENCE = 10 ** 6


CLASSIFIER_MODEL = dict(word_emb=100, char_emb=32, char_filters=64, char_kernel=3, case_emb=8, cell="lstm",
                        hidden=128, layers=1, dropout=0.4, bidirectional=True, pool="max", max_length=400)
CLASSIFIER_TRAIN = dict(batch_size=32, lr=2e-3, optimizer="adam", clip=5.0, schedule="cosine", warmup=0.02,
                        word_dropout=0.25, patience=5, min_word_freq=2)
CLASSIFIER_EPOCHS = 10


def _budget(train: dict, epochs: int) -> dict:
    if train.get("epochs") is None and train.get("max_time") is None and train.get("max_steps") is None:
        train["epochs"] = epochs
    return train


def lm_configs(level: str, vocab_size: int, model_options: dict | None,
               train_options: dict | None) -> tuple[LMConfig, LMTrainConfig]:
    """The level's defaults with the given options on top, and the choices that depend on
    others resolved: softmax by vocabulary size, tying when sizes allow, lr by optimizer."""
    model = {**LM_MODEL[level], **check_keys(LMConfig, model_options, "language-model")}
    train = {**LM_TRAIN[level], **check_keys(LMTrainConfig, train_options, "training")}
    model.pop("vocab_size", None)
    model.setdefault("softmax", "adaptive" if level == "word" and vocab_size >= ADAPTIVE_MIN_VOCAB else "full")
    model.setdefault("tie", level == "word" and model["softmax"] == "full" and model["emb"] == model["hidden"])
    train.setdefault("lr", LM_LR[level][train["optimizer"]])
    return LMConfig(vocab_size=vocab_size, **model), LMTrainConfig(**_budget(train, LM_EPOCHS))


def tagger_train_config(train_options: dict | None) -> TaggerTrainConfig:
    return TaggerTrainConfig(**_budget({**TAGGER_TRAIN, **check_keys(TaggerTrainConfig, train_options, "training")},
                                       TAGGER_EPOCHS))


def classifier_train_config(train_options: dict | None) -> ClassifierTrainConfig:
    given = check_keys(ClassifierTrainConfig, train_options, "training")
    return ClassifierTrainConfig(**_budget({**CLASSIFIER_TRAIN, **given}, CLASSIFIER_EPOCHS))


def classifier_model_options(model_options: dict | None, level: str) -> dict:
    """Character-level classifiers read one character per token: no character CNN."""
    from rnntool.classification import ClassifierConfig

    defaults = {**CLASSIFIER_MODEL, **({"char_filters": 0} if level == "char" else {})}
    return {**defaults, **check_keys(ClassifierConfig, model_options, "classifier")}


def tagger_model_options(model_options: dict | None) -> dict:
    from rnntool.tagging import TaggerConfig

    return {**TAGGER_MODEL, **check_keys(TaggerConfig, model_options, "tagger")}


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


# --- train-classifier: defaults chosen from the data ------------------------------------------
# A plain train-classifier reads its training texts once before it builds the model and settles
# these from what the texts are - their script, how many there are, how many tokens and how many
# a text - never from which dataset they come from. An option the user gives is kept. Each rule
# is a measured recipe made general (docs/benchmarks.md, "Defaults chosen from the data"): R8
# (4.9k training texts, 0.49M tokens, ~100 a text) gained from embedding every word at 200 dimensions,
# NSMC (146k Korean reviews) from Kiwi morphemes and from batch 64 at lr 3e-3.
HANGUL_MAJORITY = 0.5  # of a text's letters: Korean, which Kiwi morphemes tokenize best
HANGUL_SAMPLE_CHARS = 2_000_000  # of the texts' first characters: enough to tell the script
SMALL_CORPUS_TOKENS = 1_000_000  # fewer training tokens: every word gets an embedding of its own
SMALL_CORPUS = dict(min_word_freq=1)
# ... of 200 dimensions where the texts are long: R8's documents (~100 tokens) gained from every
# word at 200 (0.9679 -> 0.9730, both changed together). Short texts (messages, reviews, lines)
# keep 100: 10% of NSMC 0.8353 against 0.8291 at 200; SMS spam (0.9884 against 0.9878-0.9894
# in three sittings) and an assembled set of lines (0.8660 against 0.8652) level
LONG_TEXT_TOKENS = 50  # mean tokens a training text, from which a small corpus's embeddings are larger
LONG_TEXT_WORD_EMB = 200
LARGE_SET_TEXTS = 50_000  # this many training texts or more: larger batches, a higher rate
LARGE_SET = dict(batch_size=64, lr=3e-3)
SMALL_SET_TEXTS = 20_000  # fewer texts and no budget: more epochs (early stopping ends the run)
SMALL_SET_EPOCHS = 40
# A handful of texts (the tutorials' 16 messages): a dev split of one or two texts cannot choose
# a model or stop a run, so train on as train-lm trains a tiny text - Adam at 1e-2, no early
# stopping, and (without a budget) at least TINY_UPDATES updates.
TINY_SET_TEXTS = 100
TINY_SET = dict(lr=1e-2, patience=10 ** 6)
TINY_UPDATES = 300
# A small dev set decides on a few texts: at R8's 549 dev texts and ~97% one validation's
# "no new best" is two or three texts, and patience 5 ended a run at 12 epochs with 55% of its
# budget left (0.9603 where seeds that ran on reached 0.975). Under SMALL_DEV_TEXTS the run
# waits SMALL_DEV_PATIENCE validations for a new best; the best model is kept either way.
SMALL_DEV_TEXTS = 2_000
SMALL_DEV_PATIENCE = 10


class Choice:
    """Options a run chose from its data, and why: one note line, one header entry."""

    __slots__ = ("options", "because", "basis")

    def __init__(self, options: dict, because: str, basis: str = "from the data"):
        self.options, self.because, self.basis = options, because, basis

    def flags(self) -> str:
        """The options as a user would type them: ``--word-emb 200``, ``--no-pretrain``."""
        return " ".join(f"--{'' if v else 'no-'}{k.replace('_', '-')}" if isinstance(v, bool)
                        else f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float)
                        else f"--{k.replace('_', '-')} {v}" for k, v in self.options.items())

    def note(self) -> str:
        return f"chose {self.flags()} {self.basis} ({self.because})"

    def to_dict(self) -> dict:
        return {"options": dict(self.options), "flags": self.flags(), "because": self.because}


# Pretraining: a word language model on the training texts first, then the classifier started
# from it (its vocabulary and recurrent layers, as --init-from LM does). On NSMC's 146k reviews a
# 180 s LM then 420 s of classifier beat 600 s of classifier alone (0.8779 against 0.8716, 3
# seeds); on R8's 5.5k texts an LM start lost (0.939 against 0.968): too little text to learn from.
PRETRAIN_MIN_TEXTS = LARGE_SET_TEXTS
PRETRAIN_MIN_SECONDS = 300  # of --max-time: less leaves the LM too little to learn anything
PRETRAIN_SHARE = 0.3  # of --max-time for the language model, the rest for the classifier
PRETRAIN_LM = dict(emb=128, hidden=256)  # a word LM's defaults otherwise
PRETRAIN_MAX_VOCAB = 20_000
# A classifier started from a word LM reads words only (no character CNN); where the LM's
# vocabulary leaves many tokens unknown, that costs more than the LM gives. NSMC (same
# session): Kiwi morphemes, 98.6% of tokens in the 20,000 most frequent, pretraining helps;
# eojeol words (Treebank rules on Korean), 69.8%, pretraining 0.8057 test against 0.8517 without.
PRETRAIN_MIN_COVERAGE = 0.9


def lm_start_conflicts(model_options: dict | None) -> list[str]:
    """The classifier options given that an encoder started from a language model cannot
    honour (it reads forward only, words only); the LM takes the shape options themselves."""
    given = {k: v for k, v in (model_options or {}).items() if v is not None}
    return [f"--{k.replace('_', '-')}" + ("" if isinstance(v, bool) else f" {v}") for k, v in given.items()
            if (k == "bidirectional" and v) or (k in ("char_filters", "case_emb") and v > 0)]


def choose_pretraining(given: bool | None, texts: int, level: str, max_time: float | None,
                       max_steps: int | None, started_by: str | None, ranks: int,
                       conflicts: list[str] = (), coverage: float = 1.0) -> tuple[bool, Choice | None]:
    """Whether train-classifier trains a language model on its texts first, and why (a note
    only when the data decided). ``given``: --pretrain/--no-pretrain, None for auto;
    ``started_by``: the option that gives the encoder's start already (--init-from,
    --word-vectors), if any; ``conflicts``: options given that a language model's start
    cannot honour; ``coverage``: the share of the training tokens among the words the
    language model would keep (its vocabulary: PRETRAIN_MAX_VOCAB, or --max-vocab)."""
    from rnntool.errors import InputError

    if given is False:
        return False, None
    blockers = [why for why, blocked in (
        (f"{' '.join(conflicts)} cannot start from a language model, which reads forward and words only",
         bool(conflicts)),
        (f"{started_by} gives the encoder's start already", started_by is not None),
        ("a character-level classifier has no words to pretrain", level != "word"),
        ("pretraining shares --max-time between the two, so it needs --max-time", max_time is None),
        ("--max-steps counts the classifier's steps only", max_steps is not None),
        ("several ranks: pretrain with train-lm under torchrun, then --init-from it", ranks > 1)) if blocked]
    if given:
        if blockers:
            raise InputError(f"--pretrain: {blockers[0]}")
        return True, None
    if texts < PRETRAIN_MIN_TEXTS or blockers or max_time < PRETRAIN_MIN_SECONDS:
        if texts >= PRETRAIN_MIN_TEXTS:  # large enough to gain; say why it did not
            why = blockers[0] if blockers else f"--max-time {max_time:g} is under {PRETRAIN_MIN_SECONDS} s"
            return False, Choice({"pretrain": False}, f"{texts:,} training texts, but {why}")
        return False, None
    if coverage < PRETRAIN_MIN_COVERAGE:
        return False, Choice({"pretrain": False}, f"{texts:,} training texts, but the language model's "
                             f"vocabulary would cover only {coverage:.0%} of their tokens (under "
                             f"{PRETRAIN_MIN_COVERAGE:.0%}): a classifier started from a word language model would "
                             "lose the character CNN that reads the rest")
    return True, Choice({"pretrain": True}, f"{texts:,} training texts, {PRETRAIN_MIN_TEXTS:,} or more: a word "
                        f"language model on them first, for {PRETRAIN_SHARE:.0%} of --max-time; --no-pretrain "
                        "to skip it")


def hangul_share(texts) -> float:
    """The share of Hangul among the letters of ``texts`` (the first HANGUL_SAMPLE_CHARS)."""
    letters = hangul = seen = 0
    for text in texts:
        for ch in text:
            if ch.isalpha():
                letters += 1
                hangul += "\uac00" <= ch <= "\ud7a3" or "\u1100" <= ch <= "\u11ff" or "\u3130" <= ch <= "\u318f"
        seen += len(text)
        if seen > HANGUL_SAMPLE_CHARS:
            break
    return hangul / letters if letters else 0.0


def choose_tokenizer(share: float, kiwi_installed: bool, sentencepiece_installed: bool = False) -> tuple[str, Choice]:
    """Word splitting for a text whose letters are ``share`` Hangul. Without Kiwi, Korean is
    split into unigram subword pieces learned from the texts where SentencePiece is installed
    (NSMC, same session: Kiwi 0.8782, unigram pieces 0.8655, eojeol words 0.8034 -- pretrained,
    which eojeol words no longer are: 0.8517, 2026-12-05), else eojeol."""
    if share < HANGUL_MAJORITY:
        return "treebank", Choice({"tokenizer": "treebank"}, f"{share:.0%} of the letters are Hangul")
    if kiwi_installed:
        return "kiwi", Choice({"tokenizer": "kiwi"}, f"{share:.0%} of the letters are Hangul, so Korean morphemes by Kiwi")
    if sentencepiece_installed:
        return "unigram", Choice({"tokenizer": "unigram"}, f"{share:.0%} of the letters are Hangul, but Kiwi is not "
                                 "installed, so subword pieces learned from the texts; pip install \"rnntool[ko]\" "
                                 "for Korean morphemes, 1.3 points more on NSMC")
    return "treebank", Choice({"tokenizer": "treebank"}, f"{share:.0%} of the letters are Hangul, but neither Kiwi "
                              "nor SentencePiece is installed, so eojeol words; pip install \"rnntool[ko]\" for "
                              "Korean morphemes, 2.5 points more on NSMC")


def _given(options: dict | None) -> dict:
    """The options a user gave (None: not given)."""
    return {k: v for k, v in (options or {}).items() if v is not None}


def _unsaid(values: dict, model: dict, train: dict, model_keys) -> dict:
    """Those of ``values`` the user left unsaid, added to ``model`` (the keys of ``model_keys``)
    or to ``train``; returned."""
    new = {k: v for k, v in values.items() if k not in model and k not in train}
    for k, v in new.items():
        (model if k in model_keys else train)[k] = v
    return new


def classifier_choices(texts: int, tokens: int, model_options: dict | None, train_options: dict | None,
                       words: bool = True, subwords: bool = False,
                       dev_texts: int | None = None) -> tuple[dict, dict, list[Choice]]:
    """The options with what the data decides filled in where the user gave nothing (None),
    and the choices made. ``texts`` and ``tokens``: the training split's; ``words``: a word
    vocabulary of the run's own (not characters, not a language model's); ``subwords``: its
    words are pieces learned from the same texts; ``dev_texts``: the dev split's size."""
    model, train = _given(model_options), _given(train_options)
    made: list[Choice] = []

    def choose(values: dict, because: str) -> None:
        new = _unsaid(values, model, train, CLASSIFIER_MODEL)
        if new:
            made.append(Choice(new, because))

    if words and subwords:
        choose({"min_word_freq": 1}, "subword pieces: every piece learned keeps a row of its own; "
                                     "--vocab-size sets how many")
    if words:
        if tokens < SMALL_CORPUS_TOKENS:
            per_text = tokens / max(1, texts)
            long = per_text >= LONG_TEXT_TOKENS
            shown = f"{math.floor(per_text * 10) / 10:,.1f}"  # floored: 49.99 is not "50.0 ..., under 50"
            size = (f"; {shown} tokens a text, {LONG_TEXT_TOKENS} or more, so larger embeddings" if long else
                    f"; {shown} tokens a text, under {LONG_TEXT_TOKENS}, so the usual embeddings")
            choose({**SMALL_CORPUS, "word_emb": LONG_TEXT_WORD_EMB if long else CLASSIFIER_MODEL["word_emb"]},
                   f"{tokens:,} training tokens, under {SMALL_CORPUS_TOKENS:,}, so every word gets an embedding of "
                   f"its own{'' if 'word_emb' in model else size}")
        else:
            choose({"min_word_freq": CLASSIFIER_TRAIN["min_word_freq"], "word_emb": CLASSIFIER_MODEL["word_emb"]},
                   f"{tokens:,} training tokens, {SMALL_CORPUS_TOKENS:,} or more, so words seen once share one vector")
    if texts < TINY_SET_TEXTS:
        choose(TINY_SET, f"{texts:,} training texts, under {TINY_SET_TEXTS}: a dev split of a few texts "
                         "cannot stop the run early")
    elif texts >= LARGE_SET_TEXTS:
        choose(LARGE_SET, f"{texts:,} training texts, {LARGE_SET_TEXTS:,} or more")
    else:
        choose({k: CLASSIFIER_TRAIN[k] for k in LARGE_SET}, f"{texts:,} training texts, under {LARGE_SET_TEXTS:,}")
    if texts >= TINY_SET_TEXTS and dev_texts is not None and dev_texts < SMALL_DEV_TEXTS:
        choose({"patience": SMALL_DEV_PATIENCE}, f"{dev_texts:,} dev texts, under {SMALL_DEV_TEXTS:,}: one "
                                                 "validation's best turns on a few texts")
    if not any(k in train for k in ("epochs", "max_time", "max_steps")):
        batch = train.get("batch_size", CLASSIFIER_TRAIN["batch_size"])
        if texts < TINY_SET_TEXTS:
            epochs = -(-TINY_UPDATES // max(1, -(-texts // batch)))
            because = f"{texts:,} training texts and no budget: {TINY_UPDATES} updates"
        else:
            epochs = SMALL_SET_EPOCHS if texts < SMALL_SET_TEXTS else CLASSIFIER_EPOCHS
            because = f"{texts:,} training texts and no --max-time or --max-steps; early stopping may end it sooner"
        choose({"epochs": epochs}, because)
    return model, train, made


def tagger_choices(model_options: dict | None, train_options: dict | None,
                   char_lms: bool) -> tuple[dict, dict, list[Choice]]:
    """train-tagger's options with what its inputs decide filled in where the user gave
    nothing (None), and the choices made: with ``char_lms`` (--char-lm), CHAR_LM_TAGGER."""
    model, train = _given(model_options), _given(train_options)
    new = _unsaid(CHAR_LM_TAGGER, model, train, TAGGER_MODEL) if char_lms else {}
    made = [Choice(new, "the character models give each word its context already, and a smaller tagger takes "
                        "more steps in the time", basis="for --char-lm")] if new else []
    budget = next((k for k in ("max_time", "max_steps") if k in train), None)
    if budget is not None and _unsaid({"patience": BUDGET_PATIENCE}, model, train, TAGGER_MODEL):
        made.append(Choice({"patience": BUDGET_PATIENCE}, f"--{budget.replace('_', '-')}: no early stopping; the "
                           "learning rate falls to the budget's end and the best validation is kept",
                           basis="for the budget"))
    return model, train, made


# --- defaults as --help shows them ----------------------------------------------------------
# Every bracketed default in a train-* --help is made here, from the configurations the recipes
# above resolve to when no option is given (tests/test_options.py parses the brackets back and
# compares them with those configurations). A bracket holds a value ("[64]", "[yes]"), one value
# per level ("[char 384, word 200]"; the classifier's "[64; 0 at char level]"), or, for a choice
# made from the data when the run starts, "auto: " and what the choice depends on.

DEV_FRAC = 0.1  # train-tagger, train-classifier without --dev: this fraction of TRAIN is held out
VALID_FRAC = 0.1  # train-lm on text without --valid: this fraction of INPUT's tokens (its tail) validates
EVAL_EVERY_MAX = 2000  # without --eval-every: validate every epoch, and at least every this many steps

# Chosen when the run starts, from the data (or from options whose defaults are so chosen).
RUN_TIME_DEFAULTS = {
    ("lm", "softmax"): f"auto: adaptive for word vocabularies of {ADAPTIVE_MIN_VOCAB}+, else full",
    ("lm", "tie"): "auto: at word level, when sizes allow",
    **{(kind, "eval_every"): f"auto: min(steps per epoch, {EVAL_EVERY_MAX})" for kind in ("lm", "tagger", "classifier")},
    ("classifier", "min_word_freq"): f"auto: {SMALL_CORPUS['min_word_freq']} below {SMALL_CORPUS_TOKENS:,} training "
                                     f"tokens, else {CLASSIFIER_TRAIN['min_word_freq']}; word level",
    ("classifier", "word_emb"): f"auto: {LONG_TEXT_WORD_EMB} below {SMALL_CORPUS_TOKENS:,} training tokens of "
                                f"{LONG_TEXT_TOKENS}+ a text, else {CLASSIFIER_MODEL['word_emb']}; word level",
    ("classifier", "batch_size"): f"auto: {LARGE_SET['batch_size']} from {LARGE_SET_TEXTS:,} training texts, "
                                  f"else {CLASSIFIER_TRAIN['batch_size']}",
    ("classifier", "lr"): f"auto: {_fmt(LARGE_SET['lr'])} from {LARGE_SET_TEXTS:,} training texts, "
                          f"{_fmt(TINY_SET['lr'])} under {TINY_SET_TEXTS}, else {_fmt(CLASSIFIER_TRAIN['lr'])}",
    ("tagger", "patience"): f"auto: off with --max-time or --max-steps, else {TAGGER_TRAIN['patience']}",
    ("classifier", "patience"): f"auto: {SMALL_DEV_PATIENCE} under {SMALL_DEV_TEXTS:,} dev texts, else "
                                f"{CLASSIFIER_TRAIN['patience']}; off under {TINY_SET_TEXTS} training texts",
    ("classifier", "epochs"): f"auto: {SMALL_SET_EPOCHS} below {SMALL_SET_TEXTS:,} training texts, "
                              f"{TINY_UPDATES} updates' worth under {TINY_SET_TEXTS}, else {CLASSIFIER_EPOCHS}; "
                              "unbounded with --max-time/--max-steps",
    ("classifier", "tokenizer"): "auto: kiwi when most letters are Hangul and Kiwi is installed, unigram "
                                 "when only SentencePiece is, else treebank",
    ("classifier", "pretrain"): f"auto: from {PRETRAIN_MIN_TEXTS:,} training texts at word level, with --max-time "
                                f"{PRETRAIN_MIN_SECONDS} or more, of which the LM gets {PRETRAIN_SHARE:.0%}, where the "
                                f"{PRETRAIN_MAX_VOCAB:,} most frequent words (or --max-vocab) are "
                                f"{PRETRAIN_MIN_COVERAGE:.0%} of the tokens",
}
LEVELS_SHOWN = {"lm": ("char", "word"), "tagger": (None,), "classifier": ("word", "char")}
PROBE_VOCAB = 100  # language-model defaults are read at this size; those that depend on it are run-time ones


def _field_defaults(cls) -> dict:
    from dataclasses import MISSING, fields

    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def resolved_defaults(kind: str, level: str | None = None) -> dict:
    """Every setting of a ``kind`` model and its training run (at ``level``) as the recipes
    resolve them when no option is given; the configuration dataclass fills the rest."""
    return dict(_resolved_defaults(kind, level))


@functools.cache  # --help texts read it for every option of every train-* command
def _resolved_defaults(kind: str, level: str | None) -> dict:
    from dataclasses import asdict

    if kind == "lm":
        model, train = lm_configs(level, PROBE_VOCAB, None, None)
        return {**asdict(model), **asdict(train)}
    if kind == "tagger":
        from rnntool.tagging import TaggerConfig

        return {**_field_defaults(TaggerConfig), **tagger_model_options(None), **asdict(tagger_train_config(None))}
    if kind == "classifier":
        from rnntool.classification import ClassifierConfig

        return {**_field_defaults(ClassifierConfig), **classifier_model_options(None, level),
                **asdict(classifier_train_config(None))}
    raise KeyError(f"no recipe for {kind!r}")


def _lm_lr_text() -> str:
    """The language models' learning rate, by level and optimizer (the level's own optimizer first)."""
    from rnntool.config import OPTIMIZERS

    parts = []
    for level in LEVELS_SHOWN["lm"]:
        own = LM_TRAIN[level]["optimizer"]
        rates: dict[float, list[str]] = {}
        for optimizer in sorted(OPTIMIZERS, key=lambda o: o != own):
            rates.setdefault(lm_configs(level, PROBE_VOCAB, None, {"optimizer": optimizer})[1].lr, []).append(optimizer)
        parts.append(f"{level}: " + ", ".join(f"{'/'.join(names)} {_fmt(lr)}" for lr, names in rates.items()))
    return "; ".join(parts)


@functools.cache  # typer reads each train-* signature more than once while building the CLI
def default_text(kind: str, option: str) -> str:
    """The default of option ``option`` (its parameter name) of train-``kind``, as its --help shows
    it in brackets. An option no recipe or configuration has a default for raises KeyError."""
    if (kind, option) in RUN_TIME_DEFAULTS:
        return RUN_TIME_DEFAULTS[kind, option]
    if kind == "lm" and option == "lr":
        return _lm_lr_text()
    values = {level: resolved_defaults(kind, level)[option] for level in LEVELS_SHOWN[kind]}
    if None in values.values():
        raise KeyError(f"train-{kind} --{option.replace('_', '-')} has no default to show")
    shown = {level: _fmt(v) for level, v in values.items()}
    first = next(iter(shown.values()))
    if option == "epochs" and len(set(shown.values())) == 1:
        return f"{first}, or unbounded with --max-time/--max-steps"
    if len(set(shown.values())) == 1:
        return first
    if kind == "classifier":  # word level is the classifier's default
        return f"{shown['word']}; {shown['char']} at char level"
    return ", ".join(f"{level} {v}" for level, v in shown.items())


def describe_lm_defaults() -> str:
    parts = []
    for level, d in LM_MODEL.items():
        t = LM_TRAIN[level]
        parts.append(
            f"{level}: {d['layers']}x{d['hidden']} {d['cell'].upper()}, emb {d['emb']}, dropout {d['dropout']}, "
            f"bptt {t['bptt']}, batch {t['batch_size']}, {t['optimizer']} lr {LM_LR[level][t['optimizer']]:g}, "
            f"{t['schedule']} schedule"
        )
    return "; ".join(parts)


# --- generation (rnntool generate, LanguageModel.generate) -------------------------------------

GENERATION = dict(max_tokens=200, temperature=0.8, top_k=0, top_p=1.0)
