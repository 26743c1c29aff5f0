"""The input gate of a run: fit on TRAIN, thresholds on VAL, acceptance on TEST, refusal on ``--ood``, and
its card entry. Also the per-label operating points (``youden_thresholds``)."""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radiview.inference import fitting_calibration
from radiview.inference.network import RadiviewNet
from radiview.inference.preprocess import PreprocessConfig
from training.calibrate import SPATIAL_GRID, GateFit, fit_gate_features, gate_threshold, gate_thresholds
from training.card_text import CARD_TEXT
from training.data.dataset import ImageCache, prepare_films
from training.data.sources import LABELS
from training.model import extract_gate_inputs


@dataclass
class GateResult:
    """A fitted gate: what the bundle stores (``fit``, ``thresholds``), what the card reports
    (``per_check_acceptance``, ``metrics``, JSON-ready) and the test films' scores and verdicts."""

    fit: GateFit
    thresholds: np.ndarray
    per_check_acceptance: list[float]
    test_scores: np.ndarray
    test_accept: np.ndarray
    metrics: dict[str, Any]


def youden_thresholds(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Per-label operating point on val: the calibrated probability maximising sensitivity + specificity."""
    return fitting_calibration.youden_thresholds(probs, labels, LABELS)


def read_ood_manifest(csv_path: str | Path) -> list[tuple[str, str]]:
    root = Path(csv_path).parent
    with open(csv_path, newline="", encoding="utf-8") as fh:
        return [(str(root / row["file"]), row.get("kind") or "other") for row in csv.DictReader(fh)]


def _rate(mask: np.ndarray) -> float | None:
    return round(float(mask.mean()), 4) if len(mask) else None


def _by(values: Sequence[str], mask: np.ndarray) -> dict[str, float | None]:
    values_arr = np.asarray(values)
    return {v: _rate(mask[values_arr == v]) for v in sorted(set(values_arr.tolist()))}


def fit_and_evaluate_gate(
    net: RadiviewNet,
    feats: dict[str, np.ndarray],
    cells: dict[str, np.ndarray] | None,
    y: dict[str, np.ndarray],
    splits: dict[str, ImageCache],
    args: argparse.Namespace,
    config: PreprocessConfig,
    device: str,
) -> GateResult:
    """Fit the gate on TRAIN (``cells`` None: the global check only), thresholds on VAL, acceptance on TEST,
    refusal on ``--ood`` (evaluation only)."""
    # one gate cluster per target present in train (a --sources subset may lack some labels)
    present = np.unique(y["train"])
    gate = fit_gate_features(
        feats["train"],
        np.searchsorted(present, y["train"]),
        len(present),
        cells["train"] if cells is not None else None,
        args.gate_spatial_channels,
    )
    scores = {s: gate.scores(feats[s], cells[s] if cells is not None else None) for s in ("val", "test")}
    thresholds = gate_thresholds(scores["val"], args.gate_acceptance)
    std_ok = {
        s: splits[s].images.reshape(len(splits[s].images), -1).std(axis=1) / 255.0 >= args.gate_min_std
        for s in ("val", "test")
    }
    accept = {s: (scores[s] <= thresholds).all(axis=1) & std_ok[s] for s in ("val", "test")}
    per_check = [float((scores["val"][:, j] <= thresholds[j]).mean()) for j in range(len(thresholds))]
    sources = [r.source for r in splits["test"].records]
    metrics = _gate_metrics(gate, thresholds, scores, accept, per_check, sources, args)
    if args.ood:
        metrics["ood"] = evaluate_gate_ood(
            net, gate, thresholds, args, config, device, scores["val"], scores["test"], std_ok["test"]
        )
    return GateResult(gate, thresholds, per_check, scores["test"], accept["test"], metrics)


def _gate_metrics(
    gate: GateFit,
    thresholds: np.ndarray,
    scores: dict[str, np.ndarray],
    accept: dict[str, np.ndarray],
    per_check: list[float],
    sources: list[str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "fitted_on": "train split, clean pooled backbone features (576-d)"
        + (
            f"; layout: features.12 map pooled to {SPATIAL_GRID[0]}×{SPATIAL_GRID[1]} cells, "
            f"{args.gate_spatial_channels} PCA channels per cell"
            if gate.has_spatial
            else ""
        ),
        "threshold_rule": f"accept {args.gate_acceptance:.0%} of val films"
        + (f" (both checks; each alone accepts {per_check[0]:.2%} of val)" if gate.has_spatial else ""),
        "val_acceptance": _rate(accept["val"]),
        "test_acceptance": _rate(accept["test"]),
        "test_acceptance_by_source": _by(sources, accept["test"]),
    }
    if gate.has_spatial:
        names = ["global", "spatial"][: len(thresholds)]
        metrics["checks"] = {
            name: {
                "threshold": round(float(thresholds[j]), 4),
                "val_acceptance": _rate(scores["val"][:, j] <= thresholds[j]),
                "test_acceptance": _rate(scores["test"][:, j] <= thresholds[j]),
            }
            for j, name in enumerate(names)
        }
    return metrics


def evaluate_gate_ood(
    net: RadiviewNet,
    gate: GateFit,
    thresholds: np.ndarray,
    args: argparse.Namespace,
    config: PreprocessConfig,
    device: str,
    val_scores: np.ndarray | None = None,
    test_scores: np.ndarray | None = None,
    test_std_ok: np.ndarray | None = None,
) -> dict[str, Any]:
    """Refusal rate per OOD kind (any distance check or near-uniform input), after everything was fitted.

    Also reports, for information only, what other val acceptance rates would have given, which check
    refused what, and (with the layout check) what the global check alone would have done under the
    pre-1.2 rule (the threshold rule is fixed by ``--gate-acceptance`` before any OOD image is looked at).
    """
    items = read_ood_manifest(args.ood)
    images, ok, failures = prepare_films([p for p, _ in items], config, workers=args.workers)
    kinds = np.asarray([k for _, k in items])[ok]
    images = images[ok]
    feats, cells = extract_gate_inputs(net, images, config, gate.spatial_grid or (1, 1), device=device)
    scores = gate.scores(feats, cells)
    uniform = images.reshape(len(images), -1).std(axis=1) / 255.0 < args.gate_min_std
    refused = (scores > thresholds).any(axis=1) | uniform
    kind_list = kinds.tolist()
    out: dict[str, Any] = {"n": len(items), "unreadable": len(failures), "refusal_rate": _rate(refused)}
    out["by_kind"] = {
        k: {"n": int((kinds == k).sum()), "refusal_rate": _rate(refused[kinds == k])}
        for k in sorted(set(kind_list))
    }
    if gate.has_spatial:
        out["refused_by_check_by_kind"] = {
            name: _by(kind_list, scores[:, j] > thresholds[j]) for j, name in enumerate(["global", "spatial"])
        }
    if val_scores is None or test_scores is None or test_std_ok is None:
        return out
    out.update(_ood_tradeoffs(gate, scores, uniform, kind_list, val_scores, test_scores, test_std_ok, args))
    return out


def _ood_tradeoffs(
    gate: GateFit,
    scores: np.ndarray,
    uniform: np.ndarray,
    kind_list: list[str],
    val_scores: np.ndarray,
    test_scores: np.ndarray,
    test_std_ok: np.ndarray,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """What other threshold rules would have given (information only; never used for fitting)."""

    def at(th: np.ndarray, cols: slice = slice(None)) -> dict[str, Any]:
        ood_refused = (scores[:, cols] > th).any(axis=1) | uniform
        test_ok = (test_scores[:, cols] <= th).all(axis=1) & test_std_ok
        return {
            "ood_refusal": _rate(ood_refused),
            "test_acceptance": _rate(test_ok),
            "ood_refusal_by_kind": _by(kind_list, ood_refused),
        }

    out: dict[str, Any] = {
        "tradeoff_not_used_for_fitting": {
            f"val_acceptance_{rate}": at(gate_thresholds(val_scores, rate))
            for rate in (0.95, 0.97, 0.98, 0.99, 0.995)
        }
    }
    if gate.has_spatial:
        rate = args.gate_acceptance
        out[f"global_check_alone_at_val_{rate}"] = at(
            np.asarray([gate_threshold(val_scores[:, 0], rate)]), slice(0, 1)
        )
    return out


def gate_limitation(gate_entry: dict[str, Any]) -> str:
    """The card's limitation line about the input gate, with the measured OOD refusal per kind."""
    by_kind = gate_entry.get("ood_refusal_by_kind") or {}
    measured = ", ".join(f"{k} {v:.0%}" for k, v in sorted(by_kind.items()) if v is not None)
    what = CARD_TEXT["gate_what"]["with_layout" if gate_entry.get("spatial") else "features_only"]
    return str(CARD_TEXT["gate_limitation"]).format(what=what, measured=measured or "n/a")


def gate_card_entry(gate: GateResult, args: argparse.Namespace) -> dict[str, Any]:
    """card["gate"]: the app's thresholds and checks (radiview.inference.gate) plus their measured figures."""
    fit, thresholds, ood = gate.fit, gate.thresholds, gate.metrics.get("ood", {})
    entry: dict[str, Any] = {
        "method": "mahalanobis",
        "threshold": float(thresholds[0]),
        "min_std": args.gate_min_std,
        "max_colorfulness": args.gate_max_colorfulness,
        "acceptance_rate": args.gate_acceptance,
        "features": "pooled features.12 output (576-d), min over classes, shared Ledoit-Wolf covariance",
        "fitted_on": "train split (clean pass); threshold from val",
    }
    if fit.has_spatial:
        entry.update(_spatial_card_entry(gate))
    entry.update(
        {
            "ood_refusal_rate": ood.get("refusal_rate"),
            "ood_refusal_by_kind": {k: v["refusal_rate"] for k, v in ood.get("by_kind", {}).items()},
            "test_acceptance": gate.metrics["test_acceptance"],
            "test_acceptance_by_source": gate.metrics["test_acceptance_by_source"],
        }
    )
    return entry


def _spatial_card_entry(gate: GateResult) -> dict[str, Any]:
    assert gate.fit.spatial_grid is not None and gate.fit.spatial_projection is not None
    rows, cols = gate.fit.spatial_grid
    channels = int(gate.fit.spatial_projection.shape[1])
    return {
        "per_check_acceptance": round(float(gate.per_check_acceptance[0]), 4),
        "fitted_on": "train split (clean pass); thresholds from val: each check accepts the same "
        "share of val films, chosen so that acceptance_rate of val films pass both",
        "spatial": {
            "method": "mahalanobis",
            "grid": [rows, cols],
            "channels": channels,
            "threshold": float(gate.thresholds[1]),
            "features": f"features.12 map average-pooled to {rows}×{cols} cells; each cell's 576 channels "
            f"projected on the top {channels} principal axes of the train cells "
            "(gate.spatial_projection); cells concatenated row-major "
            f"({rows * cols * channels}-d); min over classes, shared Ledoit-Wolf covariance",
        },
    }
