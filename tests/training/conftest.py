"""Generated films for the training tests: small PNGs with class-dependent content and a manifest."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")


#: Arguments that make a training run tiny: random backbone, 64-px films, a small head, no caches.
TINY = [
    "--backbone-weights",
    "none",
    "--input-size",
    "64",
    "--hidden",
    "32",
    "--batch-size",
    "8",
    "--cache-dir",
    "",
    "--n-boot",
    "20",
    "--threads",
    "1",
    "--no-progress",
]


def make_film(rng: np.random.Generator, label_index: int, size: int = 64) -> np.ndarray:
    """A chest-like gradient with a class-specific bright blob, plus noise (uint8)."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = 0.3 + 0.4 * np.exp(-((xx - 0.5) ** 2) / 0.08)
    cy, cx = [(0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7)][label_index]
    blob = 0.5 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.01)
    # a smooth random field makes every film distinct (the near-duplicate check must keep them all)
    field = np.asarray(
        Image.fromarray(rng.random((5, 5)).astype(np.float32), mode="F").resize(
            (size, size), Image.Resampling.BICUBIC
        )
    )
    img = base + blob + 0.35 * field + rng.normal(0, 0.03, size=(size, size))
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def write_films(root: Path, n_per_class: int = 10, seed: int = 0, films_per_patient: int = 2) -> Path:
    """``root/<source>/<label>/*.png`` and ``root/manifest.csv`` (two sources, patients with 1-2 films)."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, label in enumerate(LABELS):
        for i in range(n_per_class):
            source = "alpha" if i % 2 == 0 else "beta"
            patient = f"{source}:{label}-{i // films_per_patient}"
            rel = Path(source) / label / f"{label}-{i:03d}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(make_film(rng, k)).save(root / rel)
            rows.append({"file": rel.as_posix(), "label": label, "source": source, "patient_id": patient})
    with (root / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root / "manifest.csv"


@pytest.fixture(scope="session")
def synthetic_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_films(tmp_path_factory.mktemp("films"))
