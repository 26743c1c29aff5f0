"""The model card as a reader wants it: what the model is for, what it cannot do, how well it
did on held-out films (tables, percentages, "n/a" where a figure cannot exist), and what the
app warns about. Pure HTML building, no widgets: the About dialog shows it."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

from radiview.inference.flags import reading_policy
from radiview.inference.wording import class_title

#: Words for card keys that a generic "snake_case → Sentence" would mangle.
KEY_TITLES = {
    "auc": "AUC",
    "macro_auc": "Macro AUC",
    "ppv": "PPV",
    "n": "n",
    "ci95": "95 % CI",
    "ece_15_bins": "ECE (15 bins)",
    "ood": "Out-of-distribution set",
    "sha256": "SHA-256",
}
NOT_AVAILABLE = "n/a"


def key_title(key: Any) -> str:
    text = str(key)
    return KEY_TITLES.get(text, text.replace("_", " ").capitalize())


def cell(value: Any, percent: bool = False) -> str:
    """One table cell: None → "n/a" (e.g. a macro AUC over a single-class source)."""
    if value is None:
        return NOT_AVAILABLE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value * 100:.1f} %" if percent else f"{value:.4g}"
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"{cell(value[0], percent)} – {cell(value[1], percent)}"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v, percent) for v in value) or "none"
    return html.escape(str(value))


def table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = "".join(f"<th align='left' style='padding-right:10px'>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td style='padding-right:10px'>{c}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table cellspacing='0' cellpadding='2'><tr>{head}</tr>{body}</table>"


def _per_class(metrics: Mapping[str, Any]) -> str:
    per_class = metrics.get("per_class") or {}
    ci = (metrics.get("ci95") or {}).get("sensitivity", {})
    rows = [
        [
            html.escape(class_title(label)),
            cell(m.get("n")),
            cell(m.get("sensitivity"), True),
            cell(ci.get(label), True) if label in ci else NOT_AVAILABLE,
            cell(m.get("specificity"), True),
            cell(m.get("ppv"), True),
            cell(m.get("auc")),
        ]
        for label, m in per_class.items()
    ]
    header = ("Class", "n", "Sensitivity", "95 % CI", "Specificity", "PPV", "AUC")
    return table(header, rows) if rows else ""


def _groups(groups: Mapping[str, Any], name: str) -> str:
    """by_source / by_age_group: n, accuracy, macro AUC, sensitivity per class present."""
    rows = []
    for group, m in groups.items():
        sens = ", ".join(
            f"{html.escape(class_title(k))} {cell(v, True)}" for k, v in (m.get("sensitivity") or {}).items()
        )
        rows.append(
            [
                html.escape(str(group)),
                cell(m.get("n")),
                cell(m.get("accuracy"), True),
                cell(m.get("macro_auc")),
                sens,
            ]
        )
    return table((name, "n", "Accuracy", "Macro AUC", "Sensitivity"), rows)


def _confusion(matrix: Mapping[str, Any]) -> str:
    labels = matrix.get("rows_true_cols_predicted") or []
    values = matrix.get("matrix") or []
    if not labels or not values:
        return ""
    header = ["True ↓ / called →", *(class_title(lb) for lb in labels)]
    rows = [
        [html.escape(class_title(lb)), *(cell(v) for v in row)]
        for lb, row in zip(labels, values, strict=False)
    ]
    return table(header, rows)


def leave_one_source_out_html(runs: Mapping[str, Any]) -> str:
    """One row per held-out source: how the model did on a hospital it never saw."""
    rows = []
    for name, run in runs.items():
        if not isinstance(run, Mapping):
            continue
        pneumonia = run.get("pneumonia") or {}
        rows.append(
            [
                html.escape(str(name)),
                cell(run.get("n")),
                cell(run.get("gate_acceptance"), True),
                cell(run.get("hit_rate"), True),
                cell(run.get("covid19_sensitivity"), True),
                cell(run.get("non_covid_called_covid19"), True),
                cell(pneumonia.get("called_covid19"), True) if pneumonia.get("n") else NOT_AVAILABLE,
            ]
        )
    header = (
        "Held out",
        "n",
        "Gate accepted",
        "Correct",
        "COVID-19 sensitivity",
        "Non-COVID called COVID-19",
        "Pneumonia called COVID-19",
    )
    return table(header, rows) if rows else ""


def metrics_html(metrics: Mapping[str, Any]) -> str:
    if not metrics:
        return "<p><i>The card records no test metrics.</i></p>"
    ci = metrics.get("ci95") or {}
    parts = [
        f"<p>{html.escape(str(metrics.get('split', 'test split')))}: n = {cell(metrics.get('n'))}. "
        f"Accuracy {cell(metrics.get('accuracy'), True)} (95 % CI {cell(ci.get('accuracy'), True)}), "
        f"macro AUC {cell(metrics.get('macro_auc'))} (95 % CI {cell(ci.get('macro_auc'))}).</p>",
        _per_class(metrics),
    ]
    if metrics.get("confusion_matrix"):
        parts.append(f"<h4>Confusion matrix</h4>{_confusion(metrics['confusion_matrix'])}")
    if metrics.get("by_source"):
        parts.append(f"<h4>By source</h4>{_groups(metrics['by_source'], 'Source')}")
    if metrics.get("leave_one_source_out"):
        parts.append(
            "<h4>Leave one source out (a hospital the model never saw)</h4>"
            + leave_one_source_out_html(metrics["leave_one_source_out"])
        )
    if metrics.get("by_age_group"):
        parts.append(f"<h4>By age group</h4>{_groups(metrics['by_age_group'], 'Age group')}")
    shortcut = metrics.get("shortcut") or {}
    if shortcut:
        rows = [
            [html.escape(key_title(k)), cell(v.get("n")), cell(v.get("called_covid19"), True)]
            for k, v in shortcut.items()
            if isinstance(v, Mapping)
        ]
        parts.append(f"<h4>Shortcut checks</h4>{table(('Films', 'n', 'Called COVID-19'), rows)}")
    ece = (metrics.get("calibration") or {}).get("ece_15_bins") or {}
    if ece:
        rows = [[html.escape(split), cell(v.get("before")), cell(v.get("after"))] for split, v in ece.items()]
        parts.append(f"<h4>Calibration (ECE, 15 bins)</h4>{table(('Split', 'Before', 'After'), rows)}")
    return "".join(parts)


def flags_policy_html(card: Any) -> str:
    """What the app warns about beside a reading, as this card sets it."""
    policy = reading_policy(card)
    lifted = ", ".join(policy["lifted"]) or "none"
    items = [
        f"Adult film (age ≥ {cell(policy['adult_from_years'])}): normal adults are sometimes called "
        "COVID-19 and adult pneumonia causes are not told apart (figures: leave-one-source-out table).",
        "Age unknown (every JPEG/PNG, and DICOM without age or birth date): the model is unreliable "
        "on adults' films.",
        "Source not validated: every JPEG/PNG, and DICOM from a source not listed as validated ("
        + (", ".join(map(str, policy["validated_dicom_sources"])) or "none listed")
        + ").",
        "View AP, portable or supine; view unknown when the film does not say.",
        "Unknown age, view or source are not warned about when a validated site model covers the film.",
        f"Low confidence: pneumonia-or-not (step one of the headline) under "
        f"{cell(float(policy['low_confidence_below']), True)}.",
        f"No heatmap for a class under {cell(float(policy['heatmap_min_probability']), True)}, nor for "
        + ", ".join(class_title(lb) for lb in policy["no_heatmap_labels"])
        + ".",
        f"Warnings lifted by this model's validation: {html.escape(lifted)}.",
    ]
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def training_data_html(data: Mapping[str, Any]) -> str:
    counts = data.get("counts") or {}
    parts = []
    if counts:
        sources = sorted({s for split in counts.values() for s in split})
        rows = [
            [html.escape(source)]
            + [cell(sum((counts.get(split, {}).get(source) or {}).values())) for split in counts]
            for source in sources
        ]
        totals = data.get("totals") or {}
        rows.append(["<b>Total</b>", *(cell(totals.get(split)) for split in counts)])
        parts.append(table(("Source", *counts), rows))
    facts = {k: v for k, v in data.items() if k not in ("counts", "totals") and not isinstance(v, Mapping)}
    if facts:
        parts.append(table(("", ""), ([html.escape(key_title(k)), cell(v)] for k, v in facts.items())))
    return "".join(parts)


def _check_rows(check: Mapping[str, Any]) -> list[list[str]]:
    before, after = check.get("before") or {}, check.get("after") or {}
    rows = [
        [
            "Gate acceptance",
            cell((before.get("gate_acceptance") or {}).get("overall"), True),
            cell((after.get("gate_acceptance") or {}).get("overall"), True),
        ],
        ["ECE", cell(before.get("ece")), cell(after.get("ece"))],
    ]
    for name, entry in (after.get("per_class") or {}).items():
        old = (before.get("per_class") or {}).get(name) or {}
        for rate in ("sensitivity", "specificity"):
            if entry.get(rate) is None:
                continue
            rows.append(
                [
                    html.escape(f"{class_title(name)} {rate}"),
                    f"{cell(old.get(rate), True)} ({cell(old.get(rate + '_ci95'), True)})",
                    f"{cell(entry.get(rate), True)} ({cell(entry.get(rate + '_ci95'), True)})",
                ]
            )
    return rows


def site_html(site: Mapping[str, Any]) -> str:
    """A site model's section: who adapted it on what, what was (not) adapted, and the check part
    before (the base) and after (the site model), with 95 % CIs."""
    split = site.get("split") or {}
    counts = ", ".join(f"{html.escape(class_title(k))} {v}" for k, v in (site.get("counts") or {}).items())
    points = ", ".join(
        f"{html.escape(class_title(k))} ≥ {cell(v)}" for k, v in (site.get("operating_points") or {}).items()
    )
    parts = [
        f"<p><b>{html.escape(str(site.get('name', '')))}</b>, "
        f"adapted {html.escape(str(site.get('date', '')))} "
        f"on {counts or 'n/a'}. {html.escape(str(split.get('method', '')))}: "
        f"{cell(split.get('check_films'))} check films.</p>",
        f"<p>{html.escape(str(site.get('summary', '')))}</p>",
        "<p>Adapted:</p><ul>"
        + "".join(f"<li>{html.escape(str(a))}</li>" for a in site.get("adapted", []))
        + "</ul>",
    ]
    if site.get("not_adapted"):
        parts.append(
            "<p>Not adapted:</p><ul>"
            + "".join(f"<li>{html.escape(str(a))}</li>" for a in site["not_adapted"])
            + "</ul>"
        )
    parts.append(f"<p>Operating points: {points or 'none (the top class is called)'}.</p>")
    if site.get("check"):
        parts.append(table(("Check part", "Base", "Site model"), _check_rows(site["check"])))
    return "".join(parts)
