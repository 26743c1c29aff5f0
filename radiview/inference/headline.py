"""The AI reading's headline in two steps, as a clinician asks: pneumonia or not, then which kind.

Step one answers "is there a pneumonia pattern at all?":
``"Pneumonia pattern (any cause) 96.5 %"`` or ``"No pneumonia pattern 97.0 %"``.
Step two, beneath it, says which cause the pattern is most like, as shares of the step-one
probability: ``"most like: bacterial 58 % · viral 42 % · COVID-19 <1 %"``.

Why: on the NIH normal DICOM the model gives 55.7 % to bacterial and 40.8 % to viral
pneumonia; a top-class headline ("Bacterial pneumonia pattern 55.7 % · low confidence") hides
that the model is 96.5 % sure of *a* pneumonia pattern and unsure only of its cause.

COVID-19 is a cause of pneumonia, so step one counts it: ``P(pneumonia, any cause)`` is the
sum of every label except the card's no-pneumonia label (``normal``), i.e. bacterial + viral +
COVID-19 = ``1 - P(normal)`` for the bundled card. This is also how the card trained the NIH
"pneumonia" films (the set bacterial OR viral): a set probability is a sum of class
probabilities. "Low confidence" is judged on step one (the card's ``low_confidence_below``),
because that is the answer the headline gives.

Displayed probabilities are capped: above 99 % reads ``">99 %"`` and below 1 % reads
``"<1 %"`` (a calibrated 99.7 % is not a certainty, and 0.0 % is not an impossibility).

Pure functions (no Qt, no torch): the panel, the CSV ``headline`` column, the PDF, the view
export, ``radiview predict`` and the SR (radiview/net) all call ``build_headline``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NO_PNEUMONIA_LABEL = "normal"
PNEUMONIA_TITLE = "Pneumonia pattern (any cause)"
NO_PNEUMONIA_TITLE = "No pneumonia pattern"
LOW_CONFIDENCE_TEXT = "low confidence"
DEFAULT_LOW_CONFIDENCE_BELOW = 0.6
DISPLAY_CAP = 0.99

#: Step two names a cause in one word where the class title has two.
CAUSE_TITLES = {"bacterial_pneumonia": "bacterial", "viral_pneumonia": "viral", "covid19": "COVID-19"}


def display_probability(probability: float, decimals: int = 1) -> str:
    """A probability as shown to a reader, capped: ``0.997`` → ``">99 %"``, ``0.004`` → ``"<1 %"``,
    ``0.9652`` → ``"96.5 %"`` (NaN → ``"–"``)."""
    value = float(probability)
    if value != value:
        return "–"
    if value > DISPLAY_CAP:
        return f">{DISPLAY_CAP * 100:.0f} %"
    if value < 1.0 - DISPLAY_CAP:
        return f"<{(1.0 - DISPLAY_CAP) * 100:.0f} %"
    return f"{value * 100:.{decimals}f} %"


def cause_title(label: str) -> str:
    """``"bacterial_pneumonia"`` → ``"bacterial"``; an unknown label is tidied, not hidden."""
    return CAUSE_TITLES.get(label, label.replace("_pneumonia", "").replace("_", " "))


@dataclass(frozen=True)
class Headline:
    """The two-step reading of one accepted film (see the module docstring)."""

    pneumonia: bool  # step one's answer
    step_one_probability: float  # P(pneumonia, any cause) if pneumonia, else P(no pneumonia)
    pneumonia_probability: float  # P(pneumonia, any cause), whatever the answer
    causes: tuple[tuple[str, float], ...]  # (label, share of the pneumonia probability), largest first
    low_confidence: bool
    low_confidence_below: float

    @property
    def step_one(self) -> str:
        """``"Pneumonia pattern (any cause) 96.5 %"`` or ``"No pneumonia pattern >99 %"``."""
        title = PNEUMONIA_TITLE if self.pneumonia else NO_PNEUMONIA_TITLE
        return f"{title} {display_probability(self.step_one_probability)}"

    @property
    def step_two(self) -> str:
        """``"most like: bacterial 58 % · viral 42 % · COVID-19 <1 %"`` for a pneumonia pattern;
        for a no-pneumonia answer only when it is unsure (then the causes are the alternative)."""
        if not self.causes or (not self.pneumonia and not self.low_confidence):
            return ""
        shares = " · ".join(f"{cause_title(label)} {display_probability(s, 0)}" for label, s in self.causes)
        return f"{'most like' if self.pneumonia else 'if pneumonia, most like'}: {shares}"

    @property
    def most_like(self) -> str:
        """The label of the likeliest cause ("" when the model has none)."""
        return self.causes[0][0] if self.causes else ""

    def lines(self) -> tuple[str, ...]:
        """Step one (with "· low confidence" when so), then step two if there is one."""
        first = self.step_one + (f" · {LOW_CONFIDENCE_TEXT}" if self.low_confidence else "")
        return (first, self.step_two) if self.step_two else (first,)

    def one_line(self) -> str:
        """Both steps on one line (CSV cell, PDF table, SR text): ``"… 96.5 %; most like: …"``."""
        return "; ".join(self.lines())


def _low_confidence_below(card: Any) -> float:
    policy: Mapping[str, Any] = getattr(card, "reading_flags", None) or {}
    return float(policy.get("low_confidence_below", DEFAULT_LOW_CONFIDENCE_BELOW))


def build_headline_from_probabilities(
    labels: Sequence[str], probabilities: Sequence[float], low_confidence_below: float
) -> Headline:
    """The headline for calibrated ``probabilities`` over the card's ``labels``."""
    by_label = {str(label): float(p) for label, p in zip(labels, probabilities, strict=True)}
    causes = [label for label in by_label if label != NO_PNEUMONIA_LABEL]
    if NO_PNEUMONIA_LABEL in by_label:
        p_pneumonia = 1.0 - by_label[NO_PNEUMONIA_LABEL]
    else:
        p_pneumonia = sum(by_label[label] for label in causes)
    p_pneumonia = min(max(p_pneumonia, 0.0), 1.0)
    total = sum(by_label[label] for label in causes)
    shares = [(label, by_label[label] / total if total > 0 else 0.0) for label in causes]
    shares.sort(key=lambda item: -item[1])  # stable: equal shares keep the card's order
    pneumonia = p_pneumonia > 0.5 or NO_PNEUMONIA_LABEL not in by_label
    step_one = p_pneumonia if pneumonia else 1.0 - p_pneumonia
    return Headline(
        pneumonia=pneumonia,
        step_one_probability=step_one,
        pneumonia_probability=p_pneumonia,
        causes=tuple(shares),
        low_confidence=step_one < low_confidence_below,
        low_confidence_below=low_confidence_below,
    )


