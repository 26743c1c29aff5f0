"""Screening reports: a crash-safe, resumable CSV and a paginated PDF summary.

CSV contract (the GUI and scripts read it; keep it exact)::

    file,status,prediction,p_normal,p_bacterial_pneumonia,p_viral_pneumonia,p_covid19,message

``file`` is relative to the screened folder (POSIX separators); ``status`` is ok, refused or
error; ``prediction`` and the ``p_*`` columns (4 decimals) are filled only for ok rows; the
``p_*`` columns follow the model's labels. ``message`` is the gate's reason or the error
text, on one line.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from radiview import RESEARCH_NOTICE, __version__
from radiview.atomic import atomic_path, atomic_write
from radiview.batch.screening import ScreeningResult
from radiview.errors import RadiviewError, ReportError

if TYPE_CHECKING:
    from radiview.inference.bundle import ModelCard

log = logging.getLogger("radiview.batch.report")

DEFAULT_LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")
STATUSES = ("ok", "refused", "error")
#: Grad-CAM thumbnails in a PDF are computed at report time; cap them to bound its cost.
MAX_THUMBNAILS = 100


def csv_columns(labels: Sequence[str] = DEFAULT_LABELS) -> list[str]:
    """The report's header for a model with these labels."""
    return ["file", "status", "prediction", *(f"p_{label}" for label in labels), "message"]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def format_csv_row(result: ScreeningResult, labels: Sequence[str] = DEFAULT_LABELS) -> list[str]:
    """The CSV fields of one result (strings, in ``csv_columns(labels)`` order)."""
    pred = result.prediction
    if result.status == "ok" and pred is not None:
        probs = [f"{pred.probability(label):.4f}" for label in labels]
        top = pred.top_label or ""
    else:
        probs = [""] * len(labels)
        top = ""
    return [result.file, result.status, top, *probs, _one_line(result.message)]


