"""Training BiLSTM taggers: length-bucketed padded batches with masks, dev
evaluation each epoch (accuracy, or entity F1 for IOB tags), best model kept."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnntool.errors import RnntoolError
from rnntool.evaluation import score_tags
from rnntool.nn.tagger import BiLSTMTagger
from rnntool.runtime.tagger import decode_batch
from rnntool.tagging import TaggerConfig, build_vocabularies, casing
from rnntool.text.tagged import TaggedSentence, iob1_to_iob2, is_iob
from rnntool.train.common import autocast
from rnntool.train.loop import EventFn, TrainConfig, TrainingRun, resumed_config


@dataclass
class TaggerTrainConfig(TrainConfig):
    word_dropout: float = 0.25  # the rarest words that keep an embedding become <unk> this often (teaches <unk>)
    min_word_freq: int = 1
    lm_loss: float = 0.0  # weight of the first layer's next/previous-word loss (0: off)

    def validate(self) -> None:
        super().validate()
        if self.lm_loss < 0:
            raise RnntoolError("--lm-loss must be 0 (off) or positive")


@dataclass
class Batch:
    words: torch.Tensor  # [B, T]
    cases: torch.Tensor  # [B, T]
    type_chars: torch.Tensor  # [U + 1, L] characters of the batch's distinct words (row 0: padding)
    type_index: torch.Tensor  # [B, T] row of type_chars for each token
    tags: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    droppable: torch.Tensor  # the rarest in-vocabulary words (candidates for word dropout)
    order: np.ndarray  # sentence indices in this batch


def prepare_tags(train: list[TaggedSentence], dev: list[TaggedSentence]) -> str | None:
    """Normalise IOB1 entity tags to IOB2 (in place); return the scheme (or None)."""
    all_tags = [t for s in train for t in s.tags]
    if not is_iob(all_tags):
        return None
    for s in [*train, *dev]:
        s.tags = iob1_to_iob2(s.tags)
    return "iob2"


def check_tagsets(train: list[TaggedSentence], dev: list[TaggedSentence]) -> None:
    known = {t for s in train for t in s.tags}
    unknown = sorted({t for s in dev for t in s.tags} - known)
    if unknown:
        shown = ", ".join(unknown[:8])
        raise RnntoolError(
            f"the dev data has tags the training data never uses ({shown}); "
            "check that both files use the same tag set and --column"
        )


def make_batches(sentences: list[TaggedSentence], cfg: TaggerConfig, batch_size: int,
                 droppable: set[str] | None = None) -> list[Batch]:
    """Batches of sentences of one length each (no padding, so the recurrent layers
    run on torch's fast unpacked path); the character CNN sees each distinct word
    of a batch once."""
    from rnntool.tagging import normalize_word

    tag_index = {t: i for i, t in enumerate(cfg.tags)}
    by_length: dict[int, list[int]] = {}
    for i, s in enumerate(sentences):
        by_length.setdefault(len(s.words), []).append(i)
    batches = []
    for length in sorted(by_length):
        ids_for_length = by_length[length]
        for start in range(0, len(ids_for_length), batch_size):
            idx = np.array(ids_for_length[start: start + batch_size])
            group = [sentences[i] for i in idx]
            B, T = len(group), length
            types: dict[str, int] = {}
            type_index = np.zeros((B, T), np.int64)
            words = np.zeros((B, T), np.int64)
            cases = np.zeros((B, T), np.int64)
            tags = np.zeros((B, T), np.int64)
            drop = np.zeros((B, T), bool)
            for b, s in enumerate(group):
                for t, w in enumerate(s.words):
                    type_index[b, t] = types.setdefault(w, len(types) + 1)
                    words[b, t] = cfg.word_id(w)
                    cases[b, t] = casing(w)
                    tags[b, t] = tag_index.get(s.tags[t], 0)
                    if droppable:
                        drop[b, t] = normalize_word(w) in droppable
            L = max(len(cfg.char_ids(w)) for w in types)
            type_chars = np.zeros((len(types) + 1, L), np.int64)
            for w, row in types.items():
                ids = cfg.char_ids(w)
                type_chars[row, : len(ids)] = ids
            lengths = np.full(B, T)
            mask = np.ones((B, T), bool)
            batches.append(Batch(*(torch.from_numpy(a) for a in (words, cases, type_chars, type_index, tags, mask,
                                                                   lengths, drop)), order=idx))
    return batches


def sentences_sha256(sentences: list[TaggedSentence]) -> str:
    h = hashlib.sha256()
    for s in sentences:
        h.update("\t".join(s.words).encode())
        h.update(b"\n")
        h.update("\t".join(s.tags).encode())
        h.update(b"\n")
    return h.hexdigest()


# The language-model heads predict the most frequent words of the tagger's vocabulary
# (ids are in frequency order), the rest as <unk>: that covers most tokens and keeps
# the heads' softmax small next to the BiLSTM's arithmetic.
LM_VOCAB = 2000


class TaggerTrainer(TrainingRun):
    kind = "tagger"
    cpu_bf16 = False  # measured: the tagger's small matrices train faster in fp32 on CPU

    def __init__(self, model_cfg: TaggerConfig, cfg: TaggerTrainConfig, train: list[TaggedSentence],
                 dev: list[TaggedSentence], word_counts: dict[str, int], output: Path, checkpoint: Path,
                 record: dict, on_event: EventFn | None = None, sources: list[str] | None = None):
        cfg.validate()
        self.model_cfg = model_cfg
        # Words seen exactly min_word_freq times are the rarest with an embedding of
        # their own; dropping them to <unk> now and then trains the <unk> vector.
        rarest = {w for w, c in word_counts.items() if c == cfg.min_word_freq}
        self.train_batches = make_batches(train, model_cfg, cfg.batch_size, rarest)
        self.dev = dev
        self.dev_batches = make_batches(dev, model_cfg, 256)
        self.steps_per_epoch = len(self.train_batches)
        self.sources = sources or []
        self.epoch_order = np.arange(self.steps_per_epoch)
        torch.manual_seed(cfg.seed)
        lm_vocab = min(LM_VOCAB, len(model_cfg.words)) if cfg.lm_loss > 0 else 0
        super().__init__(BiLSTMTagger(model_cfg, lm_vocab), cfg, output, checkpoint, record, on_event,
                         sentences_sha256(train))
        self.dev_tokens = sum(len(s.words) for s in dev)
        self.inputs: dict = {}  # how the data was read (for resuming)

    def start_epoch(self) -> None:
        # a fresh batch order each epoch, derived from the seed (so a resumed run sees the same order)
        self.epoch_order = np.random.default_rng(self.cfg.seed + self.epoch).permutation(self.steps_per_epoch)

    def restore_extra(self, ckpt: dict) -> None:
        self.epoch_order = np.random.default_rng(self.cfg.seed + self.epoch).permutation(self.steps_per_epoch)

    def train_step(self) -> tuple[torch.Tensor, int]:
        batch = self.train_batches[self.epoch_order[self.batch_index]]
        words = batch.words
        if self.cfg.word_dropout > 0:
            drop = batch.droppable & (torch.rand(words.shape) < self.cfg.word_dropout)
            words = words.masked_fill(drop, 1)
        d = self.device
        with autocast(d, self.precision):
            layers = self.model.layer_outputs(words.to(d), batch.cases.to(d), batch.type_chars.to(d),
                                              batch.type_index.to(d))
            emissions = self.model.scores(layers[-1])
        loss = self.model.loss(emissions.float(), batch.tags.to(d), batch.mask.to(d))
        if self.model.lm_heads is not None and words.shape[1] > 1:
            with autocast(d, self.precision):
                # the words as they are, not word-dropped: the heads predict the text
                lm = self.model.lm_heads.loss(layers[0], batch.words.to(d))
            loss = loss + self.cfg.lm_loss * lm
        return loss, int(batch.lengths.sum())

    def n_params(self) -> int:
        return self.model.n_params()

    def weights(self) -> dict[str, np.ndarray]:
        return self.model.numpy_weights()

    def validation_tokens(self) -> int:
        return self.dev_tokens

    def predict(self, batches: list[Batch]) -> list[list[str]]:
        out: list[list[str] | None] = [None] * sum(len(b.order) for b in batches)
        crf = self.model.crf
        trans = None if crf is None else tuple(p.detach().cpu().numpy() for p in (crf.transitions, crf.start, crf.end))
        for batch in batches:
            d = self.device
            em = self.model.emissions(batch.words.to(d), batch.cases.to(d), batch.type_chars.to(d),
                                      batch.type_index.to(d))
            ids, _ = decode_batch(em.float().cpu().numpy(), batch.lengths.numpy(), trans)
            for row, i in enumerate(batch.order):
                out[i] = [self.model_cfg.tags[t] for t in ids[row][: int(batch.lengths[row])]]
        return out

    def validate(self) -> tuple[float, dict]:
        pred = self.predict(self.dev_batches)
        gold = [s.tags for s in self.dev]
        scores = score_tags(gold, pred, iob=self.model_cfg.scheme is not None)
        metrics = {"accuracy": scores["accuracy"]}
        if "spans" in scores:
            metrics["f1"] = scores["spans"]["f1"]
            return scores["spans"]["f1"], metrics
        return scores["accuracy"], metrics

    def header(self) -> dict:
        return {"config": self.model_cfg.to_dict(), "training": {"sources": self.sources}}

    def extra_state(self) -> dict:
        return {"model_config": self.model_cfg.to_dict(), "inputs": self.inputs}


def split_dev(sentences: list[TaggedSentence], frac: float, seed: int) -> tuple[list, list]:
    """Hold out a random fraction of training sentences when no --dev is given."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(sentences))
    n_dev = max(1, int(round(len(sentences) * frac)))
    if len(sentences) - n_dev < 1:
        raise RnntoolError("too few training sentences to hold out a dev set; give --dev")
    dev_idx = set(idx[:n_dev].tolist())
    return ([s for i, s in enumerate(sentences) if i not in dev_idx], [s for i, s in enumerate(sentences) if i in dev_idx])


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
    should_stop=lambda: False,
    errors: str = "strict",
) -> tuple[dict, Path]:
    """Train (or resume) a tagger; returns (summary, model path)."""
    from rnntool.fsutil import check_output_path
    from rnntool.recipes import tagger_defaults
    from rnntool.text.tagged import read_tagged
    from rnntool.train.common import checkpoint_path_for, load_checkpoint, resolve_device
    from rnntool.train.lm import default_output

    output = Path(output) if output else default_output(train_spec, "tagger")
    check_output_path(output)
    resolve_device((train_options or {}).get("device") or "auto")  # fail before reading any data
    ckpt = load_checkpoint(resume, "tagger") if resume is not None else None
    if ckpt is not None:
        saved = ckpt["inputs"]
        dev_spec, fmt, column, dev_frac = saved["dev"], saved["format"], saved["column"], saved["dev_frac"]
    train, used_fmt = read_tagged(train_spec, fmt, column, errors)
    if dev_spec:
        dev, _ = read_tagged(dev_spec, fmt if fmt != "auto" else used_fmt, column, errors)
    else:
        seed = (train_options or {}).get("seed") or 0
        train, dev = split_dev(train, dev_frac, seed if ckpt is None else ckpt["train_config"]["seed"])
    scheme = prepare_tags(train, dev)
    check_tagsets(train, dev)
    if ckpt is not None:
        model_cfg = TaggerConfig.from_dict(ckpt["model_config"])
        cfg = resumed_config(TaggerTrainConfig(**ckpt["train_config"]), train_options)
        _, _, word_counts = build_vocabularies(train)
        checkpoint = Path(resume)
    else:
        defaults = tagger_defaults()
        defaults.update({k: v for k, v in (model_options or {}).items() if v is not None})
        defaults.update({k: v for k, v in (train_options or {}).items() if v is not None})
        if defaults.get("epochs") is None and defaults.get("max_time") is None and defaults.get("max_steps") is None:
            defaults["epochs"] = 20
        words, chars, word_counts = build_vocabularies(train, defaults.get("min_word_freq", 1))
        from collections import Counter

        tag_counts = Counter(t for s in train for t in s.tags)
        tags = [t for t, _ in sorted(tag_counts.items(), key=lambda x: (-x[1], x[0]))]
        model_fields = {k: defaults.pop(k) for k in list(defaults) if k in TaggerConfig.__dataclass_fields__}
        model_cfg = TaggerConfig(words=words, chars=chars, tags=tags, scheme=scheme,
                                 column=str(column) if column is not None else None, **model_fields)
        cfg = TaggerTrainConfig(**{k: v for k, v in defaults.items() if k in TaggerTrainConfig.__dataclass_fields__})
        checkpoint = checkpoint_path_for(output)
    trainer = TaggerTrainer(model_cfg, cfg, train, dev, word_counts, output, checkpoint, record or {}, on_event,
                            sources=[train_spec] + ([dev_spec] if dev_spec else []))
    trainer.inputs = {"dev": dev_spec, "format": used_fmt, "column": column, "dev_frac": dev_frac}
    if ckpt is not None:
        trainer.restore(ckpt)
    result = trainer.run(should_stop)
    result["model"] = str(output)
    result["checkpoint"] = str(trainer.checkpoint) if trainer.checkpoint.exists() else None
    result["format"] = used_fmt
    result["train_sentences"], result["dev_sentences"] = len(train), len(dev)
    return result, output
