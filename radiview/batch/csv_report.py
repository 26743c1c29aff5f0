"""The screening CSV: crash-safe (one fsynced append per row), locked, model-stamped, resumable.

Column contract (scripts and the GUI read it; existing columns never move, new ones are only
appended at the end)::

    file,status,prediction,p_normal,p_bacterial_pneumonia,p_viral_pneumonia,p_covid19,message,
    model,patient_id,accession,study_date,flags,headline

``file`` is the item's key (a POSIX path relative to the screened folder); ``status`` is ok,
refused or error; ``prediction`` and the ``p_*`` columns (4 decimals, one per model label)
are filled only for ok rows; ``message`` is the gate's reason or the error, on one line;
``model`` is ``name@version sha256-prefix`` of the model that made the row; the identifiers
are the film's own (DICOM) and empty when it has none or they are stripped; ``flags`` holds
context warnings joined by ``;``; ``headline`` is the two-step reading in words
(radiview.inference.headline: "Pneumonia pattern (any cause) 96.5 %; most like: …", capped at
99 %), empty for refused and error rows. A caller may append its own ``extra_columns`` after these
(the PACS path appends ``study_uid``), filled from ``ScreeningRecord.extra``. Text cells
that a spreadsheet would run as a formula are prefixed with ``'`` (OWASP CSV injection);
reading a report undoes that.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from radiview.atomic import atomic_write
from radiview.batch.csv_reading import (
    looks_like_report,
    parse_report,
    read_csv_report,
    records_from_rows,
    unescape_cell,
    validate_rows,
)
from radiview.batch.records import Identifiers, ScreeningRecord
from radiview.batch.report_lock import ReportLock
from radiview.errors import ReportError

__all__ = [
    "DEFAULT_LABELS",
    "EXTRA_COLUMNS",
    "CsvReportWriter",
    "csv_columns",
    "escape_cell",
    "format_csv_row",
    "model_stamp",
    "read_csv_report",
    "unescape_cell",
    "write_csv_report",
]

log = logging.getLogger("radiview.batch.report")

DEFAULT_LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")
#: Appended after ``message``, in this order (the PACS path appends ``study_uid`` last).
EXTRA_COLUMNS = ("model", "patient_id", "accession", "study_date", "flags", "headline")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
Mode = Literal["create", "overwrite", "resume"]


def csv_columns(labels: Sequence[str] = DEFAULT_LABELS) -> list[str]:
    """The report's header for a model with these labels."""
    return ["file", "status", "prediction", *(f"p_{label}" for label in labels), "message", *EXTRA_COLUMNS]


def model_stamp(card: object) -> str:
    """``name@version sha256-prefix``: which model made a row (a ModelCard or anything like it)."""
    name = getattr(card, "display_name", "") or "unknown"
    digest = str(getattr(card, "weights_sha256", "") or "")[:12]
    return f"{name} {digest}".strip()


def escape_cell(text: str) -> str:
    """OWASP: a cell starting with = + - @ tab or CR gets a leading ' (so does one starting with ')."""
    return "'" + text if text.startswith((*_FORMULA_STARTS, "'")) else text


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def format_csv_row(
    record: ScreeningRecord,
    labels: Sequence[str] = DEFAULT_LABELS,
    strip_identifiers: bool = False,
    extra_columns: Sequence[str] = (),
) -> list[str]:
    """The CSV fields of one record, in ``csv_columns(labels)`` order, then ``extra_columns``."""
    pred = record.prediction
    if record.status == "ok" and pred is not None:
        probs = [f"{pred.probability(label):.4f}" for label in labels]
        top = pred.top_label or ""
    else:
        probs, top = [""] * len(labels), ""
    ids = Identifiers() if strip_identifiers else record.identifiers
    text = [_one_line(record.message), record.model, ids.patient_id, ids.accession, ids.study_date]
    return [
        escape_cell(record.key),
        record.status,
        top,
        *probs,
        *(escape_cell(_one_line(cell)) for cell in text),
        escape_cell(";".join(_one_line(flag) for flag in record.flags)),
        escape_cell(record_headline(record)),
        *(escape_cell(_one_line(record.extra.get(name, ""))) for name in extra_columns),
    ]


