"""The film viewer: a QGraphicsView with zoom/pan, window/level, invert, rotate/flip, tools.

Mouse: wheel zooms under the cursor; left-drag (or middle-drag) pans; right-drag sets
window/level (horizontal = width, vertical = level); with a tool chosen (radiview.gui.tools)
left-drag measures or annotates. Four-corner annotations (radiview.gui.annotations) are painted
in screen space over the film, never into its pixmap.
Rotation and flips are a transform on the film item, never a copy of the pixels, so the
heatmap stays aligned and the cursor readout maps straight back to the film's own pixel
(row, column) and value.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QFont,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPixmap,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QInputDialog,
    QWidget,
)

from radiview.gui.annotation_history import AnnotationHistory
from radiview.gui.annotations import CornerText, DisplayState, build_corner_text, paint_corners
from radiview.gui.magnifier import MAGNIFIER_KEY, MagnifierLoupe
from radiview.gui.qimage import gray_to_qimage, rgba_to_qimage
from radiview.gui.tools import (
    Annotation,
    AnnotationLayer,
    Measurement,
    ToolGesture,
    describe,
    measure_distance,
    spacing_note,
)
from radiview.io.radiograph import Radiograph, Window
from radiview.io.windowing import (
    STORED_WINDOWS_KEY,
    apply_window,
    parse_stored_windows,
    window_for_preset,
)
from radiview.render import apply_heatmap_overlay, composite_heatmap
from radiview.settings import CORNER_FIELDS

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


__all__ = ["FilmViewer", "Measurement", "PixelProbe", "measure_distance"]


#: Preset names for a DICOM's extra stored windows: "Stored 2", "Stored 3", ...
STORED_PRESET = "Stored "


def stored_windows(radiograph: Radiograph | None) -> list[tuple[Window, str]]:
    """Every window the file stores (the first is its default), with their explanations."""
    if radiograph is None:
        return []
    return parse_stored_windows(radiograph.metadata.get(STORED_WINDOWS_KEY, ""))


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
    measurement_finished = Signal(object)  # Measurement (length tool)
    annotation_added = Signal(object, str)  # Annotation, its label (every tool)
    tool_changed = Signal(object)  # the armed tool's name, or None (put down after one use)
    annotations_changed = Signal(str)  # source of the film whose annotations the user changed
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
        self._tool: str | None = None
        self._gesture: ToolGesture | None = None
        self._annotations: dict[str, list[Annotation]] = {}  # per film source, until it is closed
        self._annotation_layer = AnnotationLayer(self._item)
        self._history: AnnotationHistory[Annotation] = AnnotationHistory()
        self.loupe = MagnifierLoupe(self)  # hold Z
        self._preview_layer = AnnotationLayer(self._item)
        self._last_measurement: Measurement | None = None
        self._corners_visible = True
        self._corner_fields: tuple[str, ...] = CORNER_FIELDS
        self._frame_text = ""
        self._heatmap_aside: tuple[np.ndarray, str] | None = None  # while another frame shows
        #: asks for a text annotation's words (tests replace it); None = cancelled
        self.text_provider = self._ask_text
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
    def display_window(self) -> Window | None:
        """The W/L shown now (named so it does not shadow QWidget.window())."""
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
    def last_measurement(self) -> Measurement | None:
        return self._last_measurement

    @property
    def heatmap_label(self) -> str:
        return self._heatmap_label

    def has_heatmap(self) -> bool:
        return self._heatmap is not None

    @property
    def fitted(self) -> bool:
        """True while the film follows the window size (Fit), False after a zoom or 1:1."""
        return self._fit_mode

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
        """Show a new film at its file window, fitted; clears heatmap and transforms. The film's
        own annotations come back if it was shown before (``forget_annotations`` drops them
        when the film is closed)."""
        self._radiograph = radiograph
        self._heatmap = None
        self._heatmap_label = ""
        self._update_overlay_layer()
        self._orientation = (1, 0, 0, 1)
        self._gesture = ToolGesture(self._tool) if self._tool else None
        self._frame_text = ""
        self._heatmap_aside = None
        self._show_annotations()
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

    def set_frame(self, radiograph: Radiograph, frame_text: str = "", analysed: bool = True) -> None:
        """Show another frame of the same film, keeping window, zoom, orientation and
        annotations (ROI values are recomputed on the new frame). The heatmap belongs to the
        frame the AI read (``analysed``): it is put aside on the others and comes back."""
        if self._radiograph is None or radiograph.shape != self._radiograph.shape:
            self.set_radiograph(radiograph)
        else:
            self._radiograph = radiograph
            self._render()
        if not analysed and self._heatmap is not None:
            self._heatmap_aside = (self._heatmap, self._heatmap_label)
            self.set_heatmap(None)
        elif analysed and self._heatmap_aside is not None:
            self.set_heatmap(*self._heatmap_aside)
            self._heatmap_aside = None
        self._frame_text = frame_text
        self._show_annotations()

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
        if name.startswith(STORED_PRESET):  # "Stored 2": the file's second stored window
            stored = stored_windows(self._radiograph)
            index = int(name.removeprefix(STORED_PRESET)) - 1
            if 0 <= index < len(stored):
                self.set_window(stored[index][0], name)
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

    # ----- tools -----------------------------------------------------------------------------
    @property
    def tool(self) -> str | None:
        return self._tool

    def set_tool(self, tool: str | None) -> None:
        """Choose a radiview.gui.tools tool (None: left-drag pans again)."""
        self._tool = tool
        self._gesture = ToolGesture(tool) if tool else None
        self._preview_layer.show([], None)
        self.setDragMode(QGraphicsView.DragMode.NoDrag if tool else QGraphicsView.DragMode.ScrollHandDrag)
        self.viewport().setCursor(Qt.CursorShape.CrossCursor if tool else Qt.CursorShape.ArrowCursor)
        self.tool_changed.emit(tool)

    @property
    def gesture_in_progress(self) -> bool:
        return self._gesture is not None and bool(self._gesture.fixed)

    def cancel_tool(self) -> str:
        """Esc: drop the half-drawn gesture ("cancelled"), else put the tool down ("disarmed");
        "" when there was neither. Never touches the film's annotations."""
        if self._gesture is not None and self._gesture.fixed:
            self._gesture = ToolGesture(self._gesture.kind)
            self._show_preview()
            return "cancelled"
        if self._tool is not None:
            self.set_tool(None)
            return "disarmed"
        return ""

    def _change_annotations(self, annotations: list[Annotation] | tuple[Annotation, ...] | None) -> None:
        """Replace this film's list, remembering the old one for Undo."""
        assert self._radiograph is not None
        source = self._radiograph.source
        self._history.record(source, self._annotations.get(source, []))
        if annotations:
            self._annotations[source] = list(annotations)
        else:
            self._annotations.pop(source, None)
        self.annotations_changed.emit(source)

    def undo_annotation(self) -> bool:
        return self._restore(self._history.undo)

    def redo_annotation(self) -> bool:
        return self._restore(self._history.redo)

    def _restore(self, step: Any) -> bool:
        if self._radiograph is None:
            return False
        source = self._radiograph.source
        restored = step(source, self._annotations.get(source, []))
        if restored is None:
            return False
        self._annotations[source] = list(restored)
        self._show_annotations()
        self.annotations_changed.emit(source)
        return True

    def has_annotations_in_memory(self, source: str) -> bool:
        return source in self._annotations

    def set_saved_annotations(self, source: str, annotations: list[Annotation]) -> None:
        """Annotations read back from disk for ``source`` (not an undoable change)."""
        if annotations:
            self._annotations[source] = list(annotations)
        if self._radiograph is not None and self._radiograph.source == source:
            self._show_annotations()

    def set_measuring(self, enabled: bool) -> None:
        """The length tool on or off (the ruler, key M)."""
        if enabled and self._tool:  # keep the chosen tool and any half-drawn gesture
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.set_tool("length" if enabled else None)

    @property
    def measuring(self) -> bool:
        return self._tool is not None

    def annotations(self) -> list[Annotation]:
        """This film's annotations, oldest first."""
        if self._radiograph is None:
            return []
        return list(self._annotations.get(self._radiograph.source, []))

    def add_annotation(self, annotation: Annotation) -> str:
        """Keep an annotation on this film; returns its label (the measured value)."""
        if self._radiograph is None:
            return ""
        self._change_annotations([*self.annotations(), annotation])
        self._show_annotations()
        label = describe(annotation, self._radiograph)
        if annotation.kind == "length":
            start, end = annotation.points[:2]
            self._last_measurement = measure_distance(start, end, self._radiograph)
            self.measurement_finished.emit(self._last_measurement)
        self.annotation_added.emit(annotation, label)
        return label

    def forget_annotations(self, source: str) -> None:
        """The film at ``source`` was closed: its annotations go with it."""
        self._annotations.pop(source, None)
        self._history.forget(source)
        self._show_annotations()

    def remove_last_annotation(self) -> None:
        if self._radiograph is not None and self._annotations.get(self._radiograph.source):
            self._change_annotations(self.annotations()[:-1])
            self._show_annotations()

    def clear_measurements(self) -> None:
        """Remove every annotation of the current film."""
        if self._radiograph is not None:
            self._change_annotations(None)
        self._gesture = ToolGesture(self._tool) if self._tool else None
        self._show_annotations()

    def measure(self, start: QPointF, end: QPointF) -> Measurement:
        """Draw a length between two film points (column, row) and return it."""
        self.add_annotation(Annotation("length", ((start.x(), start.y()), (end.x(), end.y()))))
        assert self._last_measurement is not None
        return self._last_measurement

    def _show_preview(self) -> None:
        preview = self._gesture.preview() if self._gesture is not None else None
        self._preview_layer.show([preview] if preview else [], self._radiograph)
        self.viewport().update()

    def _show_annotations(self) -> None:
        self._annotation_layer.show(self.annotations(), self._radiograph)
        self._show_preview()
        self._last_measurement = next(
            (
                measure_distance(a.points[0], a.points[1], self._radiograph)
                for a in reversed(self.annotations())
                if a.kind == "length"
            ),
            None,
        )
        self.viewport().update()

    def _ask_text(self, _point: tuple[float, float]) -> str | None:
        text, ok = QInputDialog.getText(self, "Text annotation", "Text:")
        return text.strip() if ok and text.strip() else None

    def _tool_event(
        self, kind: str, view_pos: QPointF, modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
    ) -> None:
        if self._gesture is None or self._radiograph is None:
            return
        film = self.film_point(view_pos)
        point = (film.x(), film.y())
        # One use, then the tool is put down (the next click pans); Shift keeps it armed.
        keep = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
        if kind == "press" and self._gesture.kind == "text":
            text = self.text_provider(point)
            if text:
                self.add_annotation(Annotation("text", (point,), text))
            if not keep:
                self.set_tool(None)
            return
        if kind == "press":
            self._gesture.press(point)
        elif kind == "move":
            self._gesture.move(point)
            self._show_preview()  # the placed annotations have not changed
            return
        else:
            finished = self._gesture.release(point)
            if finished is not None:
                self.add_annotation(finished)
                if not keep:
                    self.set_tool(None)
        self._show_annotations()

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

    # ----- corner annotations --------------------------------------------------------------------
    @property
    def corners_visible(self) -> bool:
        return self._corners_visible

    def set_corners_visible(self, visible: bool) -> None:
        self._corners_visible = visible
        self.viewport().update()

    def set_corner_fields(self, fields: tuple[str, ...]) -> None:
        self._corner_fields = tuple(fields)
        self.viewport().update()

    def display_state(self) -> DisplayState | None:
        if self._radiograph is None or self._window is None:
            return None
        attention = (
            (f"Grad-CAM: {self._heatmap_label}", ATTENTION_LABEL)
            if self._overlay_visible and self._heatmap is not None
            else ()
        )
        return DisplayState(
            window=self._window,
            preset=self._preset,
            inverted=self._invert,
            zoom=self.scale_factor(),
            orientation=self._orientation,
            orientation_text=self.orientation_text(),
            frame_text=self._frame_text,
            extra_top_right=attention,
        )

    def corner_text(self, strip_identifiers: bool = False, exported: bool = False) -> CornerText:
        """The corners for the chosen fields (an export is at the film's own size: zoom 100%)."""
        state = self.display_state()
        if state is None or self._radiograph is None:
            return CornerText()
        if exported:
            state = replace(state, zoom=1.0)
        return build_corner_text(self._radiograph, state, self._corner_fields, strip_identifiers)

    def overlay_lines(self) -> dict[str, list[str]]:
        """The corner text as lists: "top_left", "top_right", "bottom_left", "bottom_right"."""
        return {corner: list(lines) for corner, lines in self.corner_text().lines.items()}

    def measurement_note(self) -> str:
        """Shown whenever this film has a length/area in mm from an uncalibrated spacing."""
        uses_mm = any(a.kind in ("length", "roi_ellipse", "roi_rect") for a in self.annotations())
        return spacing_note(self._radiograph) if uses_mm else ""

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """Corner annotations and the spacing note, in screen space (not in the film pixmap)."""
        if self._radiograph is None:
            return
        painter.save()
        painter.resetTransform()
        if self._corners_visible:
            paint_corners(painter, self.viewport().rect(), self.corner_text())
        self._paint_note(painter, QRectF(self.viewport().rect()), 10.0)
        painter.restore()

    def _paint_note(self, painter: QPainter, rect: QRectF, point_size: float) -> None:
        note = self.measurement_note()
        if not note:
            return
        font = QFont(painter.font())
        font.setPointSizeF(point_size)
        painter.setFont(font)
        area = rect.adjusted(10, 8, -10, -8 - 5 * point_size * 1.6)  # above the bottom corners
        flags = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom
        painter.setPen(QColor(0, 0, 0, 230))
        for dx, dy in ((1, 1), (-1, -1), (1, -1), (-1, 1)):
            painter.drawText(area.translated(dx, dy), int(flags), note)
        painter.setPen(QColor(255, 210, 0))
        painter.drawText(area, int(flags), note)

    def render_view(self, corners: bool = True, strip_identifiers: bool = False) -> QImage:
        """The film as displayed at its own resolution (rotation, flips, heatmap, annotations),
        with the corner annotations (unless hidden or ``corners`` is False; identifying fields
        left out with ``strip_identifiers``) and the spacing note painted on top."""
        image = self.render_film()
        if self._radiograph is None:
            return image
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        point_size = max(7.0, min(image.width(), image.height()) / 70.0)
        if corners and self._corners_visible:
            paint_corners(painter, image.rect(), self.corner_text(strip_identifiers, True), point_size)
        self._paint_note(painter, QRectF(image.rect()), point_size)
        painter.end()
        return image

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
        if button == Qt.MouseButton.LeftButton and self._gesture is not None:
            self._tool_event("press", event.position(), event.modifiers())
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
        if self.loupe.isVisible():
            self.loupe.show_at(pos)
        if self._gesture is not None and self._gesture.fixed:
            self._tool_event("move", event.position())
        self.pixel_hovered.emit(self.probe(film_pos))
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if button == Qt.MouseButton.RightButton and self._wl_drag is not None:
            self._wl_drag = None
            self.render_now()
            self.set_measuring(self.measuring)  # restore the cursor
            event.accept()
            return
        if button == Qt.MouseButton.MiddleButton and self._pan_drag is not None:
            self._pan_drag = None
            self.set_measuring(self.measuring)
            event.accept()
            return
        if button == Qt.MouseButton.LeftButton and self._gesture is not None and self._gesture.fixed:
            self._tool_event("release", event.position(), event.modifiers())
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == MAGNIFIER_KEY and not event.modifiers() and self._radiograph is not None:
            if not event.isAutoRepeat():
                self.loupe.show_at(self.viewport().mapFromGlobal(QCursor.pos()))
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == MAGNIFIER_KEY and not event.isAutoRepeat():
            self.loupe.hide()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def leaveEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        self.pixel_hovered.emit(None)
        super().leaveEvent(event)

    def contextMenuEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        event.accept()  # right button is window/level, not a menu
