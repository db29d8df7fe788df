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
               in_vocab: Sequence[Sequence[bool]] | None = None, iob: bool = False, top_confusions: int = 10,
               full_matrix: bool = False) -> dict:
    """Compare predicted to gold tags sentence by sentence. ``full_matrix`` adds every
    (gold, predicted) count, hits included, as ``{"labels", "counts"}`` (rows: gold)."""
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
    if full_matrix:
        result["full_confusion"] = {"labels": tags, "counts": [[tp[g] if g == p else confusion[(g, p)] for p in tags]
                                                               for g in tags]}
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


# --- classification -------------------------------------------------------------------------

ECE_BINS = 15


def reliability_bins(confidence, correct, bins: int = ECE_BINS) -> dict:
    """Equal-width confidence bins: each non-empty bin's mean confidence, accuracy and
    count (a reliability diagram), and the ECE -- the sum over bins of |accuracy - mean
    confidence| weighted by the bin's share of the predictions (Guo et al. 2017)."""
    import numpy as np

    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    out = {"confidence": [], "accuracy": [], "count": [], "ece": 0.0}
    if not len(confidence):
        return out
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    for b in range(bins):
        inside = which == b
        if inside.any():
            conf, acc = float(confidence[inside].mean()), float(correct[inside].mean())
            out["confidence"].append(conf)
            out["accuracy"].append(acc)
            out["count"].append(int(inside.sum()))
            out["ece"] += float(inside.mean()) * abs(acc - conf)
    return out


def expected_calibration_error(confidence, correct, bins: int = ECE_BINS) -> float:
    return reliability_bins(confidence, correct, bins)["ece"]


def roc_auc(scores, positive) -> float | None:
    """Area under the ROC curve (the Mann-Whitney statistic; ties count half)."""
    import numpy as np

    scores, positive = np.asarray(scores, float), np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return None
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0  # 1-based average rank of each run of ties
    ranks[order] = np.repeat(average, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def score_classes(gold: list[list[str]], pred: list[list[str]], labels: list[str], probs=None,
                  multilabel: bool = False) -> dict:
    """Accuracy (exact match for multi-label), per-class P/R/F1/support, macro / micro /
    weighted averages, the confusion matrix (single-label), ECE, and ROC-AUC for two classes.
    ``probs`` [N, C] in ``labels`` order."""
    import numpy as np

    tp, fp, fn = Counter(), Counter(), Counter()
    exact = 0
    confusion: Counter = Counter()
    for g, p in zip(gold, pred):
        gs, ps = set(g), set(p)
        exact += gs == ps
        for c in gs & ps:
            tp[c] += 1
        for c in ps - gs:
            fp[c] += 1
        for c in gs - ps:
            fn[c] += 1
        if not multilabel:
            confusion[(g[0], p[0])] += 1
    per_class = {c: {**_prf(tp[c], fp[c], fn[c]), "support": tp[c] + fn[c]} for c in labels}
    support = sum(v["support"] for v in per_class.values())
    macro = {k: sum(v[k] for v in per_class.values()) / len(labels) for k in ("precision", "recall", "f1")}
    weighted = {k: (sum(v[k] * v["support"] for v in per_class.values()) / support if support else 0.0)
                for k in ("precision", "recall", "f1")}
    result = {
        "texts": len(gold),
        "accuracy": exact / len(gold) if gold else 0.0,
        "per_class": per_class,
        "macro": macro,
        "micro": _prf(sum(tp.values()), sum(fp.values()), sum(fn.values())),
        "weighted": weighted,
    }
    if not multilabel:
        result["confusion_matrix"] = {"labels": labels,
                                      "counts": [[confusion[(g, p)] for p in labels] for g in labels]}
    if probs is not None and len(gold):
        probs = np.asarray(probs, float)
        index = {c: i for i, c in enumerate(labels)}
        if multilabel:
            truth = np.zeros_like(probs, dtype=bool)
            for row, g in enumerate(gold):
                truth[row, [index[c] for c in g if c in index]] = True
            result["reliability"] = reliability_bins(probs.ravel(), truth.ravel())
        else:
            best = probs.argmax(axis=1)
            gold_ids = np.array([index.get(g[0], -1) for g in gold])
            result["reliability"] = reliability_bins(probs.max(axis=1), best == gold_ids)
            if len(labels) == 2:
                result["roc_auc"] = roc_auc(probs[:, 1], gold_ids == 1)
                result["positive_class"] = labels[1]
        result["ece"] = result["reliability"]["ece"]
    return result
