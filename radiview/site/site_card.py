"""The site card (``site_card.json``) and the site's tensors, from a fitted adaptation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from radiview.inference.flags import reading_policy
from radiview.site.features import SOURCE_FIELDS
from radiview.site.fit import SiteFit, fold_into_last_layer
from radiview.site.labels import label_counts


def site_tensors(classifier: Any, fit: SiteFit) -> dict[str, np.ndarray]:
    """``gate.*`` (the whole refitted gate) and, when a head refit was kept, the last layer's ``head.*``."""
    out = {f"gate.{k}": v for k, v in fit.parts.gate.tensors().items()}
    if fit.head is not None:
        index = len(classifier.network.head) - 1
        layer = classifier.network.head[index]
        weight, bias = fold_into_last_layer(
            layer.weight.detach().cpu().double().numpy(),
            layer.bias.detach().cpu().double().numpy(),
            *fit.head,
        )
        out[f"head.{index}.weight"], out[f"head.{index}.bias"] = weight, bias
    return out


def dicom_sources(sources: list[dict[str, str]]) -> list[dict[str, str]]:
    """The distinct institution / manufacturer / model triples of the DICOM adaptation films."""
    seen = {tuple(s.get(k, "") for k in SOURCE_FIELDS) for s in sources if s}
    return [dict(zip(SOURCE_FIELDS, triple, strict=True)) for triple in sorted(seen) if any(triple)]


def monitor_reference(readings: Any, labels: list[str], low_confidence_below: float) -> dict[str, Any]:
    """What ``radiview site monitor`` compares a report with: the check part under the site model."""
    ok = readings.accepted
    top = readings.probs.max(axis=1)
    called = readings.called[ok]
    quantiles = np.linspace(0, 1, 21)
    return {
        "n": len(ok),
        "refusal_rate": round(float((~ok).mean()), 4),
        "class_mix": {
            name: round(float((called == k).mean()), 4) if len(called) else 0.0
            for k, name in enumerate(labels)
        },
        "low_confidence_share": round(float((top[ok] < low_confidence_below).mean()), 4) if ok.any() else 0.0,
        "low_confidence_below": low_confidence_below,
        "gate_distance_quantiles": {
            "quantiles": [round(float(q), 2) for q in quantiles],
            "global": [round(float(v), 3) for v in np.quantile(readings.scores[:, 0], quantiles)],
        },
    }


def _summary(result: Mapping[str, Any], fit: SiteFit) -> str:
    gain = result["site_vs_base"]
    lo = gain["ci95"][0]
    after = result["performance"]["after"]["gate_acceptance"]["overall"]
    before = result["performance"]["before"]["gate_acceptance"]["overall"]
    verdict = (
        "the site model beats the base on the check part"
        if lo is not None and lo > 0
        else "the site model does NOT beat the base on the check part by more than its CI; "
        "the base stays the default"
    )
    return (
        f"{verdict} (label-balanced accuracy gain {gain['gain']:+.3f}, "
        f"95% CI {gain['ci95'][0]}–{gain['ci95'][1]}; "
        f"gate acceptance {before:.1%} → {after:.1%})"
    )


def build_site_card(
    classifier: Any, fit: SiteFit, result: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    data, folds = context["data"], context["folds"]
    films = context["films"]
    check = result["check"]
    head_note = (
        "head refit kept: it beat threshold-only adaptation on the check part by more than its CI"
        if result["head_kept"]
        else (
            "base head kept: the head refit did not beat threshold-only adaptation on the check part "
            "by more than its CI"
            if "head_test" in result
            else "base head kept: too few labels for a head refit"
        )
    )
    not_adapted = list(fit.not_adapted) + ([] if result["head_kept"] else [head_note])
    policy = reading_policy(classifier.card)
    card: dict[str, Any] = {
        "base": {
            "name": classifier.card.name,
            "version": classifier.card.version,
            "weights_sha256": classifier.card.weights_sha256,
        },
        "site": {
            "name": context["name"],
            "date": context["date"],
            "films_listed": len(films),
            "counts": label_counts(films),
            "unreadable": data.feats.unreadable,
            "split": {
                "method": context["method"],
                "folds": len(folds),  # 2: cross-fitted (adapt_films per fold; the shipped parts use all)
                "adapt_films": len(folds[0][0]),
                "check_films": len(check.site_labels),
                "patients": len(set(data.patients)),
                "check_counts": {k: check.site_labels.count(k) for k in sorted(set(check.site_labels))},
            },
            "adapted": list(fit.adapted) + ([head_note] if result["head_kept"] else []),
            "not_adapted": not_adapted,
            "head": head_note,
            "head_test": result.get("head_test"),
            "check": {
                "before": result["performance"]["before"],
                "after": result["performance"]["after"],
                "site_vs_base": result["site_vs_base"],
            },
            "gate": fit.gate_info,
            "covid_specificity_target": context["covid_specificity"],
            "shift": context["shift"],
            "monitor_reference": monitor_reference(
                result["readings"]["after"], list(classifier.labels), float(policy["low_confidence_below"])
            ),
        },
        "temperature": fit.parts.temperature,
        "operating_points": dict(fit.parts.operating_points),
        "gate": fit.parts.gate_spec.to_dict(),
        "dicom_sources": dicom_sources(data.feats.dicom_sources),
    }
    card["site"]["summary"] = _summary(result, fit)
    return card
