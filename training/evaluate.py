"""Test-split metrics (the arithmetic lives in ``radiview.inference.metrics``, one copy for the app and
training): accuracy, per-class sensitivity/specificity/PPV, one-vs-rest ROC AUC,
confusion matrix, patient-level bootstrap CIs, and the per-source / adult-vs-pediatric breakdown that makes
the age/source confound visible."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from radiview.inference import metrics
from radiview.inference.metrics import clean as _clean
from radiview.inference.metrics import (
    confusion_matrix,
    macro_auc,
    per_class_rates,
    roc_auc,
    roc_curve,
)
from training.data.sources import LABELS, Record

__all__ = [
    "bootstrap_ci",
    "breakdown",
    "confusion_matrix",
    "evaluate",
    "full_report",
    "macro_auc",
    "per_class_rates",
    "roc_auc",
    "roc_curve",
    "shortcut_check",
    "summarize",
]


def summarize(probs: np.ndarray, y_true: np.ndarray, labels: Sequence[str] = LABELS) -> dict[str, Any]:
    """All point metrics of one set of predictions, JSON-ready (``radiview.inference.metrics.summarize``)."""
    return metrics.summarize(probs, y_true, labels)


def bootstrap_ci(
    probs: np.ndarray,
    y_true: np.ndarray,
    groups: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    labels: Sequence[str] = LABELS,
) -> dict[str, Any]:
    """95% percentile intervals of accuracy, macro AUC and per-class sensitivity, resampling patients."""
    return metrics.bootstrap_ci(probs, y_true, groups, labels, n_boot=n_boot, seed=seed)


def breakdown(
    probs: np.ndarray, y_true: np.ndarray, records: Sequence[Record], labels: Sequence[str] = LABELS
) -> dict[str, Any]:
    """``summarize`` per source and per age group (pediatric = Kermany sources, adult = the rest)."""
    out: dict[str, Any] = {"by_source": {}, "by_age_group": {}}
    for key, attr in (("by_source", "source"), ("by_age_group", "age_group")):
        values = np.asarray([getattr(r, attr) for r in records])
        for value in sorted(set(values.tolist())):
            mask = values == value
            out[key][value] = summarize(probs[mask], np.asarray(y_true)[mask], labels)
    return out


def shortcut_check(probs: np.ndarray, y_true: np.ndarray, records: Sequence[Record]) -> dict[str, Any]:
    """How often adult non-COVID films are called COVID-19: the age/source shortcut made visible."""
    pred = probs.argmax(axis=1)
    covid = LABELS.index("covid19")
    sources = np.asarray([r.source for r in records])
    adult = np.asarray([r.age_group == "adult" for r in records])
    y_true = np.asarray(y_true)

    def rate(mask: np.ndarray) -> dict[str, Any]:
        n = int(mask.sum())
        return {"n": n, "called_covid19": _clean(float((pred[mask] == covid).mean())) if n else None}

    return {
        "cxr_radiography_normal_called_covid19": rate((sources == "cxr_radiography") & (y_true != covid)),
        "adult_non_covid_called_covid19": rate(adult & (y_true != covid)),
        "nih_normal_called_covid19": rate((sources == "nih") & (y_true == LABELS.index("normal"))),
        "ieee8023_non_covid_called_covid19": rate((sources == "ieee8023") & (y_true != covid)),
        "pediatric_called_covid19": rate(~adult),
    }


def full_report(
    probs: np.ndarray, y_true: np.ndarray, records: Sequence[Record], n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    report = summarize(probs, y_true)
    report["ci95"] = bootstrap_ci(probs, y_true, [r.patient_id for r in records], n_boot=n_boot, seed=seed)
    report.update(breakdown(probs, y_true, records))
    report["shortcut"] = shortcut_check(probs, y_true, records)
    report["kermany_3class_accuracy"] = kermany_3class_accuracy(probs, y_true, records)
    return report


def kermany_3class_accuracy(probs: np.ndarray, y_true: np.ndarray, records: Sequence[Record]) -> float | None:
    """Accuracy on the pediatric Kermany films (normal / bacterial / viral: three of the four outputs)."""
    kermany = np.asarray([r.source in ("kermany", "kermany224") for r in records])
    if not kermany.any():
        return None
    return _clean(float((np.asarray(probs)[kermany].argmax(1) == np.asarray(y_true)[kermany]).mean()))


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader, device: str = "cpu") -> tuple[np.ndarray, np.ndarray, float]:
    """Logits, labels and mean cross-entropy of ``model`` over ``loader`` (eval mode)."""
    model.eval()
    logits, labels = [], []
    for x, y in loader:
        logits.append(model(x.to(device)).float().cpu())
        labels.append(torch.as_tensor(y).cpu())  # device batches yield targets on the device
    out = torch.cat(logits) if logits else torch.zeros(0, 4)
    ys = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)
    from training.targets import SetValuedCrossEntropy

    loss = float(SetValuedCrossEntropy()(out, ys)) if len(ys) else float("nan")
    return out.numpy(), ys.numpy(), loss
