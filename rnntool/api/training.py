"""Training from Python: ``train_lm``, ``train_tagger``, ``train_classifier`` and ``prep``.

Each takes every option its command takes, as typed keywords (``None``: the recipe's
default, rnntool/recipes.py), runs the very same training as the command (the same
defaults, the same weights bit for bit, the same checkpoints and ``resume``), and
returns a :class:`~rnntool.results.TrainResult`. It never prints: progress reaches
``on_event`` as dicts (and ``log`` as JSON lines). torch is imported when one is called.

``remember=True`` makes the model the user's latest of its kind (what a bare command and
``load(kind=...)`` use), as the commands do; a call leaves that state alone by default.

Ctrl-C (SIGINT) or SIGTERM during a run asks it to stop at the next step: it saves a
checkpoint and the best model so far, then raises :class:`TrainingInterrupted` -- a
``KeyboardInterrupt`` that carries the result -- so a notebook cell stops as it should
and ``resume=result.checkpoint`` continues the run. Under ``torchrun`` every rank calls
the same function; rank 0 writes the files.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from rnntool.api.checks import checked_arguments, whole_number
from rnntool.errors import InputError
from rnntool.results import PrepResult, TrainResult

EventFn = Callable[[dict], None]

# The options every train-* command shares, by where they go: the model's configuration,
# or the training run's (rnntool.config.TrainConfig).
MODEL_KEYS = ("cell", "layers", "hidden", "dropout")
TRAIN_KEYS = ("batch_size", "epochs", "max_time", "max_steps", "lr", "optimizer", "weight_decay", "clip",
              "schedule", "warmup", "patience", "eval_every", "seed", "device", "precision", "half")


class TrainingInterrupted(KeyboardInterrupt):
    """Raised after a run stopped by Ctrl-C/SIGTERM has saved its checkpoint and best model;
    ``result`` is that run's :class:`~rnntool.results.TrainResult` (``result.checkpoint``
    resumes it)."""

    def __init__(self, result: TrainResult):
        super().__init__("training interrupted; the checkpoint is saved (resume it with resume=...)")
        self.result = result


def is_main_process() -> bool:
    """Rank 0 of a torchrun job, or a plain process (torch-free: reads torchrun's environment)."""
    return os.environ.get("RANK", "0") == "0"


class _EventLog:
    """Every training event as one JSON line appended to ``path`` (rank 0 only)."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = path
        self.file = None

    def __enter__(self):
        if self.path is not None and is_main_process():
            try:
                self.file = open(self.path, "a", encoding="utf-8")
            except OSError as e:
                raise InputError(f"cannot write the log {self.path}: {e.strerror or e}") from None
        return self

    def __exit__(self, *exc):
        if self.file is not None:
            self.file.close()

    def __call__(self, event: dict) -> None:
        if self.file is None:
            return
        from rnntool.errors import RnntoolError
        from rnntool.fsutil import injected_fault

        try:
            injected_fault(self.path)
            self.file.write(json.dumps(event) + "\n")
            self.file.flush()
        except OSError as e:  # a full disk: stop here, with what was written left as it was
            raise RnntoolError(f"cannot write the log {self.path}: {e.strerror or e}; training stopped "
                               "(free some space, then --resume from the last checkpoint)") from None


class _StopOnSignal:
    """The first SIGINT/SIGTERM asks the run to stop at the next step (it then saves a
    checkpoint); a second Ctrl-C aborts at once -- except under torchrun, whose launcher
    forwards the terminal's Ctrl-C as a second signal and enforces its own shutdown timeout.
    The handler only sets a flag; the "stopping" event goes out from the training loop when it
    next asks. Only the main thread can take signals: elsewhere this does nothing, and the
    caller's own handlers are put back afterwards (except after a lost torchrun peer, when
    the process is about to end with its one-line error)."""

    def __init__(self, on_event: EventFn):
        self.on_event = on_event
        self.requested = self.announced = False
        self.launched = "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ
        self.previous: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
            for s in self.previous:
                signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            if signum == signal.SIGINT and not self.launched:
                raise KeyboardInterrupt
            return
        self.requested = True

    def __exit__(self, exc_type, *exc):
        from rnntool.train.distributed import LostPeerError

        if exc_type is not None and self.launched and issubclass(exc_type, LostPeerError):
            # torchrun sends the surviving ranks SIGTERM as soon as one dies, which must not
            # kill this one before it has said which rank it lost (the process ends next)
            return
        for s, handler in self.previous.items():  # None: a handler set outside Python
            signal.signal(s, signal.SIG_DFL if handler is None else handler)

    def __call__(self) -> bool:
        if self.requested and not self.announced:
            self.announced = True
            if is_main_process():
                self.on_event({"event": "stopping", "message": "stopping after this step and saving a "
                                                               "checkpoint (Ctrl-C again to abort)"})
        return self.requested


def _record(function: str, command: str | None, meta: dict | None, given: dict) -> dict:
    """The model file's record of how it was made: the command line, or this call."""
    if command is None:
        shown = ", ".join(f"{k}={v!r}" for k, v in given.items()
                          if not (v is None or v is False or (isinstance(v, (tuple, list)) and not v)))
        command = f"rnntool.{function}({shown})"
    record: dict = {"command": command}
    if meta:
        record["meta"] = {str(k): str(v) for k, v in meta.items()}
    return record


