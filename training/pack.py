"""``python -m training.pack``: a compact copy of a data set as the model sees it.

Every film is loaded and prepared exactly as training prepares it (``load_radiograph`` →
``prepare_image``: the input size, the film's default window) and stored as an 8-bit
``<name>.prepared.webp``; the manifest keeps every other column. ``training`` reads such files as
already-prepared films (no second windowing). The copy is a few tens of MB instead of the originals'
hundreds, so it can travel to a GPU machine; final metrics should still be computed on the originals
(JPEG re-encoding is a small change of the input).
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from radiview.inference.preprocess import PreprocessConfig
from training.data.dataset import prepare_films

PREPARED_SUFFIXES = (".prepared.webp", ".prepared.jpg")
PREPARED_SUFFIX = PREPARED_SUFFIXES[0]  # WebP: ~40% smaller than JPEG at the same error
logger = logging.getLogger("radiview.training")


def pack_manifest(manifest: Path, out_dir: Path, config: PreprocessConfig, quality: int, workers: int) -> int:
    with manifest.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or ())
        rows = list(reader)
    paths = [str(manifest.parent / row["file"]) for row in rows]
    images, ok, failures = prepare_films(paths, config, workers=workers)
    for path, why in failures:
        logger.warning("skipped %s: %s", path, why)
    out_dir.mkdir(parents=True, exist_ok=True)
    kept = []
    for row, image, good in zip(rows, images, ok, strict=True):
        if not good:
            continue
        rel = Path(row["file"])
        target = rel.with_name(rel.with_suffix("").name + PREPARED_SUFFIX)
        (out_dir / target).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(out_dir / target, quality=quality)
        kept.append({**row, "file": target.as_posix()})
    with (out_dir / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
    return len(kept)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Write a compact prepared copy of manifests (see module doc).")
    p.add_argument("--data", action="append", default=[], help="manifest.csv (repeatable)")
    p.add_argument("--out", required=True, help="output folder; one sub-folder per manifest's folder name")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--quality", type=int, default=80)
    p.add_argument("--workers", type=int, default=2)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = PreprocessConfig(input_size=(args.input_size, args.input_size))
    for manifest in map(Path, args.data):
        n = pack_manifest(manifest, Path(args.out) / manifest.parent.name, config, args.quality, args.workers)
        logger.info("%s: %d films packed", manifest, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
