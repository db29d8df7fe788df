"""The classifier recipe: labelled texts -> length-sorted padded batches, dev
accuracy (or micro-F1 for multi-label data) picks the best model, and a
temperature fitted on the dev set calibrates its probabilities."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from importlib.util import find_spec
from itertools import chain
from pathlib import Path

import numpy as np

from rnntool.classification import ClassifierConfig
from rnntool.config import ClassifierTrainConfig
from rnntool.errors import InputError, RnntoolError
from rnntool.features import normalize_word, normalized_counts, vocabularies_from_counts
from rnntool.metrics import score_classes
from rnntool.nn.classifier import ClassifierModule
from rnntool.recipes import (
    HANGUL_SAMPLE_CHARS,
    PRETRAIN_LM,
    PRETRAIN_MAX_VOCAB,
    PRETRAIN_SHARE,
    Choice,
    choose_pretraining,
    choose_tokenizer,
    lm_start_conflicts,
    classifier_choices,
    classifier_model_options,
    classifier_train_config,
    hangul_share,
)
from rnntool.runtime.classifier import calibrated_probabilities, decide
from rnntool.text.labelled import LabelledFormat, read_examples
from rnntool.text.subword import describe_subwords
from rnntool.text.tokenize import Tokenizer, TokenizerSettings
from rnntool.train.batching import Targets, TextBatches, TextTable, sorted_batches
from rnntool.train.labelled_texts import TextCollector, take_chars
from rnntool.train.transfer import (
    LMPair, LMStart, WordVectors, load_language_models, start_encoder, vector_rows_kept,
)
from rnntool.train.loop import EventFn, Job
from rnntool.train.runs import prepare

DEV_BATCH = 128


def split_dev(label_set: np.ndarray, frac: float, seed: int) -> np.ndarray:
    """Which texts to hold out (a boolean per text): a fraction of each label set's texts,
    so every class keeps its share."""
    rng = np.random.default_rng(seed)
    dev = np.zeros(len(label_set), bool)
    # each set's texts in order, the sets in order of their ids (given in order of first appearance)
    by_set = np.argsort(label_set, kind="stable")
    _, sizes = np.unique(label_set, return_counts=True)
    for ids in np.split(by_set, np.cumsum(sizes)[:-1]):
        dev[rng.permutation(ids)[: int(round(len(ids) * frac))]] = True
    if not dev.any() or dev.all():
        raise RnntoolError("too few training texts to hold out a dev set; give --dev")
    return dev


def class_weights(counts: np.ndarray, texts: int, multilabel: bool) -> list[float]:
    """'balanced': each class weighs n / (classes x its count) (multi-label: negatives / positives);
    ``counts``: texts per class (multi-label: texts that have it)."""
    if multilabel:
        return [float((texts - p) / p) if p else 1.0 for p in counts]
    return [float(texts / (len(counts) * c)) if c else 0.0 for c in counts]


MIN_CALIBRATION_TEXTS = 30  # a temperature fitted on fewer dev texts says more about them than the model


def nll(logits: np.ndarray, targets: np.ndarray, multilabel: bool, temperature: float) -> float:
    """Mean negative log-likelihood of the targets at this temperature (log-space, stable)."""
    z = logits.astype(np.float64) / temperature
    if multilabel:  # -log sigmoid(z) = logaddexp(0, -z)
        return float((targets * np.logaddexp(0, -z) + (1 - targets) * np.logaddexp(0, z)).mean())
    log_z = np.logaddexp.reduce(z, axis=1)
    return float((log_z - z[np.arange(len(targets)), targets]).mean())


def fit_temperature(logits: np.ndarray, targets: np.ndarray, multilabel: bool) -> float:
    """The temperature that minimises the dev negative log-likelihood (golden-section search
    over log T in [-3, 3]; the NLL is unimodal in T)."""
    lo, hi = -3.0, 3.0
    ratio = (math.sqrt(5) - 1) / 2
    f = lambda log_t: nll(logits, targets, multilabel, math.exp(log_t))  # noqa: E731
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = f(b)
    return math.exp((lo + hi) / 2)


def predict_logits(model: ClassifierModule, table: TextTable, targets: Targets, device) -> np.ndarray:
    """Logits [N, C] for every text of ``table`` (in its order)."""
    out = np.zeros((len(table.lengths), len(model.cfg.labels)), np.float32)
    for idx in sorted_batches(table.lengths, DEV_BATCH):
        b = table.batch(idx, targets).to(device)
        out[idx] = model.logits(b.words, b.cases, b.type_chars, b.type_index, b.lengths).float().cpu().numpy()
    return out


def init_from_language_model(spec: str, given: dict | None = None,
                             tokenizer_given: dict | None = None) -> tuple[dict, dict, LMStart | LMPair]:
    """An rnntool LM (a file or bundled name), or a forward and a backward one joined by a
    comma, as the encoder's start: (model options, tokenizer settings, the LM or LMPair). Its
    vocabulary becomes the classifier's and its recurrent stack the encoder (``start_encoder``,
    once the classifier is built): one direction from one LM, both from a pair. A shape option
    ``given``, or a tokenizer setting ``tokenizer_given`` (None: not given), that the models
    contradict is a one-line error."""
    lm = load_language_models(spec)
    cfg = lm.cfg
    options = dict(words=lm.vocabulary(), word_emb=lm.emb, char_filters=0, case_emb=0, cell=cfg.cell,
                   hidden=cfg.hidden, layers=cfg.layers, bidirectional=lm.bidirectional, normalize_words=False)
    clashes = sorted((k, v) for k, v in (given or {}).items() if v is not None and k in options and v != options[k])
    if clashes:
        flags = " ".join(("--bidirectional" if v else "--unidirectional") if k == "bidirectional"
                         else f"--{k.replace('_', '-')} {v}" for k, v in clashes)
        pair = f"FORWARD,{lm.name}" if lm.cfg.reverse else f"{lm.name},BACKWARD"
        also = (f" (or give the other direction's model too: --init-from {pair})"
                if any(k == "bidirectional" for k, _ in clashes) and not lm.bidirectional else "")
        raise InputError(f"{lm.name} gives the encoder its shape ({cfg.layers} x {cfg.cell} of {cfg.hidden}, "
                         f"{'both directions' if lm.bidirectional else 'one direction'}, word embeddings of "
                         f"{lm.emb}, no character or casing features); drop {flags}{also}")
    lm.tokenizer_settings(tokenizer_given or {})  # the model's ids mean its own tokens
    return options, lm.settings.to_dict(), lm


def pretrain_vocab_size(options: dict) -> int:
    """The words the pretrained language model keeps (--max-vocab, else PRETRAIN_MAX_VOCAB)."""
    return options.get("max_vocab") or PRETRAIN_MAX_VOCAB


def pretrain_min_freq(options: dict) -> int:
    """How often a word must occur for the pretrained language model to keep it."""
    return options.get("min_word_freq") or 1


def vocabulary_coverage(counts: dict[str, int], min_freq: int, size: int) -> float:
    """The share of the tokens counted that a vocabulary built from these counts keeps (as
    the pretrained language model builds its own: at least ``min_freq``, ``size`` entries with
    the reserved symbols: Vocab.from_counts keeps the most frequent; which of equal counts it
    keeps does not change the sum)."""
    from rnntool.text.tokenize import SPECIALS

    total = sum(counts.values())
    frequent = sorted((c for t, c in counts.items() if c >= min_freq and t not in SPECIALS), reverse=True)
    kept = sum(frequent[: max(0, size - len(SPECIALS))]) + sum(counts.get(s, 0) for s in SPECIALS)
    return kept / total if total else 1.0


def pretrain_language_model(texts: Iterable[str], count: int, settings: TokenizerSettings, output: Path,
                            model_options: dict, options: dict, on_event: EventFn | None,
                            should_stop: Callable[[], bool]) -> dict:
    """A word language model on the training texts, for recipes.PRETRAIN_SHARE of --max-time,
    written beside the classifier (OUTPUT.lm.safetensors: it generates text of the domain, and
    --init-from takes it again); what --init-from needs to start a classifier from it. The
    classifier's shape options, where given, are the LM's (its encoder is the LM's)."""
    import tempfile

    from rnntool.text.corpus import PrepOptions
    from rnntool.train.lm import train_lm

    seconds = options["max_time"] * PRETRAIN_SHARE
    path = output.with_name(output.name.removesuffix(".safetensors") + ".lm.safetensors")
    if on_event is not None:
        on_event({"event": "note", "message": f"pretraining a word language model on the {count:,} training "
                  f"texts for {seconds:.0f} s, into {path}"})
    with tempfile.TemporaryDirectory(prefix="rnntool-pretrain-") as scratch:
        text = Path(scratch) / "texts.txt"
        with open(text, "w", encoding="utf-8") as f:
            f.writelines(" ".join(t.split()) + "\n" for t in texts)
        summary, path = train_lm(
            str(text), path, prep=PrepOptions(settings=settings, min_freq=pretrain_min_freq(options),
                                              max_vocab=pretrain_vocab_size(options)),
            model_options={**PRETRAIN_LM, **{lm: model_options[ours] for ours, lm in (
                ("word_emb", "emb"), ("hidden", "hidden"), ("layers", "layers"), ("cell", "cell"),
                ("dropout", "dropout")) if model_options.get(ours) is not None}},
            train_options={"max_time": seconds, **{k: options[k] for k in ("seed", "device", "precision")
                                                   if options.get(k) is not None}},
            record={"command": f"pretraining for {output.name}"}, should_stop=should_stop)
    if summary["stop_reason"] == "interrupted":
        raise KeyboardInterrupt  # stopped before the classifier began: nothing of it to save
    if on_event is not None:
        on_event({"event": "note", "message": f"pretrained: valid ppl {summary['valid']['ppl']:.1f} after "
                  f"{summary['steps']:,} step{'s' if summary['steps'] != 1 else ''}; now the classifier, from it"})
    return {"model": str(path), "seconds": summary["train_seconds"], "steps": summary["steps"],
            "valid_ppl": summary["valid"]["ppl"]}


def train_classifier(
    train_spec: str,
    output: str | Path | None = None,
    *,
    dev_spec: str | None = None,
    fmt: LabelledFormat | None = None,
    dev_frac: float = 0.1,
    settings: TokenizerSettings | None = None,
    choose_tokenizer_from_data: bool = False,
    pretrain: bool | None = None,
    init_from: str | None = None,
    word_vectors: str | None = None,
    model_options: dict | None = None,
    train_options: dict | None = None,
    resume: str | Path | None = None,
    record: dict | None = None,
    on_event: EventFn | None = None,
    on_message: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    errors: str = "strict",
) -> tuple[dict, Path]:
    """Train (or resume) a text classifier; returns (summary, model path). Options left None
    (and the tokenizer, with ``choose_tokenizer_from_data``) are chosen from the training texts
    (recipes.classifier_choices); the choices are notes, and the model header records them.
    ``pretrain`` (None: chosen from the data) trains a word language model on the training
    split first, for a share of --max-time, and starts the classifier from it."""
    say = on_message or (lambda message: None)
    if init_from is not None and word_vectors is not None:
        raise RnntoolError("give --init-from or --word-vectors, not both (each sets the word embeddings)")
    if word_vectors is not None and resume is None:
        if settings is not None and settings.level != "word":
            raise RnntoolError("--word-vectors needs a word-level classifier (drop --level char)")
        WordVectors.check(word_vectors, (model_options or {}).get("word_emb"), errors)
    setup = prepare("classifier", train_spec, output, train_options, resume, record, on_event)
    inputs = setup.inputs({"dev": dev_spec, "format": (fmt or LabelledFormat()).to_dict(), "dev_frac": dev_frac,
                         "errors": errors, "tokenizer": (settings or TokenizerSettings("word")).to_dict(),
                         "init_from": init_from, "word_vectors": word_vectors})
    fmt = LabelledFormat(**inputs["format"])
    tokenizer_given = None if setup.resumed or settings is None else {
        "level": "char" if settings.level == "char" else None,
        "tokenizer": None if choose_tokenizer_from_data else settings.tokenizer,
        "lower": settings.lower or None, "vocab_size": settings.vocab_size or None}
    init = (init_from_language_model(inputs["init_from"], None if setup.resumed else model_options, tokenizer_given)
            if inputs["init_from"] else None)  # refused before any reading
    detected = []
    examples = read_examples(train_spec, fmt, inputs["errors"], on_detect=detected.append)
    head = take_chars(examples, HANGUL_SAMPLE_CHARS)  # the script is told from the first texts
    if fmt.name == "auto":
        say(f"reading {train_spec} as {detected[0].describe()} (detected; --format to choose)")
    fmt = detected[0]
    choices: list[dict] = list(inputs.get("choices", [])) if setup.resumed else []

    def chose(choice: Choice | None) -> None:
        """Record a choice made from the data, and say it (once: a resumed run made none)."""
        if choice is not None:
            choices.append(choice.to_dict())
            if on_event is not None and setup.dist.is_main:
                on_event({"event": "note", "message": choice.note()})

    if (not setup.resumed and init is None and choose_tokenizer_from_data
            and inputs["tokenizer"]["level"] == "word"):
        name, choice = choose_tokenizer(hangul_share(e.text for e in head), find_spec("kiwipiepy") is not None,
                                        find_spec("sentencepiece") is not None)
        inputs["tokenizer"] = {**inputs["tokenizer"], "tokenizer": name}
        chose(choice)
    settings = TokenizerSettings.from_dict(init[1] if init else inputs["tokenizer"])
    if settings.subwords and not settings.subword_model:  # a first pass: the pieces are learned from the texts
        settings = settings.learned_from(e.text for e in read_examples(train_spec, fmt, inputs["errors"]))
        inputs["tokenizer"] = settings.to_dict()  # a resumed run reads with the same pieces
        say(f"learned {settings.tokenizer} subword pieces from {train_spec}: {describe_subwords(settings.subword_model)}")
    tokenizer = Tokenizer(settings)
    max_length = (setup.checkpoint["model_config"]["max_length"] if setup.resumed else
                  (model_options or {}).get("max_length") or classifier_model_options(None, "word")["max_length"])

    # one streamed pass over each input: texts as token ids on disk (see labelled_texts)
    collector = TextCollector(tokenizer, max_length, keep_texts=not setup.resumed and pretrain is not False
                              and init is None and word_vectors is None)
    for name, source, spec in ((train_spec, 0, chain(head, examples)),
                               (inputs["dev"], 1, inputs["dev"] and read_examples(inputs["dev"], fmt, inputs["errors"]))):
        skipped = collector.add(spec, source) if spec else 0
        if skipped:
            say(f"skipped {skipped:,} empty text(s) in {name}")
    del head
    packed = collector.finish()
    del collector  # its tables are packed's now
    if inputs["dev"]:
        is_dev = packed.source == 1
    else:
        seed = setup.checkpoint["train_config"]["seed"] if setup.resumed else (train_options or {}).get("seed") or 0
        is_dev = split_dev(packed.label_set, inputs["dev_frac"], seed)
    train_ids, dev_ids = np.flatnonzero(~is_dev), np.flatnonzero(is_dev)
    train_sets = [packed.label_sets[i] for i in np.unique(packed.label_set[train_ids])]
    multilabel = any(len(names) != 1 for names in train_sets)
    labels = sorted({c for names in train_sets for c in names})
    unknown = sorted({c for i in np.unique(packed.label_set[dev_ids]) for c in packed.label_sets[i]} - set(labels))
    if unknown:
        raise RnntoolError(f"the dev data has classes the training data never uses ({', '.join(unknown[:8])}); "
                           "check that both files label the same way")
    odd = sorted({len(packed.label_sets[i]) for i in np.unique(packed.label_set[dev_ids])} - {1})
    if not multilabel and odd:
        raise RnntoolError(f"the dev data has texts with {' or '.join(map(str, odd))} labels where the training "
                           "data has one per text; check that both files label the same way")
    if len(labels) < 2:
        raise RnntoolError(f"{train_spec} has {len(labels)} class{'es' if len(labels) != 1 else ''} "
                           f"({', '.join(labels) or 'none'}); a classifier needs at least two")
    token_counts = packed.type_counts(~is_dev)  # the training split's

    pretraining: dict = dict(inputs.get("pretraining", {})) if setup.resumed else {}
    if not setup.resumed:
        options = train_options or {}
        chosen, choice = choose_pretraining(pretrain, len(train_ids), tokenizer.settings.level,
                                            options.get("max_time"), options.get("max_steps"),
                                            "--init-from" if inputs["init_from"] else "--word-vectors" if word_vectors
                                            else None,
                                            setup.dist.world_size,
                                            [] if inputs["init_from"] else lm_start_conflicts(model_options),
                                            vocabulary_coverage(token_counts, pretrain_min_freq(options),
                                                                pretrain_vocab_size(options)))
        chose(choice)
        if chosen:
            pretraining = pretrain_language_model(packed.texts(~is_dev), len(train_ids), tokenizer.settings,
                                                   setup.output, model_options or {}, options,
                                                   on_event if setup.dist.is_main else None, should_stop)
            inputs["init_from"] = pretraining["model"]  # a resumed run starts from the same file
            inputs["pretraining"] = pretraining
            init = init_from_language_model(pretraining["model"])
            train_options = {**options, "max_time": options["max_time"] - pretraining["seconds"]}
    if packed.text_lines is not None:
        packed.text_lines.close()  # kept for pretraining only

    vectors = None

    def build() -> tuple[ClassifierConfig, ClassifierTrainConfig]:
        chosen_model, chosen_train, made = classifier_choices(
            len(train_ids), int(packed.lengths[train_ids].sum()), model_options, train_options,
            words=init is None and tokenizer.settings.level == "word", subwords=tokenizer.settings.subwords,
            dev_texts=len(dev_ids))
        for choice in made:
            chose(choice)
        cfg = classifier_train_config(chosen_train)
        options = classifier_model_options(chosen_model, tokenizer.settings.level)
        words, chars, _ = vocabularies_from_counts(token_counts, cfg.min_word_freq, cfg.max_vocab)
        if init is not None:  # the language model's vocabulary and encoder shape
            options.update(init[0])
            words = options.pop("words")
        elif word_vectors is not None:
            nonlocal vectors
            normal = normalize_word if options.get("normalize_words", True) else str
            vectors = WordVectors.load(word_vectors, words, normal, inputs["errors"])
            options["word_emb"] = vectors.word_embedding_size((model_options or {}).get("word_emb"))
            words = vectors.encoder_words(words, normal)
        return ClassifierConfig(words=words, chars=chars, labels=labels, multilabel=multilabel,
                                tokenizer=tokenizer.settings.to_dict(), **options), cfg

    model_cfg, cfg = setup.configs(ClassifierConfig, ClassifierTrainConfig, model_options, train_options, build)
    train_targets, dev_targets = (Targets(packed.label_set[ids], packed.label_sets, model_cfg.labels,
                                          model_cfg.multilabel) for ids in (train_ids, dev_ids))
    dev_labels = [packed.label_sets[i] for i in packed.label_set[dev_ids]]  # shared tuples
    word_counts = normalized_counts(token_counts, normalize_word if model_cfg.normalize_words else (lambda w: w))
    rarest = {w for w, c in word_counts.items() if c == cfg.min_word_freq}
    del word_counts
    setup.seed(cfg)
    weights = class_weights(train_targets.class_counts(), len(train_ids), model_cfg.multilabel) \
        if cfg.class_weight == "balanced" else None
    model = ClassifierModule(model_cfg, weights, word_dropout=cfg.word_dropout if init is None else 0.0)
    if init is not None and not setup.resumed:
        taken = start_encoder(model, init[2], [(f"rnn.{k}.forward_rnn.{{}}_l0",
                                                f"rnn.{k}.backward_rnn.{{}}_l0" if model_cfg.bidirectional else None)
                                               for k in range(model_cfg.layers)])
        say(f"starting from {init[2].name}: {'; '.join(taken)}")
    elif vectors is not None:
        say(f"starting from {vectors.name}: {start_encoder(model, vectors, [])[0]}")
    vector_rows = vector_rows_kept(model, cfg, vectors, inputs)
    table = TextTable(packed, model_cfg, rarest, train_ids)
    dev_table = TextTable(packed, model_cfg, None, dev_ids, features=table)
    header = {"config": model_cfg.to_dict(), "training": {"sources": [train_spec] + ([inputs["dev"]] if inputs["dev"]
                                                                                        else []),
                                                         **({"init_from": inputs["init_from"]} if inputs["init_from"]
                                                            else {}),
                                                         **({"choices": choices} if choices else {}),
                                                         **({"pretraining": pretraining} if pretraining else {}),
                                                         **({"word_vectors": word_vectors} if vectors else {})}}

    def validate(m: ClassifierModule) -> tuple[float, dict]:
        probs = calibrated_probabilities(predict_logits(m, dev_table, dev_targets, setup.device), model_cfg.multilabel)
        scores = score_classes(dev_labels, decide(probs, model_cfg.labels, model_cfg.multilabel, model_cfg.threshold),
                               model_cfg.labels, probs, model_cfg.multilabel)
        metrics = {"accuracy": scores["accuracy"], "macro_f1": scores["macro"]["f1"]}
        if model_cfg.multilabel:
            metrics["micro_f1"] = scores["micro"]["f1"]
            return scores["micro"]["f1"], metrics
        return scores["accuracy"], metrics

    def finish(m: ClassifierModule) -> dict:
        """Calibration: the temperature that makes the dev probabilities mean what they say."""
        if not cfg.calibrate:
            return {}
        if len(dev_ids) < MIN_CALIBRATION_TEXTS:
            if on_event is not None and setup.dist.is_main:
                on_event({"event": "note", "message": f"the dev set has {len(dev_ids)} texts, too few to fit a "
                          f"temperature (at least {MIN_CALIBRATION_TEXTS}); probabilities are left uncalibrated"})
            return {}
        logits = predict_logits(m, dev_table, dev_targets, setup.device)
        targets = dev_targets.all()
        t = fit_temperature(logits, targets, model_cfg.multilabel)
        header["config"]["temperature"] = t

        def ece(temperature: float) -> float:
            probs = calibrated_probabilities(logits, model_cfg.multilabel, temperature)
            return score_classes(dev_labels, decide(probs, model_cfg.labels, model_cfg.multilabel, model_cfg.threshold),
                                 model_cfg.labels, probs, model_cfg.multilabel)["ece"]

        return {"calibration": {"temperature": t, "dev_ece_before": ece(1.0), "dev_ece_after": ece(t),
                                "dev_nll_before": nll(logits, targets, model_cfg.multilabel, 1.0),
                                "dev_nll_after": nll(logits, targets, model_cfg.multilabel, t)}}

    job = Job(
        model=model,
        data=TextBatches(table, train_targets, cfg.batch_size, cfg.seed, setup.dist, pin=setup.device.type == "cuda"),
        evaluate=validate,
        header=header,
        model_config=model_cfg.to_dict(),
        inputs={**inputs, "format": fmt.to_dict(), "choices": choices, "vector_rows": vector_rows},
        validation_tokens=len(dev_ids),  # the units of tokens_seen, which counts texts for a classifier
        finish=finish,
    )
    result = setup.fit(job, cfg, packed.sha256, should_stop)
    result.update(format=fmt.name, train_texts=len(train_ids), dev_texts=len(dev_ids), classes=len(model_cfg.labels),
                  multilabel=model_cfg.multilabel, choices=choices, **({"pretraining": pretraining} if pretraining else {}))
    return result, setup.output
