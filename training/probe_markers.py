"""``python -m training.probe_markers``: does burned-in text change the model's reading?

Takes the test films of a run (its ``splits.csv``), prepares them exactly as the app does, and predicts
each one clean and with marks pasted on it: a side marker ("L"/"R") in a corner, a word such as
"PORTABLE" along an edge, and an arrow — the same kinds of marks that ``training.burned_text`` pastes in
training, drawn with a separate fixed seed. A model that reads letters changes its top class; one that
reads the chest does not. Prints, per bundle, the share of films whose top class flips, the share that
flip to or from COVID-19, and the mean |Δp| of COVID-19.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence

import numpy as np
import torch

from radiview.inference import Classifier
from radiview.inference.preprocess import to_input_tensor
from training.burned_text import draw_markers, paste
from training.data.dataset import prepare_films


def marked_copies(images_u8: np.ndarray, seed: int) -> np.ndarray:
    """Each film with one random layer of marks (bright), float32 [0, 1]."""
    rng = np.random.default_rng((seed, 0x7E57))
    out = images_u8.astype(np.float32) / 255.0
    for i in range(len(out)):
        h, w = out[i].shape
        out[i] = paste(out[i], draw_markers(rng, h, w, max_items=3), rng.uniform(0.85, 1.0))
    return np.clip(out, 0.0, 1.0)


def probs_of(clf: Classifier, images: np.ndarray, batch: int = 64) -> np.ndarray:
    config = clf.card.preprocessing
    rows = []
    for s in range(0, len(images), batch):
        x = torch.stack([to_input_tensor(im, config) for im in images[s : s + batch]])
        rows += [p.probabilities for p in clf.predict_tensors(x, [None] * len(x))]
    return np.asarray(rows, dtype=np.float64)


def state_probs(state_path: str, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """Softmax of a bare network state (a run's best.pt; no gate, T = 1: flips do not depend on T)."""
    from radiview.inference.network import build_network
    from radiview.inference.preprocess import PreprocessConfig
    from training.model import architecture_of

    net = build_network(architecture_of())
    net.load_state_dict(torch.load(state_path, map_location="cpu", weights_only=True))
    net.eval()
    config = PreprocessConfig()
    rows = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = torch.stack([to_input_tensor(im, config) for im in images[s : s + batch]])
            rows.append(torch.softmax(net(x).double(), dim=1).numpy())
    return np.concatenate(rows)


def probe(model: str, clean_u8: np.ndarray, marked: np.ndarray) -> dict[str, float]:
    """``model``: a bundle directory, or a ``.pt`` network state."""
    clean = clean_u8.astype(np.float32) / 255.0
    if model.endswith(".pt"):
        covid = 3
        before, after = state_probs(model, clean), state_probs(model, marked)
    else:
        clf = Classifier.from_bundle(model, device="cpu")
        covid = list(clf.card.labels).index("covid19")
        before, after = probs_of(clf, clean), probs_of(clf, marked)
    top_b, top_a = before.argmax(1), after.argmax(1)
    return {
        "films": len(before),
        "top_class_flipped": round(float((top_b != top_a).mean()), 4),
        "flipped_to_covid19": round(float(((top_a == covid) & (top_b != covid)).mean()), 4),
        "flipped_from_covid19": round(float(((top_b == covid) & (top_a != covid)).mean()), 4),
        "mean_abs_delta_p_covid19": round(float(np.abs(after[:, covid] - before[:, covid]).mean()), 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--splits", required=True, help="a run's splits.csv (its test rows are probed)")
    p.add_argument("--model", action="append", required=True, help="bundle directory or .pt state")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    with open(args.splits, newline="", encoding="utf-8") as fh:
        paths = [row["path"] for row in csv.DictReader(fh) if row["split"] == "test"]
    from radiview.inference.preprocess import PreprocessConfig

    images, ok, _ = prepare_films(paths, PreprocessConfig(), workers=args.workers)
    images = images[ok]
    marked = marked_copies(images, args.seed)
    results = {m: probe(m, images, marked) for m in args.model}
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
