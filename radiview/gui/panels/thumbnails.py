"""A thumbnail strip of the films being read (the folder, or the list given): click to open.

Thumbnails are made one per timer tick on the GUI thread (a small decode between events keeps
the window responsive). Worker-thread jobs were tried first: jobs a new folder had to cancel
were deleted by Qt under Python's feet, and a crash was seen under load. The strip follows the
film on screen. Capped at ``MAX_THUMBNAILS`` films.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
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
        self._queue: list[str] = []  # films still without a thumbnail, in strip order
        self._timer = QTimer(self)
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._make_next)
        self.itemClicked.connect(lambda item: self.film_chosen.emit(item.data(PATH_ROLE)))

    @property
    def paths(self) -> list[str]:
        return list(self._paths)

    def show_films(self, paths: Sequence[str], current: str | None) -> None:
        """The films of the reading list; rebuilt only when the list changed."""
        wanted = [os.path.abspath(p) for p in list(paths)[:MAX_THUMBNAILS]]
        if wanted != self._paths:
            self.clear()
            self._paths = wanted
            for path in wanted:
                item = QListWidgetItem(Path(path).name[:18])
                item.setData(PATH_ROLE, path)
                item.setToolTip(path)
                self.addItem(item)
            self._queue = list(wanted)
            self._timer.start()
        self.mark_current(current)

    def mark_current(self, current: str | None) -> None:
        here = os.path.abspath(current) if current else ""
        for row in range(self.count()):
            item = self.item(row)
            if item.data(PATH_ROLE) == here:
                self.setCurrentItem(item)
                self.scrollToItem(item)
                return

    def _make_next(self) -> None:
        if not self._queue:
            self._timer.stop()
            return
        path = self._queue.pop(0)
        try:
            image: np.ndarray | None = thumbnail_pixels(path)
        except Exception:  # an unreadable film gets a mark, never an error dialog
            image = None
        for row in range(self.count()):
            item = self.item(row)
            if item.data(PATH_ROLE) != path:
                continue
            if image is not None:
                item.setIcon(QIcon(QPixmap.fromImage(gray_to_qimage(image))))
            else:
                item.setText("⚠ " + item.text())
                item.setToolTip(f"{path}\nnot readable")

    def thumbnails_made(self) -> int:
        return sum(not self.item(r).icon().isNull() for r in range(self.count()))

    def shutdown(self) -> None:
        self._timer.stop()
        self._queue.clear()
