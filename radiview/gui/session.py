"""What the user is looking at now; the GUI thread's single source of truth.

The Session computes nothing: it stores frozen values (Radiograph, Prediction, Explanation)
and tells views through signals. Request ids make stale answers harmless: each new film
gets a new id, and a worker's answer is accepted only if it carries the current one.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from radiview.inference.prediction import Explanation, Prediction
    from radiview.io import Radiograph


class Session(QObject):
    radiograph_changed = Signal(object)  # Radiograph | None
    prediction_changed = Signal(object)  # Prediction | None
    explanation_changed = Signal(object)  # Explanation | None
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self.request_id = 0
        self.path: str | None = None  # the film asked for (may still be loading)
        self.radiograph: Radiograph | None = None
        self.prediction: Prediction | None = None
        self.explanation: Explanation | None = None
        self.busy = False

    def begin(self, path: str) -> int:
        """A new film was asked for: every answer about the previous one is now stale."""
        self.request_id = next(self._ids)
        self.path = path
        self.set_busy(True)
        return self.request_id

    def is_current(self, request_id: int) -> bool:
        return request_id == self.request_id

    def set_radiograph(self, radiograph: Radiograph | None) -> None:
        self.radiograph = radiograph
        self.prediction = None
        self.explanation = None
        self.radiograph_changed.emit(radiograph)
        self.prediction_changed.emit(None)
        self.explanation_changed.emit(None)

    def set_prediction(self, prediction: Prediction | None) -> None:
        self.prediction = prediction
        self.prediction_changed.emit(prediction)

    def set_explanation(self, explanation: Explanation | None) -> None:
        self.explanation = explanation
        self.explanation_changed.emit(explanation)

    def set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self.busy_changed.emit(busy)

    def clear(self) -> None:
        self.request_id = next(self._ids)
        self.path = None
        self.set_radiograph(None)
        self.set_busy(False)
