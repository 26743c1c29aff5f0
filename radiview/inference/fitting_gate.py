"""Fitting the input gate (``radiview.inference.gate``) from features: class means and a shared
Ledoit–Wolf precision of pooled backbone features, the layout check's PCA channel projection and
its own means and precision, and the per-check thresholds.

Used by ``training`` (fit on TRAIN, thresholds on VAL) and by site adaptation (a refit on the
site's adapt part, checked against the bundled out-of-distribution feature bank).
"""

from __future__ import annotations

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

__all__ = [
    "SPATIAL_CHANNELS",
    "SPATIAL_GRID",
    "GateFit",
    "fit_gate_features",
    "gate_threshold",
    "gate_thresholds",
]

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
    projection: np.ndarray | None = None,
) -> GateFit:
    """The app's own ``fit_gate`` (class means + Ledoit–Wolf shared precision) on in-distribution
    features; with ``cells`` (N, 576, rows, cols) also the layout check: a PCA channel projection of
    the cells (or the given ``projection``, e.g. the base bundle's), then the same fit on the
    projected, concatenated cells."""
    means, precision, _in_sample_threshold = fit_gate(features, labels, 0.99, num_classes=num_classes)
    if cells is None:
        return GateFit(means.numpy(), precision.numpy())
    cells = np.asarray(cells)
    proj = fit_spatial_projection(cells, spatial_channels).numpy() if projection is None else projection
    descriptor = spatial_descriptor(cells, proj)
    s_means, s_precision, _ = fit_gate(descriptor, labels, 0.99, num_classes=num_classes)
    return GateFit(
        means.numpy(),
        precision.numpy(),
        (int(cells.shape[2]), int(cells.shape[3])),
        np.asarray(proj, dtype=np.float32),
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
