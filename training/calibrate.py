"""Calibration (temperature scaling fitted on val, ECE) and the input gate's fit and threshold.

The gate follows the bundle contract: class means (K, 576) and a shared precision (576, 576) of
pooled backbone features; score = min_k Mahalanobis distance; accept iff score <= threshold. It is
fitted on the TRAIN split's clean features, and its threshold is the val-score quantile that accepts
``acceptance_rate`` of val films. OOD images are never looked at here.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from radiview.inference.gate import fit_gate, mahalanobis_scores, threshold_for

logger = logging.getLogger("radiview.training")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    p = softmax(logits, temperature)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, None))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, low: float = 0.05, high: float = 20.0) -> float:
    """T minimising the NLL of softmax(logits / T): golden-section search on log T (NLL is unimodal in it)."""
    labels = np.asarray(labels, dtype=np.int64)
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


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE with equal-width confidence bins: Σ_b (n_b / N)·|accuracy_b − confidence_b|."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(labels)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bins are (lo, hi]; a confidence of exactly 0 cannot occur for a softmax top label
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


@dataclass(frozen=True)
class GateFit:
    """The gate's tensors as stored in the bundle (``gate.class_means``, ``gate.precision``)."""

    class_means: np.ndarray  # (K, D)
    precision: np.ndarray  # (D, D)

    def score(self, features: np.ndarray) -> np.ndarray:
        return mahalanobis_scores(features, self.class_means, self.precision)


def fit_gate_features(features: np.ndarray, labels: np.ndarray, num_classes: int) -> GateFit:
    """The app's own ``fit_gate`` (class means + Ledoit–Wolf shared precision) on TRAIN features."""
    means, precision, _in_sample_threshold = fit_gate(features, labels, 0.99, num_classes=num_classes)
    return GateFit(means.numpy(), precision.numpy())


def gate_threshold(val_scores: np.ndarray, acceptance_rate: float) -> float:
    """The val-score quantile that accepts ``acceptance_rate`` of val films (held out from the fit)."""
    return threshold_for(val_scores, acceptance_rate)