def record_headline(record: ScreeningRecord) -> str:
    """The two-step headline of an ok row; its low confidence is the row's own flag (which the
    engine judged with the card's limit)."""
    from radiview.inference.flags import LOW_CONFIDENCE
    from radiview.inference.headline import build_headline

    headline = build_headline(record.prediction) if record.status == "ok" else None
    if headline is None:
        return ""
    return replace(headline, low_confidence=LOW_CONFIDENCE in record.flags).one_line()


def encode_row(fields: Sequence[str]) -> bytes:
    if any("\r" in field for field in fields):
        # csv quotes only the lineterminator's characters; a bare CR would break reading back.
        return (",".join(_quote(f) for f in fields) + "\n").encode("utf-8")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue().encode("utf-8")


def _quote(field: str) -> str:
    if any(c in field for c in ',"\r\n'):
        return '"' + field.replace('"', '""') + '"'
    return field


# ------------------------------------------------------------------------------------ writing


class CsvReportWriter:
    """Appends one CSV row per record, fsynced, under the report's lock (a kill loses nothing).

    ``mode``: ``create`` refuses an existing file; ``overwrite`` replaces only an existing
    screening report (or an empty file); ``resume`` keeps an existing report after checking
    every row (``validate_rows``), drops a trailing partial row, and exposes what it holds as
    ``previous`` and ``done``. Every check runs before any byte is written or truncated::

        with CsvReportWriter(out, card.labels, model_stamp(card), mode="resume") as report:
            for record in screen(items, classifier, journal=report): ...
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        labels: Sequence[str] = DEFAULT_LABELS,
        model: str = "",
        mode: Mode = "create",
        allow_model_change: bool = False,
        strip_identifiers: bool = False,
        lock: ReportLock | None = None,
        extra_columns: Sequence[str] = (),
    ) -> None:
        self.path = Path(path)
        self.labels = tuple(labels)
        # Caller-owned columns after the contract's (PACS: study_uid), from each record's extra.
        self.extra_columns = tuple(extra_columns)
        self.columns = [*csv_columns(self.labels), *self.extra_columns]
        self.model = model
        self.mode = mode
        self.allow_model_change = allow_model_change
        self.strip_identifiers = strip_identifiers
        self.previous: tuple[ScreeningRecord, ...] = ()
        self.rows_written = 0
        self._written: set[str] = set()  # keys appended by this writer
        # A caller may take the lock first (the CLI does, before loading the model) and pass it.
        self._lock = lock or ReportLock(self.path)
        self._owns_lock = lock is None
        self._fd: int | None = None

    @property
    def done(self) -> frozenset[str]:
        """The keys earlier runs left in the report (what ``previous`` holds)."""
        return frozenset(record.key for record in self.previous)

    @property
    def reported(self) -> frozenset[str]:
        """Every key the report holds now: earlier runs' and this writer's (a long-lived
        journal, like the listener's, is screened into many times)."""
        return self.done | self._written

    def open(self) -> CsvReportWriter:
        if self._fd is not None:
            return self
        if not self.path.parent.is_dir():
            raise ReportError("the report's folder does not exist", self.path.parent)
        self._lock.acquire()
        try:
            self._prepare()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            self._release_lock()
            raise ReportError(f"cannot open the report for writing: {exc.strerror}", self.path) from exc
        except BaseException:
            self._release_lock()
            raise
        return self

    def _release_lock(self) -> None:
        if self._owns_lock:
            self._lock.release()

    def _prepare(self) -> None:
        exists = self.path.exists()
        if exists and self.path.is_dir():
            raise ReportError("is a folder, not a report file", self.path)
        if self.mode == "resume" and exists:
            self._resume()
            return
        if exists and self.mode == "create":
            raise ReportError(
                "already exists: pass --overwrite to replace it or --resume to continue it", self.path
            )
        if exists and not looks_like_report(self.path):
            raise ReportError("exists and is not a screening report; refusing to replace it", self.path)
        self._write_header()

    def _resume(self) -> None:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise ReportError(f"cannot read the report to resume: {exc.strerror}", self.path) from exc
        if not data:  # killed before even the header landed
            self._write_header()
            return
        parsed = parse_report(data, self.path)
        if list(parsed.header) != self.columns:
            raise ReportError(self._header_problem(parsed.header), self.path)
        rows = [dict(zip(self.columns, row, strict=True)) for row in parsed.rows]
        for row in rows:
            for name in ("file", "message", *EXTRA_COLUMNS, *self.extra_columns):
                row[name] = unescape_cell(row[name])
        validate_rows(rows, self.labels, self.path, self.model, self.allow_model_change)
        self.previous = tuple(records_from_rows(rows, self.labels, self.extra_columns))
        if parsed.partial_tail:  # only now, with the rest known to be a report
            log.warning(
                "%s: dropping a partial last row (%d bytes) before resuming",
                self.path.name,
                parsed.partial_tail,
            )
            with open(self.path, "r+b") as fh:
                fh.truncate(len(data) - parsed.partial_tail)
                fh.flush()
                os.fsync(fh.fileno())

    def _header_problem(self, header: Sequence[str]) -> str:
        before_model = csv_columns(self.labels)[: -len(EXTRA_COLUMNS)]
        before_headline = csv_columns(self.labels)[:-1]
        if list(header) in (before_headline, [*before_headline, *self.extra_columns]):
            return (
                "was written by an older RadiView (no headline column); write a new report "
                "(or --overwrite it) instead of --resume"
            )
        if list(header) in (before_model, [*before_model, *self.extra_columns]):
            return (
                "was written by an older RadiView (no model column), so its rows cannot be told "
                "apart from this run's; write a new report (or --overwrite it)"
            )
        if list(header[:3]) != ["file", "status", "prediction"]:
            return "is not a screening report (its first line is not the report header)"
        return (
            f"has the columns {','.join(header)}, which do not match this model's "
            f"({','.join(self.columns)}); write a new report instead of --resume"
        )

    def _write_header(self) -> None:
        try:
            with atomic_write(self.path) as fh:
                fh.write(encode_row(self.columns))
        except OSError as exc:
            raise ReportError(f"cannot create the report: {exc.strerror}", self.path) from exc

    def write(self, record: ScreeningRecord) -> None:
        if self._fd is None:
            self.open()
        assert self._fd is not None
        data = encode_row(format_csv_row(record, self.labels, self.strip_identifiers, self.extra_columns))
        try:
            # One write call per row, then fsync: a kill can cut at most this row.
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as exc:
            raise ReportError(f"cannot write to the report: {exc.strerror}", self.path) from exc
        self.rows_written += 1
        self._written.add(record.key)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._release_lock()

    def __enter__(self) -> CsvReportWriter:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def write_csv_report(
    path: str | os.PathLike[str],
    records: Iterable[ScreeningRecord],
    labels: Sequence[str] = DEFAULT_LABELS,
    strip_identifiers: bool = False,
    extra_columns: Sequence[str] = (),
) -> Path:
    """Write a whole report at once (the GUI's export): atomic, and only over a report or nothing."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ReportError("the report's folder does not exist", path.parent)
    if path.exists() and (path.is_dir() or not looks_like_report(path)):
        raise ReportError("exists and is not a screening report; refusing to replace it", path)
    with ReportLock(path):
        try:
            with atomic_write(path) as fh:
                fh.write(encode_row([*csv_columns(labels), *extra_columns]))
                for record in records:
                    fh.write(encode_row(format_csv_row(record, labels, strip_identifiers, extra_columns)))
        except OSError as exc:
            raise ReportError(f"cannot write the report: {exc.strerror}", path) from exc
    return path
