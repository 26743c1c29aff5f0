"""Where the classifier looks: the share of its Grad-CAM mass inside the lungs (the hand-drawn
masks widened by 3% of the width), per source, on the val and test films that have masks;
before and after the app clips the map to the lung segmenter's field. Also, on the shared
DICOMs and samples, the share of mass outside the segmenter's field before and after clipping.

    python -m training.lungs_attention --bundle resources/model --out runs/lungs/attention.json --write-card

Grad-CAM is the app's (``Classifier.gradcam_maps``: top class, at the 224 × 224 input), clipping
is the app's (``LungSegmenter.clip_heatmap``). ``--write-card`` puts the figures into the card's
``lung_segmenter.attention`` (the section must exist: run training.lungs_export first).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radiview.inference.classifier import Classifier
from radiview.inference.lungs import DILATE_FRACTION, _dilate, _stretch_mask, apply_lung_clip
from radiview.inference.preprocess import preprocess, to_input_batch
from radiview.io import load_radiograph
from training.args import get_args_parser as classifier_args
from training.data.load import load_data
from training.lungs_data import IGNORE, LUNG, read_mask
from training.lungs_export import write_card_section

logger = logging.getLogger("radiview.training")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Grad-CAM mass inside the lungs, per source", add_help=add_help)
    p.add_argument("--bundle", default="resources/model")
    p.add_argument("--data", default="../shared/data/cxr/manifest.csv")
    p.add_argument("--lungs", default="../shared/data/lungs")
    p.add_argument("--shared", default="../shared/data", help="samples/ and dicom/ are measured too")
    p.add_argument("--cache-dir", default="runs/.cache")
    p.add_argument("--out", default="runs/lungs/attention.json")
    p.add_argument("--write-card", action="store_true", help="put the figures in the card's lung_segmenter")
    p.add_argument("--threads", type=int, default=1)
    return p


def share_inside(heatmap: np.ndarray, field: np.ndarray) -> float:
    total = float(heatmap.sum(dtype=np.float64))
    return float((heatmap * field).sum(dtype=np.float64) / total) if total > 0 else 1.0


def summarise(shares: list[float]) -> dict[str, Any]:
    values = np.asarray(shares, dtype=np.float64)
    return {
        "films": int(values.size),
        "median_inside": round(float(np.median(values)), 4),
        "share_of_films_70pct_inside": round(float((values >= 0.7).mean()), 4),
    }


def masked_films(args: argparse.Namespace) -> list[tuple[str, str, str, np.ndarray]]:
    """(split, source, path, prepared uint8 film) of the classifier's val/test films with a mask."""
    masks = {}
    lungs = Path(args.lungs)
    with (lungs / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            masks[str(Path(args.data).parent / row["file"])] = str(lungs / row["mask"])
    data = load_data(
        classifier_args().parse_args(["--data", args.data, "--cache-dir", args.cache_dir]), _config(), False
    )
    out = []
    for split in ("val", "test"):
        part = data.splits[split]
        for record, image in zip(part.records, part.images, strict=True):
            if record.path in masks:
                out.append((split, record.source, masks[record.path], image))
    return out


def _config() -> Any:
    from radiview.inference.card import Preprocessing

    return Preprocessing()


def measure_masked(clf: Classifier, films: list[tuple[str, str, str, np.ndarray]]) -> dict[str, Any]:
    assert clf.lung_segmenter is not None
    shares: dict[str, list[float]] = defaultdict(list)
    for start in range(0, len(films), 32):
        chunk = films[start : start + 32]
        batch = to_input_batch([f[3].astype(np.float32) / 255.0 for f in chunk], clf.preprocess_config)
        maps = clf.gradcam_maps(batch)
        lungs = clf.lung_segmenter.probabilities(batch)
        for (split, source, mask_path, _), heat, prob in zip(chunk, maps, lungs, strict=True):
            mask = read_mask(mask_path, heat.shape)
            field = _dilate((mask == LUNG) | (mask == IGNORE), DILATE_FRACTION)
            clipped, _ = clf.lung_segmenter.clip_heatmap(heat, prob)
            for name in (split, "val+test"):
                shares[f"{name}/{source}/before"].append(share_inside(heat, field))
                shares[f"{name}/{source}/after"].append(share_inside(clipped, field))
    out: dict[str, Any] = {}
    for key, values in sorted(shares.items()):
        split, source, when = key.split("/")
        out.setdefault(split, {}).setdefault(source, {})[when] = summarise(values)
    return out


def measure_shared(clf: Classifier, shared: Path) -> dict[str, Any]:
    """Outside the segmenter's field, before and after clipping, on each shared DICOM and sample."""
    assert clf.lung_segmenter is not None
    rows: dict[str, dict[str, Any]] = {}
    paths = sorted((shared / "dicom").glob("*.dcm")) + sorted(
        p for p in (shared / "samples").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")
    )
    for path in paths:
        film = load_radiograph(path)
        batch = preprocess(film, clf.preprocess_config).unsqueeze(0)
        heat = clf.gradcam_maps(batch)[0]
        prob = clf.lung_segmenter.probabilities(batch)[0]
        field = clf.lung_segmenter.field_from_probability(prob, heat.shape)
        _, outside = apply_lung_clip(heat, prob >= 0.5, DILATE_FRACTION)
        clipped, clipped_outside = clf.lung_segmenter.clip_heatmap(heat, prob)
        widened = _stretch_mask(_dilate(prob >= 0.5, DILATE_FRACTION), heat.shape)
        outside_after = 1.0 - share_inside(clipped, widened)
        rows[path.name] = {
            "confident": field.confident,
            "outside_before": round(outside, 4),
            "outside_after": round(outside_after, 4),
            "outside_lung_share": None if clipped_outside is None else round(clipped_outside, 4),
        }
    before = [float(r["outside_before"]) for r in rows.values()]
    after = [float(r["outside_after"]) for r in rows.values()]
    return {
        "films": rows,
        "max_outside_before": round(max(before), 4),
        "median_outside_before": round(float(np.median(before)), 4),
        "max_outside_after": round(max(after), 4),
        "films_over_10pct_after": int(sum(a > 0.1 for a in after)),
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    clf = Classifier.from_bundle(args.bundle, device="cpu")
    if clf.lung_segmenter is None:
        raise SystemExit(f"{args.bundle}: no lung segmenter in the bundle (run training.lungs_export)")
    result: dict[str, Any] = {
        "model": clf.card.display_name,
        "method": "Grad-CAM of the top class at 224×224; inside = the hand-drawn lung mask (lung + devices "
        f"over it) widened by {DILATE_FRACTION:.0%} of the width; 'after' = clipped to the segmenter's field "
        "as the app does",
        "masked_films": measure_masked(clf, masked_films(args)),
        "shared_films": measure_shared(clf, Path(args.shared)),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.write_card:
        section = json.loads((Path(args.bundle) / "model_card.json").read_text(encoding="utf-8"))[
            "lung_segmenter"
        ]
        shared: dict[str, Any] = result["shared_films"]
        section["attention"] = {k: v for k, v in result.items() if k != "shared_films"} | {
            "shared_films": {k: v for k, v in shared.items() if k != "films"}
        }
        write_card_section(Path(args.bundle), section)
    logger.info("attention: %s", json.dumps(result["masked_films"], indent=1))
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    main(get_args_parser().parse_args())