def _encode_row(fields: Sequence[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue().encode("utf-8")


class CsvReportWriter:
    """Appends one CSV row per result, flushed and fsynced, so a killed run loses nothing.

    ``resume=False`` atomically replaces any existing report with a fresh header.
    ``resume=True`` keeps an existing report: it checks the header, truncates a trailing
    partial row (a write cut by SIGKILL or power loss) and exposes the files already
    reported as ``done``, to pass as ``iter_screening(skip=...)``::

        with CsvReportWriter(out, classifier.card.labels, resume=True) as report:
            for result in iter_screening(folder, classifier, skip=report.done):
                report.write(result)
    """

    def __init__(
        self, path: str | os.PathLike[str], labels: Sequence[str] = DEFAULT_LABELS, resume: bool = False
    ) -> None:
        self.path = Path(path)
        self.labels = tuple(labels)
        self.columns = csv_columns(self.labels)
        self.resume = resume
        self.done: frozenset[str] = frozenset()
        self.rows_written = 0
        self._fd: int | None = None

    def open(self) -> frozenset[str]:
        """Open (or resume) the report; returns the files already in it."""
        if self._fd is not None:
            return self.done
        if self.resume and self.path.exists():
            self.done = self._recover()
        else:
            self._start_new()
            self.done = frozenset()
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise ReportError(f"cannot open the report for writing: {exc.strerror}", self.path) from exc
        return self.done

    def write(self, result: ScreeningResult) -> None:
        if self._fd is None:
            self.open()
        assert self._fd is not None
        data = _encode_row(format_csv_row(result, self.labels))
        try:
            # One write call per row, then fsync: a kill can cut at most this row.
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as exc:
            raise ReportError(f"cannot write to the report: {exc.strerror}", self.path) from exc
        self.rows_written += 1

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> CsvReportWriter:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start_new(self) -> None:
        parent = self.path.parent
        if not parent.is_dir():
            raise ReportError("the report's folder does not exist", parent)
        header = _encode_row(self.columns)
        try:
            with atomic_write(self.path) as fh:
                fh.write(header)
        except OSError as exc:
            raise ReportError(f"cannot create the report: {exc.strerror}", self.path) from exc

    def _recover(self) -> frozenset[str]:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise ReportError(f"cannot read the report to resume: {exc.strerror}", self.path) from exc
        if not data:  # killed before even the header landed
            self._start_new()
            return frozenset()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            log.warning(
                "%s: dropping a partial last row (%d bytes) before resuming", self.path, len(data) - complete
            )
            if complete == 0:  # not even a full header
                self._start_new()
                return frozenset()
            try:
                with open(self.path, "r+b") as fh:
                    fh.truncate(complete)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise ReportError(f"cannot truncate a partial row: {exc.strerror}", self.path) from exc
        rows = _parse_rows(data[:complete], self.path)
        if rows[0] != self.columns:
            raise ReportError(
                f"the existing report's columns {','.join(rows[0])} do not match this model's "
                f"({','.join(self.columns)}); write to a new report instead of --resume",
                self.path,
            )
        return frozenset(row[0] for row in rows[1:])


def _parse_rows(data: bytes, path: Path) -> list[list[str]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReportError("the report is not UTF-8 text", path) from exc
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ReportError("the report is empty (no header)", path)
    width = len(rows[0])
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            raise ReportError(f"line {number} has {len(row)} fields, expected {width}", path)
    return rows


def read_csv_report(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The report's rows as dicts keyed by column name (values are the raw strings).

    A trailing partial row (an interrupted run) is ignored, not returned.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReportError(f"cannot read the report: {exc.strerror}", path) from exc
    data = data[: data.rfind(b"\n") + 1]
    rows = _parse_rows(data, path)
    header = rows[0]
    # Extra columns may follow "message" (PACS reports append study_uid).
    if header[:3] != ["file", "status", "prediction"] or "message" not in header[3:]:
        raise ReportError("not a RadiView screening report (unexpected header)", path)
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


# ----------------------------------------------------------------------------------------- PDF

_PAGE = (8.27, 11.69)  # A4 portrait, inches
_TABLE_ROWS = 44
_THUMBS_PER_PAGE = (4, 3)  # rows, columns


def is_flagged(result: ScreeningResult) -> bool:
    """A film the model read as anything but normal (these get a Grad-CAM thumbnail)."""
    pred = result.prediction
    return result.status == "ok" and pred is not None and pred.top_label not in (None, "normal")


def write_pdf_report(
    path: str | os.PathLike[str],
    results: Iterable[ScreeningResult],
    classifier_card: Any,
    folder: str | os.PathLike[str],
    thumbnails: bool = True,
    max_thumbnails: int = MAX_THUMBNAILS,
) -> Path:
    """Write a PDF: summary, the result table, Grad-CAM thumbnails of flagged films.

    ``classifier_card`` is a ``Classifier`` (needed for thumbnails: the flagged films are
    re-read from ``folder`` and explained now, at most ``max_thumbnails`` of them) or a bare
    ``ModelCard`` (no thumbnails). Every page carries ``RESEARCH_NOTICE`` in its footer.
    The file appears atomically (temp file + rename).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    results = list(results)
    classifier = classifier_card if hasattr(classifier_card, "analyze") else None
    card: ModelCard = classifier.card if classifier is not None else classifier_card
    path = Path(path)
    folder = Path(folder)
    if not path.parent.is_dir():
        raise ReportError("the PDF's folder does not exist", path.parent)

    flagged = [r for r in results if is_flagged(r)]
    limit = max(0, max_thumbnails) if thumbnails and classifier is not None else 0
    thumbs = _build_thumbnails(flagged[:limit], classifier, folder) if limit else []

    pages: list[Figure] = []
    pages.append(_summary_page(results, card, folder, flagged, thumbs, limit, thumbnails, classifier))
    pages += _table_pages(results, card.labels)
    pages += _thumbnail_pages(thumbs)
    total = len(pages)
    for number, fig in enumerate(pages, start=1):
        fig.text(0.5, 0.022, RESEARCH_NOTICE, ha="center", va="bottom", fontsize=8, color="#a00000")
        fig.text(0.95, 0.022, f"{number}/{total}", ha="right", va="bottom", fontsize=7, color="#555555")
        fig.text(0.05, 0.022, f"RadiView {__version__}", ha="left", va="bottom", fontsize=7, color="#555555")

    metadata = {
        "Title": "RadiView screening report",
        "Subject": RESEARCH_NOTICE,
        "Creator": f"RadiView {__version__}",
    }
    try:
        with atomic_path(path) as tmp, PdfPages(tmp, metadata=metadata) as pdf:
            for fig in pages:
                pdf.savefig(fig)
    except OSError as exc:
        raise ReportError(f"cannot write the PDF: {exc.strerror or exc}", path) from exc
    return path


def _new_page():  # type: ignore[no-untyped-def]
    from matplotlib.figure import Figure

    return Figure(figsize=_PAGE)


def _summary_page(results, card, folder, flagged, thumbs, limit, thumbnails, classifier):  # type: ignore[no-untyped-def]
    fig = _new_page()
    counts = Counter(r.status for r in results)
    by_label = Counter(r.prediction.top_label for r in results if r.status == "ok" and r.prediction)
    lines = [
        ("RadiView screening report", 18, "bold"),
        ("", 10, "normal"),
        (f"Folder: {folder}", 10, "normal"),
        (f"Model: {card.display_name}", 10, "normal"),
        (f"Date: {datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}", 10, "normal"),
        (f"Films: {len(results)}", 10, "normal"),
        ("", 10, "normal"),
        ("Model reading (accepted films)", 12, "bold"),
    ]
    lines += [(f"    {label}: {by_label.get(label, 0)}", 10, "normal") for label in card.labels]
    lines += [
        ("", 10, "normal"),
        ("Not read", 12, "bold"),
        (f"    refused by the input gate: {counts.get('refused', 0)}", 10, "normal"),
        (f"    unreadable (error): {counts.get('error', 0)}", 10, "normal"),
        ("", 10, "normal"),
        (f"Flagged as not normal: {len(flagged)}", 10, "normal"),
    ]
    if not thumbnails:
        lines.append(("Grad-CAM thumbnails: not requested.", 10, "normal"))
    elif classifier is None:
        lines.append(("Grad-CAM thumbnails: not available (no model given to the report).", 10, "normal"))
    elif len(flagged) > limit:
        lines.append(
            (
                f"Grad-CAM thumbnails: the first {limit} of {len(flagged)} flagged films only "
                f"(capped at {limit}).",
                10,
                "normal",
            )
        )
    elif flagged:
        lines.append((f"Grad-CAM thumbnails: {len(thumbs)} flagged films.", 10, "normal"))
    lines += [
        ("", 10, "normal"),
        ("The heatmaps show model attention, not lesion localisation.", 9, "italic"),
        ("Probabilities are the model's calibrated estimates, not diagnoses.", 9, "italic"),
    ]
    y = 0.93
    for text, size, weight in lines:
        style = "italic" if weight == "italic" else "normal"
        fig.text(
            0.08,
            y,
            text,
            fontsize=size,
            fontweight="bold" if weight == "bold" else "normal",
            fontstyle=style,
            va="top",
        )
        y -= 0.03 if size < 12 else 0.04
    return fig


def _table_pages(results, labels):  # type: ignore[no-untyped-def]
    pages = []
    short = [label.replace("_pneumonia", " pn.").replace("_", " ") for label in labels]
    columns = ["file", "status", "prediction", *short, "message"]
    for start in range(0, max(len(results), 1), _TABLE_ROWS):
        chunk = results[start : start + _TABLE_ROWS]
        fig = _new_page()
        fig.text(
            0.05,
            0.965,
            f"Results {start + 1}-{start + len(chunk)} of {len(results)}",
            fontsize=11,
            fontweight="bold",
            va="top",
        )
        ax = fig.add_axes((0.04, 0.06, 0.92, 0.88))
        ax.axis("off")
        if not chunk:
            ax.text(0.5, 0.5, "No films were screened.", ha="center", fontsize=11)
            pages.append(fig)
            continue
        cells = []
        for r in chunk:
            row = format_csv_row(r, labels)
            file, status, top = row[0], row[1], row[2]
            probs = row[3:-1]
            cells.append(
                [
                    _ellipsize(file, 34),
                    status,
                    top.replace("_pneumonia", " pn."),
                    *probs,
                    _ellipsize(row[-1], 40),
                ]
            )
        widths = [0.27, 0.07, 0.12] + [0.065] * len(labels) + [0.28]
        height = (len(chunk) + 1) / (_TABLE_ROWS + 1)  # same row height on every page
        table = ax.table(
            cellText=cells,
            colLabels=columns,
            colWidths=widths[: len(columns)],
            cellLoc="left",
            bbox=(0.0, 1.0 - height, 1.0, height),
        )
        table.auto_set_font_size(False)
        table.set_fontsize(6)
        pages.append(fig)
    return pages


def _ellipsize(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def _build_thumbnails(flagged, classifier, folder):  # type: ignore[no-untyped-def]
    """(file, label, probability, RGB thumbnail or None, note) for each flagged film."""
    from radiview.io import load_radiograph
    from radiview.io.windowing import apply_window
    from radiview.render import composite_heatmap

    out = []
    for result in flagged:
        try:
            radiograph = load_radiograph(folder / result.file)
            prediction, explanation = classifier.analyze(radiograph)
            # Composite at thumbnail size: full-resolution compositing costs ~1 s per 2000-px film.
            gray = _shrink(apply_window(radiograph.pixels, radiograph.default_window))
            if explanation is None:
                out.append((result.file, prediction.top_label or "", 0.0, gray, "no heatmap"))
                continue
            heat = _resize_float(explanation.heatmap, gray.shape)
            rgba = np.asarray(composite_heatmap(gray, heat, 0.45, "jet"))
            label = prediction.top_label or explanation.label
            out.append((result.file, label, prediction.probability(label), rgba, ""))
        except RadiviewError as exc:
            out.append((result.file, "", 0.0, None, str(exc.problem)))
        except Exception as exc:  # one bad film must not lose the whole report
            log.warning("%s: thumbnail failed: %s: %s", result.file, type(exc).__name__, exc)
            out.append((result.file, "", 0.0, None, f"{type(exc).__name__}: {exc}"))
    return out


def _shrink(image: np.ndarray, size: int = 320) -> np.ndarray:
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(image))
    pil.thumbnail((size, size), Image.Resampling.BILINEAR)
    return np.asarray(pil)


def _resize_float(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32), mode="F")
    return np.clip(np.asarray(pil.resize((shape[1], shape[0]), Image.Resampling.BILINEAR)), 0.0, 1.0)


def _thumbnail_pages(thumbs):  # type: ignore[no-untyped-def]
    rows, cols = _THUMBS_PER_PAGE
    per_page = rows * cols
    pages = []
    for start in range(0, len(thumbs), per_page):
        fig = _new_page()
        fig.text(
            0.05,
            0.965,
            "Flagged films: Grad-CAM (model attention, not lesion localisation)",
            fontsize=11,
            fontweight="bold",
            va="top",
        )
        for i, (file, label, prob, image, note) in enumerate(thumbs[start : start + per_page]):
            ax = fig.add_subplot(rows, cols, i + 1)
            ax.axis("off")
            if image is not None:
                ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
            title = f"{_ellipsize(file, 30)}\n{label} {prob:.2f}" if label else _ellipsize(file, 30)
            if note:
                title += f"\n{_ellipsize(note, 40)}"
            ax.set_title(title, fontsize=6.5)
        fig.subplots_adjust(left=0.04, right=0.96, top=0.92, bottom=0.07, hspace=0.35, wspace=0.1)
        pages.append(fig)
    return pages


def results_from_rows(
    rows: Iterable[dict[str, str]], labels: Sequence[str] = DEFAULT_LABELS, model: str = ""
) -> list[ScreeningResult]:
    """Rebuild results from ``read_csv_report`` rows (probabilities as rounded in the CSV).

    Lets a PDF cover a whole resumed report, including rows from earlier runs.
    """
    from radiview.inference.prediction import GateVerdict, Prediction

    labels = tuple(labels)
    out = []
    for row in rows:
        status = row.get("status", "")
        message = row.get("message", "")
        prediction = None
        if status == "ok":
            try:
                probs = tuple(float(row[f"p_{label}"]) for label in labels)
            except (KeyError, ValueError) as exc:
                raise ReportError(f"row for {row.get('file')!r} has no valid probabilities ({exc})") from exc
            prediction = Prediction(labels, probs, GateVerdict(True), model)
        elif status == "refused":
            prediction = Prediction(labels, (0.0,) * len(labels), GateVerdict(False, message), model)
        elif status != "error":
            raise ReportError(f"row for {row.get('file')!r} has an unknown status {status!r}")
        out.append(ScreeningResult(row.get("file", ""), status, prediction, message))  # type: ignore[arg-type]
    return out