def _check_choices(options: dict) -> None:
    """The named choices a call was given, each one of its set (the CLI's enums check these)."""
    from rnntool import config

    sets = {"cell": config.CELLS, "optimizer": config.OPTIMIZERS, "schedule": config.SCHEDULES,
            "precision": config.PRECISIONS, "softmax": config.SOFTMAXES, "level": config.LEVELS,
            "tokenizer": config.WORD_TOKENIZERS, "class_weight": config.CLASS_WEIGHTS, "errors": config.DECODE_ERRORS}
    for name, choices in sets.items():
        if options.get(name) is not None:
            config.choice(options[name], choices, name)


def _check_vectors_given(tune_vectors: bool | None, word_vectors, resume, weight_decay: float | None) -> None:
    """--tune-vectors/--freeze-vectors say what to do with --word-vectors' rows: without them
    (and not resuming a run that had them), a one-line error rather than nothing done; and
    frozen rows with weight decay, before anything is read (rnntool.train.transfer)."""
    if tune_vectors is not None and word_vectors is None and resume is None:
        flag = "--tune-vectors" if tune_vectors else "--freeze-vectors"
        raise InputError(f"{flag} applies to --word-vectors FILE; give the vectors, or drop {flag}")
    if tune_vectors is False:
        from rnntool.train.transfer import check_freezable

        check_freezable(weight_decay)


def _split_shared(options: dict) -> tuple[dict, dict]:
    _check_choices(options)
    for name in ("layers", "hidden", "batch_size", "epochs", "max_steps", "patience", "eval_every", "emb", "bptt",
                 "word_emb", "min_word_freq", "max_length", "valid_tokens", "min_freq"):
        if options.get(name) is not None:  # a whole number already (checked_arguments)
            whole_number(options[name], name, 1)
    model = {k: options[k] for k in MODEL_KEYS}
    train = {k: options[k] for k in TRAIN_KEYS}
    train["half"] = train["half"] or None  # not given: the checkpoint's choice stands on resume
    return model, train


def _run(kind: str, fit: Callable, log, on_event: EventFn | None, remember: bool) -> TrainResult:
    """Run ``fit(on_event=..., should_stop=...) -> (summary, path)`` with the log and signals."""
    from rnntool.userstate import remember_latest

    with _EventLog(log) as event_log:
        def events(event: dict) -> None:
            event_log(event)
            if on_event is not None:
                on_event(event)

        with _StopOnSignal(events) as stop:
            summary, path = fit(on_event=events, should_stop=stop)
    if remember and is_main_process():
        remember_latest(kind, path)
    metrics = {"valid": summary.get("valid", {}), **({"test": summary["test"]} if "test" in summary else {})}
    result = TrainResult(Path(path), summary.get("stop_reason", "finished"), metrics, summary)
    if stop.requested and result.stop_reason == "interrupted":  # a signal after the last step changes nothing
        raise TrainingInterrupted(result)
    return result


