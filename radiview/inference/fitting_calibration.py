"""Temperature scaling and operating points, fitted in plain numpy (training and site adaptation).

Targets are class indices (N,) or, for set-valued labels, an (N, K) boolean mask of each film's
truth set: the likelihood of a set is the summed probability of its members.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from radiview.inference.metrics import clean

__all__ = [
    "fit_temperature",
    "nll",
    "operating_point_table",
    "softmax",
    "threshold_for_sensitivity",
    "threshold_for_specificity",
    "youden_threshold",
    "youden_thresholds",
]


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _target_mask(labels: np.ndarray, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return labels.astype(bool)
    mask = np.zeros((len(labels), num_classes), dtype=bool)
    mask[np.arange(len(labels)), labels.astype(np.int64)] = True
    return mask


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the targets (indices or truth-set masks) under softmax(logits / T)."""
    p = softmax(logits, temperature)
    mask = _target_mask(labels, p.shape[1])
    return float(-np.mean(np.log(np.clip((p * mask).sum(axis=1), 1e-12, None))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, low: float = 0.05, high: float = 20.0) -> float:
    """T minimising the NLL of softmax(logits / T): golden-section search on log T (NLL is unimodal in it)."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        labels = labels.astype(np.int64)
    a, b = math.log(low), math.log(high)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(logits, labels, math.exp(c)), nll(logits, labels, math.exp(d))
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(logits, labels, math.exp(d))
    return float(math.exp((a + b) / 2))


def youden_threshold(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """The score maximising sensitivity + specificity (called: score >= t); None without both classes."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    if not positive.any() or positive.all():
        return None
    cands = np.unique(scores)
    j = [(scores[positive] >= t).mean() + (scores[~positive] < t).mean() for t in cands]
    return float(cands[int(np.argmax(j))])


def youden_thresholds(probs: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Per-label Youden operating point (0.5 where a label has no positives or no negatives)."""
    out = {}
    for k, name in enumerate(names):
        t = youden_threshold(probs[:, k], np.asarray(labels) == k)
        out[name] = 0.5 if t is None else round(t, 4)
    return out


def threshold_for_specificity(scores: np.ndarray, negative_scores: np.ndarray, specificity: float) -> float:
    """The lowest threshold t (called: score >= t, t one of ``scores``) at which at least
    ``specificity`` of ``negative_scores`` stay below t. ``scores`` are the candidates (all films)."""
    if not 0.0 < specificity <= 1.0:
        raise ValueError(f"specificity must be in (0, 1], got {specificity}")
    neg = np.sort(np.asarray(negative_scores, dtype=np.float64))
    cands = np.unique(np.r_[np.asarray(scores, dtype=np.float64), neg])
    if len(neg) == 0:
        return float(cands.min()) if len(cands) else 0.5
    below = np.searchsorted(neg, cands, side="left") / len(neg)  # share of negatives < t
    ok = cands[below >= specificity]
    return float(ok.min()) if len(ok) else float(np.nextafter(neg.max(), np.inf))


def threshold_for_sensitivity(positive_scores: np.ndarray, sensitivity: float) -> float:
    """The highest threshold t at which at least ``sensitivity`` of ``positive_scores`` are >= t."""
    pos = np.sort(np.asarray(positive_scores, dtype=np.float64))
    if len(pos) == 0:
        return 0.5
    keep = math.ceil(sensitivity * len(pos))
    return float(pos[max(len(pos) - keep, 0)])


def operating_point_table(
    scores: np.ndarray, positive: np.ndarray, negative: np.ndarray, thresholds: Sequence[float]
) -> list[dict[str, Any]]:
    """threshold → sensitivity / specificity (called: score >= threshold), JSON-ready."""
    scores = np.asarray(scores, dtype=np.float64)
    rows = []
    for t in thresholds:
        called = scores >= t
        sens = called[positive].mean() if positive.any() else float("nan")
        spec = (~called[negative]).mean() if negative.any() else float("nan")
        rows.append({"threshold": round(float(t), 4), "sensitivity": clean(sens), "specificity": clean(spec)})
    return rows
