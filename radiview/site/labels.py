"""A site's labels CSV (``file,label[,patient_id]``) and its patient-level split.

Labels are the model's classes or the set-valued ``pneumonia`` (bacterial or viral, cause unknown).
Every problem is a ``SiteInputError`` naming the CSV, the row and the problem (the CLI exits 2).
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radiview.errors import RadiviewError
from radiview.inference.prediction import PNEUMONIA, PNEUMONIA_MEMBERS

SITE_LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19", PNEUMONIA)


class SiteInputError(RadiviewError):
    """Bad site input: a labels CSV or films folder that cannot be used as given."""


@dataclass(frozen=True)
class LabelledFilm:
    file: str  # as written in the CSV (relative to FILMS)
    path: Path
    label: str
    patient_id: str  # the CSV's, or the file itself when there is none


def truth_set(label: str, model_labels: Sequence[str]) -> frozenset[int]:
    """The model classes a site label stands for (``pneumonia`` → bacterial or viral)."""
    names = PNEUMONIA_MEMBERS if label == PNEUMONIA else (label,)
    return frozenset(model_labels.index(n) for n in names if n in model_labels)


def read_site_labels(films_dir: str | Path, csv_path: str | Path) -> list[LabelledFilm]:
    """The CSV's rows, checked: header, known labels, no duplicate file, every file present."""
    root, source = Path(films_dir), Path(csv_path)
    if not root.is_dir():
        raise SiteInputError("films folder not found", root)
    try:
        with open(source, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
            header = [h.strip().lower() for h in (rows[0].keys() if rows else [])]
    except FileNotFoundError as exc:
        raise SiteInputError("labels CSV not found", source) from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SiteInputError(f"labels CSV is not readable: {exc}", source) from exc
    if not rows or "file" not in header or "label" not in header:
        raise SiteInputError(
            "labels CSV needs a header 'file,label[,patient_id]' and at least one row", source
        )
    films: list[LabelledFilm] = []
    seen: dict[str, int] = {}
    missing: list[str] = []
    for line, row in enumerate(rows, start=2):
        row = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        name, label = row.get("file", ""), row.get("label", "").lower()
        if label not in SITE_LABELS:
            raise SiteInputError(
                f"line {line}: unknown label {row.get('label', '')!r} for {name!r}; "
                f"use one of {', '.join(SITE_LABELS)}",
                source,
            )
        if name in seen:
            raise SiteInputError(
                f"line {line}: {name!r} is listed twice (first on line {seen[name]})", source
            )
        seen[name] = line
        path = root / name
        if not name or not path.is_file():
            missing.append(name or f"(empty file name on line {line})")
        films.append(LabelledFilm(name, path, label, row.get("patient_id") or f"film:{name}"))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise SiteInputError(f"{len(missing)} file(s) named in the CSV are not in {root}: {shown}", source)
    return films


def label_counts(films: Sequence[LabelledFilm]) -> dict[str, int]:
    counts = Counter(f.label for f in films)
    return {label: counts[label] for label in SITE_LABELS if counts[label]}


def split_patients(
    labels: Sequence[str], patients: Sequence[str], check_fraction: float = 0.5, seed: int = 0
) -> np.ndarray:
    """A boolean ``check`` mask: patients (all their films together) stratified by their label set,
    each stratum shuffled with ``seed`` and cut so about ``check_fraction`` of it goes to check."""
    by_patient: dict[str, list[int]] = defaultdict(list)
    for i, patient in enumerate(patients):
        by_patient[patient].append(i)
    strata: dict[str, list[str]] = defaultdict(list)
    for patient, rows in by_patient.items():
        strata["+".join(sorted({labels[i] for i in rows}))].append(patient)
    rng = np.random.default_rng(seed)
    check = np.zeros(len(labels), dtype=bool)
    for key in sorted(strata):
        members = sorted(strata[key])
        rng.shuffle(members)
        n_check = round(len(members) * check_fraction)
        if len(members) >= 2:
            n_check = min(max(n_check, 1), len(members) - 1)
        for patient in members[:n_check]:
            check[by_patient[patient]] = True
    return check


def check_splittable(labels: Sequence[str], patients: Sequence[str], minimum_per_part: int = 10) -> None:
    """SiteInputError when the films cannot give an adapt and a check part of ``minimum_per_part`` films."""
    n_patients = len(set(patients))
    if len(labels) < 2 * minimum_per_part or n_patients < 2 * minimum_per_part:
        raise SiteInputError(
            f"too few films to split: {len(labels)} readable films from {n_patients} patients; "
            f"adaptation needs at least {2 * minimum_per_part} patients so that the adapt and check "
            f"parts have {minimum_per_part} each"
        )
