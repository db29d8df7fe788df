"""The tagger recipe: exact-length sentence batches, dev evaluation each epoch
(accuracy, or entity F1 for IOB tags), best model kept."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from rnntool.config import TaggerTrainConfig
from rnntool.errors import InputError, RnntoolError
from rnntool.features import normalize_word, normalized_counts, vocabularies_from_counts
from rnntool.metrics import score_tags
from rnntool.modelfile import ModelFile
from rnntool.nn.tagger import TaggerModule, TaggerBatch
from rnntool.recipes import tagger_choices, tagger_model_options, tagger_train_config
from rnntool.runtime.tagger import decode_batch
from rnntool.tagging import TaggerConfig
from rnntool.text.tagged import iter_tagged
from rnntool.train.batching import SentenceBatches, SentenceTable, length_buckets
from rnntool.train.labelled_texts import TextCollector
from rnntool.train.loop import EventFn, Job
from rnntool.train.runs import prepare

# The language-model heads predict the most frequent words of the tagger's vocabulary
# (ids are in frequency order), the rest as <unk>: that covers most tokens and keeps
# the heads' softmax small next to the BiLSTM's arithmetic.
LM_VOCAB = 2000
DEV_BATCH = 256
CHAR_LM_CHUNK = 1024  # sentences whose character-LM features are computed together


def split_dev(sentences: int, frac: float, seed: int) -> np.ndarray:
    """Which of the training sentences to hold out (a boolean each) when no --dev is given:
    a random fraction."""
    idx = np.random.default_rng(seed).permutation(sentences)
    n_dev = max(1, int(round(sentences * frac)))
    if sentences - n_dev < 1:
        raise RnntoolError("too few training sentences to hold out a dev set; give --dev")
    dev = np.zeros(sentences, bool)
    dev[idx[:n_dev]] = True
    return dev


class CharLMs:
    """The character language models of --char-lm: their records for the tagger's
    configuration, their tensors for its model file, and the features they give."""

    def __init__(self, models: list[tuple[str, ModelFile]]):
        from rnntool.runtime.charlm import PREFIX, check_char_lms, lm_entry

        if models:
            check_char_lms(models)
        models = sorted(models, key=lambda m: bool(m[1].config.get("reverse")))  # forward first
        self.entries = [lm_entry(model, name) for name, model in models]
        self.tensors = {f"{PREFIX}.{k}.{name}": np.asarray(t, np.float32)
                        for k, (_, model) in enumerate(models) for name, t in model.tensors.items()}

    @classmethod
    def load(cls, specs: list[str]) -> "CharLMs":
        from rnntool.modelfile import load_model
        from rnntool.userstate import locate

        return cls([(spec, load_model(locate(spec), kind="lm")) for spec in specs])

    def features_of(self, packed, on_event: EventFn | None) -> np.ndarray | None:
        """The features [tokens, D] of every token of ``packed`` (by position in ``packed.ids``),
        in a scratch file, computed a chunk of sentences at a time; None without models."""
        import time

        from rnntool.runtime.charlm import CharLMFeatures
        from rnntool.text.corpus import release_pages, scratch_array

        if not self.entries:
            return None
        features = CharLMFeatures(self.entries, self.tensors)
        total = len(packed.ids)
        out = scratch_array(total * features.size, np.float32).reshape(total, features.size)
        began = time.perf_counter()
        for first in range(0, len(packed), CHAR_LM_CHUNK):
            chunk = range(first, min(len(packed), first + CHAR_LM_CHUNK))
            start, stop = int(packed.starts[chunk[0]]), int(packed.starts[chunk[-1]] + packed.lengths[chunk[-1]])
            out[start:stop] = features([packed.tokens(i) for i in chunk])  # sentences lie one after another
            release_pages(out, start, stop)
        if on_event is not None:
            on_event({"event": "note", "message": f"character LM features of {len(packed):,} sentences ({total:,} "
                                                  f"tokens) in {time.perf_counter() - began:.1f} s"})
        return out


def predict(model: TaggerModule, batches: Iterable[TaggerBatch], sentences: int, device) -> list[list[str]]:
    """Decoded tags for the ``sentences`` sentences of ``batches`` (in the data's order)."""
    out: list[list[str] | None] = [None] * sentences
    crf = model.crf
    trans = None if crf is None else tuple(p.detach().cpu().numpy() for p in (crf.transitions, crf.start, crf.end))
    tags = model.cfg.tags
    for batch in batches:
        b = batch.to(device)
        em = model.emissions(b.words, b.cases, b.type_chars, b.type_index, b.lm_features)
        lengths = np.full(len(batch.order), batch.words.shape[1])
        ids, _ = decode_batch(em.float().cpu().numpy(), lengths, trans)
        for row, i in enumerate(batch.order):
            out[i] = [tags[t] for t in ids[row]]
    return out


def train_tagger(
    train_spec: str,
    output: str | Path | None = None,
    *,
    dev_spec: str | None = None,
    fmt: str = "auto",
    column: str | None = None,
    dev_frac: float = 0.1,
    model_options: dict | None = None,
    train_options: dict | None = None,
    resume: str | Path | None = None,
    record: dict | None = None,
    on_event: EventFn | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    errors: str = "strict",
    init_from: str | None = None,
    word_vectors: str | None = None,
    char_lm: list[str] | None = None,
) -> tuple[dict, Path]:
    """Train (or resume) a tagger; returns (summary, model path). ``init_from``: a word
    language model whose word embeddings (its words join the vocabulary) and, where cell and
    size agree, first recurrent layer (the forward direction) the tagger starts from;
    ``word_vectors``: a word2vec/GloVe/fastText text file the word embeddings start from;
    ``char_lm``: one or two character language models (a forward one, a backward one) whose
    states join each word's features (rnntool.runtime.charlm), frozen, carried in the model file."""
    from rnntool.train.transfer import WordVectors, load_language_models, start_encoder, vector_rows_kept

    if init_from is not None and word_vectors is not None:
        raise RnntoolError("give --init-from or --word-vectors, not both (each sets the word embeddings)")
    if word_vectors is not None and resume is None:
        WordVectors.check(word_vectors, (model_options or {}).get("word_emb"), errors)
    setup = prepare("tagger", train_spec, output, train_options, resume, record, on_event)
    inputs = setup.inputs({"dev": dev_spec, "format": fmt, "column": column, "dev_frac": dev_frac, "errors": errors,
                           "init_from": init_from, "word_vectors": word_vectors, "char_lm": list(char_lm or [])})
    char_lms = CharLMs.load(inputs.get("char_lm") or [])
    # a resumed run's vocabulary and weights come from its checkpoint
    start = load_language_models(init_from) if init_from is not None and not setup.resumed else None
    # one streamed pass over each input: words and tags as ids on disk (see labelled_texts)
    collector = TextCollector(None, None, tagged=True)
    used_fmt = "auto"
    for spec, source in ((train_spec, 0), (inputs["dev"], 1)):
        if spec:
            sentences, fmt_read = iter_tagged(spec, used_fmt if source and inputs["format"] == "auto"
                                              else inputs["format"], inputs["column"], inputs["errors"])
            used_fmt = fmt_read if not source else used_fmt
            if not collector.add_sentences(sentences, source):
                raise InputError(f"{spec} has no tagged sentences")
    packed = collector.finish()
    del collector  # its tables are packed's now
    if inputs["dev"]:
        is_dev = packed.source == 1
    else:
        seed = setup.checkpoint["train_config"]["seed"] if setup.resumed else (train_options or {}).get("seed") or 0
        is_dev = split_dev(len(packed), inputs["dev_frac"], seed)
    train_ids, dev_ids = np.flatnonzero(~is_dev), np.flatnonzero(is_dev)
    tag_counts = packed.tag_counts(~is_dev)
    unknown = sorted(set(packed.tag_counts(is_dev)) - set(tag_counts))
    if unknown:
        raise RnntoolError(
            f"the dev data has tags the training data never uses ({', '.join(unknown[:8])}); "
            "check that both files use the same tag set and --column"
        )
    word_counts = packed.type_counts(~is_dev)
    choices: list[dict] = list(inputs.get("choices", [])) if setup.resumed else []

    def build() -> tuple[TaggerConfig, TaggerTrainConfig]:
        chosen_model, chosen_train, made = tagger_choices(model_options, train_options, bool(char_lms.entries))
        for choice in made:  # said once: a resumed run's configuration comes from its checkpoint
            choices.append(choice.to_dict())
            if on_event is not None and setup.dist.is_main:
                on_event({"event": "note", "message": choice.note()})
        cfg = tagger_train_config(chosen_train)
        words, chars, _ = vocabularies_from_counts(word_counts, cfg.min_word_freq)
        tags = [t for t, _ in sorted(tag_counts.items(), key=lambda x: (-x[1], x[0]))]
        column_name = str(inputs["column"]) if inputs["column"] is not None else None
        options = tagger_model_options(chosen_model)
        nonlocal start
        if word_vectors is not None:
            start = WordVectors.load(word_vectors, words, normalize_word, inputs["errors"])
        if start is not None:
            options["word_emb"] = start.word_embedding_size((model_options or {}).get("word_emb"))
            words = start.encoder_words(words, normalize_word)
        return TaggerConfig(words=words, chars=chars, tags=tags, scheme=packed.scheme, column=column_name,
                            char_lms=char_lms.entries, **options), cfg

    model_cfg, cfg = setup.configs(TaggerConfig, TaggerTrainConfig, model_options, train_options, build)
    # Words seen exactly min_word_freq times are the rarest with an embedding of
    # their own; dropping them to <unk> now and then trains the <unk> vector.
    rarest = {w for w, c in normalized_counts(word_counts, normalize_word).items() if c == cfg.min_word_freq}
    setup.seed(cfg)
    lm_vocab = min(LM_VOCAB, len(model_cfg.words)) if cfg.lm_loss > 0 else 0
    if model_cfg.char_lms != char_lms.entries:
        raise RnntoolError("the --char-lm models changed since the checkpoint was written; resume with the models "
                           "it started with")
    model = TaggerModule(model_cfg, lm_vocab, lm_weight=cfg.lm_loss, word_dropout=cfg.word_dropout,
                         char_lm_tensors=char_lms.tensors)
    if start is not None:
        taken = start_encoder(model, start, [("rnn.0.{}_l0", "rnn.0.{}_l0_reverse")])
        if on_event is not None and setup.dist.is_main:
            on_event({"event": "note", "message": f"starting from {start.name}: {' and '.join(taken)}"})
    vector_rows = vector_rows_kept(model, cfg, start if isinstance(start, WordVectors) else None, inputs)
    lm_features = char_lms.features_of(packed, on_event if setup.dist.is_main else None)
    train_table = SentenceTable(packed, model_cfg, rarest, train_ids, lm_features=lm_features)
    dev_table = SentenceTable(packed, model_cfg, None, dev_ids, features=train_table, lm_features=lm_features)
    gold = [packed.sentence(i)[1] for i in dev_ids]

    def validate(m: TaggerModule) -> tuple[float, dict]:
        batches = (dev_table.batch(idx) for idx in length_buckets(dev_table.lengths, DEV_BATCH))
        scores = score_tags(gold, predict(m, batches, len(dev_ids), setup.device),
                            iob=model_cfg.scheme is not None)
        metrics = {"accuracy": scores["accuracy"]}
        if "spans" in scores:
            metrics["f1"] = scores["spans"]["f1"]
            return scores["spans"]["f1"], metrics
        return scores["accuracy"], metrics

    job = Job(
        model=model,
        data=SentenceBatches(train_table, cfg.batch_size, cfg.seed, setup.dist, pin=setup.device.type == "cuda"),
        evaluate=validate,
        header={"config": model_cfg.to_dict(),
                "training": {"sources": [train_spec] + ([inputs["dev"]] if inputs["dev"] else []),
                             **{k: inputs[k] for k in ("init_from", "word_vectors", "char_lm") if inputs.get(k)},
                             **({"choices": choices} if choices else {})}},
        model_config=model_cfg.to_dict(),
        inputs={**inputs, "choices": choices, "vector_rows": vector_rows},
        validation_tokens=int(packed.lengths[dev_ids].sum()),
    )
    result = setup.fit(job, cfg, packed.sha256, should_stop)
    result.update(format=used_fmt, train_sentences=len(train_ids), dev_sentences=len(dev_ids), choices=choices)
    return result, setup.output
