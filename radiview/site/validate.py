"""``radiview site validate``: measure a model (the bundled one, or a site bundle) on a site's films.

Each film is decoded and passed through the network once (``extract_site_features``); the gate,
probabilities, metrics with patient-level CIs, operating points and shift figures are arithmetic on
those arrays. Writes ``report.json`` and ``report.pdf`` into the output folder.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from radiview import RESEARCH_NOTICE
from radiview.atomic import atomic_write
from radiview.inference.site_bundle import read_site_reference
from radiview.site.features import SiteFeatures, extract_site_features
from radiview.site.labels import LabelledFilm, SiteInputError, label_counts, read_site_labels, truth_set
from radiview.site.pdf import PlotData, write_site_pdf
from radiview.site.report import ModelParts, Readings, performance, read_films, shift_figures

log = logging.getLogger("radiview.site")

__all__ = ["classifier_parts", "validate_site", "verdict_lines"]


def classifier_parts(classifier: Any) -> ModelParts:
    """The classifier's own gate, temperature and operating points, to apply to features."""
    return ModelParts(
        gate=classifier.gate_fit(),
        gate_spec=classifier.card.gate,
        temperature=float(classifier.card.temperature),
        operating_points=dict(classifier.operating_points),
        labels=tuple(classifier.labels),
    )


def distance_reference(classifier: Any) -> dict[str, Any]:
    """The gate-distance quantiles to compare a site's films with: the card's val split for a base
    model; the site's own check part for a site model (its gate measures distance to the site)."""
    if classifier.site:
        ref = dict(classifier.site["site"].get("monitor_reference", {}).get("gate_distance_quantiles", {}))
        return {**ref, "what": "the site's check part", "n": classifier.site["site"]["split"]["check_films"]}
    ref = dict(read_site_reference(classifier.bundle_dir).get("val_gate_distance_quantiles", {}))
    return {**ref, "what": "the card's val split"} if ref else {}


def _reference_figures(card: Any, site: Mapping[str, Any] | None) -> dict[str, Any]:
    """Per-class figures to compare with: a site model's own check part, else the card's test split."""
    if site:
        return dict(((site.get("site") or {}).get("check") or {}).get("after", {}).get("per_class") or {})
    sections = getattr(getattr(card, "metrics", None), "sections", None) or {}
    per_class = sections.get("per_class") or {}
    return dict(per_class) if isinstance(per_class, Mapping) else {}


def verdict_lines(result: Mapping[str, Any], card: Any, site: Mapping[str, Any] | None = None) -> list[str]:
    """Plain words: acceptance, then every class whose CI lies below the reference figure (the card's
    test split; for a site model, its check part at adaptation)."""
    ref_name = "the site model's check part" if site else "the model card"
    lines = []
    acc = result["gate_acceptance"]["overall"]
    if acc is not None:
        word = (
            "as expected"
            if acc >= 0.97
            else "LOWER than expected: "
            + ("the films differ from the adaptation films" if site else "adapt the gate")
        )
        lines.append(f"The input gate accepted {acc:.0%} of the films ({word}).")
    reference = _reference_figures(card, site)
    worse: list[str] = []
    held: list[str] = []
    for name, entry in (result.get("per_class") or {}).items():
        for rate in ("sensitivity", "specificity"):
            value = (reference.get(name) or {}).get(rate)
            hi = (entry.get(f"{rate}_ci95") or [None, None])[1]
            if value is None or hi is None:
                continue
            text = f"{name} {rate} {entry[rate]:.2f} (95% CI up to {hi:.2f}; reference {float(value):.2f})"
            (worse if hi < float(value) else held).append(text)
    if worse:
        advice = "re-adapt on films like these" if site else "adapt (radiview site adapt) and validate again"
        lines.append(
            f"Below {ref_name} here: " + "; ".join(worse) + f". Do not rely on these calls; {advice}."
        )
    if held:
        lines.append(f"Consistent with {ref_name} (CI reaches its figure): " + "; ".join(held) + ".")
    ece = result.get("ece")
    if ece is not None:
        verdict = "good" if ece <= 0.05 else "the probabilities are off by this much on average"
        lines.append(f"Calibration: ECE {ece:.3f} ({verdict}; target 0.05).")
    return lines


def build_report(
    classifier: Any, films: Sequence[LabelledFilm], feats: SiteFeatures, n_boot: int
) -> tuple[dict[str, Any], Readings]:
    by_file = {f.file: f for f in films}
    rows = [by_file[name] for name in feats.files]
    labels = tuple(classifier.labels)
    truth = [truth_set(f.label, labels) for f in rows]
    parts = classifier_parts(classifier)
    readings = read_films(parts, feats)
    result = performance(
        readings,
        truth,
        [f.patient_id for f in rows],
        [f.label for f in rows],
        labels,
        parts.operating_points,
        n_boot,
    )
    reference = distance_reference(classifier)
    thresholds = [parts.gate_spec.threshold] + (
        [parts.gate_spec.spatial.threshold] if parts.gate_spec.spatial else []
    )
    report: dict[str, Any] = {
        "kind": "radiview-site-validation",
        "notice": RESEARCH_NOTICE,
        "model": classifier.model_name,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "films_listed": len(films),
        "counts": label_counts(films),
        "unreadable": feats.unreadable,
        "operating_points": dict(parts.operating_points) or "argmax (the base model calls its top class)",
        "temperature": parts.temperature,
        **result,
        "shift": shift_figures(readings.scores, reference, thresholds),
    }
    report["verdict"] = verdict_lines(report, classifier.card, classifier.site)
    return report, readings


def validate_site(
    classifier: Any,
    films_dir: str | Path,
    labels_csv: str | Path,
    out_dir: str | Path,
    n_boot: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Feature the films once, measure, and write report.json + report.pdf into ``out_dir``."""
    films = read_site_labels(films_dir, labels_csv)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    feats = extract_site_features(classifier, [(f.file, f.path) for f in films], progress=progress)
    if not feats.files:
        raise SiteInputError("no film of the labels CSV could be read", labels_csv)
    report, readings = build_report(classifier, films, feats, n_boot)
    with atomic_write(out / "report.json", "w", encoding="utf-8") as fh:
        fh.write(json.dumps(report, indent=2) + "\n")
    by_file = {f.file: f for f in films}
    plot = PlotData(
        labels=tuple(classifier.labels),
        probs=readings.probs,
        accepted=readings.accepted,
        truth=[truth_set(by_file[name].label, classifier.labels) for name in feats.files],
        scores=readings.scores,
        reference=distance_reference(classifier),
        threshold=float(classifier.card.gate.threshold),
    )
    write_site_pdf(out / "report.pdf", report, plot)
    return report
