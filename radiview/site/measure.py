"""The site report's numbers: per-class sensitivity/specificity/PPV/NPV/AUC with patient-level
bootstrap CIs (set-valued ``pneumonia`` scored as a set), ECE, confusion matrix, operating points."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from radiview.inference.fitting_calibration import operating_point_table
from radiview.inference.metrics import (
    binary_rates,
    bootstrap_interval,
    clean,
    expected_calibration_error,
    roc_auc,
    set_membership,
)
from radiview.inference.prediction import PNEUMONIA, PNEUMONIA_MEMBERS, decide_index

RATES = ("sensitivity", "specificity", "ppv", "npv", "auc")
OP_GRID = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def scored_classes(labels: Sequence[str]) -> dict[str, frozenset[int]]:
    """The model's classes, plus ``pneumonia`` (bacterial or viral) as one set."""
    out = {name: frozenset([k]) for k, name in enumerate(labels)}
    members = frozenset(labels.index(m) for m in PNEUMONIA_MEMBERS if m in labels)
    if members:
        out[PNEUMONIA] = members
    return out


def decisions(probs: np.ndarray, labels: Sequence[str], operating_points: dict[str, float]) -> np.ndarray:
    return np.asarray([decide_index(row, labels, operating_points) for row in probs], dtype=np.int64)


def truth_mask(truth: Sequence[frozenset[int]], num_classes: int) -> np.ndarray:
    mask = np.zeros((len(truth), num_classes), dtype=bool)
    for i, members in enumerate(truth):
        mask[i, list(members)] = True
    return mask


def calibration_view(
    probs: np.ndarray, truth: Sequence[frozenset[int]], num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and truth masks at the site's granularity: when some films carry a set-valued
    label (``pneumonia``), each such set becomes one class (its probability summed), so a film
    called bacterial with truth "bacterial or viral" counts at its set's confidence."""
    sets = sorted({t for t in truth if len(t) > 1}, key=sorted)
    groups: list[frozenset[int]] = list(sets)
    for k in range(num_classes):
        if not any(k in g for g in groups):
            groups.append(frozenset([k]))
    grouped = np.stack([probs[:, sorted(g)].sum(axis=1) for g in groups], axis=1) if len(probs) else probs
    mask = np.asarray([[bool(t) and t <= g for g in groups] for t in truth], dtype=bool).reshape(
        len(truth), len(groups)
    )
    return grouped, mask


def _class_values(
    probs: np.ndarray, called: np.ndarray, truth: Sequence[frozenset[int]], members: frozenset[int]
) -> list[float]:
    positive, negative = set_membership(truth, members)
    known = positive | negative
    hit = np.isin(called, list(members))
    rates = binary_rates(hit[known], positive[known])
    score = probs[:, sorted(members)].sum(axis=1)
    return [*(rates[k] for k in RATES[:4]), roc_auc(score[known], positive[known])]


def _undefined(positives: int, negatives: int) -> set[str]:
    """Rates with no meaning without positives (or negatives): reported as None, not as 0 or 1."""
    out = set()
    if positives == 0:
        out |= {"sensitivity", "ppv", "npv", "auc"}
    if negatives == 0:
        out |= {"specificity", "ppv", "npv", "auc"}
    return out


def measure(
    probs: np.ndarray,
    called: np.ndarray,
    truth: Sequence[frozenset[int]],
    patients: Sequence[str],
    labels: Sequence[str],
    n_boot: int = 1000,
) -> dict[str, Any]:
    """Per-class rates with 95% CIs and ECE for films' ``probs`` (N, K), ``called`` classes and truth sets."""
    classes = scored_classes(labels)
    grouped, mask = calibration_view(probs, truth, len(labels))

    def statistic(idx: np.ndarray) -> list[float]:
        truth_idx = [truth[i] for i in idx]
        values = [v for m in classes.values() for v in _class_values(probs[idx], called[idx], truth_idx, m)]
        return [*values, expected_calibration_error(grouped[idx], mask[idx])]

    if len(probs) == 0:
        return {"n": 0}
    point = statistic(np.arange(len(probs)))
    intervals = bootstrap_interval(statistic, patients, n_boot=n_boot)
    per_class: dict[str, Any] = {}
    for c, (name, members) in enumerate(classes.items()):
        positive, negative = set_membership(truth, members)
        entry: dict[str, Any] = {"positives": int(positive.sum()), "negatives": int(negative.sum())}
        undefined = _undefined(entry["positives"], entry["negatives"])
        for r, rate in enumerate(RATES):
            j = c * len(RATES) + r
            entry[rate] = None if rate in undefined else clean(point[j])
            entry[f"{rate}_ci95"] = intervals[j] if entry[rate] is not None else [None, None]
        per_class[name] = entry
    return {
        "n": len(probs),
        "per_class": per_class,
        "ece": clean(point[-1]),
        "ece_ci95": intervals[-1],
        "ci_method": f"patient-level bootstrap, {n_boot} resamples, 95% percentile interval",
    }


def confusion(called: np.ndarray, site_labels: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Rows: the site's labels (as written), columns: the model's called class."""
    rows = [name for name in (*labels, PNEUMONIA) if name in set(site_labels)]
    matrix = [
        [int(((np.asarray(site_labels) == r) & (called == k)).sum()) for k in range(len(labels))]
        for r in rows
    ]
    return {"rows_true": rows, "cols_called": list(labels), "matrix": matrix}


def operating_points_table(
    probs: np.ndarray, truth: Sequence[frozenset[int]], labels: Sequence[str], extra: dict[str, float]
) -> dict[str, list[dict[str, Any]]]:
    """threshold → sensitivity/specificity for COVID-19 and for pneumonia (the site's own points added)."""
    out = {}
    for name, members in scored_classes(labels).items():
        if name not in ("covid19", PNEUMONIA):
            continue
        positive, negative = set_membership(truth, members)
        score = probs[:, sorted(members)].sum(axis=1)
        grid = sorted({*OP_GRID, *([extra[name]] if name in extra else [])})
        out[name] = operating_point_table(score, positive, negative, grid)
    return out
