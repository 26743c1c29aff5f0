"""After training: calibrate on VAL, fit the gate on TRAIN (thresholds on VAL), evaluate on TEST, plot.

``finish`` returns a ``FinishResult``: ``metrics`` is exactly what metrics.json holds; the fitted gate
travels beside it, typed, for ``export.export_bundle``.
"""

from __future__ import annotations

import argparse
import csv
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radiview.inference.network import RadiviewNet
from radiview.inference.preprocess import PreprocessConfig
from training import plots
from training.calibrate import SPATIAL_GRID, expected_calibration_error, fit_temperature, softmax
from training.data.dataset import ImageCache
from training.data.load import LoadedData
from training.data.sources import LABELS, Record
from training.data.splits import SPLITS
from training.evaluate import full_report, roc_curve, summarize
from training.gate import GateResult, fit_and_evaluate_gate, youden_thresholds
from training.holdout import evaluate_holdout
from training.model import extract_features, extract_gate_inputs
from training.modes import SplitArrays
from training.targets import is_single, set_valued_report

logger = logging.getLogger("radiview.training")


@dataclass
class FinishResult:
    """``metrics``: the JSON-ready run metrics (metrics.json); ``gate``: the fitted gate for the bundle."""

    metrics: dict[str, Any]
    gate: GateResult


@dataclass
class _Scored:
    """Every split's labels, calibrated probabilities and which films carry a single label."""

    y: dict[str, np.ndarray]
    probs: dict[str, np.ndarray]
    single: dict[str, np.ndarray]
    temperature: float
    calibration: dict[str, Any]


def finish(
    net: RadiviewNet,
    splits: dict[str, ImageCache],
    y: dict[str, np.ndarray],
    args: argparse.Namespace,
    config: PreprocessConfig,
    device: str,
    progress: bool,
    history: list[dict[str, float]],
    data: LoadedData,
    timings: dict[str, float],
    clean_features: SplitArrays | None = None,
    clean_cells: SplitArrays | None = None,
) -> FinishResult:
    """Calibrate on val, fit the gate on train (threshold on val), evaluate on test, plot.

    ``clean_features(split)`` gives the final network's pooled features when they are already known
    (frozen modes); otherwise every film goes through the network once more. Likewise
    ``clean_cells(split)``, the layout gate's pooled cells (``--gate-layout``).
    """
    t0 = time.perf_counter()
    feats, cells = _final_features(net, splits, args, config, device, progress, clean_features, clean_cells)
    scored = _calibrate(net, feats, y, device)
    thresholds = youden_thresholds(scored.probs["val"][scored.single["val"]], y["val"][scored.single["val"]])
    if args.gate_layout and cells is None:
        cells = _gate_cells(net, splits, config, device, progress)
    gate = fit_and_evaluate_gate(net, feats, cells, y, splits, args, config, device)
    report, val_report = _reports(scored, splits, args)
    holdout = _evaluate_holdout(net, data, scored, gate, args, config, device)
    timings["evaluate_s"] = time.perf_counter() - t0
    _write_figures_and_predictions(Path(args.output_dir), history, report, scored, splits, gate)
    _log_test(report, scored, gate)
    metrics = {
        "mode": args.mode,
        "epochs": len(history),
        "best_epoch": int(np.argmax([h[args.select_metric] for h in history])) + 1 if history else 0,
        "select_metric": args.select_metric,
        "history": history,
        "val": val_report,
        "test": report,
        "calibration": scored.calibration,
        "thresholds": thresholds,
        "gate": gate.metrics,
        "holdout": holdout,
        "data": data.summary,
        "timings": timings,
        "_roc": _roc_curves(scored),
    }
    return FinishResult(metrics, gate)


def _gate_cells(
    net: RadiviewNet, splits: dict[str, ImageCache], config: PreprocessConfig, device: str, progress: bool
) -> dict[str, np.ndarray]:
    """The layout gate's pooled cells of every split (one more pass of the films)."""
    return {
        s: extract_gate_inputs(
            net, splits[s].images, config, SPATIAL_GRID, device=device, progress=progress, desc=f"{s} gate"
        )[1]
        for s in SPLITS
    }


def _evaluate_holdout(
    net: RadiviewNet,
    data: LoadedData,
    scored: _Scored,
    gate: GateResult,
    args: argparse.Namespace,
    config: PreprocessConfig,
    device: str,
) -> dict[str, Any] | None:
    """``--holdout-source`` films: calibrated metrics and gate acceptance (None without it)."""
    if data.holdout is None:
        return None
    holdout = evaluate_holdout(
        net, data.holdout, scored.temperature, gate.fit, gate.thresholds, args.gate_min_std, config, device
    )
    logger.info("held-out %s: %s", args.holdout_source, holdout)
    return holdout


def _roc_curves(scored: _Scored) -> dict[str, list[list[float]]]:
    """Test ROC curves per label (single-label films), kept in metrics.json under ``_roc``."""
    one = scored.single["test"]
    probs, y = scored.probs["test"][one], scored.y["test"][one]
    return {LABELS[k]: [a.tolist() for a in roc_curve(probs[:, k], y == k)] for k in range(len(LABELS))}


