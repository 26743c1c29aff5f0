"""The heatmap's colour scale, drawn exactly as the overlay blends it (radiview.render)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from radiview.render import FADE, colormap_lut, heat_alpha

#: The gray the scale is blended over: a mid-gray film, so the faint end looks as on a film.
_FILM_GRAY = 128
_TICKS = ((0.0, "0"), (0.5, "0.5"), (1.0, "1 = film max"))


class ColorBar(QWidget):
    """A horizontal scale from 0 (no attention) to 1 (this film's maximum), with the soft
    threshold visible as the fade at the low end."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._colormap = "jet"
        self._opacity = 0.45
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip(
            "Relative attention: Grad-CAM scales every map to its own maximum, so 1 is the "
            "strongest spot on this film, not a probability. The low end fades out (soft threshold)."
        )

    def sizeHint(self) -> QSize:
        return QSize(240, self.fontMetrics().height() + 22)

    def minimumSizeHint(self) -> QSize:
        return QSize(120, self.fontMetrics().height() + 22)

    def set_colormap(self, name: str) -> None:
        self._colormap = name
        self.update()

    def set_opacity(self, opacity: float) -> None:
        self._opacity = float(opacity)
        self.update()

    def scale_image(self, width: int, height: int) -> QImage:
        """The scale as blended over mid-gray film at the current opacity (also for tests)."""
        ramp = np.linspace(0.0, 1.0, max(width, 2), dtype=np.float32)[None, :]
        colours = colormap_lut(self._colormap)[np.rint(ramp[0] * 255).astype(np.uint8)].astype(np.float32)
        alpha = (self._opacity * heat_alpha(ramp, FADE)[0])[:, None]
        row = np.rint((1 - alpha) * _FILM_GRAY + alpha * colours).astype(np.uint8)
        rgb = np.ascontiguousarray(np.repeat(row[None, :, :], max(height, 1), axis=0))
        image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.shape[1] * 3, QImage.Format.Format_RGB888)
        return image.copy()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        metrics = self.fontMetrics()
        margin = 4
        bar = QRect(margin, 2, self.width() - 2 * margin, 14)
        painter.drawImage(bar, self.scale_image(bar.width(), bar.height()))
        painter.setPen(QColor(150, 150, 150))
        painter.drawRect(bar.adjusted(0, 0, -1, -1))
        painter.setPen(self.palette().color(self.foregroundRole()))
        baseline = bar.bottom() + 4 + metrics.ascent()
        for position, text in _TICKS:
            x = bar.left() + round(position * (bar.width() - 1))
            painter.drawLine(x, bar.bottom() + 1, x, bar.bottom() + 3)
            width = metrics.horizontalAdvance(text)
            left = min(max(x - width // 2, 0), self.width() - width)
            painter.drawText(left, baseline, text)
        painter.end()

    def tick_texts(self) -> tuple[str, ...]:
        return tuple(text for _, text in _TICKS)
