"""Four-corner annotations, as on every PACS viewer: who, when, where, how it is displayed.

The text is built here from the film's header and the viewer's display state, and painted in
screen space by ``paint_corners`` (FilmViewer.drawForeground): it is an overlay layer, never
part of the film's pixmap, so hiding it (key A) gives a clean screenshot. Export paints the
same text onto the rendered view, without the identifying fields when identifiers are stripped.

Orientation markers come from PatientOrientation (0020,0020): the patient direction of the
rows (towards the right edge) and of the columns (towards the bottom edge). They follow every
rotation and flip, because they are computed from the viewer's orientation matrix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QCheckBox, QGridLayout, QWidget

from radiview.io.radiograph import Radiograph, Window
from radiview.settings import CORNER_FIELDS

#: field key -> (title in Settings, whether it identifies the patient)
CORNER_FIELD_TITLES: dict[str, tuple[str, bool]] = {
    "patient": ("Patient name and ID", True),
    "age_sex": ("Age and sex", True),
    "study": ("Study date and description", True),
    "institution": ("Institution", True),
    "view": ("View position", False),
    "markers": ("Orientation markers (L/R, H/F, A/P)", False),
    "window": ("Window / level", False),
    "zoom": ("Zoom and rotation", False),
    "file": ("File name, size and frame", False),
}
assert set(CORNER_FIELD_TITLES) == set(CORNER_FIELDS)

_OPPOSITE = {"L": "R", "R": "L", "A": "P", "P": "A", "H": "F", "F": "H"}
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
EDGES = ("left", "right", "top", "bottom")


@dataclass(frozen=True)
class DisplayState:
    """What the viewer shows now, as far as the corners report it."""

    window: Window
    preset: str = ""
    inverted: bool = False
    zoom: float = 1.0
    orientation: tuple[int, int, int, int] = (1, 0, 0, 1)
    orientation_text: str = ""
    frame_text: str = ""
    extra_top_right: tuple[str, ...] = ()  # e.g. the heatmap's attention label


@dataclass(frozen=True)
class CornerText:
    lines: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # CORNERS -> lines
    markers: Mapping[str, str] = field(default_factory=dict)  # EDGES -> letters


def opposite_direction(letters: str) -> str:
    """ "L" -> "R", "LF" -> "RH" (each DICOM patient direction letter reversed)."""
    return "".join(_OPPOSITE.get(ch, ch) for ch in letters)


def orientation_markers(patient_orientation: str, orientation: tuple[int, int, int, int]) -> dict[str, str]:
    """Edge letters for a film shown with ``orientation`` ((m11, m12, m21, m22), Qt's
    row-vector convention: screen = film · M). {} when PatientOrientation is absent/invalid."""
    parts = [p.strip().upper() for p in patient_orientation.replace("/", "\\").split("\\")]
    if len(parts) != 2 or not all(parts) or any(ch not in _OPPOSITE for ch in "".join(parts)):
        return {}
    row_dir, column_dir = parts  # film +x (towards the last column), film +y (towards the last row)
    m11, m12, m21, m22 = orientation

    def letters(a: int, b: int) -> str:  # direction a·(+x) + b·(+y) of the film
        if a:
            return row_dir if a > 0 else opposite_direction(row_dir)
        return column_dir if b > 0 else opposite_direction(column_dir)

    # M is orthogonal, so the film direction shown towards screen +x is (m11, m21), +y (m12, m22).
    right, bottom = letters(m11, m21), letters(m12, m22)
    return {
        "right": right,
        "left": opposite_direction(right),
        "bottom": bottom,
        "top": opposite_direction(bottom),
    }


def build_corner_text(
    radiograph: Radiograph,
    state: DisplayState,
    fields: Iterable[str] = CORNER_FIELDS,
    strip_identifiers: bool = False,
) -> CornerText:
    """The four corners' lines for this film and display state, only the chosen fields."""
    shown = {f for f in fields if not (strip_identifiers and CORNER_FIELD_TITLES.get(f, ("", True))[1])}
    meta = radiograph.metadata
    corners: dict[str, list[str]] = {corner: [] for corner in CORNERS}
    if "patient" in shown:
        corners["top_left"] += [meta.get("patient_name", ""), _labelled("ID", meta.get("patient_id", ""))]
    if "age_sex" in shown:
        corners["top_left"].append(" ".join(v for v in (_age(meta.get("age", "")), meta.get("sex", "")) if v))
    if "institution" in shown:
        corners["top_right"].append(meta.get("institution", ""))
    if "study" in shown:
        corners["top_right"] += [meta.get("study_date", ""), meta.get("study_description", "")]
    corners["top_right"] += list(state.extra_top_right)
    if "file" in shown:
        rows, cols = radiograph.shape
        corners["bottom_left"] += [radiograph.name, f"{cols} × {rows} px", state.frame_text]
    if "window" in shown:
        wl = f"W {state.window.width:.0f}  L {state.window.center:.0f}"
        if state.preset and state.preset != "Custom":
            wl += f"  ({state.preset})"
        corners["bottom_left"] += ["Inverted" if state.inverted else "", wl]
    if "view" in shown:
        view = radiograph.view_position or meta.get("view_position", "")
        corners["bottom_right"].append(f"View {view}" if view else "")
    if "zoom" in shown:
        corners["bottom_right"] += [state.orientation_text, f"Zoom {state.zoom * 100:.0f}%"]
    markers = {}
    if "markers" in shown:
        markers = orientation_markers(meta.get("patient_orientation", ""), state.orientation)
    return CornerText({k: tuple(line for line in v if line) for k, v in corners.items()}, markers)