def _final_features(
    net: RadiviewNet,
    splits: dict[str, ImageCache],
    args: argparse.Namespace,
    config: PreprocessConfig,
    device: str,
    progress: bool,
    clean_features: SplitArrays | None,
    clean_cells: SplitArrays | None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Pooled features of every split under the final network, and the layout cells when known."""
    if clean_features is not None:
        feats = {s: clean_features(s) for s in SPLITS}
        if args.gate_layout and clean_cells is not None:
            return feats, {s: clean_cells(s) for s in SPLITS}
        return feats, None
    if args.gate_layout:  # one pass gives the pooled features and the layout gate's cells
        both = {
            s: extract_gate_inputs(
                net,
                splits[s].images,
                config,
                SPATIAL_GRID,
                device=device,
                progress=progress,
                desc=f"{s} clean",
            )
            for s in SPLITS
        }
        return {s: f for s, (f, _) in both.items()}, {s: c for s, (_, c) in both.items()}
    feats = {
        s: extract_features(
            net, splits[s].images, config, device=device, progress=progress, desc=f"{s} clean"
        )
        for s in SPLITS
    }
    return feats, None


def _calibrate(
    net: RadiviewNet, feats: dict[str, np.ndarray], y: dict[str, np.ndarray], device: str
) -> _Scored:
    """Temperature on val; calibration, operating points and 4-class metrics use the single-label films
    (the set-valued ones, nih ``pneumonia``, are reported apart by ``set_valued_report``)."""
    head = net.head
    with torch.no_grad():
        logits = {s: head(torch.from_numpy(feats[s]).to(device)).float().cpu().numpy() for s in SPLITS}
    one = {s: is_single(y[s]) for s in SPLITS}
    temperature = fit_temperature(logits["val"][one["val"]], y["val"][one["val"]])
    probs_raw = {s: softmax(logits[s]) for s in SPLITS}
    probs = {s: softmax(logits[s], temperature) for s in SPLITS}
    calibration = {
        "temperature": round(temperature, 4),
        "fitted_on": "val single-label films (NLL, golden-section search on log T)",
        "ece_15_bins": {
            s: {
                "before": round(expected_calibration_error(probs_raw[s][one[s]], y[s][one[s]]), 4),
                "after": round(expected_calibration_error(probs[s][one[s]], y[s][one[s]]), 4),
            }
            for s in ("val", "test")
        },
    }
    return _Scored(y, probs, one, temperature, calibration)


def _reports(
    scored: _Scored, splits: dict[str, ImageCache], args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(test report with bootstrap CIs, val summary), each with its set-valued films' report."""
    probs, y, one = scored.probs, scored.y, scored.single
    test_records = [r for r, keep in zip(splits["test"].records, one["test"], strict=True) if keep]
    report = full_report(
        probs["test"][one["test"]], y["test"][one["test"]], test_records, n_boot=args.n_boot, seed=args.seed
    )
    sources = {s: [r.source for r in splits[s].records] for s in SPLITS}
    report["set_valued"] = set_valued_report(probs["test"], y["test"], sources["test"])
    val_report = summarize(probs["val"][one["val"]], y["val"][one["val"]])
    val_report["set_valued"] = set_valued_report(probs["val"], y["val"], sources["val"])
    return report, val_report


def _write_figures_and_predictions(
    run_dir: Path,
    history: list[dict[str, float]],
    report: dict[str, Any],
    scored: _Scored,
    splits: dict[str, ImageCache],
    gate: GateResult,
) -> None:
    probs, y, one = scored.probs["test"], scored.y["test"], scored.single["test"]
    plots.write_curves(history, run_dir / "curves.png")
    plots.write_confusion(np.asarray(report["confusion_matrix"]), LABELS, run_dir / "confusion_test.png")
    plots.write_roc(probs[one], y[one], LABELS, run_dir / "roc_test.png")
    write_predictions(
        run_dir / "test_predictions.csv", splits["test"].records, probs, gate.test_scores, gate.test_accept
    )


def _log_test(report: dict[str, Any], scored: _Scored, gate: GateResult) -> None:
    ece = scored.calibration["ece_15_bins"]["test"]
    logger.info(
        "test: accuracy %.4f macro AUC %.4f | sens %s | ECE %.4f→%.4f (T=%.3f) | gate accepts %.4f",
        report["accuracy"],
        report["macro_auc"],
        {k: v["sensitivity"] for k, v in report["per_class"].items()},
        ece["before"],
        ece["after"],
        scored.temperature,
        gate.metrics["test_acceptance"],
    )
    if "ood" in gate.metrics:
        logger.info("gate on OOD: %s", gate.metrics["ood"])


def write_predictions(
    path: Path, records: Sequence[Record], probs: np.ndarray, scores: np.ndarray, accepted: np.ndarray
) -> None:
    """test_predictions.csv. ``scores`` (N, M): the gate's global distance, then the layout distance when it
    has one."""
    scores = np.asarray(scores).reshape(len(records), -1)
    extra = ["gate_spatial_score"] if scores.shape[1] > 1 else []
    header = ["path", "label", "source", "patient_id", "predicted", *[f"p_{n}" for n in LABELS], "gate_score"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*header, *extra, "gate_accepted"])
        for r, p, s, a in zip(records, probs, scores, accepted, strict=True):
            w.writerow(
                [
                    r.path,
                    r.label,
                    r.source,
                    r.patient_id,
                    LABELS[int(p.argmax())],
                    *[f"{v:.4f}" for v in p],
                    *[f"{v:.3f}" for v in s],
                    int(a),
                ]
            )
