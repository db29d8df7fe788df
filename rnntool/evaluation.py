"""Scoring tagger output: token accuracy (in- and out-of-vocabulary), per-tag
precision/recall/F1, confusions, and entity spans with conlleval semantics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rnntool.text.tagged import spans


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f}


def score_tags(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
               in_vocab: Sequence[Sequence[bool]] | None = None, iob: bool = False, top_confusions: int = 10) -> dict:
    """Compare predicted to gold tags sentence by sentence."""
    total = correct = 0
    iv = [0, 0]
    oov = [0, 0]
    tp, fp, fn = Counter(), Counter(), Counter()
    confusion: Counter = Counter()
    for s, (g_tags, p_tags) in enumerate(zip(gold, pred)):
        for i, (g, p) in enumerate(zip(g_tags, p_tags)):
            total += 1
            hit = g == p
            correct += hit
            if in_vocab is not None:
                bucket = iv if in_vocab[s][i] else oov
                bucket[0] += hit
                bucket[1] += 1
            if hit:
                tp[g] += 1
            else:
                fp[p] += 1
                fn[g] += 1
                confusion[(g, p)] += 1
    tags = sorted(set(tp) | set(fp) | set(fn))
    per_tag = {t: {**_prf(tp[t], fp[t], fn[t]), "support": tp[t] + fn[t]} for t in tags}
    supported = [t for t in tags if per_tag[t]["support"]]
    macro = {k: (sum(per_tag[t][k] for t in supported) / len(supported) if supported else 0.0)
             for k in ("precision", "recall", "f1")}
    micro = _prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    result = {
        "accuracy": correct / total if total else 0.0,
        "tokens": total,
        "iv_accuracy": iv[0] / iv[1] if iv[1] else None,
        "oov_accuracy": oov[0] / oov[1] if oov[1] else None,
        "oov_tokens": oov[1],
        "per_tag": per_tag,
        "macro": macro,
        "micro": micro,
        "confusions": [{"gold": g, "predicted": p, "count": c} for (g, p), c in confusion.most_common(top_confusions)],
        "confusion_matrix": {f"{g}\t{p}": c for (g, p), c in confusion.items()},
    }
    if iob:
        result["spans"] = score_spans(gold, pred)
    return result


def score_spans(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """Entity-level precision/recall/F1 (exact span and type), overall and by type."""
    tp, n_gold, n_pred = Counter(), Counter(), Counter()
    for g_tags, p_tags in zip(gold, pred):
        g_spans, p_spans = spans(list(g_tags)), spans(list(p_tags))
        for _, _, t in g_spans:
            n_gold[t] += 1
        for _, _, t in p_spans:
            n_pred[t] += 1
        for _, _, t in g_spans & p_spans:
            tp[t] += 1
    overall = _prf(sum(tp.values()), sum(n_pred.values()) - sum(tp.values()), sum(n_gold.values()) - sum(tp.values()))
    by_type = {t: {**_prf(tp[t], n_pred[t] - tp[t], n_gold[t] - tp[t]), "support": n_gold[t]}
               for t in sorted(set(n_gold) | set(n_pred))}
    return {**overall, "by_type": by_type, "gold_spans": sum(n_gold.values()), "predicted_spans": sum(n_pred.values())}
