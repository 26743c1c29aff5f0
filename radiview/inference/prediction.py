"""Results of the AI second reader; frozen so they can cross threads safely."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GateVerdict:
    """The input gate's decision. ``score`` is the gate's distance (lower is more typical)."""

    accepted: bool
    reason: str = ""
    score: float = 0.0


@dataclass(frozen=True)
class Prediction:
    """Calibrated class probabilities for one film, or a refusal by the input gate.

    A refused film has no top label: ``top_label`` is None and callers must not show the
    probabilities as an answer.
    """

    labels: tuple[str, ...]
    probabilities: tuple[float, ...]
    gate: GateVerdict
    model: str  # "name@version", or "version · site NAME" for a site model
    # A site model's operating points (label → threshold; see ``decide_index``); empty: argmax.
    operating_points: tuple[tuple[str, float], ...] = ()

    @property
    def accepted(self) -> bool:
        return self.gate.accepted

    @property
    def top_index(self) -> int:
        """The called class: argmax, or the site's operating points when the model has them."""
        return decide_index(self.probabilities, self.labels, dict(self.operating_points))

    @property
    def top_label(self) -> str | None:
        return self.labels[self.top_index] if self.accepted else None

    def probability(self, label: str) -> float:
        return self.probabilities[self.labels.index(label)]


#: The set-valued label of the site's operating points: bacterial or viral pneumonia.
PNEUMONIA = "pneumonia"
PNEUMONIA_MEMBERS = ("bacterial_pneumonia", "viral_pneumonia")


def decide_index(
    probabilities: Sequence[float] | np.ndarray, labels: Sequence[str], operating_points: Mapping[str, float]
) -> int:
    """The called class of one film.

    Without operating points: the argmax. With a site's points, in order: ``covid19`` is called
    when its probability reaches its threshold; else ``pneumonia`` (bacterial + viral summed)
    when it reaches its threshold, as the likelier of the two; else the argmax of what is left
    (when a pneumonia threshold exists, what is left is ``normal``).
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    if not operating_points:
        return int(np.argmax(probs))
    index = {name: k for k, name in enumerate(labels)}
    allowed = list(range(len(labels)))
    covid = index.get("covid19")
    if covid is not None and "covid19" in operating_points:
        if probs[covid] >= operating_points["covid19"]:
            return covid
        allowed.remove(covid)
    members = [index[m] for m in PNEUMONIA_MEMBERS if m in index]
    if members and PNEUMONIA in operating_points:
        if probs[members].sum() >= operating_points[PNEUMONIA]:
            return max(members, key=lambda k: probs[k])
        allowed = [k for k in allowed if k not in members]
    return max(allowed, key=lambda k: probs[k])


@dataclass(frozen=True)
class Explanation:
    """A Grad-CAM map at the radiograph's own resolution, float32 in [0, 1]."""

    heatmap: np.ndarray
    label: str
    method: str = "Grad-CAM"
    # Share of the map's mass outside the lung fields before clipping to them (None: no
    # lung-field estimate for this film); the reading room warns when it is high.
    outside_lung_share: float | None = None
