"""Reading tools on the film: length, angle, ROI mean/SD, cardiothoracic ratio, arrow, text.

An annotation is a frozen value in film coordinates (x = column, y = row); the values are
computed from it and the film (pure functions below), and ``AnnotationLayer`` draws it as
graphics items that are children of the film item, so they follow zoom, pan, rotation and
flips, survive W/L changes, and are part of the rendered (exported) view. The viewer keeps
one list per film (by source path) until the film is closed.

Lengths are in mm when the film has a pixel spacing. Only a PixelSpacing with a stated
calibration is a size in the patient; ImagerPixelSpacing (or an uncalibrated PixelSpacing) is
the size at the detector, magnified by the beam's divergence, or simply wrong in a resampled
export. Such values carry an asterisk and ``spacing_note`` explains it on screen.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF
from PySide6.QtGui import QBrush, QColor, QFont, QPen, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsPolygonItem,
    QGraphicsRectItem,
    QGraphicsSimpleTextItem,
)

from radiview.io.radiograph import Radiograph

Point = tuple[float, float]

#: tool -> points that complete it (CTR: heart span, then thoracic span).
TOOL_POINTS = {"length": 2, "angle": 3, "roi_ellipse": 2, "roi_rect": 2, "ctr": 4, "arrow": 2, "text": 1}
TOOL_TITLES = {
    "length": "Length",
    "angle": "Angle",
    "roi_ellipse": "ROI (ellipse)",
    "roi_rect": "ROI (rectangle)",
    "ctr": "Cardiothoracic ratio",
    "arrow": "Arrow",
    "text": "Text",
}
TOOL_HINTS = {
    "length": "drag to measure a length",
    "angle": "drag the first arm to the vertex, then click the end of the second arm",
    "roi_ellipse": "drag an ellipse: mean and SD of the pixel values inside",
    "roi_rect": "drag a rectangle: mean and SD of the pixel values inside",
    "ctr": "drag across the heart at its widest, then across the thorax (inner ribs) at its widest",
    "arrow": "drag from the tail to the point of interest",
    "text": "click where the note goes",
}
COLOUR = QColor(255, 210, 0)


@dataclass(frozen=True)
class Annotation:
    kind: str  # a TOOL_POINTS key
    points: tuple[Point, ...]
    text: str = ""


@dataclass(frozen=True)
class Measurement:
    """A length; ``unit`` is "mm" when the film's pixel spacing is known, else "px"."""

    length: float
    unit: str
    calibrated: bool = True

    def __str__(self) -> str:
        return f"{self.length:.1f} {self.unit}" + ("" if self.calibrated or self.unit == "px" else "*")


@dataclass(frozen=True)
class RoiStats:
    mean: float
    sd: float
    pixels: int
    area: float
    area_unit: str  # "mm²" or "px²"


def _spacing(radiograph: Radiograph | None) -> tuple[float, float] | None:
    return radiograph.pixel_spacing_mm if radiograph is not None else None


def _calibrated(radiograph: Radiograph | None) -> bool:
    return radiograph is not None and (radiograph.spacing_calibrated or radiograph.kind != "dicom")


def measure_distance(start: Point, end: Point, radiograph: Radiograph | None) -> Measurement:
    """Distance between two film points, in mm when the film has a spacing, else in px."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    spacing = _spacing(radiograph)
    if spacing:
        row_mm, col_mm = spacing
        return Measurement(math.hypot(dx * col_mm, dy * row_mm), "mm", _calibrated(radiograph))
    return Measurement(math.hypot(dx, dy), "px")


def measure_angle(first: Point, vertex: Point, last: Point, radiograph: Radiograph | None = None) -> float:
    """The angle at ``vertex`` in degrees (0–180), in physical space when the spacing is known."""
    row_mm, col_mm = _spacing(radiograph) or (1.0, 1.0)
    ax, ay = (first[0] - vertex[0]) * col_mm, (first[1] - vertex[1]) * row_mm
    bx, by = (last[0] - vertex[0]) * col_mm, (last[1] - vertex[1]) * row_mm
    if math.hypot(ax, ay) == 0 or math.hypot(bx, by) == 0:
        return 0.0
    return abs(math.degrees(math.atan2(ax * by - ay * bx, ax * bx + ay * by)))


def roi_mask(
    shape: tuple[int, int], kind: str, corner_a: Point, corner_b: Point
) -> tuple[tuple[slice, slice], np.ndarray]:
    """Pixels whose centres lie inside the ellipse/rectangle spanned by two corners, as the
    bounding box's slices and a mask over that box (a full-film mask would cost 100+ MB on a
    large film at every mouse move)."""
    rows, cols = shape
    x0, x1 = sorted((corner_a[0], corner_b[0]))
    y0, y1 = sorted((corner_a[1], corner_b[1]))
    r0, r1 = max(0, math.floor(y0)), min(rows, math.ceil(y1) + 1)
    c0, c1 = max(0, math.floor(x0)), min(cols, math.ceil(x1) + 1)
    box = (slice(r0, max(r0, r1)), slice(c0, max(c0, c1)))
    yy, xx = np.mgrid[box[0], box[1]].astype(np.float64) + 0.5
    if kind == "roi_rect":
        return box, (xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1)
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, max((x1 - x0) / 2, 1e-9), max((y1 - y0) / 2, 1e-9)
    return box, ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def measure_roi(radiograph: Radiograph, kind: str, corner_a: Point, corner_b: Point) -> RoiStats:
    """Mean and SD of the film's pixel values (modality LUT applied) inside the ROI."""
    box, mask = roi_mask(radiograph.shape, kind, corner_a, corner_b)
    values = radiograph.pixels[box][mask].astype(np.float64)
    count = int(values.size)
    spacing = radiograph.pixel_spacing_mm
    area, unit = (count * spacing[0] * spacing[1], "mm²") if spacing else (float(count), "px²")
    if count == 0:
        return RoiStats(float("nan"), float("nan"), 0, 0.0, unit)
    return RoiStats(float(values.mean()), float(values.std()), count, area, unit)


