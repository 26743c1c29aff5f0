"""The film viewer: a QGraphicsView with zoom/pan, window/level, invert, rotate/flip, ruler.

Mouse: wheel zooms under the cursor; left-drag (or middle-drag) pans; right-drag sets
window/level (horizontal = width, vertical = level); in ruler mode left-drag measures.
Rotation and flips are a transform on the film item, never a copy of the pixels, so the
heatmap stays aligned and the cursor readout maps straight back to the film's own pixel
(row, column) and value.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QLineF, QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

from radiview.gui.qimage import gray_to_qimage, rgba_to_qimage
from radiview.io.radiograph import Radiograph, Window
from radiview.io.windowing import apply_window, window_for_preset
from radiview.render import apply_heatmap_overlay, composite_heatmap

log = logging.getLogger("radiview.gui")

ZOOM_STEP = 1.25
MIN_SCALE, MAX_SCALE = 0.02, 40.0
#: Right-drag: one screen pixel moves W/L by this fraction of the film's value range.
WL_SENSITIVITY = 1.0 / 400.0
ATTENTION_LABEL = "Model attention, not a finding"


@dataclass(frozen=True)
class PixelProbe:
    """The film pixel under the cursor: (row, column) in the stored image and its value."""

    row: int
    column: int
    value: float


@dataclass(frozen=True)
class Measurement:
    """A ruler length; ``unit`` is "mm" when the film's pixel spacing is known, else "px"."""

    length: float
    unit: str

    def __str__(self) -> str:
        return f"{self.length:.1f} {self.unit}"


def measure_distance(
    start: QPointF, end: QPointF, pixel_spacing_mm: tuple[float, float] | None
) -> Measurement:
    """Distance between two points in image (column=x, row=y) coordinates."""
    dx, dy = end.x() - start.x(), end.y() - start.y()
    if pixel_spacing_mm:
        row_mm, col_mm = pixel_spacing_mm
        return Measurement(math.hypot(dx * col_mm, dy * row_mm), "mm")
    return Measurement(math.hypot(dx, dy), "px")


def composite_film(gray: np.ndarray, heatmap: np.ndarray | None, opacity: float, colormap: str) -> np.ndarray:
    """The displayed array: the windowed film, or film + heatmap as RGB (radiview.render)."""
    if heatmap is None or opacity <= 0.0:
        return gray
    return composite_heatmap(gray, heatmap, opacity=opacity, colormap=colormap)


