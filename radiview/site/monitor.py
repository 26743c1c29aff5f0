"""``radiview site monitor``: compare a screening report with the site model's check part.

Drift flags, each with its stated threshold (``DRIFT_RULES``): gate refusal rate, class mix,
low-confidence share and, when the report carries gate distances, their distribution. A report
made by another model is flagged before anything else: its figures do not describe this model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from radiview.batch.csv_reading import read_csv_report
from radiview.inference.site_bundle import read_site_card, site_model_name
from radiview.site.labels import SiteInputError

#: The stated thresholds (report minus check part) above which a drift flag is raised.
DRIFT_RULES = {
    "refusal_rate": 0.05,  # absolute increase of the gate's refusal rate
    "class_mix": 0.15,  # total-variation distance between the called-class mixes
    "low_confidence_share": 0.10,  # absolute increase of the low-confidence share
    "gate_distance_median_quantile": 0.90,  # report median beyond this quantile of the check part
}
MIN_FILMS = 30  # fewer accepted films: the figures are reported, no drift is judged


def _float(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def report_figures(rows: list[dict[str, str]], labels: list[str], low_below: float) -> dict[str, Any]:
    """Refusal rate, class mix, low-confidence share (and gate distances when the CSV has them)."""
    read = [r for r in rows if r["status"] in ("ok", "refused")]
    ok = [r for r in read if r["status"] == "ok"]
    calls = Counter(r["prediction"] for r in ok)
    tops = [max((_float(r.get(f"p_{k}", "")) or 0.0) for k in labels) for r in ok]
    out: dict[str, Any] = {
        "films": len(rows),
        "errors": sum(r["status"] == "error" for r in rows),
        "read": len(read),
        "accepted": len(ok),
        "refusal_rate": round(1 - len(ok) / len(read), 4) if read else None,
        "class_mix": {k: round(calls[k] / len(ok), 4) for k in labels} if ok else {},
        "low_confidence_share": round(float(np.mean(np.asarray(tops) < low_below)), 4) if ok else None,
        "models": sorted({r.get("model", "") for r in rows}),
    }
    distances = [_float(r.get("gate_distance", "")) for r in read]
    known = [d for d in distances if d is not None]
    out["gate_distance_median"] = round(float(np.median(known)), 3) if known else None
    return out


def _drift(now: Mapping[str, Any], ref: Mapping[str, Any], labels: list[str]) -> list[dict[str, Any]]:
    flags = []
    if (
        now["refusal_rate"] is not None
        and now["refusal_rate"] - ref["refusal_rate"] > DRIFT_RULES["refusal_rate"]
    ):
        flags.append(
            {
                "figure": "refusal_rate",
                "report": now["refusal_rate"],
                "check": ref["refusal_rate"],
                "rule": f"refusal rate more than {DRIFT_RULES['refusal_rate']:.0%} above the check part's",
            }
        )
    if now["class_mix"]:
        tv = 0.5 * sum(abs(now["class_mix"].get(k, 0.0) - ref["class_mix"].get(k, 0.0)) for k in labels)
        if tv > DRIFT_RULES["class_mix"]:
            flags.append(
                {
                    "figure": "class_mix",
                    "report": round(tv, 4),
                    "check": 0.0,
                    "rule": f"called-class mix differs by a total variation over {DRIFT_RULES['class_mix']} "
                    "(a change of case mix or of the scanner: look before trusting either)",
                }
            )
    low, ref_low = now["low_confidence_share"], ref["low_confidence_share"]
    if low is not None and low - ref_low > DRIFT_RULES["low_confidence_share"]:
        flags.append(
            {
                "figure": "low_confidence_share",
                "report": low,
                "check": ref_low,
                "rule": f"low-confidence share more than {DRIFT_RULES['low_confidence_share']:.0%} "
                "above the check part's",
            }
        )
    median = now.get("gate_distance_median")
    quantiles = ref.get("gate_distance_quantiles") or {}
    if median is not None and quantiles:
        limit = float(
            np.interp(
                DRIFT_RULES["gate_distance_median_quantile"], quantiles["quantiles"], quantiles["global"]
            )
        )
        if median > limit:
            flags.append(
                {
                    "figure": "gate_distance",
                    "report": median,
                    "check": round(limit, 3),
                    "rule": "median gate distance beyond the check part's 90th percentile",
                }
            )
    return flags


def monitor_report(report_csv: str | Path, site_dir: str | Path) -> dict[str, Any]:
    """The report's figures beside the site card's check part, and the drift flags."""
    site = read_site_card(site_dir)
    ref = site["site"].get("monitor_reference")
    if not ref:
        raise SiteInputError("site card has no monitor_reference (made by an older RadiView?)", site_dir)
    labels = list(ref["class_mix"])
    rows = read_csv_report(report_csv)
    now = report_figures(rows, labels, float(ref["low_confidence_below"]))
    name = site_model_name(site["base"]["version"], site["site"]["name"])
    other = [m for m in now["models"] if " · site " + str(site["site"]["name"]) not in m]
    result: dict[str, Any] = {
        "report": str(report_csv),
        "site_model": name,
        "rules": DRIFT_RULES,
        "report_figures": now,
        "check_part": {k: ref[k] for k in ("n", "refusal_rate", "class_mix", "low_confidence_share")},
        "gate_distance": "compared"
        if now["gate_distance_median"] is not None
        else "not compared: the report has no gate_distance column",
    }
    if other:
        result["drift"] = [
            {
                "figure": "model",
                "report": other,
                "check": name,
                "rule": "the report was screened with another model; screen with --model SITE_DIR",
            }
        ]
    elif now["read"] < MIN_FILMS:
        result["drift"] = []
        result["note"] = f"only {now['read']} films read: too few to judge drift (needs {MIN_FILMS})"
    else:
        result["drift"] = _drift(now, ref, labels)
        if now["accepted"] < MIN_FILMS:  # the refusal rate alone is judged
            result["drift"] = [f for f in result["drift"] if f["figure"] == "refusal_rate"]
            result["note"] = (
                f"only {now['accepted']} accepted films: class mix and confidence not judged "
                f"(needs {MIN_FILMS})"
            )
    result["verdict"] = (
        "DRIFT: " + "; ".join(f["rule"] for f in result["drift"]) if result["drift"] else "no drift flagged"
    )
    return result


def monitor_text(result: Mapping[str, Any]) -> str:
    now, ref = result["report_figures"], result["check_part"]
    lines = [
        f"{result['report']} against {result['site_model']}'s check part ({ref['n']} films)",
        f"  refusal rate        {now['refusal_rate']}  (check {ref['refusal_rate']})",
        f"  low-confidence      {now['low_confidence_share']}  (check {ref['low_confidence_share']})",
        "  class mix           "
        + ", ".join(
            f"{k} {v:.2f} (check {ref['class_mix'].get(k, 0):.2f})" for k, v in now["class_mix"].items()
        ),
        f"  gate distance       {result['gate_distance']}",
    ]
    if result.get("note"):
        lines.append(f"  note: {result['note']}")
    lines.append(result["verdict"])
    return "\n".join(lines)
