"""Undo and redo of a film's annotations (Ctrl+Z / Ctrl+Shift+Z): snapshots, per film.

Annotations are small frozen tuples, so each step keeps the whole list before a change; a new
change after an undo ends the redo branch, as in every editor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

#: Steps kept per film (a reading session never gets near it; the cap bounds memory).
MAX_STEPS = 200


class AnnotationHistory(Generic[T]):
    """Per-source undo/redo stacks of annotation lists."""

    def __init__(self) -> None:
        self._undo: dict[str, list[tuple[T, ...]]] = {}
        self._redo: dict[str, list[tuple[T, ...]]] = {}

    def record(self, source: str, before: Sequence[T]) -> None:
        """``before`` is the list about to change: it is what Undo brings back."""
        steps = self._undo.setdefault(source, [])
        steps.append(tuple(before))
        del steps[:-MAX_STEPS]
        self._redo.pop(source, None)

    def undo(self, source: str, current: Sequence[T]) -> tuple[T, ...] | None:
        """The list before the last change (None: nothing to undo)."""
        steps = self._undo.get(source)
        if not steps:
            return None
        self._redo.setdefault(source, []).append(tuple(current))
        return steps.pop()

    def redo(self, source: str, current: Sequence[T]) -> tuple[T, ...] | None:
        """The list the last undo took away (None: nothing to redo)."""
        steps = self._redo.get(source)
        if not steps:
            return None
        self._undo.setdefault(source, []).append(tuple(current))
        return steps.pop()

    def forget(self, source: str) -> None:
        self._undo.pop(source, None)
        self._redo.pop(source, None)
