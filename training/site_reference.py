"""What site adaptation checks against, stored inside the base bundle (``resources/model/``):

* ``ood_features.npz``: the pooled (576-d) and layout-cell (576×rows×cols) features, input std and kind
  of the training data's out-of-distribution films (``--ood``: CT, lateral, other), float16; a site's
  refitted gate must still refuse them;
* the card's ``site_reference`` entry: the bank's file, SHA-256 and counts, and a quantile table of
  the base gate's distances on the val split (the site report's "how far from the training data").

    python -m training.site_reference --data ../shared/data/cxr/manifest.csv \
        --ood ../shared/data/ood/manifest.csv --bundle resources/model
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from radiview.atomic import atomic_write
from radiview.inference.bundle import CARD_FILE, sha256_file
from radiview.inference.classifier import Classifier
from radiview.inference.preprocess import prepare_image, to_input_batch
from radiview.io import load_radiograph
from training.data.sources import read_manifest
from training.data.splits import split_by_patient
from training.gate import read_ood_manifest

BANK_FILE = "ood_features.npz"
QUANTILES = np.linspace(0.0, 1.0, 101)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Store the site-adaptation reference in a bundle")
    parser.add_argument("--data", required=True, help="the training manifest (for the val split)")
    parser.add_argument("--ood", required=True, help="the OOD manifest (file,kind,...)")
    parser.add_argument("--bundle", default="resources/model", help="the base bundle to add to")
    parser.add_argument("--seed", type=int, default=0, help="the card's split seed")
    parser.add_argument("--batch-size", type=int, default=32)
    return parser


def extract(clf: Classifier, paths: list[str], batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled features, layout cells and input std of ``paths`` (one decode, one forward each)."""
    feats, cells = [], []
    stds: list[float] = []
    for start in range(0, len(paths), batch_size):
        images = [
            prepare_image(load_radiograph(p), clf.preprocess_config)
            for p in paths[start : start + batch_size]
        ]
        _, f, c = clf.forward_outputs(to_input_batch(images, clf.preprocess_config))
        assert c is not None
        feats.append(f.numpy())
        cells.append(c.numpy())
        stds.extend(float(np.std(im)) for im in images)
    return np.concatenate(feats), np.concatenate(cells), np.asarray(stds)


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(2)
    bundle = Path(args.bundle)
    clf = Classifier.from_bundle(bundle, device="cpu")
    items = read_ood_manifest(args.ood)
    ood_f, ood_c, ood_std = extract(clf, [p for p, _ in items], args.batch_size)
    bank = bundle / BANK_FILE
    with atomic_write(bank) as fh:
        np.savez_compressed(
            fh,
            features=ood_f.astype(np.float16),
            cells=ood_c.astype(np.float16),
            input_std=ood_std.astype(np.float16),
            kinds=np.asarray([k for _, k in items]),
        )
    records = read_manifest(args.data)
    val = [records[i].path for i in split_by_patient(records, seed=args.seed)["val"]]
    val_f, val_c, _ = extract(clf, val, args.batch_size)
    scores = clf.gate_fit().scores(val_f, val_c)
    card_path = bundle / CARD_FILE
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["site_reference"] = {
        "ood_feature_bank": {
            "file": BANK_FILE,
            "sha256": sha256_file(bank),
            "n": len(items),
            "kinds": {k: sum(1 for _, kk in items if kk == k) for k in sorted({k for _, k in items})},
            "what": "pooled features.12 (576-d) and its 2×2 cells of the training data's OOD films "
            "(CT, lateral, other), float16; a site's refitted gate must still refuse them",
        },
        "val_gate_distance_quantiles": {
            "n": len(val),
            "split": f"val (split_by_patient, seed {args.seed}, recomputed from {Path(args.data).name} "
            "before near-duplicate removal)",
            "quantiles": [round(float(q), 2) for q in QUANTILES],
            "global": [round(float(v), 3) for v in np.quantile(scores[:, 0], QUANTILES)],
            "spatial": [round(float(v), 3) for v in np.quantile(scores[:, 1], QUANTILES)],
        },
    }
    with atomic_write(card_path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
