"""Leave-one-source-out: train without a source, then measure the model on it.

A hospital the model never saw is the normal case for a user, and a patient-disjoint test split of the
training sources cannot show how the model does there. ``--holdout-source NAME`` removes the source's
films, and every other film of the same patients (a patient can appear in two sources), before the
split; after training the held-out films are scored with the calibrated network and the fitted gate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from radiview.inference.network import RadiviewNet
from radiview.inference.preprocess import PreprocessConfig
from training.calibrate import GateFit, softmax
from training.data.dataset import ImageCache
from training.data.sources import LABELS
from training.evaluate import summarize
from training.model import extract_gate_inputs
from training.targets import hits, is_single, set_valued_report


def parse_holdout(spec: str) -> set[str]:
    return {name.strip() for name in spec.split(",") if name.strip()}


def split_off_holdout(cache: ImageCache, spec: str) -> tuple[ImageCache, ImageCache | None]:
    """(films to train/val/test on, held-out films of the named sources or None)."""
    names = parse_holdout(spec)
    if not names:
        return cache, None
    present = {r.source for r in cache.records}
    if names - present:
        raise SystemExit(
            f"--holdout-source {sorted(names - present)} not among the sources {sorted(present)}"
        )
    held_patients = {r.patient_id for r in cache.records if r.source in names}
    keep = [i for i, r in enumerate(cache.records) if r.patient_id not in held_patients]
    held = [i for i, r in enumerate(cache.records) if r.source in names]
    return cache.subset(keep), cache.subset(held)


def evaluate_holdout(
    net: RadiviewNet,
    held: ImageCache,
    temperature: float,
    gate: GateFit,
    thresholds: np.ndarray,
    min_std: float,
    config: PreprocessConfig,
    device: str,
) -> dict[str, Any]:
    """Calibrated 4-class metrics, set-valued shares and gate acceptance on the held-out films."""
    feats, cells = extract_gate_inputs(net, held.images, config, gate.spatial_grid or (1, 1), device=device)
    with torch.no_grad():
        logits = net.head(torch.from_numpy(feats).to(device)).float().cpu().numpy()
    probs = softmax(logits, temperature)
    y = held.labels()
    scores = gate.scores(feats, cells if gate.has_spatial else None)
    std_ok = held.images.reshape(len(held.images), -1).std(axis=1) / 255.0 >= min_std
    accepted = (scores <= thresholds).all(axis=1) & std_ok
    pred = probs.argmax(1)
    single = is_single(y)
    covid = LABELS.index("covid19")
    out: dict[str, Any] = {
        "sources": sorted({r.source for r in held.records}),
        "n": len(y),
        "patients": len({r.patient_id for r in held.records}),
        "gate_acceptance": round(float(accepted.mean()), 4) if len(y) else None,
        "hit_rate": round(float(hits(pred, y).mean()), 4) if len(y) else None,
    }
    if single.any():
        report = summarize(probs[single], y[single])
        out["single_label"] = {
            "n": report["n"],
            "accuracy": report["accuracy"],
            "macro_auc": report["macro_auc"],
            "sensitivity": {k: v["sensitivity"] for k, v in report["per_class"].items() if v["n"]},
        }
        non_covid = single & (y != covid)
        if non_covid.any():
            out["non_covid_called_covid19"] = round(float((pred[non_covid] == covid).mean()), 4)
        if (y == covid).any():
            out["covid19_sensitivity"] = round(float((pred[y == covid] == covid).mean()), 4)
            out["covid19_sensitivity_gate_accepted"] = (
                round(float((pred[(y == covid) & accepted] == covid).mean()), 4)
                if ((y == covid) & accepted).any()
                else None
            )
    out.update(set_valued_report(probs, y, [r.source for r in held.records]))
    return out
