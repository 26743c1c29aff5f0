"""Calibration (temperature scaling fitted on val, ECE) and the input gate's fit and thresholds.

The gate follows the bundle contract (``radiview.inference.gate``): class means (K, 576) and a shared
precision (576, 576) of pooled backbone features, plus (the layout check) a channel projection, class
means and a shared precision of the features.12 map pooled to a grid; score = min_k Mahalanobis distance
per check; a film is refused if ANY check's score exceeds its threshold. Both are fitted on the TRAIN
split's clean features; the thresholds accept the same share of val films each, chosen so that
``acceptance_rate`` of val films pass both (``joint_thresholds``). OOD images are never looked at here.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from radiview.inference.gate import (
    fit_gate,
    fit_spatial_projection,
    joint_thresholds,
    mahalanobis_scores,
    spatial_descriptor,
    threshold_for,
)

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


#: The layout check's shape, fixed before any OOD image was looked at: 2×2 cells (left/right ×
#: upper/lower: a frontal film has a lung on each side, a lateral one does not), each cell's 576 channels
#: reduced to their top 128 principal axes (512-d; its float32 precision is 1 MB, 2304-d would be 21 MB).
SPATIAL_GRID = (2, 2)
SPATIAL_CHANNELS = 128


@dataclass(frozen=True)
class GateFit:
    """The gate's tensors as stored in the bundle (``gate.class_means``, ``gate.precision`` and, with a
    layout check, ``gate.spatial_projection``, ``gate.spatial_class_means``, ``gate.spatial_precision``)."""

    class_means: np.ndarray  # (K, D)
    precision: np.ndarray  # (D, D)
    spatial_grid: tuple[int, int] | None = None
    spatial_projection: np.ndarray | None = None  # (D, c)
    spatial_class_means: np.ndarray | None = None  # (K, rows·cols·c)
    spatial_precision: np.ndarray | None = None

    @property
    def has_spatial(self) -> bool:
        return self.spatial_projection is not None

    def score(self, features: np.ndarray) -> np.ndarray:
        return mahalanobis_scores(features, self.class_means, self.precision)

    def spatial_score(self, cells: np.ndarray) -> np.ndarray:
        if not self.has_spatial:
            raise ValueError("this gate has no layout check")
        return mahalanobis_scores(
            spatial_descriptor(cells, self.spatial_projection),
            self.spatial_class_means,
            self.spatial_precision,
        )

    def scores(self, features: np.ndarray, cells: np.ndarray | None = None) -> np.ndarray:
        """(N, M): the global distance, then the layout distance when the gate has one."""
        cols = [self.score(features)]
        if self.has_spatial:
            if cells is None:
                raise ValueError("the layout check needs the pooled cells")
            cols.append(self.spatial_score(cells))
        return np.stack(cols, axis=1)

    def tensors(self) -> dict[str, np.ndarray]:
        """Bundle tensor names (without the ``gate.`` prefix) → arrays."""
        out = {"class_means": self.class_means, "precision": self.precision}
        if self.has_spatial:
            assert self.spatial_class_means is not None and self.spatial_precision is not None
            assert self.spatial_projection is not None
            out.update(
                spatial_projection=self.spatial_projection,
                spatial_class_means=self.spatial_class_means,
                spatial_precision=self.spatial_precision,
            )
        return out


def fit_gate_features(
    features: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    cells: np.ndarray | None = None,
    spatial_channels: int = SPATIAL_CHANNELS,
) -> GateFit:
    """The app's own ``fit_gate`` (class means + Ledoit–Wolf shared precision) on TRAIN features; with
    ``cells`` (N, 576, rows, cols) also the layout check: PCA channel projection of the train cells, then
    the same fit on the projected, concatenated cells."""
    means, precision, _in_sample_threshold = fit_gate(features, labels, 0.99, num_classes=num_classes)
    if cells is None:
        return GateFit(means.numpy(), precision.numpy())
    cells = np.asarray(cells)
    projection = fit_spatial_projection(cells, spatial_channels)
    descriptor = spatial_descriptor(cells, projection)
    s_means, s_precision, _ = fit_gate(descriptor, labels, 0.99, num_classes=num_classes)
    return GateFit(
        means.numpy(),
        precision.numpy(),
        (int(cells.shape[2]), int(cells.shape[3])),
        projection.numpy(),
        s_means.numpy(),
        s_precision.numpy(),
    )


def gate_threshold(val_scores: np.ndarray, acceptance_rate: float) -> float:
    """The val-score quantile that accepts ``acceptance_rate`` of val films (held out from the fit)."""
    return threshold_for(val_scores, acceptance_rate)


def gate_thresholds(val_scores: np.ndarray, acceptance_rate: float) -> np.ndarray:
    """Per-check thresholds (M,) from val scores (N, M): one check → ``gate_threshold`` (as in ≤ 1.1.0);
    several → ``joint_thresholds`` (equal per-check val acceptance, ``acceptance_rate`` of val pass all)."""
    val_scores = np.asarray(val_scores, dtype=np.float64)
    if val_scores.ndim == 1 or val_scores.shape[1] == 1:
        return np.asarray([gate_threshold(val_scores.reshape(-1), acceptance_rate)])
    return np.asarray(joint_thresholds(val_scores, acceptance_rate))
