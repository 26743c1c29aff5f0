"""A magnifier loupe: hold Z over the film to see the region under the cursor enlarged.

The loupe re-renders the scene (film, heatmap, annotations) through ``QGraphicsView.render``
at ``zoom`` times the view's own scale, so it shows real film detail (not enlarged screen
pixels) and follows rotation and flips.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsView, QLabel

MAGNIFIER_KEY = Qt.Key.Key_Z
LOUPE_SIZE_PX = 240
LOUPE_ZOOM = 3.0


def render_loupe(
    view: QGraphicsView, center: QPoint, size_px: int = LOUPE_SIZE_PX, zoom: float = LOUPE_ZOOM
) -> QPixmap:
    """The ``size_px`` square around ``center`` (viewport coordinates), ``zoom`` times larger."""
    source_side = max(2, round(size_px / zoom))
    source = QRect(center.x() - source_side // 2, center.y() - source_side // 2, source_side, source_side)
    scene = QPixmap(size_px, size_px)
    scene.fill(QColor("black"))
    painter = QPainter(scene)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
    view.render(painter, QRectF(0, 0, size_px, size_px), source, Qt.AspectRatioMode.IgnoreAspectRatio)
    painter.end()
    pixmap = QPixmap(size_px, size_px)  # the round loupe: the scene inside a circle
    pixmap.fill(QColor("black"))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    clip = QPainterPath()
    clip.addEllipse(QRectF(0, 0, size_px, size_px))
    painter.setClipPath(clip)
    painter.drawPixmap(0, 0, scene)
    painter.setClipping(False)
    painter.setPen(QPen(QColor("#e0b040"), 2))
    painter.drawEllipse(QRectF(1, 1, size_px - 2, size_px - 2))
    painter.end()
    return pixmap


class MagnifierLoupe(QLabel):
    """A round loupe over ``view``'s viewport, shown while the magnifier key is held."""

    def __init__(self, view: QGraphicsView) -> None:
        super().__init__(view.viewport())
        self.view = view
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground, True)
        self.setFixedSize(LOUPE_SIZE_PX, LOUPE_SIZE_PX)
        self.hide()

    def show_at(self, pos: QPoint) -> None:
        """Centre the loupe on ``pos`` (viewport coordinates) and fill it from the scene."""
        self.hide()  # never render the loupe into itself
        self.setPixmap(render_loupe(self.view, pos))
        self.move(pos.x() - LOUPE_SIZE_PX // 2, pos.y() - LOUPE_SIZE_PX // 2)
        self.show()
        self.raise_()
