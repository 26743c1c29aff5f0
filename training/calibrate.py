"""Calibration (temperature scaling fitted on val, ECE) and the input gate's fit and thresholds.

One copy of the fitting code lives in ``radiview.inference`` (``fitting_calibration``, ``fitting_gate``,
``metrics``) so the app's site adaptation uses the same arithmetic; this module names it for training.

The gate follows the bundle contract (``radiview.inference.gate``): class means (K, 576) and a shared
precision (576, 576) of pooled backbone features, plus (the layout check) a channel projection, class
means and a shared precision of the features.12 map pooled to a grid; score = min_k Mahalanobis distance
per check; a film is refused if ANY check's score exceeds its threshold. Both are fitted on the TRAIN
split's clean features; the thresholds accept the same share of val films each, chosen so that
``acceptance_rate`` of val films pass both (``joint_thresholds``). OOD images are never looked at here.
"""

from __future__ import annotations

from radiview.inference.fitting_calibration import fit_temperature, nll, softmax
from radiview.inference.fitting_gate import (
    SPATIAL_CHANNELS,
    SPATIAL_GRID,
    GateFit,
    fit_gate_features,
    gate_threshold,
    gate_thresholds,
)
from radiview.inference.metrics import expected_calibration_error

__all__ = [
    "SPATIAL_CHANNELS",
    "SPATIAL_GRID",
    "GateFit",
    "expected_calibration_error",
    "fit_gate_features",
    "fit_temperature",
    "gate_threshold",
    "gate_thresholds",
    "nll",
    "softmax",
]
