"""Adapters that turn a data location into `Record`s with one of the four labels.

Three layouts are understood (``load_source`` picks one):

* a manifest CSV like ``shared/data/cxr/manifest.csv`` (``file`` relative to the CSV's folder,
  ``label``, ``source``, ``patient_id``; other columns are kept as extras);
* a folder of class sub-folders (``normal/``, ``bacterial_pneumonia/``, … or an alias such as
  ``NORMAL``, ``COVID-19``, ``virus``), optionally one level below source folders;
* Kaggle's Kermany ``chest_xray`` layout: ``train|test|val/NORMAL|PNEUMONIA`` with
  ``_bacteria_`` / ``_virus_`` in the pneumonia file names.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

logger = logging.getLogger("radiview.training")

LABELS: tuple[str, ...] = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")

#: Sources whose films are children's (Kermany et al.); every other source is adult.
PEDIATRIC_SOURCES = frozenset({"kermany", "kermany224"})

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom"})

_ALIASES = {
    "normal": "normal",
    "no_finding": "normal",
    "nofinding": "normal",
    "healthy": "normal",
    "bacterial_pneumonia": "bacterial_pneumonia",
    "bacterial": "bacterial_pneumonia",
    "bacteria": "bacterial_pneumonia",
    "pneumonia_bacterial": "bacterial_pneumonia",
    "viral_pneumonia": "viral_pneumonia",
    "viral": "viral_pneumonia",
    "virus": "viral_pneumonia",
    "pneumonia_viral": "viral_pneumonia",
    "covid19": "covid19",
    "covid": "covid19",
    "covid_19": "covid19",
    "covid19_pneumonia": "covid19",
    "sars_cov_2": "covid19",
    # set-valued: pneumonia that is not COVID-19, cause unknown (bacterial OR viral; training.targets)
    "pneumonia": "pneumonia",
    "non_covid_pneumonia": "pneumonia",
}


@dataclass(frozen=True)
class Record:
    """One film: where it is, its label, the source it came from and the patient to split on."""

    path: str
    label: str
    source: str
    patient_id: str
    extras: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def age_group(self) -> str:
        return "pediatric" if self.source in PEDIATRIC_SOURCES else "adult"


def relabel(name: str) -> str | None:
    """Map a label or folder name (any case, ``-``/space/``_`` separators) to one of LABELS, or to a
    set-valued target of ``training.targets`` (``pneumonia``)."""
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return _ALIASES.get(key) or _ALIASES.get(key.replace("_", ""))


def read_manifest(csv_path: str | Path) -> list[Record]:
    """Records of a manifest CSV; rows with an unknown label are skipped (and counted in the log)."""
    csv_path = Path(csv_path)
    root = csv_path.parent
    records: list[Record] = []
    skipped = 0
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"file", "label"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{csv_path}: manifest lacks column(s) {sorted(missing)}")
        for row in reader:
            label = relabel(row["label"])
            if label is None:
                skipped += 1
                continue
            source = row.get("source") or csv_path.parent.name
            patient = row.get("patient_id") or f"{source}:{Path(row['file']).stem}"
            extras = {k: v for k, v in row.items() if k not in {"file", "label", "source", "patient_id"}}
            records.append(Record(str(root / row["file"]), label, source, patient, extras))
    if skipped:
        logger.info("%s: skipped %d rows with labels outside %s", csv_path, skipped, LABELS)
    return records


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_class_folders(root: str | Path, source: str | None = None) -> list[Record]:
    """Records of ``root/<label>/*`` (or ``root/<source>/<label>/*``); one patient per file."""
    root = Path(root)
    records: list[Record] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        label = relabel(sub.name)
        if label is None:
            # a source folder holding class folders
            records.extend(read_class_folders(sub, source=sub.name))
            continue
        src = source or root.name
        for path in _images(sub):
            records.append(Record(str(path), label, src, f"{src}:{path.stem}"))
    return records


_KERMANY_PERSON = re.compile(r"^(person\d+)_(bacteria|virus)_", re.IGNORECASE)
_KERMANY_NORMAL = re.compile(r"^((?:NORMAL2-)?IM-\d+)", re.IGNORECASE)


def kermany_patient_id(file_name: str) -> str:
    """``person12_bacteria_3.jpeg`` → ``person12``; ``NORMAL2-IM-1427-0001.jpeg`` → ``NORMAL2-IM-1427``."""
    stem = Path(file_name).stem
    match = _KERMANY_PERSON.match(stem) or _KERMANY_NORMAL.match(stem)
    return match.group(1) if match else stem


def kermany_label(folder: str, file_name: str) -> str | None:
    """NORMAL → normal; PNEUMONIA + ``_bacteria_``/``_virus_`` in the name → bacterial/viral."""
    if folder.upper() == "NORMAL":
        return "normal"
    if folder.upper() != "PNEUMONIA":
        return None
    lower = file_name.lower()
    if "bacteria" in lower:
        return "bacterial_pneumonia"
    if "virus" in lower:
        return "viral_pneumonia"
    return None


def is_kermany_layout(root: str | Path) -> bool:
    root = Path(root)
    return any(
        (root / part / "PNEUMONIA").is_dir() or (root / part / "NORMAL").is_dir()
        for part in ("train", "test", "val")
    )


def read_kermany(root: str | Path, source: str = "kermany") -> list[Record]:
    """Records of Kaggle's ``chest_xray`` folder; its own train/test/val split is ignored (we re-split by
    patient), and the ``kermany:`` patient namespace matches the shared manifest's."""
    root = Path(root)
    records: list[Record] = []
    for part in ("train", "val", "test"):
        for cls in ("NORMAL", "PNEUMONIA"):
            folder = root / part / cls
            if not folder.is_dir():
                continue
            for path in _images(folder):
                label = kermany_label(cls, path.name)
                if label is None:
                    continue
                records.append(
                    Record(
                        str(path),
                        label,
                        source,
                        f"kermany:{kermany_patient_id(path.name)}",
                        {"kermany_split": part},
                    )
                )
    return records


def load_source(location: str | Path) -> list[Record]:
    """Dispatch on the layout: manifest CSV, Kermany ``chest_xray`` folder or class folders."""
    location = Path(location)
    if location.is_file() and location.suffix.lower() == ".csv":
        return read_manifest(location)
    if location.is_dir():
        if (location / "manifest.csv").is_file():
            return read_manifest(location / "manifest.csv")
        if is_kermany_layout(location):
            return read_kermany(location)
        return read_class_folders(location)
    raise FileNotFoundError(f"{location}: not a manifest CSV or a folder")


def parse_source_filter(spec: str | None) -> tuple[set[str], set[str]]:
    """``"kermany,ieee8023"`` includes only those; ``"-figure1"`` excludes; both may be mixed."""
    include: set[str] = set()
    exclude: set[str] = set()
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        (exclude if item.startswith("-") else include).add(item.lstrip("-+"))
    return include, exclude


def filter_sources(records: Iterable[Record], spec: str | None) -> list[Record]:
    include, exclude = parse_source_filter(spec)
    return [r for r in records if (not include or r.source in include) and r.source not in exclude]


def with_path_prefix(records: Sequence[Record], root: str | Path) -> list[Record]:
    """Re-root relative paths (used by the offline expansion's manifest)."""
    return [replace(r, path=str(Path(root) / r.path)) for r in records]
