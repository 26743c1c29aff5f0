"""Lung-mask films for the segmenter: read ``shared/data/lungs/manifest.csv``, join the patient ids
of ``cxr/manifest.csv``, decode every film through THE app preprocessing (224×224, [0, 1]) and its
mask (nearest-neighbour) once, keep both as uint8 arrays (cached on disk), split by patient.

Mask values: 255 lung, 127 "ignore" (devices or markup over the lungs), 0 background. The cache
keeps them as 2 / 1 / 0 so a loss can skip the ignored pixels.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from radiview.inference.preprocess import PreprocessConfig, prepare_image
from radiview.io import load_radiograph

logger = logging.getLogger("radiview.training")

LUNG, IGNORE, BACKGROUND = 2, 1, 0


@dataclass(frozen=True)
class LungRecord:
    film: str  # absolute path of the film
    mask: str  # absolute path of the mask PNG
    source: str
    label: str
    patient_id: str


@dataclass
class LungCache:
    """Films (N, H, W) uint8 as prepared for the model, and masks (N, H, W) uint8 in {0, 1, 2}."""

    records: list[LungRecord]
    images: np.ndarray
    masks: np.ndarray

    def subset(self, idx: Sequence[int]) -> LungCache:
        index = np.asarray(idx, dtype=np.int64)
        return LungCache([self.records[i] for i in index], self.images[index], self.masks[index])

    def sources(self) -> np.ndarray:
        return np.asarray([r.source for r in self.records])


def read_lung_records(lungs_dir: str | Path, cxr_dir: str | Path) -> list[LungRecord]:
    """The lung manifest's films with the patient id of ``cxr/manifest.csv`` (every film must match)."""
    lungs_dir, cxr_dir = Path(lungs_dir), Path(cxr_dir)
    with (cxr_dir / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        patients = {row["file"]: row["patient_id"] for row in csv.DictReader(fh)}
    records = []
    with (lungs_dir / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["file"] not in patients:
                raise ValueError(
                    f"{lungs_dir / 'manifest.csv'}: {row['file']} is not in {cxr_dir}/manifest.csv"
                )
            records.append(
                LungRecord(
                    film=str(cxr_dir / row["file"]),
                    mask=str(lungs_dir / row["mask"]),
                    source=row["source"],
                    label=row["label"],
                    patient_id=patients[row["file"]],
                )
            )
    return records


def read_mask(path: str, size_hw: tuple[int, int]) -> np.ndarray:
    """A mask PNG → (H, W) uint8 in {0, 1, 2} at ``size_hw`` (nearest neighbour: no new values)."""
    with Image.open(path) as im:
        small = im.convert("L").resize((size_hw[1], size_hw[0]), Image.Resampling.NEAREST)
    values = np.asarray(small, dtype=np.uint8)
    out = np.zeros(values.shape, dtype=np.uint8)
    out[values >= 192] = LUNG
    out[(values >= 64) & (values < 192)] = IGNORE
    return out


def build_lung_cache(records: list[LungRecord], config: PreprocessConfig, cache_dir: str = "") -> LungCache:
    """Decode every film and mask once; with ``cache_dir`` the arrays are kept on disk by content key."""
    key = hashlib.sha256(
        repr([(r.film, r.mask) for r in records]).encode() + repr(config.input_size).encode()
    ).hexdigest()[:16]
    path = Path(cache_dir) / f"lungs-{key}.npz" if cache_dir else None
    if path is not None and path.is_file():
        with np.load(path) as data:
            return LungCache(records, data["images"], data["masks"])
    height, width = config.input_size
    images = np.zeros((len(records), height, width), dtype=np.uint8)
    masks = np.zeros_like(images)
    for i, r in enumerate(records):
        images[i] = np.rint(prepare_image(load_radiograph(r.film), config) * 255.0).astype(np.uint8)
        masks[i] = read_mask(r.mask, (height, width))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, images=images, masks=masks)
        tmp.replace(path)
    logger.info("decoded %d lung films", len(records))
    return LungCache(records, images, masks)


def split_lungs_by_patient(
    records: Sequence[LungRecord], fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0
) -> dict[str, list[int]]:
    """Record indices per split; patients shuffled per source and cut at the fractions, so every
    source (children and adults) is in train, val and test and no patient crosses splits."""
    by_patient: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_patient[r.patient_id].append(i)
    by_source: dict[str, list[str]] = defaultdict(list)
    for patient, idx in by_patient.items():
        by_source[records[idx[0]].source].append(patient)
    rng = np.random.default_rng(seed)
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for source in sorted(by_source):
        patients = sorted(by_source[source])
        rng.shuffle(patients)
        cuts = np.rint(np.cumsum(fractions)[:2] * len(patients)).astype(int)
        for name, part in zip(out, np.split(np.asarray(patients), cuts), strict=True):
            for patient in part:
                out[name].extend(by_patient[str(patient)])
    return {name: sorted(idx) for name, idx in out.items()}
