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


def _card_figure(card: Any, name: str, rate: str) -> float | None:
    sections = getattr(getattr(card, "metrics", None), "sections", None) or {}
    per_class = sections.get("per_class") or {}
    value = (per_class.get(name) or {}).get(rate) if isinstance(per_class, Mapping) else None
    return None if value is None else float(value)


def verdict_lines(result: Mapping[str, Any], card: Any) -> list[str]:
    """Plain words: acceptance, then every class whose CI lies below the card's test figure."""
    lines = []
    acc = result["gate_acceptance"]["overall"]
    if acc is not None:
        word = "as expected" if acc >= 0.97 else "LOWER than on the training sources: adapt the gate"
        lines.append(
            f"The input gate accepted {acc:.0%} of the site's films ({word}; the card's test split: "
            f"{card.gate.to_dict().get('test_acceptance', 'n/a')})."
        )
    worse: list[str] = []
    held: list[str] = []
    for name, entry in (result.get("per_class") or {}).items():
        for rate in ("sensitivity", "specificity"):
            card_value = _card_figure(card, name, rate)
            hi = (entry.get(f"{rate}_ci95") or [None, None])[1]
            if card_value is None or hi is None:
                continue
            text = f"{name} {rate} {entry[rate]:.2f} (95% CI up to {hi:.2f}; card {card_value:.2f})"
            (worse if hi < card_value else held).append(text)
    if worse:
        lines.append(
            "Below the model card at this site: " + "; ".join(worse) + ". Do not rely on these "
            "calls here without adaptation (radiview site adapt) and a new validation."
        )
    if held:
        lines.append(
            "Consistent with the model card (CI reaches the card's figure): " + "; ".join(held) + "."
        )
    ece = result.get("ece")
    if ece is not None:
        lines.append(
            f"Calibration: ECE {ece:.3f} "
            f"({'good' if ece <= 0.05 else 'probabilities are off; adapt the temperature'})."
        )
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
    report["verdict"] = verdict_lines(report, classifier.card)
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
