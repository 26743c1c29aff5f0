"""Write the app's model bundle (one bundle, replaced in place) and prove it reloads to the same model.

After ``write_bundle`` the bundle is loaded back through ``radiview.inference.Classifier.from_bundle`` —
the app's own loader, hash check included — and its logits, calibrated probabilities and gate scores on
test films are compared with the in-memory model (float16 storage tolerance).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radiview import RESEARCH_NOTICE
from radiview.inference.bundle import GATE_PREFIX, ModelCard, write_bundle
from radiview.inference.flags import DEFAULT_POLICY
from radiview.inference.gate import spatial_cells
from radiview.inference.network import RadiviewNet
from radiview.inference.preprocess import PreprocessConfig, to_input_tensor
from training.calibrate import GateFit
from training.data.dataset import ImageCache
from training.data.sources import LABELS

logger = logging.getLogger("radiview.training")

MODEL_NAME = "radiview-mobilenetv3-small"

#: The card's prose lives in a data file beside this module, not in code.
CARD_TEXT: dict[str, Any] = json.loads(Path(__file__).with_name("card_text.json").read_text(encoding="utf-8"))
INTENDED_USE: str = CARD_TEXT["intended_use"].format(research_notice=RESEARCH_NOTICE)
LIMITATIONS: tuple[str, ...] = tuple(CARD_TEXT["limitations"])


def gate_limitation(gate_entry: dict[str, Any]) -> str:
    """The card's limitation line about the input gate, with the measured OOD refusal per kind."""
    by_kind = gate_entry.get("ood_refusal_by_kind") or {}
    measured = ", ".join(f"{k} {v:.0%}" for k, v in sorted(by_kind.items()) if v is not None)
    what = CARD_TEXT["gate_what"]["with_layout" if gate_entry.get("spatial") else "features_only"]
    return str(CARD_TEXT["gate_limitation"]).format(what=what, measured=measured or "n/a")