@checked_arguments
def train_lm(
    input: str | os.PathLike, output: str | os.PathLike | None = None, *,
    level: str | None = None, tokenizer: str | None = None, lower: bool | None = None, min_freq: int = 1,
    max_vocab: int | None = None, vocab_size: int | None = None, valid: Sequence[str] = (), valid_frac: float = 0.1,
    text_col: str | None = None, text_field: str | None = None, init_from: str | os.PathLike | None = None,
    reverse: bool | None = None,
    cell: str | None = None, layers: int | None = None, hidden: int | None = None, dropout: float | None = None,
    emb: int | None = None, tie: bool | None = None, softmax: str | None = None, bptt: int | None = None,
    valid_tokens: int | None = None,
    batch_size: int | None = None, epochs: int | None = None, max_time: float | None = None,
    max_steps: int | None = None, lr: float | None = None, optimizer: str | None = None,
    weight_decay: float | None = None, clip: float | None = None, schedule: str | None = None,
    warmup: float | None = None, patience: int | None = None, eval_every: int | None = None,
    seed: int | None = None, device: str | None = None, precision: str | None = None,
    resume: str | os.PathLike | None = None, log: str | os.PathLike | None = None, half: bool = False,
    meta: dict | None = None, errors: str = "strict",
    on_event: EventFn | None = None, progress: Callable[[int], None] | None = None, remember: bool = False,
    command: str | None = None,
) -> TrainResult:
    """Train a word- or character-level RNN language model with teacher forcing (``rnntool
    train-lm``): ``input`` is a text file, ``-`` or a prepared corpus directory; the model
    goes to ``output`` (default: next to the input, ``alice.lm.safetensors``).

    ``level``, ``tokenizer`` and ``lower`` default to characters, Treebank words and False;
    ``tokenizer`` 'bpe' or 'unigram' learns about ``vocab_size`` SentencePiece pieces (8,000)
    from the text first (word level; the model file carries them, and generation joins them
    back exactly). ``init_from`` (a language model file or bundled name) continues that model on the text
    (fine-tuning): its architecture and tokenizer are kept (giving others is an error), the
    text's new characters or words are added to its vocabulary, and the training options
    (learning rate, budget) are yours. ``reverse`` trains a backward model: it reads the text
    right to left (last token first), scores and evaluates text so, and cannot generate; a
    tagger or classifier started from it (``init_from``) takes it into its backward direction."""
    given = dict(locals())  # the arguments, before anything else is a local
    from rnntool.text.corpus import PrepOptions
    from rnntool.text.tokenize import TokenizerSettings
    from rnntool.train.lm import train_lm as fit_lm

    model_options, train_options = _split_shared(given)
    given_settings = {k: v for k, v in (("level", _level(level, tokenizer, None)), ("tokenizer", tokenizer),
                                        ("lower", lower), ("vocab_size", vocab_size)) if v is not None}
    prep = PrepOptions(settings=TokenizerSettings(**given_settings), min_freq=min_freq, max_vocab=max_vocab,
                       valid_frac=0.0 if valid else valid_frac, errors=errors, text_col=text_col,
                       text_field=text_field)
    record = _record("train_lm", command, meta, _shown(given))
    valid = [valid] if isinstance(valid, (str, os.PathLike)) else valid
    return _run("lm", lambda **run: fit_lm(
        os.fspath(input), output, prep=prep, valid_specs=[os.fspath(v) for v in valid], resume=resume,
        model_options={**model_options, "emb": emb, "tie": tie, "softmax": softmax, "reverse": reverse},
        train_options={**train_options, "bptt": bptt, "valid_tokens": valid_tokens},
        init_from=None if init_from is None else os.fspath(init_from), given_settings=given_settings,
        record=record, progress=progress, **run), log, on_event, remember)


@checked_arguments
def train_tagger(
    train: str | os.PathLike, output: str | os.PathLike | None = None, *,
    dev: str | None = None, format: str = "auto", column: str | None = None, dev_frac: float = 0.1,
    crf: bool | None = None, char_filters: int | None = None, word_emb: int | None = None,
    min_word_freq: int | None = None, lm_loss: float | None = None, init_from: str | os.PathLike | None = None,
    word_vectors: str | os.PathLike | None = None, tune_vectors: bool | None = None,
    char_lm: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    cell: str | None = None, layers: int | None = None, hidden: int | None = None, dropout: float | None = None,
    batch_size: int | None = None, epochs: int | None = None, max_time: float | None = None,
    max_steps: int | None = None, lr: float | None = None, optimizer: str | None = None,
    weight_decay: float | None = None, clip: float | None = None, schedule: str | None = None,
    warmup: float | None = None, patience: int | None = None, eval_every: int | None = None,
    seed: int | None = None, device: str | None = None, precision: str | None = None,
    resume: str | os.PathLike | None = None, log: str | os.PathLike | None = None, half: bool = False,
    meta: dict | None = None, errors: str = "strict",
    on_event: EventFn | None = None, remember: bool = False, command: str | None = None,
) -> TrainResult:
    """Train a BiLSTM(-CRF) part-of-speech or entity tagger with character features (``rnntool
    train-tagger``) on CoNLL-U, CoNLL columns, word/TAG lines or ``nltk:treebank``.
    ``init_from``: a word-level language model (file or bundled name) whose word embeddings
    the tagger starts from (its words join the vocabulary, so words the tagging data lacks
    keep theirs) and, where cell and size agree, its first recurrent layer (forward);
    ``"FORWARD,BACKWARD"``, a forward and a backward model, gives both directions (their
    embeddings side by side).
    ``word_vectors``: a word2vec/GloVe/fastText text file the word embeddings start from
    instead (as for ``train_classifier``; ``tune_vectors=False`` keeps their rows as they
    are). ``char_lm``: a character language model, or a forward and a backward one
    (``train_lm(..., reverse=True)``), files or bundled names, whose states at each word join
    its features (Akbik et al. 2018's contextual string embeddings); they stay frozen and the
    tagger's model file carries them."""
    given = dict(locals())  # the arguments, before anything else is a local
    from rnntool.train.tagger import train_tagger as fit_tagger

    char_lms = [] if char_lm is None else [char_lm] if isinstance(char_lm, (str, os.PathLike)) else list(char_lm)

    _check_vectors_given(tune_vectors, word_vectors, resume, weight_decay)
    model_options, train_options = _split_shared(given)
    record = _record("train_tagger", command, meta, _shown(given))
    return _run("tagger", lambda **run: fit_tagger(
        os.fspath(train), output, dev_spec=None if dev is None else os.fspath(dev), fmt=format, column=column,
        dev_frac=dev_frac,
        model_options={**model_options, "crf": crf, "char_filters": char_filters, "word_emb": word_emb},
        train_options={**train_options, "min_word_freq": min_word_freq, "lm_loss": lm_loss,
                       "tune_vectors": tune_vectors},
        resume=resume, record=record, errors=errors, init_from=None if init_from is None else os.fspath(init_from),
        word_vectors=None if word_vectors is None else os.fspath(word_vectors),
        char_lm=[os.fspath(m) for m in char_lms], **run), log, on_event, remember)


