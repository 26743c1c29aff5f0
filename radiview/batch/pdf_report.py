"""The screening PDF: a summary page, the result table, Grad-CAM thumbnails of flagged films.

Built from the run's records alone: no CSV read-back, and the thumbnails were made during the
run (``ScreeningSettings.thumbnails``), so no film is decoded twice. Every page carries
``RESEARCH_NOTICE`` in its footer; the file appears atomically.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from radiview import RESEARCH_NOTICE, __version__
from radiview.atomic import atomic_path
from radiview.batch.outputs import PDF_MAGIC, refuse_to_replace_other_kind
from radiview.batch.records import ScreeningRecord
from radiview.errors import ReportError
from radiview.inference.wording import class_title

log = logging.getLogger("radiview.batch.report")

_PAGE = (8.27, 11.69)  # A4 portrait, inches
_TABLE_ROWS = 44
_THUMBS_PER_PAGE = (4, 3)  # rows, columns
_MESSAGE_CELL = 40  # characters of a message the table shows; longer ones are given in full after it
_NOTE_LINES = 60


def write_pdf_report(
    path: str | os.PathLike[str],
    records: Iterable[ScreeningRecord],
    model: str,
    labels: Sequence[str],
    source: str,
    thumbnails_requested: bool = True,
) -> Path:
    """Write the PDF for ``records`` (``model`` is its display name, ``source`` the folder or node)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ReportError("the PDF's folder does not exist", path.parent)
    refuse_to_replace_other_kind(path, PDF_MAGIC, "PDF")
    records = list(records)
    # matplotlib warns (e.g. a glyph missing from its font for a file name): our log, not stderr.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _render(path, records, model, tuple(labels), source, thumbnails_requested)
    for warning in caught:
        log.info("PDF %s: %s", path.name, warning.message)
    return path


def _render(
    path: Path, records: list[ScreeningRecord], model: str, labels: tuple[str, ...], source: str, thumbs: bool
) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_pdf import PdfPages

    pages = [_summary_page(records, model, labels, source, thumbs)]
    pages += _table_pages(records, labels)
    pages += _message_pages([r for r in records if len(r.message) > _MESSAGE_CELL])
    pages += _thumbnail_pages([r for r in records if r.thumbnail is not None])
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


def _new_page() -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=_PAGE)


def thumbnail_note(records: Sequence[ScreeningRecord], requested: bool) -> str:
    """One sentence on which flagged films have a Grad-CAM thumbnail, and why others do not."""
    flagged = [r for r in records if r.flagged]
    shown = sum(r.thumbnail is not None for r in flagged)
    if not requested:
        return "Grad-CAM thumbnails: not requested."
    if not flagged:
        return "Grad-CAM thumbnails: no flagged films."
    earlier = sum(r.resumed for r in flagged)
    parts = [f"Grad-CAM thumbnails: {shown} of {len(flagged)} flagged films"]
    if earlier:
        parts.append(f"{earlier} were screened in an earlier run (no thumbnail kept)")
    over = len(flagged) - earlier - shown
    if over > 0:
        parts.append(f"{over} over the per-run cap")
    return "; ".join(parts) + "."


def _summary_page(
    records: list[ScreeningRecord], model: str, labels: tuple[str, ...], source: str, thumbs: bool
) -> Any:
    fig = _new_page()
    counts = Counter(r.status for r in records)
    by_label = Counter(r.top_label for r in records if r.top_label)
    lines = [
        ("RadiView screening report", 18, "bold"),
        ("", 10, "normal"),
        (f"Source: {source}", 10, "normal"),
        (f"Model: {model}", 10, "normal"),
        (f"Date: {datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}", 10, "normal"),
        (f"Films: {len(records)}", 10, "normal"),
        ("", 10, "normal"),
        ("Model reading (accepted films)", 12, "bold"),
        *_headline_count_lines(records),
        ("    top class:", 10, "normal"),
    ]
    lines += [(f"        {class_title(label)}: {by_label.get(label, 0)}", 10, "normal") for label in labels]
    lines += [
        ("", 10, "normal"),
        ("Not read", 12, "bold"),
        (f"    refused by the input gate: {counts.get('refused', 0)}", 10, "normal"),
        (f"    unreadable (error): {counts.get('error', 0)}", 10, "normal"),
        ("", 10, "normal"),
        (f"Flagged as not normal: {sum(r.flagged for r in records)}", 10, "normal"),
        *_flag_count_lines(records),
        *((part, 10, "normal") for part in thumbnail_note(records, thumbs).split("; ")),
        ("", 10, "normal"),
        ("The heatmaps show model attention, not lesion localisation.", 9, "italic"),
        ("Probabilities are the model's calibrated estimates, not diagnoses.", 9, "italic"),
    ]
    y = 0.93
    for text, size, weight in lines:
        fig.text(
            0.08,
            y,
            text,
            fontsize=size,
            fontweight="bold" if weight == "bold" else "normal",
            fontstyle="italic" if weight == "italic" else "normal",
            va="top",
        )
        y -= 0.03 if size < 12 else 0.04
    return fig


def _headline_count_lines(records: list[ScreeningRecord]) -> list[tuple[str, int, str]]:
    """Step one of the headline, counted: pneumonia pattern (any cause) or not."""
    from radiview.inference.headline import NO_PNEUMONIA_TITLE, PNEUMONIA_TITLE, build_headline

    headlines = [build_headline(r.prediction) for r in records if r.status == "ok"]
    pneumonia = sum(h is not None and h.pneumonia for h in headlines)
    none = sum(h is not None and not h.pneumonia for h in headlines)
    return [
        (f"    {PNEUMONIA_TITLE}: {pneumonia}", 10, "normal"),
        (f"    {NO_PNEUMONIA_TITLE}: {none}", 10, "normal"),
    ]


