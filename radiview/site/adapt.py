"""``radiview site adapt``: fit what the site's labels can support, report it on the check part.

Films are featured once. Patients are split, stratified by label, into an adapt and a check part
(sites with fewer than CROSSFIT_BELOW patients: two-fold cross-fitting, every film checked once by
the parts fitted on the other half, and the shipped parts fitted on all films). Every figure is
reported on the check part, before (base) and after (site). The base bundle is never modified.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radiview.inference.metrics import bootstrap_interval
from radiview.inference.site_bundle import load_ood_bank, read_site_reference, write_site_bundle
from radiview.site.features import SiteFeatures, extract_site_features, gate_scores
from radiview.site.fit import (
    MIN_HEAD_PER_LABEL,
    OOD_REFUSAL,
    SiteFit,
    fit_calibration,
    fit_gate_for_site,
    fit_logit_head,
    label_groups,
    passes_basic_checks,
)
from radiview.site.labels import (
    SiteInputError,
    check_splittable,
    read_site_labels,
    split_patients,
    truth_set,
)
from radiview.site.report import ModelParts, Readings, performance, read_films, shift_figures
from radiview.site.site_card import build_site_card, site_tensors
from radiview.site.validate import classifier_parts

log = logging.getLogger("radiview.site")

CROSSFIT_BELOW = 1000  # patients: below, two-fold cross-fitting (twice the check films, steadier fits)


@dataclass
class SiteData:
    """The featured films with their labels, patients and truth sets (row i = feats.files[i])."""

    feats: SiteFeatures
    site_labels: list[str]
    patients: list[str]
    truth: list[frozenset[int]]

    def take(self, rows: np.ndarray) -> SiteData:
        return SiteData(
            self.feats.subset(rows),
            [self.site_labels[i] for i in rows],
            [self.patients[i] for i in rows],
            [self.truth[i] for i in rows],
        )


@dataclass
class Variant:
    """One way to read the site's films: the fitted parts and, for a head refit, its weights."""

    fit: SiteFit

    def logits(self, data: SiteData) -> np.ndarray:
        if self.fit.head is None:
            return data.feats.logits
        w, b = self.fit.head  # logit space (fit_logit_head)
        return data.feats.logits @ w.T + b

    def read(self, data: SiteData) -> Readings:
        return read_films(self.fit.parts, data.feats, self.logits(data))


def fit_variants(
    base: ModelParts, classifier: Any, data: SiteData, bank: Any, covid_specificity: float
) -> tuple[Variant, Variant | None]:
    """Threshold-only adaptation (gate, temperature, points) and, with enough labels, a head refit."""
    basic = passes_basic_checks(base.gate_spec, data.feats)
    rows = np.flatnonzero(basic)
    if len(rows) < 10:
        raise SiteInputError(
            f"only {len(rows)} of {len(basic)} adaptation films are frontal greyscale radiographs by the "
            "gate's own checks (view position, near-uniform image, colour photograph): nothing to fit on"
        )
    fitted = data.take(rows)
    gate, spec, gate_info = fit_gate_for_site(
        base.gate, base.gate_spec, fitted.feats, fitted.site_labels, fitted.patients, bank
    )
    gated = replace(base, gate=gate, gate_spec=spec)
    accepted = read_films(gated, data.feats).accepted
    ok = data.take(np.flatnonzero(accepted))
    gate_note = f"gate refitted on the site's films ({gate_info['clusters']} cluster(s))"
    variants = []
    refit = _head_for(classifier, ok)
    candidates: list[tuple[np.ndarray, np.ndarray] | None] = [None] if refit is None else [None, refit]
    for head in candidates:
        logit_map = head
        logits = ok.feats.logits if head is None else ok.feats.logits @ head[0].T + head[1]
        temperature, shift, points, adapted, notes = fit_calibration(
            logits,
            ok.truth,
            ok.site_labels,
            list(base.labels),
            base.temperature if head is None else 1.0,
            covid_specificity,
            refit_temperature=head is None,
        )
        parts = replace(gated, temperature=temperature, operating_points=points)
        if head is not None:
            adapted = [
                *adapted,
                "head refit in logit space (W z + b, L2 toward the temperature-scaled base head)",
            ]
        elif shift.any():
            logit_map = (
                np.eye(len(shift)),
                shift,
            )  # the class-prior shift, folded into the last layer's bias
        adapted = [gate_note, *adapted]
        if not gate_info["ood_target_met"]:
            notes = [
                *notes,
                f"gate: even at the strictest threshold tried it refuses only "
                f"{gate_info['ood']['refusal_rate']:.1%} of the bundled out-of-distribution films "
                f"(target {OOD_REFUSAL:.0%}); more site films would tighten it",
            ]
        variants.append(Variant(SiteFit(parts, logit_map, adapted, notes, gate_info)))
    return variants[0], (variants[1] if len(variants) > 1 else None)


