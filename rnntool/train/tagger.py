"""The tagger recipe: exact-length sentence batches, dev evaluation each epoch
(accuracy, or entity F1 for IOB tags), best model kept."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnntool.config import TaggerTrainConfig
from rnntool.errors import RnntoolError
from rnntool.features import normalize_word
from rnntool.metrics import score_tags
from rnntool.nn.tagger import TaggerModule, TaggerBatch
from rnntool.recipes import tagger_model_options, tagger_train_config
from rnntool.runtime.tagger import decode_batch
from rnntool.tagging import TaggerConfig, build_vocabularies
from rnntool.text.tagged import TaggedSentence, iob1_to_iob2, is_iob, read_tagged
from rnntool.train.batching import SentenceBatches, make_batches
from rnntool.train.loop import EventFn, Job
from rnntool.train.runs import prepare

# The language-model heads predict the most frequent words of the tagger's vocabulary
# (ids are in frequency order), the rest as <unk>: that covers most tokens and keeps
# the heads' softmax small next to the BiLSTM's arithmetic.
LM_VOCAB = 2000
DEV_BATCH = 256


def prepare_tags(train: list[TaggedSentence], dev: list[TaggedSentence]) -> str | None:
    """Normalise IOB1 entity tags to IOB2 (in place); return the scheme (or None)."""
    if not is_iob(t for s in train for t in s.tags):
        return None
    for s in [*train, *dev]:
        s.tags = iob1_to_iob2(s.tags)
    return "iob2"


def check_tagsets(train: list[TaggedSentence], dev: list[TaggedSentence]) -> None:
    known = {t for s in train for t in s.tags}
    unknown = sorted({t for s in dev for t in s.tags} - known)
    if unknown:
        raise RnntoolError(
            f"the dev data has tags the training data never uses ({', '.join(unknown[:8])}); "
            "check that both files use the same tag set and --column"
        )


def sentences_sha256(sentences: list[TaggedSentence]) -> str:
    h = hashlib.sha256()
    for s in sentences:
        h.update("\t".join(s.words).encode())
        h.update(b"\n")
        h.update("\t".join(s.tags).encode())
        h.update(b"\n")
    return h.hexdigest()


def split_dev(sentences: list[TaggedSentence], frac: float, seed: int) -> tuple[list, list]:
    """Hold out a random fraction of training sentences when no --dev is given."""
    idx = np.random.default_rng(seed).permutation(len(sentences))
    n_dev = max(1, int(round(len(sentences) * frac)))
    if len(sentences) - n_dev < 1:
        raise RnntoolError("too few training sentences to hold out a dev set; give --dev")
    dev_idx = set(idx[:n_dev].tolist())
    return ([s for i, s in enumerate(sentences) if i not in dev_idx], [s for i, s in enumerate(sentences) if i in dev_idx])


def predict(model: TaggerModule, batches: list[TaggerBatch], device) -> list[list[str]]:
    """Decoded tags for every sentence of ``batches`` (in the data's order)."""
    out: list[list[str] | None] = [None] * sum(len(b.order) for b in batches)
    crf = model.crf
    trans = None if crf is None else tuple(p.detach().cpu().numpy() for p in (crf.transitions, crf.start, crf.end))
    tags = model.cfg.tags
    for batch in batches:
        b = batch.to(device)
        em = model.emissions(b.words, b.cases, b.type_chars, b.type_index)
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
) -> tuple[dict, Path]:
    """Train (or resume) a tagger; returns (summary, model path). ``init_from``: a word
    language model whose word embeddings (its words join the vocabulary) and, where cell and
    size agree, first recurrent layer (the forward direction) the tagger starts from;
    ``word_vectors``: a word2vec/GloVe/fastText text file the word embeddings start from."""
    from rnntool.train.transfer import LMStart, WordVectors, start_encoder

    if init_from is not None and word_vectors is not None:
        raise RnntoolError("give --init-from or --word-vectors, not both (each sets the word embeddings)")
    if word_vectors is not None and resume is None:
        WordVectors.check(word_vectors, (model_options or {}).get("word_emb"), errors)
    setup = prepare("tagger", train_spec, output, train_options, resume, record, on_event)
    inputs = setup.inputs({"dev": dev_spec, "format": fmt, "column": column, "dev_frac": dev_frac, "errors": errors,
                           "init_from": init_from, "word_vectors": word_vectors})
    # a resumed run's vocabulary and weights come from its checkpoint
    start = LMStart.load(init_from) if init_from is not None and not setup.resumed else None
    train, used_fmt = read_tagged(train_spec, inputs["format"], inputs["column"], inputs["errors"])
    if inputs["dev"]:
        dev, _ = read_tagged(inputs["dev"], used_fmt if inputs["format"] == "auto" else inputs["format"],
                             inputs["column"], inputs["errors"])
    else:
        seed = setup.checkpoint["train_config"]["seed"] if setup.resumed else (train_options or {}).get("seed") or 0
        train, dev = split_dev(train, inputs["dev_frac"], seed)
    scheme = prepare_tags(train, dev)
    check_tagsets(train, dev)

    def build() -> tuple[TaggerConfig, TaggerTrainConfig]:
        cfg = tagger_train_config(train_options)
        words, chars, _ = build_vocabularies([s.words for s in train], cfg.min_word_freq)
        tag_counts = Counter(t for s in train for t in s.tags)
        tags = [t for t, _ in sorted(tag_counts.items(), key=lambda x: (-x[1], x[0]))]
        column_name = str(inputs["column"]) if inputs["column"] is not None else None
        options = tagger_model_options(model_options)
        nonlocal start
        if word_vectors is not None:
            start = WordVectors.load(word_vectors, words, normalize_word, inputs["errors"])
        if start is not None:
            options["word_emb"] = start.word_embedding_size((model_options or {}).get("word_emb"))
            words = start.encoder_words(words, normalize_word)
        return TaggerConfig(words=words, chars=chars, tags=tags, scheme=scheme, column=column_name, **options), cfg

    model_cfg, cfg = setup.configs(TaggerConfig, TaggerTrainConfig, model_options, train_options, build)
    # Words seen exactly min_word_freq times are the rarest with an embedding of
    # their own; dropping them to <unk> now and then trains the <unk> vector.
    _, _, word_counts = build_vocabularies([s.words for s in train])
    rarest = {w for w, c in word_counts.items() if c == cfg.min_word_freq}
    setup.seed(cfg)
    lm_vocab = min(LM_VOCAB, len(model_cfg.words)) if cfg.lm_loss > 0 else 0
    model = TaggerModule(model_cfg, lm_vocab, lm_weight=cfg.lm_loss, word_dropout=cfg.word_dropout)
    if start is not None:
        taken = start_encoder(model, start, ["rnn.0"])
        if on_event is not None and setup.dist.is_main:
            on_event({"event": "note", "message": f"starting from {start.name}: {' and '.join(taken)}"})
    dev_batches = make_batches(dev, model_cfg, DEV_BATCH)
    gold = [s.tags for s in dev]

    def validate(m: TaggerModule) -> tuple[float, dict]:
        scores = score_tags(gold, predict(m, dev_batches, setup.device), iob=model_cfg.scheme is not None)
        metrics = {"accuracy": scores["accuracy"]}
        if "spans" in scores:
            metrics["f1"] = scores["spans"]["f1"]
            return scores["spans"]["f1"], metrics
        return scores["accuracy"], metrics

    job = Job(
        model=model,
        data=SentenceBatches(train, model_cfg, cfg.batch_size, rarest, cfg.seed, setup.dist,
                             pin=setup.device.type == "cuda"),
        evaluate=validate,
        header={"config": model_cfg.to_dict(),
                "training": {"sources": [train_spec] + ([inputs["dev"]] if inputs["dev"] else []),
                             **{k: inputs[k] for k in ("init_from", "word_vectors") if inputs.get(k)}}},
        model_config=model_cfg.to_dict(),
        inputs=inputs,
        validation_tokens=sum(len(s.words) for s in dev),
    )
    result = setup.fit(job, cfg, sentences_sha256(train), should_stop)
    result.update(format=used_fmt, train_sentences=len(train), dev_sentences=len(dev))
    return result, setup.output
