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
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from radiview.inference.bundle import GATE_PREFIX, ModelCard, write_bundle
from radiview.inference.flags import DEFAULT_POLICY
from radiview.inference.gate import spatial_cells
from radiview.inference.network import RadiviewNet
from radiview.inference.preprocess import PreprocessConfig, to_input_tensor
from training.calibrate import GateFit
from training.card_text import CARD_TEXT, INTENDED_USE, LIMITATIONS
from training.data.dataset import ImageCache
from training.data.sources import LABELS
from training.gate import gate_card_entry, gate_limitation
from training.run import git_commit

if TYPE_CHECKING:
    from training.finish import FinishResult

logger = logging.getLogger("radiview.training")

MODEL_NAME = "radiview-mobilenetv3-small"


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
    keys = (
        "mode",
        "epochs",
        "batch_size",
        "lr",
        "backbone_lr_factor",
        "lr_schedule",
        "weight_decay",
        "bn_train",
        "augment",
        "burned_text",
        "select_metric",
        "seed",
    )
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
    result: FinishResult,
    data_summary: dict[str, Any],
    config: PreprocessConfig,
    architecture: dict[str, Any],
    args: argparse.Namespace,
    command: str,
    splits: dict[str, ImageCache] | None = None,
    half: bool = True,
) -> ModelCard:
    """Write ``model.pt`` + ``model_card.json`` into ``out_dir`` (replacing what is there), then verify."""
    metrics, gate = result.metrics, result.gate
    gate_entry = gate_card_entry(gate, args)
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
        "recipe": _recipe(args, metrics, command, half),
        "intended_use": INTENDED_USE,
        "limitations": [*LIMITATIONS, gate_limitation(gate_entry)],
        "changelog": CARD_TEXT.get("changelog", []),
        "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
        # Context warnings the app shows beside a reading; lift one (e.g. "adult") only when
        # this run's own validation answers it.
        "reading_flags": {k: list(v) if isinstance(v, tuple) else v for k, v in DEFAULT_POLICY.items()},
    }
    state = bundle_state(net, gate.fit.tensors(), half=half)
    card = write_bundle(out_dir, fields, state, half=False)  # halving done above, gate excepted
    if splits is not None and len(splits["test"].images):
        check = verify_bundle(out_dir, net, gate.fit, card.temperature, splits["test"].images[:16], config)
        logger.info("bundle reload check: %s", check)
    return card


def _recipe(args: argparse.Namespace, metrics: dict[str, Any], command: str, half: bool) -> dict[str, Any]:
    """card["recipe"]: how the network was made (command, commit, seed and the training options)."""
    return {
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
    }


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
        layout = clf.spatial_gate
        assert gate.spatial_grid is not None and layout is not None
        ref_cells = spatial_cells(fmap, gate.spatial_grid).numpy()
        ref_scores = np.concatenate([ref_scores, gate.spatial_score(ref_cells)])
        new_scores = np.concatenate([new_scores, layout.scores(layout.cells(new_fmap))])
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
