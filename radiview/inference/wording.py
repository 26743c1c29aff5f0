"""How the AI reading is put into words: one probability format, clinician class names, and
gate reasons a reader understands. No Qt, no torch: the GUI, the CSV and the PDF share it.
"""

from __future__ import annotations

import re

#: The headline a clinician reads. "Normal" would read as "no abnormality"; the model only
#: knows four classes, so its "normal" means "none of the three infections it was taught".
FINDING_TITLES = {
    "normal": "No pneumonia pattern",
    "bacterial_pneumonia": "Bacterial pneumonia pattern",
    "viral_pneumonia": "Viral pneumonia pattern",
    "covid19": "COVID-19 pattern",
}

#: Short names for bars, the heatmap's class list and table headers.
CLASS_TITLES = {
    "normal": "No pneumonia",
    "bacterial_pneumonia": "Bacterial pneumonia",
    "viral_pneumonia": "Viral pneumonia",
    "covid19": "COVID-19",
}

FOUR_CLASS_NOTE = (
    "The model knows four classes only (no pneumonia, bacterial, viral, COVID-19 pneumonia) "
    "and cannot see any other disease, device or finding."
)

#: A fixed line in every reading's warning box: what a reader might assume the model checks.
NOT_ASSESSED_LINE = "Does not assess pneumothorax, effusion, lines and tubes, nodules, fractures."


def format_probability(probability: float) -> str:
    """THE probability format everywhere (panel, tables, PDF): ``0.9745`` → ``"97.5 %"``."""
    value = float(probability)
    if value != value:  # NaN
        return "–"
    return f"{min(max(value, 0.0), 1.0) * 100:.1f} %"


def class_title(label: str) -> str:
    """``"viral_pneumonia"`` → ``"Viral pneumonia"``; unknown labels are tidied, not hidden."""
    return CLASS_TITLES.get(label, label.replace("_", " ").capitalize())


def finding_title(label: str) -> str:
    """The headline for a top class: ``"normal"`` → ``"No pneumonia pattern"``."""
    return FINDING_TITLES.get(label, f"{class_title(label)} pattern")


_DISTANCE = re.compile(r"\((spatial )?distance ([-+\d.einf]+) > ([-+\d.einf]+)\)")

#: What a distance refusal knows: the film is far from the training films. Why is a guess; the
#: causes seen on real films are ICU/portable films, unusual exposure and non-frontal views
#: (issue 21: 44 of 243 ICU films from one unseen hospital were refused, and called "not a
#: frontal chest film", which was false).
GATE_DISTANCE_REASON = (
    "unlike the films the model was trained on (ICU/portable, unusual exposure, or not a frontal chest film)"
)


def human_gate_reason(reason: str) -> tuple[str, str]:
    """A gate refusal in a reader's words, plus the raw figures for a tooltip.

    ``"unlike the films the model was trained on (distance 86.4 > 52.3): …"`` →
    ``(GATE_DISTANCE_REASON, "feature distance 86.4, limit 52.3")``. Reasons without a
    distance are already plain and come back unchanged with an empty detail.
    """
    match = _DISTANCE.search(reason or "")
    if match is None:
        return reason, ""
    spatial, score, limit = match.groups()
    kind = "layout" if spatial else "feature"
    return GATE_DISTANCE_REASON, f"{kind} distance {score}, limit {limit}"
