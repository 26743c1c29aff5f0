"""The input gate: refuse films the classifier was never meant to see.

Three checks, cheapest first, all pure functions so training and the app share them:

1. a near-uniform model input (blank film, test pattern): std of the windowed input < ``min_std``;
2. a colour photograph: io converts colour inputs to luminance and records ``was_color``
   and ``metadata["colorfulness"]`` (``colorfulness`` below); refused above ``max_colorfulness``;
3. a feature-space distance: the Mahalanobis distance of the pooled backbone features to
   the nearest class mean (shared shrinkage covariance), refused above ``threshold``.

``fit_gate`` produces the class means, precision matrix and threshold that the training
engineer stores in the bundle (``gate.class_means`` / ``gate.precision`` in model.pt).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from radiview.inference.prediction import GateVerdict
from radiview.io.image import colorfulness  # io scores colour inputs; one formula for both

__all__ = [
    "REASON_COLOR",
    "REASON_UNIFORM",
    "colorfulness",
    "fit_gate",
    "gate_verdict",
    "ledoit_wolf_covariance",
    "mahalanobis_scores",
    "threshold_for",
]

REASON_UNIFORM = "not a frontal chest radiograph: image is nearly uniform"
REASON_COLOR = "colour photograph, not a radiograph"


def _as_numpy(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float64).numpy()
    return np.asarray(values, dtype=np.float64)


def _as_cpu_double(values: Any) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float64)
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


def mahalanobis_scores(features: Any, class_means: Any, precision: Any) -> np.ndarray:
    """Distance of each feature row to its nearest class mean: min_k sqrt((f-μ_k)ᵀ P (f-μ_k)).

    ``features`` (N, D), ``class_means`` (K, D), ``precision`` (D, D); numpy or torch.
    Returns float64 (N,). Computed in float64 (the quadratic form loses digits in float32)
    as one (N·K, D) × (D, D) product in torch, whose thread count the app sets; numpy's
    stacked matmul was 10-40× slower here.
    """
    feats = _as_cpu_double(features)
    means = _as_cpu_double(class_means)
    prec = _as_cpu_double(precision)
    if feats.ndim == 1:
        feats = feats[None, :]
    if feats.ndim != 2 or means.ndim != 2 or feats.shape[1] != means.shape[1]:
        raise ValueError(f"features {tuple(feats.shape)} and class means {tuple(means.shape)} do not match")
    dim = means.shape[1]
    if prec.shape != (dim, dim):
        raise ValueError(f"precision {tuple(prec.shape)} does not match feature size {dim}")
    diff = (feats[:, None, :] - means[None, :, :]).reshape(-1, dim)  # (N·K, D)
    quad = ((diff @ prec) * diff).sum(dim=1).reshape(feats.shape[0], means.shape[0])
    return quad.clamp_min(0.0).sqrt().min(dim=1).values.numpy()


def gate_verdict(
    score: float,
    input_std: float,
    gate: Mapping[str, Any],
    was_color: bool = False,
    color_score: float | None = None,
) -> GateVerdict:
    """Decide on one film from its Mahalanobis ``score``, the std of its windowed [0, 1]
    model input and its colour record; ``gate`` is the model card's gate entry.

    A colour input without a recorded colourfulness is accepted: io converts gray images
    stored as RGB (common for exported PNGs) and records the score when it is a real photo.
    """
    threshold = float(gate["threshold"])
    min_std = float(gate.get("min_std", 0.0))
    max_colorfulness = float(gate.get("max_colorfulness", float("inf")))
    if not np.isfinite(input_std) or input_std < min_std:
        return GateVerdict(False, REASON_UNIFORM, float(score))
    if was_color and color_score is not None and color_score > max_colorfulness:
        return GateVerdict(False, REASON_COLOR, float(score))
    if not np.isfinite(score) or score > threshold:
        return GateVerdict(
            False,
            f"unlike the training films (distance {score:.1f} > {threshold:.1f}): "
            "lateral view, CT or another kind of image?",
            float(score),
        )
    return GateVerdict(True, "", float(score))


def threshold_for(scores: Any, acceptance_rate: float) -> float:
    """The score below which ``acceptance_rate`` of in-distribution ``scores`` fall."""
    if not 0.0 < acceptance_rate <= 1.0:
        raise ValueError(f"acceptance_rate must be in (0, 1], got {acceptance_rate}")
    return float(np.quantile(_as_numpy(scores), acceptance_rate))


def ledoit_wolf_covariance(centered: np.ndarray) -> np.ndarray:
    """Ledoit-Wolf (2004) shrinkage of the sample covariance towards a scaled identity.

    ``centered`` (N, D) has zero column means (here: each row minus its class mean). Stays
    well-conditioned when N is close to or below D (576 features, few COVID-19 films).
    """
    n, d = centered.shape
    sample = centered.T @ centered / n
    mu = np.trace(sample) / d
    delta = sample.copy()
    delta[np.diag_indices(d)] -= mu
    delta_sq = float((delta**2).sum()) / d
    sq = centered**2
    beta_sq = float((sq.T @ sq).sum() / n - (sample**2).sum()) / (d * n)
    beta_sq = min(beta_sq, delta_sq)
    shrinkage = 0.0 if delta_sq == 0 else beta_sq / delta_sq
    cov = (1.0 - shrinkage) * sample
    cov[np.diag_indices(d)] += shrinkage * mu
    return cov


def fit_gate(
    features: Any,
    labels: Any,
    acceptance_rate: float = 0.99,
    num_classes: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Fit the Mahalanobis gate on in-distribution pooled features.

    ``features`` (N, D) and integer ``labels`` (N,). Returns ``(class_means (K, D) float32,
    precision (D, D) float32, threshold)``: the per-class means, the inverse of one shared
    Ledoit-Wolf-shrunk within-class covariance, and the ``acceptance_rate`` quantile of the
    fitted films' own scores. In-sample scores are optimistic; for a held-out threshold,
    call ``threshold_for(mahalanobis_scores(val_features, means, precision), rate)``.
    """
    feats = _as_numpy(features)
    labs = _as_numpy(labels).astype(np.int64)
    if feats.ndim != 2 or labs.shape != (feats.shape[0],):
        raise ValueError(f"features {feats.shape} and labels {labs.shape} do not match")
    k = int(num_classes if num_classes is not None else labs.max() + 1)
    means = np.zeros((k, feats.shape[1]))
    for cls in range(k):
        rows = feats[labs == cls]
        if len(rows) == 0:
            raise ValueError(f"class {cls} has no samples to fit the gate on")
        means[cls] = rows.mean(axis=0)
    cov = ledoit_wolf_covariance(feats - means[labs])
    precision = np.linalg.inv(cov)
    precision = (precision + precision.T) / 2.0  # inv() leaves tiny asymmetries
    threshold = threshold_for(mahalanobis_scores(feats, means, precision), acceptance_rate)
    return (
        torch.from_numpy(means).float(),
        torch.from_numpy(precision).float(),
        threshold,
    )
