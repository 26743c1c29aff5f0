"""The input gate: refuse films the classifier was never meant to see.

Up to five checks, cheapest first, all pure functions so training and the app share them:

0. a DICOM header naming a non-frontal view (ViewPosition LL, RL, LLD, RLD, LAO, ...);
1. a near-uniform model input (blank film, test pattern): std of the windowed input < ``min_std``;
2. a colour photograph: io converts colour inputs to luminance and records ``was_color``
   and ``Radiograph.colorfulness`` (``colorfulness`` below); refused above ``max_colorfulness``;
3. a feature-space distance: the Mahalanobis distance of the pooled backbone features to
   the nearest class mean (shared shrinkage covariance), refused above ``threshold``;
4. (optional, card ``gate["spatial"]``) a layout distance: the same Mahalanobis arithmetic on a
   SPATIAL descriptor, refused above ``gate["spatial"]["threshold"]``. Global pooling keeps
   texture but not layout, so a lateral chest film (one lung field, spine at one edge) looks
   like a frontal one to check 3; the spatial descriptor keeps a coarse layout.

``fit_gate`` produces the class means, precision matrix and threshold that the training
engineer stores in the bundle (``gate.class_means`` / ``gate.precision`` in model.pt).

The spatial descriptor of a film: its features.12 activation map (N, 576, 7, 7) adaptive-average-
pooled to ``grid`` (rows, cols) cells (``spatial_cells``), each cell's 576 channels projected by
one fixed channel projection P (576, c) fitted by PCA on train cells (``fit_spatial_projection``),
concatenated row-major as (cell, channel) → (N, rows·cols·c) (``spatial_descriptor``). Stored:

* card ``gate["spatial"]``: ``{"method": "mahalanobis", "grid": [rows, cols], "channels": c,
  "threshold": float, ...}`` (extra keys are information: acceptance rate, what it was fitted on);
* model.pt: ``gate.spatial_projection`` (576, c), ``gate.spatial_class_means`` (K, rows·cols·c),
  ``gate.spatial_precision`` (rows·cols·c, rows·cols·c), all float32.

A card without ``gate["spatial"]`` (bundles up to 1.1.0) runs checks 1-3 only. With two distance
checks, the thresholds come from ``joint_thresholds``: each accepts the same share of val films,
chosen so that the films both accept are the card's ``acceptance_rate`` of val.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from radiview.inference.card import GateSpec
from radiview.inference.prediction import GateVerdict
from radiview.io.color import colorfulness  # io scores colour inputs; one formula for both
from radiview.io.radiograph import Radiograph

__all__ = [
    "NON_FRONTAL_VIEW_POSITIONS",
    "REASON_COLOR",
    "REASON_NOT_FRONTAL",
    "REASON_UNIFORM",
    "GateFacts",
    "SpatialGate",
    "colorfulness",
    "fit_gate",
    "fit_spatial_projection",
    "gate_verdict",
    "joint_thresholds",
    "ledoit_wolf_covariance",
    "mahalanobis_scores",
    "spatial_cells",
    "spatial_descriptor",
    "threshold_for",
    "view_position_reason",
]

REASON_UNIFORM = "not a frontal chest radiograph: image is nearly uniform"
REASON_COLOR = "colour photograph, not a radiograph"
#: The lung segmenter's view check (radiview.inference.lungs) found no frontal two-lung layout.
REASON_NOT_FRONTAL = "not a frontal chest film (lateral or other view)"

#: DICOM ViewPosition (0018,5101) defined terms of chest views that are not frontal (PA/AP):
#: laterals, decubitus laterals and obliques. A header that says so is refused outright; a
#: JPEG has no header, so the feature-space checks remain the defence there.
NON_FRONTAL_VIEW_POSITIONS: dict[str, str] = {
    "LL": "lateral",
    "RL": "lateral",
    "LAT": "lateral",
    "LATERAL": "lateral",
    "LLD": "decubitus",
    "RLD": "decubitus",
    "LAO": "oblique",
    "RAO": "oblique",
    "LPO": "oblique",
    "RPO": "oblique",
    "LLO": "oblique",
    "RLO": "oblique",
}


def view_position_reason(view_position: str | None) -> str | None:
    """The refusal reason for a DICOM view position that is not frontal, else None."""
    code = (view_position or "").strip().upper()
    kind = NON_FRONTAL_VIEW_POSITIONS.get(code)
    if kind is None:
        return None
    return f"not a frontal chest radiograph: the DICOM header says view position {code} ({kind})"


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


@dataclass(frozen=True)
class GateFacts:
    """What the gate reads about a film besides its model input: the colour record and the
    DICOM view position. No pixels, so screening can queue thousands of them cheaply."""

    was_color: bool = False
    colorfulness: float | None = None  # io's score of a file stored in colour
    view_position: str | None = None

    @classmethod
    def of(cls, radiograph: Radiograph) -> GateFacts:
        return cls(radiograph.was_color, radiograph.colorfulness, radiograph.view_position)


def gate_verdict(
    score: float,
    input_std: float,
    gate: GateSpec | Mapping[str, Any],
    film: GateFacts = GateFacts(),
    spatial_score: float | None = None,
    frontal_layout: bool | None = None,
) -> GateVerdict:
    """Decide on one film from its Mahalanobis ``score``, the std of its windowed [0, 1]
    model input and what is known of the ``film``; ``gate`` is the model card's gate section
    (a plain mapping is parsed as one).

    ``spatial_score`` is the layout distance; it is checked when the card has a
    ``gate["spatial"]`` entry (the verdict's ``score`` stays the global distance). A card with
    a spatial entry and no spatial score given is a caller bug: ValueError.

    A colour input without a recorded colourfulness is accepted: io converts gray images
    stored as RGB (common for exported PNGs) and records the score when it is a real photo.
    A view position (DICOM ViewPosition) naming a lateral, decubitus or oblique view is
    refused first: the header is the surest evidence there is. ``frontal_layout`` is the lung
    segmenter's view check (two lungs side by side, confidently): False refuses a film that
    passed every other check as not frontal; None (no segmenter in the bundle) skips it.
    """
    spec = gate if isinstance(gate, GateSpec) else GateSpec.from_dict(gate)
    view_reason = view_position_reason(film.view_position)
    if view_reason is not None:
        return GateVerdict(False, view_reason, float(score))
    if not np.isfinite(input_std) or input_std < spec.min_std:
        return GateVerdict(False, REASON_UNIFORM, float(score))
    if film.was_color and film.colorfulness is not None and film.colorfulness > spec.max_colorfulness:
        return GateVerdict(False, REASON_COLOR, float(score))
    if not np.isfinite(score) or score > spec.threshold:
        return GateVerdict(
            False,
            f"unlike the films the model was trained on (distance {score:.1f} > {spec.threshold:.1f}): "
            "ICU/portable, unusual exposure, or not a frontal chest film?",
            float(score),
        )
    if spec.spatial is not None:
        if spatial_score is None:
            raise ValueError("the card's gate has a spatial check but no spatial score was given")
        limit = spec.spatial.threshold
        if not np.isfinite(spatial_score) or spatial_score > limit:
            return GateVerdict(
                False,
                f"layout unlike the films the model was trained on (spatial distance {spatial_score:.1f} > "
                f"{limit:.1f}): ICU/portable, unusual positioning, or not a frontal chest film?",
                float(score),
            )
    if frontal_layout is False:  # last: the distance checks' reasons stand where they refuse
        return GateVerdict(False, REASON_NOT_FRONTAL, float(score))
    return GateVerdict(True, "", float(score))


def threshold_for(scores: Any, acceptance_rate: float) -> float:
    """The score below which ``acceptance_rate`` of in-distribution ``scores`` fall."""
    if not 0.0 < acceptance_rate <= 1.0:
        raise ValueError(f"acceptance_rate must be in (0, 1], got {acceptance_rate}")
    return float(np.quantile(_as_numpy(scores), acceptance_rate))


def joint_thresholds(scores: Any, acceptance_rate: float) -> list[float]:
    """Per-column thresholds for films refused when ANY column's score exceeds its threshold.

    ``scores`` (N, M): M distances of the same N in-distribution films. Every column gets the
    same per-column acceptance r (its r-quantile), with r the smallest rate at which
    ``acceptance_rate`` of the films pass all M checks: r is the ``acceptance_rate`` quantile of
    each film's worst per-column rank. Thresholds are observed scores (no interpolation), so at
    least ``acceptance_rate`` of the films pass.
    """
    if not 0.0 < acceptance_rate <= 1.0:
        raise ValueError(f"acceptance_rate must be in (0, 1], got {acceptance_rate}")
    values = _as_numpy(scores)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] == 0:
        raise ValueError(f"scores must be (N, M) with N > 0, got {values.shape}")
    n = values.shape[0]
    # Empirical CDF value of every score within its own column (ties share the top rank).
    ranks = np.stack([np.searchsorted(np.sort(col), col, side="right") / n for col in values.T], axis=1)
    rate = float(np.quantile(ranks.max(axis=1), acceptance_rate, method="inverted_cdf"))
    return [float(np.quantile(col, rate, method="inverted_cdf")) for col in values.T]


@dataclass(frozen=True)
class SpatialGate:
    """The layout check's tensors (float64 on the CPU) and its cell grid; see the module docstring."""

    grid: tuple[int, int]
    projection: torch.Tensor  # (C, c)
    class_means: torch.Tensor  # (K, rows·cols·c)
    precision: torch.Tensor  # (rows·cols·c, rows·cols·c)

    def cells(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Pool an (N, C, h, w) map to this gate's grid, detached, on the CPU."""
        return spatial_cells(feature_map.detach(), self.grid).to("cpu", torch.float64)

    def scores(self, cells: torch.Tensor) -> np.ndarray:
        """Layout distances (N,) of pooled ``cells`` (N, C, rows, cols)."""
        return mahalanobis_scores(
            spatial_descriptor(cells, self.projection), self.class_means, self.precision
        )


def spatial_cells(feature_map: torch.Tensor, grid: Sequence[int]) -> torch.Tensor:
    """The (N, C, h, w) activation map average-pooled to ``grid`` (rows, cols): (N, C, rows, cols)."""
    if feature_map.ndim != 4:
        raise ValueError(f"expected an (N, C, h, w) activation map, got {tuple(feature_map.shape)}")
    rows, cols = (int(v) for v in grid)
    return torch.nn.functional.adaptive_avg_pool2d(feature_map, (rows, cols))


def spatial_descriptor(cells: Any, projection: Any) -> torch.Tensor:
    """(N, C, rows, cols) cells → (N, rows·cols·c): each cell's channels times ``projection`` (C, c),
    cells in row-major order. float64 on the CPU."""
    cell_values = _as_cpu_double(cells)
    proj = _as_cpu_double(projection)
    if cell_values.ndim != 4 or proj.ndim != 2 or cell_values.shape[1] != proj.shape[0]:
        raise ValueError(f"cells {tuple(cell_values.shape)} and projection {tuple(proj.shape)} do not match")
    per_cell = cell_values.permute(0, 2, 3, 1) @ proj  # (N, rows, cols, c)
    return per_cell.reshape(cell_values.shape[0], -1)


def fit_spatial_projection(cells: Any, channels: int) -> torch.Tensor:
    """PCA of the cells' channel vectors: the top ``channels`` principal axes (C, c), float32.

    ``cells`` (N, C, rows, cols) of in-distribution (train) films; every cell of every film is
    one sample. Centring is not stored: Mahalanobis distances do not depend on it. Signs are
    fixed (largest |loading| positive) so a refit gives the same tensor.
    """
    values = _as_numpy(cells)
    if values.ndim != 4:
        raise ValueError(f"expected (N, C, rows, cols) cells, got {values.shape}")
    samples = values.transpose(0, 2, 3, 1).reshape(-1, values.shape[1])
    if not 0 < channels <= samples.shape[1]:
        raise ValueError(f"channels must be in 1..{samples.shape[1]}, got {channels}")
    centered = samples - samples.mean(axis=0)
    eigvals, eigvecs = np.linalg.eigh(centered.T @ centered / max(len(samples) - 1, 1))
    axes = eigvecs[:, np.argsort(eigvals)[::-1][:channels]]
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(channels)])
    return torch.from_numpy(axes * np.where(signs == 0, 1.0, signs)).float()


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