def cardiothoracic_ratio(heart: tuple[Point, Point], thorax: tuple[Point, Point]) -> float:
    """Heart width / thoracic width, each the horizontal extent of its span (same unit, so the
    pixel spacing cancels out and the ratio needs no calibration)."""
    thorax_width = abs(thorax[1][0] - thorax[0][0])
    return abs(heart[1][0] - heart[0][0]) / thorax_width if thorax_width > 0 else float("nan")


def spacing_note(radiograph: Radiograph | None) -> str:
    """Why an mm value may be off ("" when the spacing is calibrated or for non-DICOM images)."""
    if radiograph is None or radiograph.kind != "dicom":
        return ""
    source = radiograph.pixel_spacing_source
    if source == "ImagerPixelSpacing":
        return "* mm at the detector (ImagerPixelSpacing): not corrected for magnification"
    if source == "PixelSpacing":
        return "* PixelSpacing without a stated calibration: sizes are approximate"
    if not source:
        return "No pixel spacing in the file: lengths in pixels"
    return ""


CTR_CAVEAT = "AP magnifies the heart: CTR overestimated"


def ctr_overestimated(radiograph: Radiograph | None) -> bool:
    """An AP/portable film, or one that does not say its view (every JPEG/PNG): the CTR
    of a PA film (the 0.5 rule) does not apply as measured."""
    from radiview.inference.flags import view_magnifies_heart

    if radiograph is None:
        return False
    return view_magnifies_heart(radiograph.metadata, radiograph.view_position)


def describe(annotation: Annotation, radiograph: Radiograph | None) -> str:
    """The label drawn beside an annotation (its measured value)."""
    points, kind = annotation.points, annotation.kind
    if kind == "length" and len(points) >= 2:
        return str(measure_distance(points[0], points[1], radiograph))
    if kind == "angle" and len(points) >= 3:
        return f"{measure_angle(points[0], points[1], points[2], radiograph):.1f}°"
    if kind in ("roi_ellipse", "roi_rect") and len(points) >= 2 and radiograph is not None:
        stats = measure_roi(radiograph, kind, points[0], points[1])
        star = " *" if stats.area_unit == "mm²" and not _calibrated(radiograph) else ""
        return f"mean {stats.mean:.1f}  SD {stats.sd:.1f}\n{stats.area:.0f} {stats.area_unit}{star}"
    if kind == "ctr" and len(points) >= 4:
        ratio = cardiothoracic_ratio((points[0], points[1]), (points[2], points[3]))
        return f"CTR {ratio:.2f}" + (f"\n({CTR_CAVEAT})" if ctr_overestimated(radiograph) else "")
    if kind == "text":
        return annotation.text
    return ""


def _horizontal(start: Point, end: Point) -> Point:
    return (end[0], start[1])


