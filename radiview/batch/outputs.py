"""Checks on output paths, run before any byte is written: an output never destroys a user's file.

* A screening report replaces an existing file only with ``overwrite`` and only if that file
  is a screening report (or empty); ``resume`` appends to a report; otherwise an existing
  file is refused.
* An input film, or any file under the screened folder that is not the report, is never a
  valid output; neither is the same path for the CSV and the PDF.
* A PDF replaces only a PDF, a PNG heatmap only a PNG (and never the film it was made from).
"""

from __future__ import annotations

import os
from pathlib import Path

from radiview.batch.csv_report import looks_like_report
from radiview.errors import ReportError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"


def refuse_to_replace_other_kind(path: Path, magic: bytes, kind: str) -> None:
    """An output of ``kind`` may replace a file of that kind (it starts with ``magic``) or an empty
    one, never another kind of file (a film, notes, a report) or a folder."""
    if not path.exists():
        return
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(magic))
    except OSError as exc:
        raise ReportError(f"cannot check the existing file: {exc.strerror}", path) from exc
    if path.is_dir() or (head and head != magic):
        raise ReportError(f"exists and is not a {kind}; refusing to replace it", path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _is_film(path: Path) -> bool:
    from radiview.io.discovery import is_candidate_file

    return is_candidate_file(path)


def _check_parent(path: Path, what: str) -> None:
    if not path.parent.is_dir():
        raise ReportError(f"the folder for the {what} does not exist", path)
    if path.is_dir():
        raise ReportError(f"is a folder; the {what} must be a file", path)


def check_report_target(path: Path, overwrite: bool, resume: bool) -> None:
    """The CSV report may be created, replaced (``overwrite``) or appended to (``resume``)."""
    _check_parent(path, "report")
    if not path.exists():
        return
    if _is_film(path):
        raise ReportError("is a film; a report never replaces an input", path)
    if not looks_like_report(path):
        raise ReportError("exists and is not a screening report; refusing to replace it", path)
    if not (overwrite or resume):
        raise ReportError("already exists: pass --overwrite to replace it or --resume to continue it", path)


def check_screen_outputs(folder: Path, out: Path, pdf: Path | None, overwrite: bool, resume: bool) -> None:
    """Every output check of ``radiview screen`` (ReportError names the path and the problem)."""
    if overwrite and resume:
        raise ReportError("--overwrite and --resume contradict each other; choose one", out)
    check_report_target(out, overwrite, resume)
    if pdf is None:
        return
    _check_parent(pdf, "PDF")
    if _same_file(out, pdf):
        raise ReportError("is given as both the CSV (--out) and the PDF (--pdf); use two names", pdf)
    root = folder.resolve()
    if pdf.exists() and pdf.resolve().is_relative_to(root) and _is_film(pdf):
        raise ReportError("is a film in the screened folder; a PDF never replaces an input", pdf)
    refuse_to_replace_other_kind(pdf, PDF_MAGIC, "PDF")


def check_png_output(path: Path, inputs: tuple[Path, ...] = ()) -> None:
    """A PNG output (a heatmap) replaces only a PNG, and never one of its own inputs."""
    _check_parent(path, "PNG")
    for source in inputs:
        if _same_file(path, source):
            raise ReportError("is the input film; the heatmap must go to another file", path)
    refuse_to_replace_other_kind(path, PNG_MAGIC, "PNG")