def _labelled(label: str, value: str) -> str:
    return f"{label} {value}" if value else ""


def _age(age: str) -> str:
    """DICOM AS "054Y" -> "54Y"; plain numbers (some exports) -> "81Y"."""
    age = age.strip()
    if age.isdigit():
        return f"{int(age)}Y"
    if len(age) == 4 and age[:3].isdigit():
        return f"{int(age[:3])}{age[3]}"
    return age


def paint_corners(
    painter: QPainter, rect: QRect | QRectF, text: CornerText, point_size: float = 10.0
) -> None:
    """Paint the corner lines and edge markers inside ``rect`` (device coordinates)."""
    painter.save()
    font = QFont(painter.font())
    font.setPointSizeF(point_size)
    painter.setFont(font)
    area = QRectF(rect).adjusted(10, 8, -10, -8)
    flags = Qt.AlignmentFlag
    align = {
        "top_left": flags.AlignLeft | flags.AlignTop,
        "top_right": flags.AlignRight | flags.AlignTop,
        "bottom_left": flags.AlignLeft | flags.AlignBottom,
        "bottom_right": flags.AlignRight | flags.AlignBottom,
        "left": flags.AlignLeft | flags.AlignVCenter,
        "right": flags.AlignRight | flags.AlignVCenter,
        "top": flags.AlignHCenter | flags.AlignTop,
        "bottom": flags.AlignHCenter | flags.AlignBottom,
    }
    for corner, lines in text.lines.items():
        _draw_haloed(painter, area, "\n".join(lines), align[corner])
    if text.markers:
        font.setPointSizeF(point_size * 1.5)
        font.setBold(True)
        painter.setFont(font)
        for edge, letters in text.markers.items():
            _draw_haloed(painter, area, letters, align[edge])
    painter.restore()


def _draw_haloed(painter: QPainter, rect: QRectF, text: str, align: Qt.AlignmentFlag) -> None:
    if not text:
        return
    # A dark halo keeps the text readable over bright film.
    painter.setPen(QColor(0, 0, 0, 220))
    for dx, dy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        painter.drawText(rect.translated(dx, dy), int(align), text)
    painter.setPen(QColor(235, 235, 200))
    painter.drawText(rect, int(align), text)


class CornerFieldsEditor(QWidget):
    """Settings: one check box per corner field."""

    def __init__(self, chosen: Iterable[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        chosen = set(chosen)
        self.checks: dict[str, QCheckBox] = {}
        for index, (key, (title, identifying)) in enumerate(CORNER_FIELD_TITLES.items()):
            check = QCheckBox(title)
            check.setChecked(key in chosen)
            if identifying:
                check.setToolTip("Identifies the patient: left out of exports that strip identifiers")
            self.checks[key] = check
            grid.addWidget(check, index // 2, index % 2)

    def fields(self) -> tuple[str, ...]:
        return tuple(key for key, check in self.checks.items() if check.isChecked())