class ToolGesture:
    """Turns press/move/release in film coordinates into an Annotation for one tool."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fixed: list[Point] = []
        self.live: Point | None = None

    def preview(self) -> Annotation | None:
        points = self.fixed + ([self.live] if self.live is not None else [])
        return Annotation(self.kind, tuple(points)) if points else None

    def press(self, point: Point) -> None:
        if not self.fixed or (self.kind == "ctr" and len(self.fixed) == 2):
            self.fixed.append(point)
        self.live = self._constrain(point)

    def move(self, point: Point) -> None:
        if self.fixed:
            self.live = self._constrain(point)

    def release(self, point: Point) -> Annotation | None:
        """The finished annotation, or None while more points are needed."""
        if not self.fixed:
            return None
        points = [*self.fixed, self._constrain(point)]
        if len(points) >= TOOL_POINTS[self.kind]:
            self.fixed, self.live = [], None
            return Annotation(self.kind, tuple(points[: TOOL_POINTS[self.kind]]))
        self.fixed, self.live = points, None
        return None

    def _constrain(self, point: Point) -> Point:
        if self.kind == "ctr" and len(self.fixed) in (1, 3):
            return _horizontal(self.fixed[-1], point)  # spans are horizontal widths
        return point


class AnnotationLayer:
    """The graphics items of a film's annotations (children of the film item)."""

    def __init__(self, film_item: QGraphicsItem) -> None:
        self._film_item = film_item
        self._items: list[QGraphicsItem] = []

    def show(self, annotations: list[Annotation], radiograph: Radiograph | None) -> None:
        scene = self._film_item.scene()
        for item in self._items:
            if scene is not None:
                scene.removeItem(item)
        self._items = []
        for annotation in annotations:
            self._items += self._draw(annotation, radiograph)

    def _pen(self) -> QPen:
        pen = QPen(COLOUR, 2)
        pen.setCosmetic(True)  # 2 screen pixels at any zoom
        return pen

    def _line(self, a: Point, b: Point) -> QGraphicsLineItem:
        item = QGraphicsLineItem(QLineF(QPointF(*a), QPointF(*b)), self._film_item)
        item.setPen(self._pen())
        return item

    def _label(self, text: str, at: Point) -> QGraphicsSimpleTextItem:
        item = QGraphicsSimpleTextItem(text, self._film_item)
        item.setBrush(COLOUR)
        item.setPen(QPen(QColor(0, 0, 0, 200), 0.6))  # an outline keeps it readable on bright film
        font = QFont()
        font.setPointSize(11)
        font.setBold(True)
        item.setFont(font)
        item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        item.setPos(QPointF(*at))
        return item

    def _draw(self, annotation: Annotation, radiograph: Radiograph | None) -> list[QGraphicsItem]:
        points, kind = annotation.points, annotation.kind
        label = describe(annotation, radiograph)
        items: list[QGraphicsItem] = []
        if kind in ("length", "angle"):
            items += [self._line(a, b) for a, b in itertools.pairwise(points)]
        elif kind in ("roi_ellipse", "roi_rect") and len(points) >= 2:
            (x0, x1), (y0, y1) = sorted((points[0][0], points[1][0])), sorted((points[0][1], points[1][1]))
            shape_cls = QGraphicsEllipseItem if kind == "roi_ellipse" else QGraphicsRectItem
            shape = shape_cls(QRectF(x0, y0, x1 - x0, y1 - y0), self._film_item)
            shape.setPen(self._pen())
            items.append(shape)
        elif kind == "ctr":
            for a, b in zip(points[0::2], points[1::2], strict=False):
                items += self._span(a, b)
        elif kind == "arrow" and len(points) >= 2:
            items += [self._line(points[0], points[1]), self._arrow_head(points[0], points[1])]
        if label and points:
            items.append(self._label(label, points[-1] if kind != "angle" else points[1]))
        return items

    def _span(self, a: Point, b: Point) -> list[QGraphicsItem]:
        """A horizontal span with short vertical end ticks."""
        tick = max(abs(b[0] - a[0]) * 0.04, 3.0)
        return [
            self._line(a, b),
            self._line((a[0], a[1] - tick), (a[0], a[1] + tick)),
            self._line((b[0], b[1] - tick), (b[0], b[1] + tick)),
        ]

    def _arrow_head(self, tail: Point, head: Point) -> QGraphicsPolygonItem:
        length = math.hypot(head[0] - tail[0], head[1] - tail[1]) or 1.0
        size = min(max(length * 0.18, 4.0), 60.0)
        ux, uy = (head[0] - tail[0]) / length, (head[1] - tail[1]) / length
        base = (head[0] - ux * size, head[1] - uy * size)
        left = QPointF(base[0] - uy * size * 0.5, base[1] + ux * size * 0.5)
        right = QPointF(base[0] + uy * size * 0.5, base[1] - ux * size * 0.5)
        item = QGraphicsPolygonItem(QPolygonF([QPointF(*head), left, right]), self._film_item)
        item.setPen(self._pen())
        item.setBrush(QBrush(COLOUR))
        return item
