"""A thumbnail strip of the films being read (the folder, or the list given): click to open.

Thumbnails are decoded off the GUI thread (one QThreadPool job per film, like the frame bar's
cine decoding); the strip follows the film on screen. Capped at ``MAX_THUMBNAILS`` films.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from radiview.gui.qimage import gray_to_qimage

THUMB_PX = 96
MAX_THUMBNAILS = 200
PATH_ROLE = Qt.ItemDataRole.UserRole + 1


def thumbnail_pixels(path: str, side_px: int = THUMB_PX) -> np.ndarray:
    """A small uint8 view of the film at ``path`` (the longer side about ``side_px``)."""
    from radiview.io import load_radiograph
    from radiview.io.windowing import apply_window, window_from_percentiles

    pixels = load_radiograph(path).pixels
    step = max(1, int(np.ceil(max(pixels.shape) / side_px)))
    small = np.ascontiguousarray(pixels[::step, ::step])
    return apply_window(small, window_from_percentiles(small))


class _ThumbSignals(QObject):
    made = Signal(str, object)  # path, uint8 array or None (unreadable)


class _ThumbJob(QRunnable):
    def __init__(self, path: str, signals: _ThumbSignals) -> None:
        super().__init__()
        self.path, self.signals = path, signals

    def run(self) -> None:
        try:
            image = thumbnail_pixels(self.path)
        except Exception:  # an unreadable film gets a placeholder, never a dead worker
            image = None
        self.signals.made.emit(self.path, image)


class ThumbnailStrip(QListWidget):
    """One icon per film; ``film_chosen`` when one is clicked."""

    film_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("thumbnailStrip")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.setMovement(QListView.Movement.Static)
        self.setFixedHeight(THUMB_PX + 44)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # PageDown stays with the film
        self._paths: list[str] = []
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        # No Qt parent: a job still running when the strip goes keeps its signals object alive
        # (Python owns it), so a late answer is dropped instead of reaching a deleted object.
        self._signals = _ThumbSignals()
        self._signals.made.connect(self._on_made)
        self.itemClicked.connect(lambda item: self.film_chosen.emit(item.data(PATH_ROLE)))

    @property
    def paths(self) -> list[str]:
        return list(self._paths)

    def show_films(self, paths: Sequence[str], current: str | None) -> None:
        """The films of the reading list; rebuilt only when the list changed."""
        wanted = [os.path.abspath(p) for p in list(paths)[:MAX_THUMBNAILS]]
        if wanted != self._paths:
            self._pool.clear()
            self.clear()
            self._paths = wanted
            for path in wanted:
                item = QListWidgetItem(Path(path).name[:18])
                item.setData(PATH_ROLE, path)
                item.setToolTip(path)
                self.addItem(item)
                self._pool.start(_ThumbJob(path, self._signals))
        self.mark_current(current)

    def mark_current(self, current: str | None) -> None:
        here = os.path.abspath(current) if current else ""
        for row in range(self.count()):
            item = self.item(row)
            if item.data(PATH_ROLE) == here:
                self.setCurrentItem(item)
                self.scrollToItem(item)
                return

    def _on_made(self, path: str, image: object) -> None:
        for row in range(self.count()):
            item = self.item(row)
            if item.data(PATH_ROLE) != path:
                continue
            if isinstance(image, np.ndarray):
                item.setIcon(QIcon(QPixmap.fromImage(gray_to_qimage(image))))
            else:
                item.setText("⚠ " + item.text())
                item.setToolTip(f"{path}\nnot readable")

    def thumbnails_made(self) -> int:
        return sum(not self.item(r).icon().isNull() for r in range(self.count()))

    def shutdown(self) -> None:
        self._pool.clear()
        self._pool.waitForDone(5000)