def _head_for(classifier: Any, data: SiteData) -> tuple[np.ndarray, np.ndarray] | None:
    groups = label_groups(data.site_labels)
    if sum(1 for n in groups.values() if n >= MIN_HEAD_PER_LABEL) < 2:
        return None
    mask = np.zeros((len(data.truth), len(classifier.labels)), dtype=bool)
    for i, members in enumerate(data.truth):
        mask[i, list(members)] = True
    return fit_logit_head(data.feats.logits, mask)


def balanced_hits(readings: Readings, data: SiteData) -> np.ndarray:
    """Per film: 1 if accepted and called inside its truth set, else 0 (a refusal is no help)."""
    return np.asarray(
        [
            float(ok and int(c) in t)
            for ok, c, t in zip(readings.accepted, readings.called, data.truth, strict=True)
        ]
    )


def paired_gain(a: np.ndarray, b: np.ndarray, data: SiteData, n_boot: int) -> dict[str, Any]:
    """Label-balanced accuracy of ``b`` minus ``a`` on the same films, with a patient-bootstrap CI."""
    labels = np.asarray(data.site_labels)
    groups = sorted(set(labels.tolist()))

    def stat(idx: np.ndarray) -> list[float]:
        lab = labels[idx]
        diffs = [(b[idx][lab == g].mean() - a[idx][lab == g].mean()) for g in groups if (lab == g).any()]
        return [float(np.mean(diffs))]

    point = stat(np.arange(len(a)))[0]
    return {"gain": round(point, 4), "ci95": bootstrap_interval(stat, data.patients, n_boot)[0]}


def _folds(data: SiteData) -> tuple[str, list[tuple[np.ndarray, np.ndarray]]]:
    check = split_patients(data.site_labels, data.patients, 0.5, seed=0)
    halves = [(np.flatnonzero(~check), np.flatnonzero(check))]
    if len(set(data.patients)) < CROSSFIT_BELOW:
        halves.append((np.flatnonzero(check), np.flatnonzero(~check)))
        return (
            "two-fold cross-fitting by patient (stratified by label); final parts fitted on all films",
            halves,
        )
    return "one split by patient (stratified by label): half adapt, half check", halves