def gate_card_entry(
    gate_params: dict[str, Any], gate_metrics: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """card["gate"]: the app's thresholds and checks (radiview.inference.gate) plus their measured figures."""
    fit = gate_params["gate"]
    thresholds = gate_params["thresholds"]
    ood = gate_metrics.get("ood", {})
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
        rows, cols = fit.spatial_grid
        channels = int(fit.spatial_projection.shape[1])
        entry["per_check_acceptance"] = round(float(gate_params["per_check_acceptance"][0]), 4)
        entry["fitted_on"] = (
            "train split (clean pass); thresholds from val: each check accepts the same "
            "share of val films, chosen so that acceptance_rate of val films pass both"
        )
        entry["spatial"] = {
            "method": "mahalanobis",
            "grid": [rows, cols],
            "channels": channels,
            "threshold": float(thresholds[1]),
            "features": f"features.12 map average-pooled to {rows}×{cols} cells; each cell's 576 channels "
            f"projected on the top {channels} principal axes of the train cells "
            "(gate.spatial_projection); cells concatenated row-major "
            f"({rows * cols * channels}-d); min over classes, shared Ledoit-Wolf covariance",
        }
    entry.update(
        {
            "ood_refusal_rate": ood.get("refusal_rate"),
            "ood_refusal_by_kind": {k: v["refusal_rate"] for k, v in ood.get("by_kind", {}).items()},
            "test_acceptance": gate_metrics["test_acceptance"],
            "test_acceptance_by_source": gate_metrics["test_acceptance_by_source"],
        }
    )
    return entry


def card_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready subset of a run's metrics that goes into the card (no per-epoch history, no curves)."""
    test = metrics["test"]
    return {
        "split": "test (patient-disjoint, never used for any choice)",
        "n": test["n"],
        "accuracy": test["accuracy"],
        "macro_auc": test["macro_auc"],
        "per_class": test["per_class"],
        "confusion_matrix": {"rows_true_cols_predicted": list(LABELS), "matrix": test["confusion_matrix"]},
        "ci95": test["ci95"],
        "by_source": {k: _short(v) for k, v in test["by_source"].items()},
        "by_age_group": {k: _short(v) for k, v in test["by_age_group"].items()},
        "shortcut": test["shortcut"],
        "calibration": metrics["calibration"],
        "gate": metrics["gate"],
        "val": {"accuracy": metrics["val"]["accuracy"], "macro_auc": metrics["val"]["macro_auc"]},
        "set_valued": test.get("set_valued", {}),
        "kermany_3class_accuracy": test.get("kermany_3class_accuracy"),
        "leave_one_source_out": metrics.get("leave_one_source_out", {}),
    }


def _recipe_of(run_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """The training options of a run (its args.json) that decide what network it trained."""
    keys = ("mode", "epochs", "batch_size", "lr", "backbone_lr_factor", "lr_schedule", "weight_decay",
            "bn_train", "augment", "burned_text", "select_metric", "seed")
    args_file = run_dir / "args.json"
    args = json.loads(args_file.read_text(encoding="utf-8")) if args_file.is_file() else {}
    return {**{k: args.get(k) for k in keys}, "best_epoch": metrics.get("best_epoch")}


def leave_one_source_out(paths: list[str]) -> dict[str, Any]:
    """card.metrics.leave_one_source_out from the metrics.json of ``--holdout-source`` runs: per held-out
    source its calibrated metrics and gate acceptance, plus that run's own test split figures."""
    runs: dict[str, Any] = {}
    for path in paths:
        m = json.loads(Path(path).read_text(encoding="utf-8"))
        held = m.get("holdout")
        if not held:
            raise SystemExit(f"{path}: not a --holdout-source run (no 'holdout' entry)")
        runs["+".join(held["sources"])] = {
            **held,
            "test_split": {
                "accuracy": m["test"]["accuracy"],
                "macro_auc": m["test"]["macro_auc"],
                "covid19_sensitivity": m["test"]["per_class"]["covid19"]["sensitivity"],
            },
            "recipe": _recipe_of(Path(path).parent, m),
        }
    return runs


def _short(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "n": report["n"],
        "accuracy": report["accuracy"],
        "macro_auc": report["macro_auc"],
        "sensitivity": {k: v["sensitivity"] for k, v in report["per_class"].items() if v["n"]},
    }


def bundle_state(
    net: RadiviewNet, gate_tensors: dict[str, np.ndarray], half: bool = True
) -> dict[str, torch.Tensor]:
    """Network weights (float16 when ``half``: ~5 MB) plus the gate's tensors (``GateFit.tensors()``),
    always float32: the precision matrices' entries span too many decades for float16 (overflow to inf)."""
    state = {
        k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
        for k, v in net.state_dict().items()
    }
    for name, value in gate_tensors.items():
        state[GATE_PREFIX + name] = torch.as_tensor(np.asarray(value), dtype=torch.float32)
    return state


def export_bundle(
    out_dir: str | Path,
    net: RadiviewNet,
    metrics: dict[str, Any],
    data_summary: dict[str, Any],
    config: PreprocessConfig,
    architecture: dict[str, Any],
    args: argparse.Namespace,
    command: str,
    splits: dict[str, ImageCache] | None = None,
    half: bool = True,
) -> ModelCard:
    """Write ``model.pt`` + ``model_card.json`` into ``out_dir`` (replacing what is there), then verify."""
    from training.train import git_commit

    gate = metrics["_gate_params"]
    gate_entry = gate_card_entry(gate, metrics["gate"], args)
    fields = {
        "name": MODEL_NAME,
        "version": args.model_version,
        "architecture": architecture,
        "labels": list(LABELS),
        "preprocessing": config.to_dict(),
        "temperature": metrics["calibration"]["temperature"],
        "thresholds": metrics["thresholds"],
        "gate": gate_entry,
        "gradcam_target_layer": "features.12",
        "metrics": card_metrics(metrics),
        "training_data": data_summary,
        "recipe": {
            "command": command,
            "commit": git_commit(),
            "seed": args.seed,
            "mode": args.mode,
            "epochs": metrics["epochs"],
            "best_epoch": metrics["best_epoch"],
            "select_metric": args.select_metric,
            "augment": args.augment,
            "feature_passes": args.feature_passes if args.mode == "frozen" else None,
            "optimizer": f"Adam lr {args.lr} batch {args.batch_size} weight_decay {args.weight_decay}",
            "label_smoothing": args.label_smoothing,
            "oversample": args.oversample,
            "backbone_weights": Path(args.backbone_weights).name if args.backbone_weights else "none",
            "backbone_weights_attribution": "MobileNetV3 ImageNet checkpoint © Google, Apache-2.0",
            "storage": "float16" if half else "float32",
            "init_from": Path(args.init_from).name if getattr(args, "init_from", "") else None,
            "trained_by": getattr(args, "trained_by", "") or None,
        },
        "intended_use": INTENDED_USE,
        "limitations": [*LIMITATIONS, gate_limitation(gate_entry)],
        "changelog": CARD_TEXT.get("changelog", []),
        "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
        # Context warnings the app shows beside a reading; lift one (e.g. "adult") only when
        # this run's own validation answers it.
        "reading_flags": {k: list(v) if isinstance(v, tuple) else v for k, v in DEFAULT_POLICY.items()},
    }
    state = bundle_state(net, gate["gate"].tensors(), half=half)
    card = write_bundle(out_dir, fields, state, half=False)  # halving done above, gate excepted
    if splits is not None and len(splits["test"].images):
        check = verify_bundle(
            out_dir, net, gate["gate"], card.temperature, splits["test"].images[:16], config
        )
        logger.info("bundle reload check: %s", check)
    return card


def verify_bundle(
    out_dir: str | Path,
    net: RadiviewNet,
    gate: GateFit,
    temperature: float,
    images_u8: np.ndarray,
    config: PreprocessConfig,
    logit_atol: float = 0.15,
    prob_atol: float = 0.01,
) -> dict[str, float]:
    """Reload through the app's ``Classifier.from_bundle`` and compare with the in-memory model.

    Raises AssertionError when logits, calibrated probabilities or the gate's verdicts disagree beyond
    float16 storage error.
    """
    from radiview.inference import Classifier

    clf = Classifier.from_bundle(out_dir, device="cpu")
    batch = torch.stack([to_input_tensor(img.astype(np.float32) / 255.0, config) for img in images_u8])
    # the reference is a CPU float32 copy: the trained network may live on a GPU or in another dtype
    # (a CPU batch fed to the CUDA network crashed the first CUDA export), and the caller keeps its own
    ref = copy.deepcopy(net).to(device="cpu", dtype=torch.float32).eval()
    with torch.no_grad():
        fmap = ref.features(batch)
        feats = torch.flatten(ref.pool(fmap), 1)
        ref_logits = ref.head(feats)
        new_logits = clf.network(batch)
        new_fmap = clf.network.features(batch)
    ref_probs = torch.softmax(ref_logits.double() / temperature, dim=1).numpy()
    preds = clf.predict_tensors(batch, [None] * len(batch))
    new_probs = np.asarray([p.probabilities for p in preds])
    ref_scores = gate.score(feats.numpy())
    new_scores = np.asarray([p.gate.score for p in preds])
    if gate.has_spatial:
        assert gate.spatial_grid is not None and clf._spatial_gate is not None
        ref_cells = spatial_cells(fmap, gate.spatial_grid).numpy()
        ref_scores = np.concatenate([ref_scores, gate.spatial_score(ref_cells)])
        new_scores = np.concatenate([new_scores, clf._spatial_gate.scores(clf._spatial_gate.cells(new_fmap))])
    out = {
        "max_logit_diff": float((ref_logits - new_logits).abs().max()),
        "max_prob_diff": float(np.abs(ref_probs - new_probs).max()),
        "max_gate_score_rel_diff": float(
            np.max(np.abs(ref_scores - new_scores) / np.maximum(ref_scores, 1e-6))
        ),
        "top_label_agreement": float((ref_probs.argmax(1) == new_probs.argmax(1)).mean()),
    }
    if out["max_logit_diff"] > logit_atol or out["max_prob_diff"] > prob_atol:
        raise AssertionError(f"reloaded bundle disagrees with the trained model: {out}")
    if out["max_gate_score_rel_diff"] > 0.02:
        raise AssertionError(f"reloaded gate scores disagree with the fitted gate: {out}")
    return out
