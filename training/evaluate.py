"""Test-split metrics in plain numpy: accuracy, per-class sensitivity/specificity/PPV, one-vs-rest ROC AUC,
confusion matrix, patient-level bootstrap CIs, and the per-source / adult-vs-pediatric breakdown that makes
the age/source confound visible."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from training.data.sources import LABELS, Record


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows = true class, columns = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def per_class_rates(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Sensitivity (recall), specificity and PPV (precision) per class; NaN where undefined."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    fn = cm.sum(axis=1) - tp
    fp = cm.sum(axis=0) - tp
    tn = cm.sum() - tp - fn - fp
    sens = np.array([_ratio(a, a + b) for a, b in zip(tp, fn, strict=True)])
    spec = np.array([_ratio(a, a + b) for a, b in zip(tn, fp, strict=True)])
    ppv = np.array([_ratio(a, a + b) for a, b in zip(tp, fp, strict=True)])
    return {"sensitivity": sens, "specificity": spec, "ppv": ppv}


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    # ties share the mean of their 1-based positions
    boundaries = np.flatnonzero(np.diff(sorted_vals)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(values)]))
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    return ranks


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney U / (n_pos·n_neg)), ties counted half; NaN if one class."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate) at every distinct threshold, from (0, 0) to (1, 1)."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    order = np.argsort(-scores, kind="mergesort")
    s, p = scores[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(p)[last]
    fps = (last + 1) - tps
    tpr = np.r_[0.0, tps / max(p.sum(), 1)]
    fpr = np.r_[0.0, fps / max((~p).sum(), 1)]
    return fpr, tpr


def macro_auc(probs: np.ndarray, y_true: np.ndarray) -> float:
    """Mean one-vs-rest AUC over the classes that have both positives and negatives."""
    aucs = [roc_auc(probs[:, k], y_true == k) for k in range(probs.shape[1])]
    aucs = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


def summarize(probs: np.ndarray, y_true: np.ndarray, labels: Sequence[str] = LABELS) -> dict[str, Any]:
    """All point metrics of one set of predictions, JSON-ready."""
    y_true = np.asarray(y_true)
    pred = probs.argmax(axis=1)
    cm = confusion_matrix(y_true, pred, len(labels))
    rates = per_class_rates(cm)
    per_class = {
        name: {
            "n": int(cm[k].sum()),
            "sensitivity": _clean(rates["sensitivity"][k]),
            "specificity": _clean(rates["specificity"][k]),
            "ppv": _clean(rates["ppv"][k]),
            "auc": _clean(roc_auc(probs[:, k], y_true == k)),
        }
        for k, name in enumerate(labels)
    }
    return {
        "n": len(y_true),
        "accuracy": _clean(float((pred == y_true).mean()) if len(y_true) else float("nan")),
        "macro_auc": _clean(macro_auc(probs, y_true)),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


def _clean(value: float) -> float | None:
    """NaN → None so the card is valid JSON."""
    value = float(value)
    return None if np.isnan(value) else round(value, 4)


def bootstrap_ci(
    probs: np.ndarray,
    y_true: np.ndarray,
    groups: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    labels: Sequence[str] = LABELS,
) -> dict[str, Any]:
    """95% percentile intervals of accuracy, macro AUC and per-class sensitivity, resampling patients
    (all films of a drawn patient come along), so correlated films of one patient do not narrow them."""
    y_true = np.asarray(y_true)
    pred = probs.argmax(axis=1)
    uniq, inverse = np.unique(np.asarray(groups), return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    acc, auc = [], []
    sens: list[list[float]] = [[] for _ in labels]
    for _ in range(n_boot):
        drawn = rng.integers(0, len(uniq), size=len(uniq))
        idx = np.concatenate([members[g] for g in drawn])
        yt, pr = y_true[idx], pred[idx]
        acc.append(float((yt == pr).mean()))
        auc.append(macro_auc(probs[idx], yt))
        for k in range(len(labels)):
            pos = yt == k
            if pos.any():
                sens[k].append(float((pr[pos] == k).mean()))

    def interval(values: list[float]) -> list[float | None]:
        vals = np.asarray([v for v in values if not np.isnan(v)])
        if len(vals) == 0:
            return [None, None]
        lo, hi = np.percentile(vals, [2.5, 97.5])
        return [round(float(lo), 4), round(float(hi), 4)]

    return {
        "method": f"patient-level bootstrap, {n_boot} resamples, 95% percentile interval",
        "accuracy": interval(acc),
        "macro_auc": interval(auc),
        "sensitivity": {name: interval(sens[k]) for k, name in enumerate(labels)},
    }


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