@checked_arguments
def train_classifier(
    train: str | os.PathLike, output: str | os.PathLike | None = None, *,
    dev: str | None = None, dev_frac: float = 0.1,
    format: str = "auto", text_col: str | None = None, label_col: str | None = None, text_field: str = "text",
    label_field: str = "label", label_sep: str | None = None,
    level: str = "word", tokenizer: str | None = None, lower: bool = False, vocab_size: int | None = None,
    pool: str | None = None, bidirectional: bool | None = None, word_emb: int | None = None,
    char_filters: int | None = None, case_emb: int | None = None, min_word_freq: int | None = None,
    max_vocab: int | None = None, max_length: int | None = None, class_weight: str | None = None,
    calibrate: bool | None = None, threshold: float | None = None, init_from: str | None = None,
    word_vectors: str | os.PathLike | None = None, tune_vectors: bool | None = None,
    pretrain: bool | None = None,
    cell: str | None = None, layers: int | None = None, hidden: int | None = None, dropout: float | None = None,
    batch_size: int | None = None, epochs: int | None = None, max_time: float | None = None,
    max_steps: int | None = None, lr: float | None = None, optimizer: str | None = None,
    weight_decay: float | None = None, clip: float | None = None, schedule: str | None = None,
    warmup: float | None = None, patience: int | None = None, eval_every: int | None = None,
    seed: int | None = None, device: str | None = None, precision: str | None = None,
    resume: str | os.PathLike | None = None, log: str | os.PathLike | None = None, half: bool = False,
    meta: dict | None = None, errors: str = "strict",
    on_event: EventFn | None = None, remember: bool = False, command: str | None = None,
) -> TrainResult:
    """Train a text classifier (``rnntool train-classifier``): one label or several per text,
    from label<TAB>text lines, fastText ``__label__`` lines, a CSV/TSV table or JSONL. The
    options left None that ``rnntool.defaults.default_text`` calls "auto" (the tokenizer,
    embedding size and cut-off, batch size, learning rate, epochs, and ``pretrain``: a word
    language model trained on the texts first) are chosen from the training texts; the
    result's ``summary["choices"]`` and the model header say what and why. ``word_vectors``: a
    word2vec/GloVe/fastText text file (``.gz`` too) the word embeddings start from (their size
    is the vectors'; the file's first 20,000 words join the vocabulary besides the training
    data's; ``tune_vectors=False`` keeps their rows as they are). ``init_from``: a language
    model (file or bundled name) whose vocabulary, tokenizer and layers the encoder takes,
    one direction; ``"FORWARD,BACKWARD"``, a forward and a backward model, makes it
    bidirectional, each direction starting as its model. ``tokenizer`` 'bpe' or
    'unigram': about ``vocab_size`` SentencePiece pieces (8,000) learned from the training
    texts first, carried in the model file."""
    given = dict(locals())  # the arguments, before anything else is a local
    import logging

    from rnntool.text.labelled import LabelledFormat
    from rnntool.text.tokenize import TokenizerSettings
    from rnntool.train.classifier import train_classifier as fit_classifier

    _check_vectors_given(tune_vectors, word_vectors, resume, weight_decay)
    model_options, train_options = _split_shared(given)
    record = _record("train_classifier", command, meta, _shown(given))
    fmt = LabelledFormat(format, text_col, label_col, text_field, label_field, label_sep)
    return _run("classifier", lambda **run: fit_classifier(
        os.fspath(train), output, dev_spec=None if dev is None else os.fspath(dev), fmt=fmt, dev_frac=dev_frac,
        init_from=None if init_from is None else os.fspath(init_from),
        word_vectors=None if word_vectors is None else os.fspath(word_vectors),
        settings=TokenizerSettings(level, tokenizer or "treebank", lower, vocab_size=vocab_size or 0),
        choose_tokenizer_from_data=tokenizer is None,
        pretrain=pretrain,
        model_options={**model_options, "pool": pool, "bidirectional": bidirectional, "word_emb": word_emb,
                       "char_filters": char_filters, "case_emb": case_emb, "max_length": max_length,
                       "threshold": threshold},
        train_options={**train_options, "min_word_freq": min_word_freq, "max_vocab": max_vocab,
                       "class_weight": class_weight, "calibrate": calibrate, "tune_vectors": tune_vectors},
        resume=resume, record=record, errors=errors, on_message=logging.getLogger("rnntool").info, **run),
        log, on_event, remember)


