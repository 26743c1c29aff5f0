"""Seeded patient-level train/val/test split, stratified by label and source."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from training.data.sources import Record

SPLITS = ("train", "val", "test")


class PatientLeakError(AssertionError):
    """A patient id appears in more than one split."""


def split_by_patient(
    records: Sequence[Record], fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0
) -> dict[str, list[int]]:
    """Record indices per split; every image of a patient lands in the same split.

    Patients are grouped into strata by (sources, labels) they carry, each stratum is shuffled
    with ``seed`` and cut at the cumulative fractions, so each split keeps the label and source
    mix (the scarce COVID-19 sources included).
    """
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    by_patient: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_patient[r.patient_id].append(i)
    strata: dict[tuple[str, str], list[str]] = defaultdict(list)
    for patient, idx in by_patient.items():
        key = (
            "+".join(sorted({records[i].source for i in idx})),
            "+".join(sorted({records[i].label for i in idx})),
        )
        strata[key].append(patient)
    rng = np.random.default_rng(seed)
    out: dict[str, list[int]] = {name: [] for name in SPLITS}
    frac = np.asarray(fractions, dtype=np.float64)
    global_counts = np.zeros(3)
    for key in sorted(strata):
        patients = sorted(strata[key])
        rng.shuffle(patients)
        counts = np.zeros(3)
        for patient in patients:
            # largest deficit against the target share, within the stratum and overall (so strata of one
            # or two patients do not all round to train, and the overall shares stay on target)
            deficit = frac * (counts.sum() + 1) - counts + frac * (global_counts.sum() + 1) - global_counts
            deficit[frac == 0] = -np.inf
            choice = int(np.argmax(deficit))
            counts[choice] += 1
            global_counts[choice] += 1
            out[SPLITS[choice]].extend(by_patient[patient])
    for name in SPLITS:
        out[name].sort()
    return out


def assert_patient_disjoint(splits: Mapping[str, Sequence[Record]]) -> None:
    """Raise PatientLeakError if any patient id is in two splits (run on every training run)."""
    owner: dict[str, str] = {}
    for name, records in splits.items():
        for r in records:
            prev = owner.setdefault(r.patient_id, name)
            if prev != name:
                raise PatientLeakError(f"patient {r.patient_id!r} is in both {prev!r} and {name!r}")


def count_table(records: Sequence[Record]) -> dict[str, dict[str, int]]:
    """{source: {label: n}} for the model card and the logs."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in records:
        table[r.source][r.label] += 1
    return {s: dict(sorted(v.items())) for s, v in sorted(table.items())}
