"""Read, merge, relabel, decode, de-duplicate and split the films of a run (``load_data``)."""

from __future__ import annotations

import argparse
import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radiview.inference.preprocess import PreprocessConfig
from training.data.dataset import ImageCache, build_image_cache, loader_name
from training.data.merge import merge_records, remove_near_duplicates
from training.data.sources import Record, filter_sources, load_source
from training.data.splits import SPLITS, assert_patient_disjoint, count_table, split_by_patient
from training.holdout import split_off_holdout

logger = logging.getLogger("radiview.training")


@dataclass
class LoadedData:
    """The films of a run: decoded caches per split, the JSON-ready summary (card ``training_data``),
    the near-duplicate pairs removed and the ``--holdout-source`` films (None without it)."""

    splits: dict[str, ImageCache]
    summary: dict[str, Any]
    duplicates: list[dict[str, str]] = field(default_factory=list)
    holdout: ImageCache | None = None


def load_data(args: argparse.Namespace, config: PreprocessConfig, progress: bool) -> LoadedData:
    """Read, merge, relabel, decode, de-duplicate and split. Returns caches per split and a summary."""
    if not args.data:
        raise SystemExit("no --data given")
    groups = [load_source(d) for d in args.data]
    records = filter_sources(merge_records(groups), args.sources)
    if not records:
        raise SystemExit(f"no films with a known label in {args.data} (sources filter {args.sources!r})")
    cache = build_image_cache(
        records, config, workers=args.workers, cache_dir=args.cache_dir or None, progress=progress
    )
    manifest_split = all(r.extras.get("split") in SPLITS for r in cache.records)
    cache, duplicates = _remove_duplicates(cache, args, manifest_split)
    cache, holdout = split_off_holdout(cache, getattr(args, "holdout_source", ""))
    if holdout is not None:
        logger.info(
            "held out %s: %d films (%d patients' films removed from training)",
            args.holdout_source,
            len(holdout.records),
            len(records) - len(duplicates) - len(cache.records),
        )
    fractions = tuple(float(v) for v in args.split.split(","))
    if manifest_split:
        given = [r.extras.get("split") for r in cache.records]
        parts = {name: [i for i, s in enumerate(given) if s == name] for name in SPLITS}
    else:
        parts = split_by_patient(cache.records, fractions, seed=args.seed)
    splits = {name: cache.subset(parts[name]) for name in SPLITS}
    assert_patient_disjoint({name: s.records for name, s in splits.items()})
    summary = _summary(args, records, cache, duplicates, splits, manifest_split, fractions)
    logger.info(
        "films: %s (near-duplicates removed: %d, failed: %d)",
        summary["totals"],
        len(duplicates),
        len(cache.failures),
    )
    if holdout is not None:
        summary["holdout"] = {
            "sources": args.holdout_source,
            "films": len(holdout.records),
            "patients": len({r.patient_id for r in holdout.records}),
            "counts": count_table(holdout.records),
        }
    return LoadedData(splits, summary, duplicates, holdout)


def _remove_duplicates(
    cache: ImageCache, args: argparse.Namespace, manifest_split: bool
) -> tuple[ImageCache, list[dict[str, str]]]:
    if manifest_split:
        # e.g. the --expand output: its augmented copies are meant to resemble their originals
        logger.info("using the manifest's split column; near-duplicate removal skipped")
        return cache, []
    if args.dedup_distance < 0:
        return cache, []
    keep, pairs = remove_near_duplicates(
        cache.records, cache.images, args.dedup_distance, args.dedup_correlation
    )
    duplicates = [{"kept": cache.records[k].path, "removed": cache.records[d].path} for k, d in pairs]
    return ImageCache([cache.records[i] for i in keep], cache.images[keep], cache.failures), duplicates


def _summary(
    args: argparse.Namespace,
    records: list[Record],
    cache: ImageCache,
    duplicates: list[dict[str, str]],
    splits: dict[str, ImageCache],
    manifest_split: bool,
    fractions: tuple[float, ...],
) -> dict[str, Any]:
    return {
        "locations": list(args.data),
        "sources_filter": args.sources,
        "loader": loader_name(),
        "films_listed": len(records),
        "failed_to_load": len(cache.failures),
        "near_duplicates_removed": len(duplicates),
        "dedup": f"dHash 64-bit (9×8) within {args.dedup_distance} bits, confirmed by 32×32 thumbnail "
        f"correlation ≥ {args.dedup_correlation}; first occurrence kept",
        "split": {
            "method": "from the manifest's split column"
            if manifest_split
            else "by patient, stratified by source and label",
            "fractions": list(fractions),
            "seed": args.seed,
        },
        "counts": {name: count_table(s.records) for name, s in splits.items()},
        "totals": {name: len(s.records) for name, s in splits.items()},
        "patients": {name: len({r.patient_id for r in s.records}) for name, s in splits.items()},
    }


def write_splits_csv(path: Path, splits: dict[str, ImageCache]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["split", "path", "label", "source", "patient_id"])
        for name, cache in splits.items():
            for r in cache.records:
                w.writerow([name, r.path, r.label, r.source, r.patient_id])
