"""Export the current view (film + overlay + prediction + notice) as PNG or PDF.

The text block is built by ``view_report_lines`` (testable without painting). With
``strip_identifiers`` the patient's name, ID, birth date, age, sex, study date and
accession (and the file name, which often carries an MRN) never reach the rendered text.
Files appear atomically (temp + rename).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QMarginsF, QRectF, QSizeF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter
from PySide6.QtWidgets import QFileDialog

from radiview import RESEARCH_NOTICE, __version__
from radiview.atomic import atomic_path
from radiview.batch.outputs import PDF_MAGIC, PNG_MAGIC, refuse_to_replace_other_kind
from radiview.errors import ReportError
from radiview.gui.panels.metadata import is_identifying
from radiview.gui.panels.prediction import label_title
from radiview.gui.viewer import ATTENTION_LABEL
from radiview.inference.flags import LOW_CONFIDENCE
from radiview.inference.headline import build_headline, display_probability
from radiview.inference.wording import human_gate_reason
from radiview.render import fade_text

if TYPE_CHECKING:
    from radiview.gui.main_window import MainWindow

#: Metadata shown on an export (when present); identifying ones only without stripping.
EXPORT_KEYS = (
    ("patient_name", "Patient"),
    ("patient_id", "Patient ID"),
    ("patient_birth_date", "Birth date"),
    ("sex", "Sex"),
    ("age", "Age"),
    ("modality", "Modality"),
    ("body_part", "Body part"),
    ("study_date", "Study date"),
)
MAX_EXPORT_SIDE = 2048  # px of film in a PNG export


@dataclass(frozen=True)
class ViewSnapshot:
    """What the export shows, captured on the GUI thread."""

    film: QImage  # rendered film (window, invert, overlay, rotation, measurements)
    lines: tuple[str, ...]


def _lookup(metadata: Any, key: str) -> str | None:
    compact = "".join(ch for ch in key.lower() if ch.isalnum())
    for k, v in metadata.items():
        if "".join(ch for ch in str(k).lower() if ch.isalnum()) == compact and str(v).strip():
            return str(v)
    return None


def view_report_lines(
    radiograph: Any,
    prediction: Any,
    window: Any,
    inverted: bool,
    heatmap_label: str | None,
    strip_identifiers: bool,
    measurement: Any = None,
    now: datetime | None = None,
    flags: tuple[Any, ...] = (),
) -> list[str]:
    """The export's text, top to bottom (``flags``: the reading's warnings, as on screen)."""
    stamp = (now or datetime.now()).strftime("%Y-%m-%d %H:%M")
    lines = [f"RadiView {__version__} · exported {stamp}"]
    if not strip_identifiers:
        lines.append(f"File: {radiograph.name}")
    for key, title in EXPORT_KEYS:
        if strip_identifiers and is_identifying(key):
            continue
        value = _lookup(radiograph.metadata, key)
        if value:
            lines.append(f"{title}: {value}")
    if strip_identifiers:
        lines.append("Patient identifiers removed from this export.")
    if radiograph.view_position:
        lines.append(f"View: {radiograph.view_position}")
    if window is not None:
        lines.append(
            f"Window: W {window.width:.0f} / L {window.center:.0f}" + (" (inverted)" if inverted else "")
        )
    if measurement is not None:
        lines.append(f"Last measurement: {measurement}")
    if prediction is None:
        lines.append("AI second reader: no result.")
    elif not prediction.accepted:
        reason = human_gate_reason(prediction.gate.reason)[0]
        lines.append(f"AI second reader: not analysed, refused by the input gate ({reason}).")
    else:
        probs = ", ".join(
            f"{label_title(lb)} {display_probability(p)}"
            for lb, p in zip(prediction.labels, prediction.probabilities, strict=True)
        )
        headline = build_headline(prediction)
        if headline is not None:  # low confidence as the panel judged it (its flags)
            unsure = any(getattr(flag, "code", "") == LOW_CONFIDENCE for flag in flags)
            lines.append(f"AI second reader: {replace(headline, low_confidence=unsure).one_line()}.")
        lines.append(f"Probabilities (four classes only): {probs}.")
        lines.extend(f"Warning: {flag.text}." for flag in flags)
    if prediction is not None:
        lines.append(f"Model: {prediction.model}")
    if heatmap_label:
        lines.append(
            f"Heatmap: Grad-CAM for {label_title(heatmap_label)}, relative attention "
            f"(1 = this film's maximum). {fade_text()} {ATTENTION_LABEL}."
        )
    lines.append(RESEARCH_NOTICE)
    return lines


def _atomic(path: Path, write: Callable[[str], bool]) -> Path:
    if not path.parent.is_dir():
        raise ReportError("the export's folder does not exist", path.parent)
    with atomic_path(path) as tmp:
        if not write(tmp):
            raise ReportError("Qt could not write the file", path)
    return path


def _paint_text(painter: QPainter, rect: QRectF, lines: tuple[str, ...], point_size: float) -> None:
    font = QFont()
    font.setPointSizeF(point_size)
    painter.setFont(font)
    metrics = QFontMetricsF(font, painter.device())
    y = rect.top()
    for i, line in enumerate(lines):
        is_notice = i == len(lines) - 1
        font.setBold(is_notice or line.startswith("AI second reader"))
        painter.setFont(font)
        painter.setPen(QColor("#b00000") if is_notice else QColor("#111111"))
        bounds = painter.boundingRect(
            QRectF(rect.left(), y, rect.width(), rect.bottom() - y),
            int(Qt.TextFlag.TextWordWrap),
            line,
        )
        painter.drawText(bounds, int(Qt.TextFlag.TextWordWrap), line)
        y += bounds.height() + metrics.leading() + 2


def _text_height(lines: tuple[str, ...], width: float, point_size: float, device: Any) -> float:
    font = QFont()
    font.setPointSizeF(point_size)
    font.setBold(True)
    metrics = QFontMetricsF(font, device)
    total = 0.0
    for line in lines:
        bounds = metrics.boundingRect(QRectF(0, 0, width, 1e6), int(Qt.TextFlag.TextWordWrap), line)
        total += bounds.height() + metrics.leading() + 2
    return total


def compose_view_image(snapshot: ViewSnapshot) -> QImage:
    """Film on top, text on white below; the PNG export's pixels."""
    film = snapshot.film
    if max(film.width(), film.height()) > MAX_EXPORT_SIDE:
        film = film.scaled(
            MAX_EXPORT_SIDE,
            MAX_EXPORT_SIDE,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    width = max(film.width(), 640)
    margin = 16
    probe = QImage(1, 1, QImage.Format.Format_RGB32)
    point_size = max(9.0, width / 90.0)
    text_h = _text_height(snapshot.lines, width - 2 * margin, point_size, probe)
    image = QImage(width, film.height() + int(text_h) + 2 * margin, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        painter.fillRect(0, 0, width, film.height(), QColor("black"))
        painter.drawImage((width - film.width()) // 2, 0, film)
        _paint_text(
            painter,
            QRectF(margin, film.height() + margin, width - 2 * margin, text_h + margin),
            snapshot.lines,
            point_size,
        )
    finally:
        painter.end()
    return image


def write_view_png(path: str | os.PathLike[str], snapshot: ViewSnapshot) -> Path:
    refuse_to_replace_other_kind(Path(path), PNG_MAGIC, "PNG")  # never a film, notes, a report
    image = compose_view_image(snapshot)
    # PySide6's stub types the format as bytes; the binding refuses bytes and wants str.
    return _atomic(Path(path), lambda tmp: image.save(tmp, "PNG"))  # type: ignore[call-overload]


def write_view_pdf(path: str | os.PathLike[str], snapshot: ViewSnapshot) -> Path:
    """One A4 page: the film scaled to fit, then the text as real (searchable) text."""
    refuse_to_replace_other_kind(Path(path), PDF_MAGIC, "PDF")

    def write(tmp: str) -> bool:
        writer = QPdfWriter(tmp)
        writer.setResolution(150)
        writer.setTitle("RadiView view export")
        writer.setCreator(f"RadiView {__version__}")
        writer.setPageLayout(
            QPageLayout(
                QPageSize(QPageSize.PageSizeId.A4),
                QPageLayout.Orientation.Portrait,
                QMarginsF(12, 12, 12, 12),
            )
        )
        painter = QPainter()
        if not painter.begin(writer):
            return False
        try:
            page = QRectF(painter.viewport())
            point_size = 9.0
            text_h = _text_height(snapshot.lines, page.width(), point_size, writer)
            room = QSizeF(page.width(), max(page.height() - text_h - 20, page.height() * 0.4))
            film = snapshot.film
            scale = min(room.width() / max(film.width(), 1), room.height() / max(film.height(), 1))
            target = QRectF(0, 0, film.width() * scale, film.height() * scale)
            target.moveLeft(page.left() + (page.width() - target.width()) / 2)
            target.moveTop(page.top())
            painter.fillRect(target, QColor("black"))
            painter.drawImage(target, film)
            _paint_text(
                painter,
                QRectF(page.left(), target.bottom() + 20, page.width(), text_h + 20),
                snapshot.lines,
                point_size,
            )
        finally:
            painter.end()
        return True

    return _atomic(Path(path), write)


# ----- the window's "Export view" ----------------------------------------------------------------
STRIPPED_NOTE = "patient identifiers stripped (File ▸ Strip patient identifiers from exports)"
KEPT_NOTE = "patient identifiers included"


def export_caption(title: str, strip_identifiers: bool) -> str:
    """A save dialog's title that says whether identifiers leave with the file (a stripped
    CSV has an empty patient_id column: issue 21 found nothing said so)."""
    return f"{title} — {STRIPPED_NOTE if strip_identifiers else KEPT_NOTE}"


def choose_view_export(window: MainWindow, fmt: str) -> None:
    """Ask where to save the current view as ``fmt`` ("png" or "pdf"), then write it."""
    radiograph = window.session.radiograph
    if radiograph is None:
        window.statusBar().showMessage("Open a film first", 4000)
        return
    default_dir = window.settings.report_dir or str(Path.home())
    stem = Path(radiograph.name).stem
    suggested = os.path.join(default_dir, f"{stem}-view.{fmt}")
    filter_ = "PNG images (*.png)" if fmt == "png" else "PDF files (*.pdf)"
    caption = export_caption(f"Export view as {fmt.upper()}", window.settings.strip_identifiers)
    path, _ = QFileDialog.getSaveFileName(window, caption, suggested, filter_)
    if path:
        export_view(window, path, fmt, window.settings.strip_identifiers)


def view_snapshot(window: MainWindow, strip_identifiers: bool) -> ViewSnapshot:
    viewer = window.viewer
    overlay = viewer.overlay_visible and viewer.has_heatmap()
    lines = view_report_lines(
        window.session.radiograph,
        window.session.prediction,
        viewer.display_window,
        viewer.inverted,
        viewer.heatmap_label if overlay else None,
        strip_identifiers,
        viewer.last_measurement,
        flags=window.prediction_panel.flags,
    )
    return ViewSnapshot(viewer.render_view(strip_identifiers=strip_identifiers), tuple(lines))


def export_view(window: MainWindow, path: str, fmt: str, strip_identifiers: bool = True) -> str | None:
    """Write the current view; errors are shown in a dialog. Returns the path or None."""
    if window.session.radiograph is None:
        return None
    try:
        snapshot = view_snapshot(window, strip_identifiers)
        written = write_view_png(path, snapshot) if fmt == "png" else write_view_pdf(path, snapshot)
    except Exception as exc:
        from radiview.gui.workers import task_error

        window._present_error(task_error(0, "Cannot export the view", exc))
        return None
    window.statusBar().showMessage(f"Saved {written}", 6000)
    window.exported.emit(str(written))
    return str(written)