def build_headline(prediction: Any, card: Any = None) -> Headline | None:
    """The headline of a ``Prediction`` (None for a refused or missing one: no answer to state).

    ``card`` (a ModelCard or anything with ``reading_flags``) gives the low-confidence limit.
    """
    if prediction is None or not getattr(prediction, "accepted", False):
        return None
    return build_headline_from_probabilities(
        tuple(prediction.labels), tuple(prediction.probabilities), _low_confidence_below(card)
    )


def headline_text(prediction: Any, card: Any = None) -> str:
    """One line for any prediction: the two steps, or "" for a refused or missing film."""
    headline = build_headline(prediction, card)
    return headline.one_line() if headline is not None else ""


#: Reading order by risk (smaller first): COVID-19-like pneumonia pattern, any other
#: pneumonia pattern, an unsure "no pneumonia", films the model did not read (refused, error),
#: then a confident "no pneumonia".
RISK_RANKS = {"covid": 0, "pneumonia": 1, "unsure": 2, "refused": 3, "error": 4, "no_pneumonia": 5}


def risk_key(status: str, prediction: Any, low_confidence: bool | None = None) -> float:
    """Sort key for a screened film, smaller = read first (``RISK_RANKS``); within a rank the
    likelier pneumonia first. ``low_confidence`` overrides the headline's own judgement (a
    report row carries the engine's flag, judged with the card's limit)."""
    headline = build_headline(prediction) if status == "ok" else None
    if headline is None:
        return float(RISK_RANKS["refused" if status == "refused" else "error"])
    unsure = headline.low_confidence if low_confidence is None else low_confidence
    if headline.pneumonia:
        rank = "covid" if headline.most_like == "covid19" else "pneumonia"
    else:
        rank = "unsure" if unsure else "no_pneumonia"
    return RISK_RANKS[rank] + 0.999 * (1.0 - headline.pneumonia_probability)
