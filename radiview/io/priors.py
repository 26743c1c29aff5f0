"""Priors: other films of the same patient in a folder or list, ordered by study date.

A DICOM header says who and when (PatientID, StudyDate, StudyTime); a JPEG/PNG says neither,
so it has no priors (a file name is not evidence). Headers are read without pixel data.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from radiview.io.formats import SNIFF_BYTES, sniff_format


@dataclass(frozen=True)
class StudyKey:
    patient_id: str
    when: str  # StudyDate + StudyTime (YYYYMMDDHHMMSS…), sortable as text; "" if unknown


def read_study_key(path: str | os.PathLike[str]) -> StudyKey | None:
    """Who and when, from a DICOM header; None for other files, or a header without PatientID."""
    import pydicom

    try:
        with open(path, "rb") as fh:
            if sniff_format(fh.read(SNIFF_BYTES)) != "dicom" and not str(path).lower().endswith(
                (".dcm", ".dicom")
            ):
                return None
        ds = pydicom.dcmread(
            path, stop_before_pixels=True, specific_tags=["PatientID", "StudyDate", "StudyTime"], force=True
        )
    except Exception:  # an unreadable neighbour is simply not a prior
        return None
    patient = str(ds.get("PatientID", "") or "").strip()
    if not patient:
        return None
    when = str(ds.get("StudyDate", "") or "").strip() + str(ds.get("StudyTime", "") or "").strip()
    return StudyKey(patient, when)


def find_priors(current: str | os.PathLike[str], candidates: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The other films of ``current``'s patient among ``candidates``, oldest first."""
    key = read_study_key(current)
    if key is None:
        return []
    here = os.path.abspath(current)
    found = []
    for candidate in candidates:
        if os.path.abspath(candidate) == here:
            continue
        other = read_study_key(candidate)
        if other is not None and other.patient_id == key.patient_id:
            found.append((other.when, str(candidate)))
    return [Path(p) for _, p in sorted(found)]


def choose_prior(
    current: str | os.PathLike[str], candidates: Iterable[str | os.PathLike[str]]
) -> Path | None:
    """The latest film of the same patient taken before ``current`` (else the latest other one)."""
    key = read_study_key(current)
    priors = find_priors(current, candidates)
    if key is None or not priors:
        return None
    earlier = [p for p in priors if (k := read_study_key(p)) is not None and k.when < key.when]
    return (earlier or priors)[-1]
