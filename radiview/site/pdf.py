"""The site report's PDF (matplotlib, Agg): verdict and tables, reliability diagram, confusion matrix,
ROC curves, and the gate-distance histogram of the site against the card's validation split."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radiview import RESEARCH_NOTICE, __version__
from radiview.atomic import atomic_path
from radiview.inference.metrics import reliability_bins, roc_curve, set_membership
from radiview.site.measure import calibration_view, scored_classes

_PAGE = (8.27, 11.69)  # A4 portrait, inches


@dataclass
class PlotData:
    labels: tuple[str, ...]
    probs: np.ndarray
    accepted: np.ndarray
    truth: list[frozenset[int]]
    scores: np.ndarray
    reference: Mapping[str, Any]
    threshold: float  # the global check's


def _fmt(value: Any, ci: Sequence[Any] | None = None) -> str:
    if value is None:
        return "–"
    text = f"{value:.2f}"
    if ci and ci[0] is not None:
        text += f" ({ci[0]:.2f}–{ci[1]:.2f})"
    return text


def _summary_page(report: Mapping[str, Any]) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=_PAGE)
    fig.text(0.06, 0.955, "RadiView site validation", fontsize=16, weight="bold")
    counts = ", ".join(f"{k} {v}" for k, v in report["counts"].items())
    acc = report["gate_acceptance"]
    by_label = ", ".join(f"{k} {v:.0%}" for k, v in acc["by_label"].items() if v is not None)
    lines = [
        f"Model: {report['model']}    date: {report['date']}",
        f"Films listed: {report['films_listed']} ({counts}); unreadable: {len(report['unreadable'])}",
        f"Gate acceptance: {acc['overall']:.1%} overall; by label: {by_label}"
        if acc["overall"] is not None
        else "",
        f"Metrics on {report['metrics_on']}; ECE {_fmt(report.get('ece'), report.get('ece_ci95'))}",
    ]
    y = 0.92
    for line in lines:
        fig.text(0.06, y, line, fontsize=8.5, wrap=True)
        y -= 0.022
    ax = fig.add_axes((0.06, 0.55, 0.88, 0.27))
    ax.axis("off")
    rows = [
        [name, str(e["positives"]), str(e["negatives"])]
        + [_fmt(e[r], e.get(f"{r}_ci95")) for r in ("sensitivity", "specificity", "ppv", "npv", "auc")]
        for name, e in report.get("per_class", {}).items()
    ]
    if rows:
        table = ax.table(
            cellText=rows,
            colLabels=["class", "pos", "neg", "sensitivity", "specificity", "PPV", "NPV", "AUC"],
            loc="upper center",
            cellLoc="center",
        )
        table.auto_set_font_size(False)
        table.set_fontsize(7)
        table.scale(1, 1.5)
        table.auto_set_column_width([0])
    ax.set_title(
        "Per class, with patient-level bootstrap 95% CIs (pneumonia = bacterial or viral)", fontsize=9
    )
    fig.text(0.06, 0.52, "Verdict", fontsize=11, weight="bold")
    import textwrap

    y = 0.495
    for line in report.get("verdict", []):
        for part in textwrap.wrap(line, 110):
            fig.text(0.06, y, part, fontsize=8.5)
            y -= 0.019
        y -= 0.006
    _op_table(fig, report.get("operating_point_table", {}), max(y - 0.02, 0.06))
    return fig


def _op_table(fig: Any, table: Mapping[str, Sequence[Mapping[str, Any]]], top: float) -> None:
    names = [n for n in ("covid19", "pneumonia") if table.get(n)]
    for i, name in enumerate(names):
        rows = [
            [f"{r['threshold']:.3f}", _fmt(r["sensitivity"]), _fmt(r["specificity"])] for r in table[name]
        ]
        height = min(0.022 * (len(rows) + 1), max(top - 0.06, 0.05))
        ax = fig.add_axes((0.06 + i * 0.46, top - height, 0.42, height))
        ax.axis("off")
        t = ax.table(cellText=rows, colLabels=["threshold", "sensitivity", "specificity"], loc="upper center")
        t.auto_set_font_size(False)
        t.set_fontsize(7)
        ax.set_title(f"Operating points: {name} (called when p ≥ threshold)", fontsize=8)


def _figure_page(report: Mapping[str, Any], data: PlotData) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=_PAGE)
    fig.text(
        0.06,
        0.955,
        "Calibration, confusion, ROC (films the gate accepted); gate distance (all films)",
        fontsize=12,
        weight="bold",
    )
    (ax_rel, ax_cm), (ax_roc, ax_gate) = fig.subplots(2, 2, gridspec_kw={"hspace": 0.35, "wspace": 0.35})
    ok = data.accepted
    probs, truth = data.probs[ok], [t for t, a in zip(data.truth, ok, strict=True) if a]
    if len(probs):
        grouped, mask = calibration_view(probs, truth, len(data.labels))
        top = grouped.argmax(axis=1)
        bins = reliability_bins(grouped.max(axis=1), mask[np.arange(len(top)), top])
        used = bins["count"] > 0
        centers = (bins["edges"][:-1] + bins["edges"][1:]) / 2
        ax_rel.bar(
            centers[used],
            bins["accuracy"][used],
            width=1 / len(centers),
            alpha=0.6,
            edgecolor="k",
            label="accuracy",
        )
        ax_rel.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
        ax_rel.legend(fontsize=7)
    ax_rel.set(
        title=f"Reliability (ECE {_fmt(report.get('ece'))})",
        xlabel="top-class probability",
        ylabel="share correct",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    _confusion_axes(ax_cm, report.get("confusion", {}))
    for name, members in scored_classes(data.labels).items():
        pos, neg = set_membership(truth, members)
        if pos.any() and neg.any() and len(probs):
            known = pos | neg
            fpr, tpr = roc_curve(probs[known][:, sorted(members)].sum(axis=1), pos[known])
            auc = report.get("per_class", {}).get(name, {}).get("auc")
            ax_roc.plot(fpr, tpr, label=f"{name} (AUC {_fmt(auc)})")
    ax_roc.plot([0, 1], [0, 1], "k:", lw=1)
    ax_roc.set(title="ROC (one vs rest)", xlabel="1 − specificity", ylabel="sensitivity")
    ax_roc.legend(fontsize=6, loc="lower right")
    _gate_axes(ax_gate, data)
    for ax in (ax_rel, ax_cm, ax_roc, ax_gate):
        ax.title.set_fontsize(9)
        ax.tick_params(labelsize=7)
    return fig


def _confusion_axes(ax: Any, cm: Mapping[str, Any]) -> None:
    matrix = np.asarray(cm.get("matrix") or [[0]])
    ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(v),
            ha="center",
            va="center",
            fontsize=8,
            color="white" if v > matrix.max() / 2 else "black",
        )
    ax.set_xticks(
        range(len(cm.get("cols_called", []))),
        [c.replace("_", "\n") for c in cm.get("cols_called", [])],
        fontsize=6,
    )
    ax.set_yticks(
        range(len(cm.get("rows_true", []))),
        [r.replace("_", "\n") for r in cm.get("rows_true", [])],
        fontsize=6,
    )
    ax.set(title="Confusion (rows: site label, cols: called)")


def _gate_axes(ax: Any, data: PlotData) -> None:
    site = data.scores[:, 0]
    top = max(float(np.quantile(site, 0.99)), data.threshold) * 1.15
    bins = np.linspace(0, top, 40)
    ax.axvline(data.threshold, color="#a00000", ls="--", lw=1, label=f"gate threshold {data.threshold:.1f}")
    ax.hist(site, bins=bins, density=True, alpha=0.6, label=f"these films (n={len(site)})")
    ref = data.reference.get("global") if data.reference else None
    if ref:
        q = np.asarray(data.reference["quantiles"], dtype=np.float64)
        # the reference density from its quantile table: equal mass between neighbouring quantiles
        values = np.asarray(ref, dtype=np.float64)
        samples = np.interp(np.linspace(0.0025, 0.9975, 400), q, values)
        ax.hist(
            samples,
            bins=bins,
            density=True,
            histtype="step",
            color="k",
            lw=1.5,
            label=f"{data.reference.get('what', 'reference')} (n={data.reference.get('n')})",
        )
    ax.set(
        title="Gate distance (global check)",
        xlabel="distance to the gate's reference films",
        ylabel="density",
    )
    ax.legend(fontsize=7)


def write_site_pdf(path: Path, report: Mapping[str, Any], data: PlotData) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_pdf import PdfPages

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        pages = [_summary_page(report), _figure_page(report, data)]
        for number, fig in enumerate(pages, start=1):
            fig.text(0.5, 0.015, RESEARCH_NOTICE, ha="center", fontsize=7, color="#a00000")
            fig.text(0.95, 0.015, f"{number}/{len(pages)}", ha="right", fontsize=7, color="#555555")
            fig.text(0.05, 0.015, f"RadiView {__version__}", ha="left", fontsize=7, color="#555555")
        with atomic_path(path) as tmp, PdfPages(tmp, metadata={"Title": "RadiView site validation"}) as pdf:
            for fig in pages:
                pdf.savefig(fig)
    return path