def _level(level: str | None, tokenizer: str | None, default: str | None) -> str | None:
    """The level asked for; without one, a subword tokenizer's (words, split into pieces)."""
    from rnntool.config import SUBWORD_TOKENIZERS

    if level is None and tokenizer in SUBWORD_TOKENIZERS:
        return "word"
    return level if level is not None else default


def _shown(given: dict) -> dict:
    """The call's arguments worth recording (callbacks and the record's own fields left out)."""
    return {k: v for k, v in given.items() if k not in ("on_event", "progress", "command", "meta", "remember")}


@checked_arguments
def prep(
    inputs: str | os.PathLike | Sequence[str | os.PathLike], output: str | os.PathLike, *,
    level: str | None = None, tokenizer: str = "treebank", lower: bool = False, strip_punct: bool = False,
    ascii: bool = False, min_freq: int = 1, max_vocab: int | None = None, vocab_size: int | None = None,
    valid_frac: float = 0.1,
    test_frac: float = 0.0, split: str = "tail", valid: Sequence[str] = (), test: Sequence[str] = (),
    seed: int = 0, errors: str = "strict", text_col: str | None = None, text_field: str | None = None,
    jobs: int | None = None, progress: Callable[[int], None] | None = None,
) -> PrepResult:
    """Prepare a corpus once (``rnntool prep``): tokenize, build a frequency-ordered vocabulary
    from the training split, encode and split; writes a directory ``train_lm`` reads. ``level``:
    characters, or words with a subword ``tokenizer`` ('bpe', 'unigram': about ``vocab_size``
    SentencePiece pieces, 8,000, learned from the training inputs first)."""
    if jobs is not None:
        whole_number(jobs, "jobs", 1)
    from rnntool.fsutil import check_output_path
    from rnntool.text.corpus import PrepOptions, prepare_corpus
    from rnntool.text.tokenize import TokenizerSettings

    sources = [os.fspath(inputs)] if isinstance(inputs, (str, os.PathLike)) else [os.fspath(i) for i in inputs]
    output = os.fspath(output)
    check_output_path(output)
    explicit = bool(valid) or bool(test)
    settings = TokenizerSettings(_level(level, tokenizer, "char"), tokenizer, lower, strip_punct, ascii,
                                 vocab_size=vocab_size or 0)
    opts = PrepOptions(settings=settings, min_freq=min_freq,
                       max_vocab=max_vocab, valid_frac=0.0 if explicit else valid_frac,
                       test_frac=0.0 if explicit else test_frac, split=split, seed=seed, errors=errors,
                       text_col=text_col, text_field=text_field)
    valid, test = ([os.fspath(x)] if isinstance(x, (str, os.PathLike)) else [os.fspath(y) for y in x]
                   for x in (valid, test))
    corpus = prepare_corpus(sources, opts, valid, test, progress=progress, jobs=jobs)
    corpus.save(output)
    return PrepResult(Path(output), corpus.stats)


def command_line() -> str:
    """This process's command line as the CLI records it in a model file."""
    return shlex.join(["rnntool", *sys.argv[1:]])