def _flag_count_lines(records: list[ScreeningRecord]) -> list[tuple[str, int, str]]:
    """How many films carry each reading flag (context for the model's answer, issue 14)."""
    from radiview.inference.flags import flag_short_text

    counts = Counter(code for r in records for code in r.flags)
    if not counts:
        return []
    return [("Reading flags (warnings beside the reading; table tag in brackets):", 10, "normal")] + [
        (f"    {flag_short_text(code)} [{_FLAG_TAGS.get(code, code)}]: {count}", 10, "normal")
        for code, count in sorted(counts.items())
    ]


def _reading_cells(record: ScreeningRecord) -> tuple[str, str]:
    """Step one in a few words (``"Pneumonia 96.5 %"``, ``"No pneumonia >99 %"``) and the
    likeliest cause (``"bacterial"``): the two-step headline, capped at 99 %."""
    from radiview.inference.headline import build_headline, cause_title, display_probability

    headline = build_headline(record.prediction) if record.status == "ok" else None
    if headline is None:
        return "", ""
    words = "Pneumonia" if headline.pneumonia else "No pneumonia"
    cause = cause_title(headline.most_like) if headline.pneumonia and headline.most_like else ""
    return f"{words} {display_probability(headline.step_one_probability)}", cause


def _table_pages(records: list[ScreeningRecord], labels: tuple[str, ...]) -> list[Any]:
    from radiview.inference.headline import cause_title, display_probability

    pages = []
    short = [cause_title(label) if label != "normal" else "no pn." for label in labels]
    columns = ["file", "status", "reading", "most like", *short, "flags", "message"]
    n = len(labels)
    for start in range(0, max(len(records), 1), _TABLE_ROWS):
        chunk = records[start : start + _TABLE_ROWS]
        fig = _new_page()
        title = f"Results {start + 1}-{start + len(chunk)} of {len(records)}"
        fig.text(0.05, 0.965, title, fontsize=11, fontweight="bold", va="top")
        ax = fig.add_axes((0.04, 0.06, 0.92, 0.88))
        ax.axis("off")
        if not chunk:
            ax.text(0.5, 0.5, "No films were screened.", ha="center", fontsize=11)
            pages.append(fig)
            continue
        cells = []
        for record in chunk:
            ok = record.status == "ok" and record.prediction is not None
            probs = [display_probability(record.prediction.probability(lb), 0) if ok else "" for lb in labels]  # type: ignore[union-attr]
            cells.append(
                [
                    _ellipsize(record.key, 24),
                    record.status,
                    *_reading_cells(record),
                    *probs,
                    _flags_cell(record),
                    _ellipsize(record.message, _MESSAGE_CELL),
                ]
            )
        widths = [0.19, 0.055, 0.12, 0.07] + [0.05] * n + [0.12, max(0.1, 0.445 - 0.05 * n)]
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


#: The table's flags cell is narrow: a tag per flag, explained on the summary page.
_FLAG_TAGS = {
    "adult": "adult",
    "age_unknown": "age?",
    "unvalidated_source": "src",
    "ap_portable": "AP",
    "view_unknown": "view?",
    "low_confidence": "low",
}


def _flags_cell(record: ScreeningRecord) -> str:
    return " ".join(_FLAG_TAGS.get(code, code) for code in record.flags)


def _message_pages(records: list[ScreeningRecord]) -> list[Any]:
    """Messages too long for the table, in full (a reason is never cut mid-sentence)."""
    import textwrap

    lines: list[str] = []
    for record in records:
        wrapped = textwrap.wrap(f"{record.key}: {record.message}", 110, subsequent_indent="    ")
        lines += wrapped
    pages = []
    for start in range(0, len(lines), _NOTE_LINES):
        fig = _new_page()
        fig.text(0.05, 0.965, "Messages in full", fontsize=11, fontweight="bold", va="top")
        for i, line in enumerate(lines[start : start + _NOTE_LINES]):
            fig.text(0.05, 0.93 - i * 0.0145, line, fontsize=6.5, va="top", family="monospace")
        pages.append(fig)
    return pages


def _ellipsize(text: str, width: int) -> str:
    """``text`` in ``width`` characters, cut on the right (a reader reads a name or a reason
    from its start: "…eral view, CT or…" says nothing)."""
    if len(text) <= width:
        return text
    return text[: width - 1] + "…"


def _thumbnail_caption(thumb: Any) -> str:
    """``"COVID-19 >99 %"``: the class in words and the capped probability, not ``covid19 1.00``."""
    from radiview.inference.headline import display_probability
    from radiview.inference.wording import class_title

    return f"{class_title(thumb.label)} {display_probability(thumb.probability)}"


def _thumbnail_pages(records: list[ScreeningRecord]) -> list[Any]:
    rows, cols = _THUMBS_PER_PAGE
    per_page = rows * cols
    pages = []
    for start in range(0, len(records), per_page):
        fig = _new_page()
        fig.text(
            0.05,
            0.965,
            "Flagged films: Grad-CAM (model attention, not lesion localisation)",
            fontsize=11,
            fontweight="bold",
            va="top",
        )
        for i, record in enumerate(records[start : start + per_page]):
            thumb = record.thumbnail
            assert thumb is not None
            ax = fig.add_subplot(rows, cols, i + 1)
            ax.axis("off")
            ax.imshow(thumb.image)
            ax.set_title(f"{_ellipsize(record.key, 30)}\n{_thumbnail_caption(thumb)}", fontsize=6.5)
        fig.subplots_adjust(left=0.04, right=0.96, top=0.92, bottom=0.07, hspace=0.35, wspace=0.1)
        pages.append(fig)
    return pages