class FilmViewer(QGraphicsView):
    """Shows one radiograph; all display state (window, invert, overlay, transform) lives here."""

    window_changed = Signal(object)  # Window
    pixel_hovered = Signal(object)  # PixelProbe | None (cursor left the film)
    zoom_changed = Signal(float)  # display pixels per film pixel
    measurement_finished = Signal(object)  # Measurement
    display_changed = Signal()  # anything that changes the rendered pixels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QColor(0, 0, 0))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setMouseTracking(True)
        self.setAcceptDrops(False)  # drops go to the main window
        self.setMinimumSize(200, 200)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)

        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        # The heatmap is a child layer (same transform, so always aligned with the film),
        # coloured once per map/colormap by radiview.render; opacity is the item's, so
        # dragging W/L or the opacity slider never recolours the full-resolution map.
        self._overlay_item = QGraphicsPixmapItem(self._item)
        self._overlay_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._overlay_item.setVisible(False)
        self._radiograph: Radiograph | None = None
        self._window: Window | None = None
        self._preset = ""
        self._invert = False
        self._heatmap: np.ndarray | None = None
        self._heatmap_label = ""
        self._overlay_visible = False
        self._opacity = 0.45
        self._colormap = "jet"
        # Orientation as an exact 2x2 matrix of 0/±1: each rotate/flip acts in SCREEN space
        # after the previous ones (flip after rotate flips what the reader sees).
        self._orientation = (1, 0, 0, 1)  # (m11, m12, m21, m22), Qt's row-vector convention
        self._fit_mode = True
        self._measuring = False
        self._ruler_start: QPointF | None = None
        self._ruler_line: QGraphicsLineItem | None = None
        self._ruler_text: QGraphicsSimpleTextItem | None = None
        self._measurements: list[tuple[QGraphicsLineItem, QGraphicsSimpleTextItem]] = []
        self._last_measurement: Measurement | None = None
        self._wl_drag: tuple[QPoint, Window] | None = None
        self._pan_drag: QPoint | None = None
        self._value_range = 1.0
        self._displayed = QImage()
        # Coalesce W/L drags: render at most once per event-loop pass.
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(0)
        self._render_timer.timeout.connect(self._render)

    # ----- state ---------------------------------------------------------------------------
    @property
    def radiograph(self) -> Radiograph | None:
        return self._radiograph

    @property
    def window(self) -> Window | None:
        return self._window

    @property
    def preset(self) -> str:
        """The active window's name: "File", a CHEST_PRESETS key, or "Custom"."""
        return self._preset

    @property
    def inverted(self) -> bool:
        return self._invert

    @property
    def overlay_visible(self) -> bool:
        return self._overlay_visible

    @property
    def overlay_opacity(self) -> float:
        return self._opacity

    @property
    def colormap(self) -> str:
        return self._colormap

    @property
    def orientation(self) -> tuple[int, int, int, int]:
        """(m11, m12, m21, m22) of the film's rotation/flip (identity when upright)."""
        return self._orientation

    def orientation_text(self) -> str:
        """ "" upright, else e.g. "Rot 90°" or "Mirrored · Rot 270°" (mirror, then rotate)."""
        m11, m12, m21, m22 = self._orientation
        mirrored = m11 * m22 - m12 * m21 < 0
        if mirrored:  # undo a horizontal mirror first: M = S_h · R
            m11, m12 = -m11, -m12
        angle = round(math.degrees(math.atan2(m12, m11))) % 360
        parts = ["Mirrored"] if mirrored else []
        parts += [f"Rot {angle}°"] if angle else []
        return " · ".join(parts)

    @property
    def measuring(self) -> bool:
        return self._measuring

    @property
    def last_measurement(self) -> Measurement | None:
        return self._last_measurement

    @property
    def heatmap_label(self) -> str:
        return self._heatmap_label

    def has_heatmap(self) -> bool:
        return self._heatmap is not None

    def scale_factor(self) -> float:
        return float(self.transform().m11() ** 2 + self.transform().m12() ** 2) ** 0.5

    def displayed_image(self) -> QImage:
        """The film as shown now (windowed, inverted, overlay composited by radiview.render),
        in stored orientation. The screen draws the same overlay layer with Qt's blending."""
        self.render_now()
        if self._radiograph is None or self._window is None:
            return QImage()
        if not self._overlay_item.isVisible():
            return QImage(self._displayed)
        gray = apply_window(self._radiograph.pixels, self._window, invert=self._invert)
        return rgba_to_qimage(composite_film(gray, self._heatmap, self._opacity, self._colormap))

    def render_film(self) -> QImage:
        """The film as displayed, at its own resolution, with rotation, flips and rulers."""
        self.render_now()
        rect = self._item.sceneBoundingRect()
        image = QImage(max(1, round(rect.width())), max(1, round(rect.height())), QImage.Format.Format_RGB32)
        image.fill(QColor(0, 0, 0))
        if self._radiograph is not None:
            painter = QPainter(image)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            self.scene().render(painter, QRectF(image.rect()), rect)
            painter.end()
        return image

    # ----- film ----------------------------------------------------------------------------
    def set_radiograph(self, radiograph: Radiograph | None) -> None:
        """Show a new film at its file window, fitted; clears heatmap, ruler and transforms."""
        self._radiograph = radiograph
        self._heatmap = None
        self._heatmap_label = ""
        self._update_overlay_layer()
        self._orientation = (1, 0, 0, 1)
        self.clear_measurements()
        if radiograph is None:
            self._window = None
            self._item.setPixmap(QPixmap())
            self._displayed = QImage()
            self.viewport().update()
            return
        lo, hi = np.percentile(radiograph.pixels[::4, ::4], [0.1, 99.9])
        self._value_range = max(float(hi - lo), float(radiograph.default_window.width), 1e-6)
        self._window = radiograph.default_window
        self._preset = "File"
        self._render()
        self._apply_item_transform()
        self.fit_to_window()
        self.window_changed.emit(self._window)

    def set_heatmap(self, heatmap: np.ndarray | None, label: str = "") -> None:
        """A [0, 1] map at the film's resolution (None removes it)."""
        if heatmap is not None and self._radiograph is not None and heatmap.shape != self._radiograph.shape:
            raise ValueError(f"heatmap shape {heatmap.shape} != film shape {self._radiograph.shape}")
        self._heatmap = heatmap
        self._heatmap_label = label if heatmap is not None else ""
        self._update_overlay_layer()

    # ----- window / level --------------------------------------------------------------------
    def set_window(self, window: Window, preset: str = "Custom") -> None:
        if self._radiograph is None:
            return
        self._window = window
        self._preset = preset
        self._schedule_render()
        self.window_changed.emit(window)

    def reset_window(self) -> None:
        """Back to the file's own window (DICOM window tags, else the default percentiles)."""
        if self._radiograph is not None:
            self.set_window(self._radiograph.default_window, "File")

    def apply_preset(self, name: str) -> None:
        """A chest preset from CHEST_PRESETS (percentiles of this film's values)."""
        if self._radiograph is None:
            return
        if name == "File":
            self.reset_window()
            return
        self.set_window(window_for_preset(self._radiograph.pixels, name), name)

    def set_inverted(self, inverted: bool) -> None:
        if inverted != self._invert:
            self._invert = inverted
            self._schedule_render()

    def toggle_inverted(self) -> None:
        self.set_inverted(not self._invert)

    # ----- overlay ---------------------------------------------------------------------------
    def set_overlay_visible(self, visible: bool) -> None:
        if visible != self._overlay_visible:
            self._overlay_visible = visible
            self._sync_overlay_item()

    def set_overlay_opacity(self, opacity: float) -> None:
        opacity = min(max(float(opacity), 0.0), 1.0)
        if opacity != self._opacity:
            self._opacity = opacity
            self._sync_overlay_item()

    def set_colormap(self, name: str) -> None:
        if name != self._colormap:
            self._colormap = name
            self._update_overlay_layer()

    def _update_overlay_layer(self) -> None:
        """Recolour the heatmap layer (new map or colormap); opacity is applied by the item."""
        if self._heatmap is None:
            self._overlay_item.setPixmap(QPixmap())
        else:
            rgba = apply_heatmap_overlay(self._heatmap, opacity=1.0, colormap=self._colormap)
            self._overlay_item.setPixmap(QPixmap.fromImage(rgba_to_qimage(rgba)))
        self._sync_overlay_item()

    def _sync_overlay_item(self) -> None:
        self._overlay_item.setOpacity(self._opacity)
        self._overlay_item.setVisible(
            self._overlay_visible and self._heatmap is not None and self._opacity > 0
        )
        self.display_changed.emit()
        self.viewport().update()

    # ----- geometry --------------------------------------------------------------------------
    def zoom_by(self, factor: float) -> None:
        current = self.scale_factor()
        target = min(max(current * factor, MIN_SCALE), MAX_SCALE)
        if current > 0:
            self._fit_mode = False
            self.scale(target / current, target / current)
            self._zoom_changed()

    def zoom_in(self) -> None:
        self.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom_by(1.0 / ZOOM_STEP)

    def fit_to_window(self) -> None:
        self._fit_mode = True
        if self._radiograph is not None:
            rect = self._item.sceneBoundingRect()
            self.setSceneRect(rect)
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._zoom_changed()

    def actual_size(self) -> None:
        """One film pixel per screen pixel (1:1)."""
        self._fit_mode = False
        self.setTransform(QTransform())
        self._zoom_changed()

    def _then(self, op: tuple[int, int, int, int]) -> None:
        """Apply ``op`` after the current orientation (M := M · op, exact integers)."""
        a11, a12, a21, a22 = self._orientation
        b11, b12, b21, b22 = op
        self._orientation = (
            a11 * b11 + a12 * b21,
            a11 * b12 + a12 * b22,
            a21 * b11 + a22 * b21,
            a21 * b12 + a22 * b22,
        )
        self._apply_item_transform()

    def rotate_by(self, degrees: int) -> None:
        """Rotate by a multiple of 90° (positive = clockwise on screen)."""
        quarter_turns = (degrees // 90) % 4
        for _ in range(quarter_turns):
            self._then((0, 1, -1, 0))  # 90° clockwise with y pointing down

    def flip_horizontal(self) -> None:
        """Mirror left-right as the reader sees it now."""
        self._then((-1, 0, 0, 1))

    def flip_vertical(self) -> None:
        """Mirror top-bottom as the reader sees it now."""
        self._then((1, 0, 0, -1))

    def reset_view(self) -> None:
        """Undo rotation/flips (and refit when fitted)."""
        self._orientation = (1, 0, 0, 1)
        self._apply_item_transform()

    def _apply_item_transform(self) -> None:
        if self._radiograph is None:
            return
        height, width = self._radiograph.shape
        m11, m12, m21, m22 = self._orientation
        centre = QTransform.fromTranslate(-width / 2.0, -height / 2.0)
        self._item.setTransform(centre * QTransform(m11, m12, m21, m22, 0.0, 0.0))
        rect = self._item.sceneBoundingRect()
        self.setSceneRect(rect)
        if self._fit_mode:
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
            self._zoom_changed()
        self.display_changed.emit()
        self.viewport().update()

    def _zoom_changed(self) -> None:
        self.zoom_changed.emit(self.scale_factor())
        self.viewport().update()

    # ----- ruler -----------------------------------------------------------------------------
    def set_measuring(self, enabled: bool) -> None:
        self._measuring = enabled
        self.setDragMode(QGraphicsView.DragMode.NoDrag if enabled else QGraphicsView.DragMode.ScrollHandDrag)
        self.viewport().setCursor(Qt.CursorShape.CrossCursor if enabled else Qt.CursorShape.ArrowCursor)

    def clear_measurements(self) -> None:
        for line, text in self._measurements:
            self.scene().removeItem(line)
            self.scene().removeItem(text)
        self._measurements.clear()
        self._ruler_start = None
        self._ruler_line = self._ruler_text = None
        self._last_measurement = None

    def measure(self, start: QPointF, end: QPointF) -> Measurement:
        """Draw a ruler between two film points (column, row) and return its length."""
        self._begin_ruler(start)
        return self._finish_ruler(end)

    def _begin_ruler(self, start: QPointF) -> None:
        self._ruler_start = start
        pen = QPen(QColor(255, 210, 0), 2)
        pen.setCosmetic(True)
        self._ruler_line = QGraphicsLineItem(QLineF(start, start), self._item)
        self._ruler_line.setPen(pen)
        self._ruler_text = QGraphicsSimpleTextItem("", self._item)
        self._ruler_text.setBrush(QColor(255, 210, 0))
        font = QFont()
        font.setPointSize(11)
        font.setBold(True)
        self._ruler_text.setFont(font)
        self._ruler_text.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)

    def _update_ruler(self, end: QPointF) -> Measurement | None:
        if self._ruler_start is None or self._ruler_line is None or self._ruler_text is None:
            return None
        assert self._radiograph is not None
        self._ruler_line.setLine(QLineF(self._ruler_start, end))
        measurement = measure_distance(self._ruler_start, end, self._radiograph.pixel_spacing_mm)
        self._ruler_text.setText(str(measurement))
        self._ruler_text.setPos(end)
        return measurement

    def _finish_ruler(self, end: QPointF) -> Measurement:
        measurement = self._update_ruler(end)
        assert measurement is not None and self._ruler_line is not None and self._ruler_text is not None
        self._measurements.append((self._ruler_line, self._ruler_text))
        self._ruler_start = None
        self._ruler_line = self._ruler_text = None
        self._last_measurement = measurement
        self.measurement_finished.emit(measurement)
        return measurement

    # ----- rendering -------------------------------------------------------------------------
    def _schedule_render(self) -> None:
        self._render_timer.start()

    def render_now(self) -> None:
        """Render pending changes immediately (tests, export)."""
        if self._render_timer.isActive():
            self._render_timer.stop()
            self._render()

    def _render(self) -> None:
        radiograph, window = self._radiograph, self._window
        if radiograph is None or window is None:
            return
        self._displayed = gray_to_qimage(apply_window(radiograph.pixels, window, invert=self._invert))
        self._item.setPixmap(QPixmap.fromImage(self._displayed))
        self.display_changed.emit()
        self.viewport().update()

    def overlay_lines(self) -> dict[str, list[str]]:
        """The corner overlay text: "top_left", "top_right", "bottom_left", "bottom_right"."""
        if self._radiograph is None or self._window is None:
            return {}
        window = self._window
        wl = f"W {window.width:.0f}  L {window.center:.0f}"
        if self._preset and self._preset != "Custom":
            wl += f"  ({self._preset})"
        bottom_left = ["Inverted", wl] if self._invert else [wl]
        bottom_right = [f"Zoom {self.scale_factor() * 100:.0f}%"]
        if self.orientation_text():
            bottom_right.insert(0, self.orientation_text())
        rows, cols = self._radiograph.shape
        top_left = [self._radiograph.name, f"{cols} × {rows} px"]
        if self._radiograph.view_position:
            top_left.append(f"View {self._radiograph.view_position}")
        top_right: list[str] = []
        if self._overlay_visible and self._heatmap is not None:
            top_right = [f"Grad-CAM: {self._heatmap_label}", ATTENTION_LABEL]
        return {
            "top_left": top_left,
            "top_right": top_right,
            "bottom_left": bottom_left,
            "bottom_right": bottom_right,
        }

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """Corner overlays in screen space: W/L, zoom, orientation, attention label."""
        lines = self.overlay_lines()
        if not lines:
            return
        painter.save()
        painter.resetTransform()
        font = QFont(painter.font())
        font.setPointSize(10)
        painter.setFont(font)
        view = self.viewport().rect().adjusted(10, 8, -10, -8)
        flags = Qt.AlignmentFlag
        corners = {
            "top_left": flags.AlignLeft | flags.AlignTop,
            "top_right": flags.AlignRight | flags.AlignTop,
            "bottom_left": flags.AlignLeft | flags.AlignBottom,
            "bottom_right": flags.AlignRight | flags.AlignBottom,
        }
        for corner, align in corners.items():
            self._draw_block(painter, view, lines[corner], align)
        painter.restore()

    @staticmethod
    def _draw_block(painter: QPainter, rect, lines: list[str], align: Qt.AlignmentFlag) -> None:  # type: ignore[no-untyped-def]
        if not lines:
            return
        text = "\n".join(lines)
        # A dark halo keeps the text readable over bright film.
        painter.setPen(QColor(0, 0, 0, 220))
        for dx, dy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
            painter.drawText(rect.translated(dx, dy), int(align), text)
        painter.setPen(QColor(235, 235, 200))
        painter.drawText(rect, int(align), text)

    # ----- events ----------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().resizeEvent(event)
        if self._fit_mode and self._radiograph is not None:
            self.fitInView(self._item.sceneBoundingRect(), Qt.AspectRatioMode.KeepAspectRatio)
            self._zoom_changed()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self._radiograph is None:
            return
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(ZOOM_STEP**steps)
        event.accept()

    def film_point(self, view_pos: QPoint | QPointF) -> QPointF:
        """A viewport position → film coordinates (x = column, y = row)."""
        scene_pos = self.mapToScene(view_pos.toPoint() if isinstance(view_pos, QPointF) else view_pos)
        return self._item.mapFromScene(scene_pos)

    def view_point(self, film_pos: QPointF) -> QPoint:
        """Film coordinates (x = column, y = row) → a viewport position."""
        return self.mapFromScene(self._item.mapToScene(film_pos))

    def probe(self, film_pos: QPointF) -> PixelProbe | None:
        if self._radiograph is None:
            return None
        column, row = math.floor(film_pos.x()), math.floor(film_pos.y())
        rows, cols = self._radiograph.shape
        if not (0 <= row < rows and 0 <= column < cols):
            return None
        return PixelProbe(row, column, float(self._radiograph.pixels[row, column]))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._radiograph is None:
            super().mousePressEvent(event)
            return
        button = event.button()
        if button == Qt.MouseButton.RightButton and self._window is not None:
            self._wl_drag = (event.position().toPoint(), self._window)
            self.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
            event.accept()
            return
        if button == Qt.MouseButton.MiddleButton:
            self._pan_drag = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if button == Qt.MouseButton.LeftButton and self._measuring:
            self._begin_ruler(self.film_point(event.position()))
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        if self._wl_drag is not None:
            origin, start = self._wl_drag
            step = self._value_range * WL_SENSITIVITY
            width = max(start.width + (pos.x() - origin.x()) * step, 1e-3)
            center = start.center + (pos.y() - origin.y()) * step
            self.set_window(Window(center=center, width=width))
            event.accept()
            return
        if self._pan_drag is not None:
            delta = pos - self._pan_drag
            self._pan_drag = pos
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            event.accept()
            return
        film_pos = self.film_point(pos)
        if self._ruler_start is not None:
            self._update_ruler(film_pos)
        self.pixel_hovered.emit(self.probe(film_pos))
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if button == Qt.MouseButton.RightButton and self._wl_drag is not None:
            self._wl_drag = None
            self.render_now()
            self.set_measuring(self._measuring)  # restore the cursor
            event.accept()
            return
        if button == Qt.MouseButton.MiddleButton and self._pan_drag is not None:
            self._pan_drag = None
            self.set_measuring(self._measuring)
            event.accept()
            return
        if button == Qt.MouseButton.LeftButton and self._ruler_start is not None:
            self._finish_ruler(self.film_point(event.position()))
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        self.pixel_hovered.emit(None)
        super().leaveEvent(event)

    def contextMenuEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        event.accept()  # right button is window/level, not a menu
