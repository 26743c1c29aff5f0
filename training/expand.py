"""``python -m training expand N`` (``--expand N``): the paper's offline expansion of the train split."""

from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from training.augment import build_augment
from training.data.dataset import ImageCache
from training.data.sources import LABELS

logger = logging.getLogger("radiview.training")


def write_expanded(out_dir: Path, splits: dict[str, ImageCache], args: argparse.Namespace) -> None:
    """The paper's offline expansion: augmented PNG copies of train films until each class has
    ``--expand`` films (originals first), val/test copied un-augmented; manifest.csv keeps patient ids
    and a split column (which ``load_data`` then honours)."""
    augment = build_augment(args.augment if args.augment != "none" else "paper")
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(args.seed)
    for split, cache in splits.items():
        labels = cache.labels()
        for k, name in enumerate(LABELS):
            idx = np.flatnonzero(labels == k)
            if not len(idx):
                continue
            order = list(idx)
            if split == "train" and args.expand > len(idx):
                order += list(rng.choice(idx, size=args.expand - len(idx), replace=True))
            for n, i in enumerate(order):
                augmented = n >= len(idx)  # an extra copy
                image = (
                    _film_copy(cache.images[i], augment, (args.seed, n, int(i)))
                    if augmented
                    else cache.images[i]
                )
                r = cache.records[i]
                rel = Path(split) / name / f"{Path(r.path).stem}-{n:05d}.png"
                (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image, mode="L").save(out_dir / rel)
                rows.append(
                    {
                        "file": rel.as_posix(),
                        "label": name,
                        "source": r.source,
                        "patient_id": r.patient_id,
                        "split": split,
                        "original": r.path,
                        "augmented": int(augmented),
                    }
                )
    with (out_dir / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    logger.info("wrote %d films (%s) to %s", len(rows), "augmented train copies included", out_dir)


def _film_copy(image: np.ndarray, augment: Any, seed: tuple[int, int, int]) -> np.ndarray:
    """An augmented uint8 copy of one film, seeded per (run seed, copy number, film)."""
    out = augment(image.astype(np.float32) / 255.0, np.random.default_rng(seed))
    return np.asarray(np.rint(out * 255).astype(np.uint8))
