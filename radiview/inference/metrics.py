"""Classification metrics in plain numpy, shared by ``training`` and ``radiview.site``.

Confusion matrix, per-class sensitivity/specificity/PPV/NPV, one-vs-rest ROC AUC and curve,
top-label ECE with its reliability bins, and patient-level bootstrap 95% intervals (all films
of a drawn patient come along, so correlated films of one patient do not narrow them).

Set-valued targets: a film's truth may be a SET of model classes (e.g. ``pneumonia`` =
bacterial or viral, cause unknown). For a scored class set S, a film is positive when its
truth set lies inside S, negative when the two are disjoint, and left out otherwise (a
``pneumonia`` film says nothing about "bacterial" alone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "binary_rates",
    "bootstrap_ci",
    "bootstrap_interval",
    "clean",
    "confusion_matrix",
    "expected_calibration_error",
    "macro_auc",
    "per_class_rates",
    "reliability_bins",
    "roc_auc",
    "roc_curve",
    "set_membership",
    "summarize",
]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows = true class, columns = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def per_class_rates(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Sensitivity (recall), specificity, PPV (precision) and NPV per class; NaN where undefined."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    fn = cm.sum(axis=1) - tp
    fp = cm.sum(axis=0) - tp
    tn = cm.sum() - tp - fn - fp
    sens = np.array([_ratio(a, a + b) for a, b in zip(tp, fn, strict=True)])
    spec = np.array([_ratio(a, a + b) for a, b in zip(tn, fp, strict=True)])
    ppv = np.array([_ratio(a, a + b) for a, b in zip(tp, fp, strict=True)])
    npv = np.array([_ratio(a, a + b) for a, b in zip(tn, fn, strict=True)])
    return {"sensitivity": sens, "specificity": spec, "ppv": ppv, "npv": npv}


def binary_rates(called: np.ndarray, positive: np.ndarray) -> dict[str, float]:
    """Sensitivity, specificity, PPV and NPV of boolean calls against boolean truth (NaN if undefined)."""
    called = np.asarray(called, dtype=bool)
    positive = np.asarray(positive, dtype=bool)
    tp = float((called & positive).sum())
    fp = float((called & ~positive).sum())
    fn = float((~called & positive).sum())
    tn = float((~called & ~positive).sum())
    return {
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
    }


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    # ties share the mean of their 1-based positions
    boundaries = np.flatnonzero(np.diff(sorted_vals)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(values)]))
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    return ranks


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney U / (n_pos·n_neg)), ties counted half; NaN if one class."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate) at every distinct threshold, from (0, 0) to (1, 1)."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    order = np.argsort(-scores, kind="mergesort")
    s, p = scores[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(p)[last]
    fps = (last + 1) - tps
    tpr = np.r_[0.0, tps / max(p.sum(), 1)]
    fpr = np.r_[0.0, fps / max((~p).sum(), 1)]
    return fpr, tpr


def macro_auc(probs: np.ndarray, y_true: np.ndarray) -> float:
    """Mean one-vs-rest AUC over the classes that have both positives and negatives."""
    aucs = [roc_auc(probs[:, k], y_true == k) for k in range(probs.shape[1])]
    aucs = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


def clean(value: float | None) -> float | None:
    """NaN → None, else rounded to 4 digits, so reports are valid JSON."""
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else round(value, 4)


def summarize(probs: np.ndarray, y_true: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """All point metrics of one set of single-label predictions (argmax decisions), JSON-ready."""
    y_true = np.asarray(y_true)
    pred = probs.argmax(axis=1)
    cm = confusion_matrix(y_true, pred, len(labels))
    rates = per_class_rates(cm)
    per_class = {
        name: {
            "n": int(cm[k].sum()),
            "sensitivity": clean(rates["sensitivity"][k]),
            "specificity": clean(rates["specificity"][k]),
            "ppv": clean(rates["ppv"][k]),
            "auc": clean(roc_auc(probs[:, k], y_true == k)),
        }
        for k, name in enumerate(labels)
    }
    return {
        "n": len(y_true),
        "accuracy": clean(float((pred == y_true).mean()) if len(y_true) else float("nan")),
        "macro_auc": clean(macro_auc(probs, y_true)),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


def bootstrap_interval(
    statistic: Callable[[np.ndarray], Sequence[float]],
    groups: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
) -> list[list[float | None]]:
    """95% percentile intervals of each value ``statistic(film_indices)`` returns, resampling
    ``groups`` (patients) with replacement; NaN draws (an empty class) are left out."""
    uniq, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
    members = [order[bounds[g] : bounds[g + 1]] for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        drawn = rng.integers(0, len(uniq), size=len(uniq))
        draws.append(list(statistic(np.concatenate([members[g] for g in drawn]))))
    values = np.asarray(draws, dtype=np.float64).reshape(n_boot, -1)
    out: list[list[float | None]] = []
    for column in values.T:
        finite = column[~np.isnan(column)]
        if len(finite) == 0:
            out.append([None, None])
            continue
        lo, hi = np.percentile(finite, [2.5, 97.5])
        out.append([round(float(lo), 4), round(float(hi), 4)])
    return out


def bootstrap_ci(
    probs: np.ndarray,
    y_true: np.ndarray,
    groups: Sequence[str],
    labels: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """95% intervals of accuracy, macro AUC and per-class sensitivity, resampling patients."""
    y_true = np.asarray(y_true)
    pred = probs.argmax(axis=1)

    def statistic(idx: np.ndarray) -> list[float]:
        yt, pr = y_true[idx], pred[idx]
        sens = [
            float((pr[yt == k] == k).mean()) if (yt == k).any() else float("nan") for k in range(len(labels))
        ]
        return [float((yt == pr).mean()), macro_auc(probs[idx], yt), *sens]

    intervals = bootstrap_interval(statistic, groups, n_boot, seed)
    return {
        "method": f"patient-level bootstrap, {n_boot} resamples, 95% percentile interval",
        "accuracy": intervals[0],
        "macro_auc": intervals[1],
        "sensitivity": {name: intervals[2 + k] for k, name in enumerate(labels)},
    }


def set_membership(
    truth_sets: Sequence[frozenset[int]], scored: frozenset[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(positive, negative) boolean masks of films for the class set ``scored`` (see module docstring)."""
    positive = np.asarray([bool(t) and t <= scored for t in truth_sets], dtype=bool)
    negative = np.asarray([not (t & scored) for t in truth_sets], dtype=bool)
    return positive, negative


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Equal-width confidence bins (lo, hi]: count, mean confidence and accuracy per bin."""
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bins are (lo, hi]; a confidence of exactly 0 cannot occur for a softmax top label
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(which, weights=hit, minlength=n_bins) / count
    return {"edges": edges, "count": count, "confidence": mean_conf, "accuracy": accuracy}


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE with equal-width confidence bins: Σ_b (n_b / N)·|accuracy_b − confidence_b|.

    ``labels`` (N,) class indices, or an (N, K) boolean mask of each film's truth set (the top
    label is correct when it lies in the set)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    top = probs.argmax(axis=1)
    if labels.ndim == 2:
        correct = labels[np.arange(len(top)), top].astype(np.float64)
    else:
        correct = (top == labels).astype(np.float64)
    bins = reliability_bins(probs.max(axis=1), correct, n_bins)
    used = bins["count"] > 0
    weights = bins["count"][used] / max(len(top), 1)
    return float((weights * np.abs(bins["accuracy"][used] - bins["confidence"][used])).sum())
