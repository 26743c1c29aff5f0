"""Results of the AI second reader; frozen so they can cross threads safely."""

from __future__ import annotations

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
    model: str  # "name@version"

    @property
    def accepted(self) -> bool:
        return self.gate.accepted

    @property
    def top_index(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def top_label(self) -> str | None:
        return self.labels[self.top_index] if self.accepted else None

    def probability(self, label: str) -> float:
        return self.probabilities[self.labels.index(label)]


@dataclass(frozen=True)
class Explanation:
    """A Grad-CAM map at the radiograph's own resolution, float32 in [0, 1]."""

    heatmap: np.ndarray
    label: str
    method: str = "Grad-CAM"
    # Share of the map's mass outside the lung fields before clipping to them (None: no
    # lung-field estimate for this film); the reading room warns when it is high.
    outside_lung_share: float | None = None
