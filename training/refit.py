"""Refit only the input gate of an existing bundle (``python -m training refit BUNDLE``, also spelt
``--refit-gate-from BUNDLE``).

The network is not retrained: its weights are copied bit for bit (float16 in, float16 out), so the card's
classifier metrics stay valid. The same films and splits as the bundle's training run are rebuilt from
``--data`` and compared with the card's ``training_data`` (counts per split, source and label); any
difference stops the refit. The gate is then fitted on TRAIN as in a full run (``fit_and_evaluate_gate``),
thresholds on VAL, acceptance on TEST and refusal on ``--ood`` (evaluation only), and the bundle is written
to ``--export`` with the new version and gate, then reloaded and checked through the app's loader.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from radiview.inference.bundle import GATE_PREFIX, ModelCard, load_bundle, write_bundle
from radiview.inference.classifier import build_bundle_network
from radiview.inference.preprocess import PreprocessConfig
from training.calibrate import SPATIAL_GRID
from training.card_text import LIMITATIONS
from training.data.load import LoadedData, load_data
from training.data.splits import SPLITS
from training.export import verify_bundle
from training.gate import GateResult, fit_and_evaluate_gate, gate_card_entry, gate_limitation
from training.model import extract_gate_inputs
from training.run import git_commit, write_json

logger = logging.getLogger("radiview.training")


def refit_gate(args: argparse.Namespace, command: str, progress: bool = False) -> dict[str, Any]:
    """Refit the gate of ``args.refit_gate_from``; returns the run's metrics (also metrics.json)."""
    source = Path(args.refit_gate_from)
    card, state = load_bundle(source)
    net, _, _ = build_bundle_network(card, state, source / card.weights_file)
    config = PreprocessConfig.from_dict(card.preprocessing)
    data = load_data(args, config, progress)
    _check_same_data(data, card)
    splits = data.splits
    y = {s: splits[s].labels() for s in SPLITS}
    feats, cells = {}, {}
    for s in SPLITS:
        feats[s], cells[s] = extract_gate_inputs(
            net, splits[s].images, config, SPATIAL_GRID, progress=progress, desc=f"{s} gate"
        )
        logger.info("gate inputs %s: %d films", s, len(feats[s]))
    gate = fit_and_evaluate_gate(
        net, feats, cells if args.gate_layout else None, y, splits, args, config, "cpu"
    )
    logger.info("refitted gate: %s", {k: v for k, v in gate.metrics.items() if k != "ood"})
    if "ood" in gate.metrics:
        logger.info("gate on OOD: %s", gate.metrics["ood"])
    metrics = {"refit_gate_from": str(source), "from_version": card.version, "gate": gate.metrics}
    write_json(Path(args.output_dir) / "metrics.json", metrics)
    if not args.export:
        return metrics
    new_card = write_bundle(
        args.export, _refit_fields(card, gate, args, command), _refit_state(card, state, gate), half=False
    )
    check = verify_bundle(
        args.export, net, gate.fit, new_card.temperature, splits["test"].images[:16], config
    )
    logger.info("exported %s to %s; reload check: %s", new_card.display_name, args.export, check)
    return metrics


def _check_same_data(data: LoadedData, card: ModelCard) -> None:
    """Stop unless ``--data`` etc. rebuilt the bundle's own films and splits."""
    if data.summary["counts"] != card.training_data.get("counts"):
        raise SystemExit(
            f"the films/splits from --data differ from the bundle's training data "
            f"({data.summary['totals']} vs {card.training_data.get('totals')}): same --data, "
            "--sources, --split, --seed and dedup options as the bundle's recipe are needed"
        )


def _refit_fields(
    card: ModelCard, gate: GateResult, args: argparse.Namespace, command: str
) -> dict[str, Any]:
    """The earlier card with a new version, gate, gate metrics and limitation line; the refit recorded."""
    entry = gate_card_entry(gate, args)
    fields = card.to_dict()
    for key in ("format_version", "weights_file", "weights_sha256"):
        fields.pop(key)
    fields["version"] = args.model_version
    fields["gate"] = entry
    fields["metrics"] = {**card.metrics, "gate": gate.metrics}
    fields["limitations"] = [*LIMITATIONS, gate_limitation(entry)]
    fields["recipe"] = {
        **card.recipe,
        "gate_refit": {
            "command": command,
            "commit": git_commit(),
            "from_version": card.version,
            "network": "unchanged (weights copied from the earlier bundle; classifier metrics carried over)",
        },
    }
    fields["created"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    return fields


def _refit_state(
    card: ModelCard, state: dict[str, torch.Tensor], gate: GateResult
) -> dict[str, torch.Tensor]:
    """Network tensors as stored (float16 values, loaded as float32: halving them again is exact) plus the
    new gate's tensors."""
    half = card.recipe.get("storage", "float16") == "float16"
    new_state = {
        k: (v.half() if half and v.is_floating_point() else v)
        for k, v in state.items()
        if not k.startswith(GATE_PREFIX)
    }
    for name, value in gate.fit.tensors().items():
        new_state[GATE_PREFIX + name] = torch.as_tensor(value, dtype=torch.float32)
    return new_state
