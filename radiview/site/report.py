"""The figures a site report (validate) and a site card (adapt) share, from featured films."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from radiview.inference.card import GateSpec
from radiview.inference.fitting_calibration import softmax
from radiview.inference.fitting_gate import GateFit
from radiview.inference.metrics import clean
from radiview.site.features import SiteFeatures, gate_accepts, gate_scores
from radiview.site.measure import confusion, decisions, measure, operating_points_table


@dataclass(frozen=True)
class ModelParts:
    """What turns features into a reading: the gate, temperature, operating points and logits."""

    gate: GateFit
    gate_spec: GateSpec
    temperature: float
    operating_points: Mapping[str, float]
    labels: tuple[str, ...]


@dataclass
class Readings:
    """Per-film results of one model on featured films."""

    scores: np.ndarray  # (N, M) gate distances
    accepted: np.ndarray  # (N,) bool
    reasons: list[str]
    probs: np.ndarray  # (N, K) calibrated
    called: np.ndarray  # (N,) class index by the operating points


def read_films(parts: ModelParts, feats: SiteFeatures, logits: np.ndarray | None = None) -> Readings:
    scores = gate_scores(parts.gate, feats)
    accepted, reasons = gate_accepts(parts.gate_spec, scores, feats)
    probs = softmax(feats.logits if logits is None else logits, parts.temperature)
    return Readings(
        scores, accepted, reasons, probs, decisions(probs, parts.labels, dict(parts.operating_points))
    )


def acceptance(accepted: np.ndarray, site_labels: Sequence[str]) -> dict[str, Any]:
    labels = np.asarray(site_labels)
    return {
        "overall": clean(accepted.mean()) if len(accepted) else None,
        "n": len(accepted),
        "by_label": {str(v): clean(accepted[labels == v].mean()) for v in sorted(set(labels.tolist()))},
    }


def performance(
    readings: Readings,
    truth: Sequence[frozenset[int]],
    patients: Sequence[str],
    site_labels: Sequence[str],
    labels: Sequence[str],
    operating_points: Mapping[str, float],
    n_boot: int,
) -> dict[str, Any]:
    """Gate acceptance, then metrics on the films the gate accepted (the films the model reads)."""
    ok = readings.accepted
    idx = [int(i) for i in np.flatnonzero(ok)]
    truth_ok = [truth[i] for i in idx]
    out: dict[str, Any] = {"gate_acceptance": acceptance(ok, site_labels)}
    out["metrics_on"] = f"the {len(idx)} films the gate accepted"
    out.update(
        measure(
            readings.probs[idx], readings.called[idx], truth_ok, [patients[i] for i in idx], labels, n_boot
        )
    )
    out["confusion"] = confusion(readings.called[idx], [site_labels[i] for i in idx], labels)
    out["operating_point_table"] = operating_points_table(
        readings.probs[idx], truth_ok, labels, dict(operating_points)
    )
    return out


def shift_figures(
    scores: np.ndarray, reference: Mapping[str, Any], thresholds: Sequence[float]
) -> dict[str, Any]:
    """How far the films lie from the training data: gate-distance quantiles against the card's val split."""
    out: dict[str, Any] = {
        "n": len(scores),
        "reference": reference.get("what", "none") if reference else "none",
    }
    for j, name in enumerate(("global", "spatial")[: scores.shape[1]]):
        col = scores[:, j]
        entry: dict[str, Any] = {
            "median": clean(np.median(col)) if len(col) else None,
            "p95": clean(np.quantile(col, 0.95)) if len(col) else None,
            "threshold": clean(thresholds[j]) if j < len(thresholds) else None,
        }
        ref = reference.get(name) if reference else None
        if ref:
            q = np.asarray(reference["quantiles"], dtype=np.float64)
            ref_values = np.asarray(ref, dtype=np.float64)
            entry["val_median"] = clean(np.interp(0.5, q, ref_values))  # "val": the reference
            entry["val_p99"] = clean(np.interp(0.99, q, ref_values))
            # share of films beyond the val split's 99th percentile (1% expected without shift)
            entry["beyond_val_p99"] = clean((col > entry["val_p99"]).mean()) if len(col) else None
            entry["val_quantile_of_median"] = clean(np.interp(entry["median"] or 0.0, ref_values, q))
        out[name] = entry
    return out
