"""Real shared films arranged as hospitals: a labels CSV per site, and a simulated new scanner.

The new scanner is a fixed, strong acquisition-like transform (gamma, contrast, noise, blur,
burned-in marks) applied to shared films; the base gate refuses a large share of them.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def manifest_rows(data_dir: Path) -> list[dict[str, str]]:
    with open(data_dir / "cxr" / "manifest.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def pick(
    rows: Sequence[dict[str, str]], source: str, label: str, n: int, seed: int = 0
) -> list[dict[str, str]]:
    """``n`` films of one source and label, one per patient, in a seeded order."""
    chosen = [r for r in rows if r["source"] == source and r["label"] == label]
    order = np.random.default_rng(seed).permutation(len(chosen))
    out, seen = [], set()
    for i in order:
        if chosen[i]["patient_id"] not in seen:
            seen.add(chosen[i]["patient_id"])
            out.append(chosen[i])
        if len(out) == n:
            break
    return out


def write_labels(path: Path, rows: Sequence[dict[str, str]], label_key: str = "label") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "patient_id"])
        for r in rows:
            writer.writerow([r["file"], r[label_key], r["patient_id"]])
    return path


def apply_new_scanner(image: Image.Image, seed: int) -> Image.Image:
    """The simulated acquisition: strong gamma, flattened contrast with a raised floor, a blur, grain,
    and burned-in marks (a white label block and a side marker), at 512 px."""
    rng = np.random.default_rng(seed)
    gray = image.convert("L").resize((512, 512), Image.Resampling.BILINEAR)
    x = np.asarray(gray, dtype=np.float32) / 255.0
    x = 0.25 + 0.55 * x**0.45  # gamma 0.45, contrast 0.55, floor 0.25
    blurred = Image.fromarray((x * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2.5))
    x = np.asarray(blurred, dtype=np.float32) / 255.0 + rng.normal(0.0, 0.06, (512, 512))
    out = Image.fromarray((np.clip(x, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(out)
    draw.rectangle((20, 20, 200, 70), fill=255)
    draw.text((30, 35), "PORTABLE  AP  SUPINE", fill=0)
    draw.rectangle((440, 440, 490, 490), outline=255, width=6)
    draw.text((458, 455), "R", fill=255)
    return out


def write_scanner_site(data_dir: Path, out: Path, rows: Sequence[dict[str, str]]) -> Path:
    """The films of ``rows`` through the new scanner as PNGs under ``out``; returns the labels CSV."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, r in enumerate(rows):
        name = f"scan_{i:04d}.png"
        with Image.open(data_dir / "cxr" / r["file"]) as im:
            apply_new_scanner(im, seed=i).save(out / name)
        written.append({**r, "file": name})
    return write_labels(out / "labels.csv", written)


def scanner_rows(rows: Sequence[dict[str, str]], per_label: int) -> list[dict[str, str]]:
    """A four-label site: normal (cxr_radiography), bacterial/viral (kermany), COVID-19 (cxnet)."""
    return (
        pick(rows, "cxr_radiography", "normal", per_label)
        + pick(rows, "kermany", "bacterial_pneumonia", per_label)
        + pick(rows, "kermany", "viral_pneumonia", per_label)
        + pick(rows, "cxnet", "covid19", per_label)
    )