def adapt_site(
    classifier: Any,
    films_dir: str | Path,
    labels_csv: str | Path,
    out_dir: str | Path,
    name: str = "",
    covid_specificity: float = 0.95,
    n_boot: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Adapt on the site's films and write the site bundle into ``out_dir``; returns its site card."""
    films = read_site_labels(films_dir, labels_csv)
    out = Path(out_dir)
    _check_output(out, classifier)
    feats = extract_site_features(classifier, [(f.file, f.path) for f in films], progress=progress)
    by_file = {f.file: f for f in films}
    rows = [by_file[k] for k in feats.files]
    labels = list(classifier.labels)
    data = SiteData(
        feats,
        [f.label for f in rows],
        [f.patient_id for f in rows],
        [truth_set(f.label, labels) for f in rows],
    )
    check_splittable(data.site_labels, data.patients)
    base = classifier_parts(classifier)
    bank = load_ood_bank(classifier.bundle_dir)
    method, folds = _folds(data)
    result = _cross_check(base, classifier, data, folds, bank, covid_specificity, n_boot)
    final = (
        result["fold_variants"][0]
        if len(folds) == 1
        else fit_variants(base, classifier, data, bank, covid_specificity)
    )
    chosen = final[1] if (result["head_kept"] and final[1] is not None) else final[0]
    reference = read_site_reference(classifier.bundle_dir).get("val_gate_distance_quantiles", {})
    thresholds = [base.gate_spec.threshold] + (
        [base.gate_spec.spatial.threshold] if base.gate_spec.spatial else []
    )
    context = {
        "name": name or out.resolve().name,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "films": films,
        "data": data,
        "method": method,
        "folds": folds,
        "shift": shift_figures(gate_scores(base.gate, feats), reference, thresholds),
        "covid_specificity": covid_specificity,
    }
    card = build_site_card(classifier, chosen.fit, result, context)
    tensors = site_tensors(classifier, chosen.fit)
    return write_site_bundle(
        out, card, {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in tensors.items()}
    )


def _check_output(out: Path, classifier: Any) -> None:
    if (out / "model_card.json").exists() or (
        classifier.bundle_dir is not None and out.resolve() == Path(classifier.bundle_dir).resolve()
    ):
        raise SiteInputError("is a base model bundle: a site bundle goes into its own folder", out)
    if out.exists() and any(out.iterdir()) and not (out / "site_card.json").exists():
        raise SiteInputError("exists and is not empty (nor an earlier site bundle): choose a new folder", out)


def _cross_check(
    base: ModelParts,
    classifier: Any,
    data: SiteData,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    bank: Any,
    covid_specificity: float,
    n_boot: int,
) -> dict[str, Any]:
    """Fit on each adapt part, read its check part; pool the check readings of every fold."""
    order, before, thresh_only, head = [], [], [], []
    fold_variants = []
    for adapt_rows, check_rows in folds:
        variants = fit_variants(base, classifier, data.take(adapt_rows), bank, covid_specificity)
        fold_variants.append(variants)
        check = data.take(check_rows)
        order.append(check_rows)
        before.append(read_films(base, check.feats))
        thresh_only.append(variants[0].read(check))
        head.append(variants[1].read(check) if variants[1] is not None else None)
    rows = np.concatenate(order)
    check = data.take(rows)
    pooled = {"before": _pool(before), "after": _pool(thresh_only)}
    out: dict[str, Any] = {"check": check, "fold_variants": fold_variants, "head_kept": False}
    if all(h is not None for h in head):
        head_pooled = _pool([h for h in head if h is not None])
        gain = paired_gain(
            balanced_hits(pooled["after"], check), balanced_hits(head_pooled, check), check, n_boot
        )
        out["head_test"] = gain
        lo = gain["ci95"][0]
        if lo is not None and lo > 0:
            out["head_kept"] = True
            pooled["after"] = head_pooled
    out["readings"] = pooled
    out["site_vs_base"] = paired_gain(
        balanced_hits(pooled["before"], check), balanced_hits(pooled["after"], check), check, n_boot
    )
    labels = list(base.labels)
    out["performance"] = {
        when: performance(
            r,
            check.truth,
            check.patients,
            check.site_labels,
            labels,
            fold_variants[0][0].fit.parts.operating_points if when == "after" else base.operating_points,
            n_boot,
        )
        for when, r in pooled.items()
    }
    return out


def _pool(parts: Sequence[Readings]) -> Readings:
    return Readings(
        np.concatenate([p.scores for p in parts]),
        np.concatenate([p.accepted for p in parts]),
        [r for p in parts for r in p.reasons],
        np.concatenate([p.probs for p in parts]),
        np.concatenate([p.called for p in parts]),
    )
