"""Screening PACS films: the thin adapter between radiview.net and today's radiview.batch.

THE SWAP POINT: everything that touches the batch API is in this module, so the shared
screening engine (branch ``engine``: items keyed by SOP Instance UID, extra CSV columns,
resumable journal) can replace it at merge without touching the listener or the CLI.

CSV contract: the folder report's columns, ``file`` = SOP Instance UID, then ``study_uid``
appended at the end (readers of the folder report keep working). Films sit on disk as
``<films>/<study_uid>/<sop_uid>.dcm``; a film is reported once: resumed reports skip the
SOP Instance UIDs they already hold.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from radiview.batch.report import DEFAULT_LABELS, CsvReportWriter, _encode_row, csv_columns, format_csv_row
from radiview.batch.screening import ScreeningResult, iter_screening, list_screening_files
from radiview.errors import ReportError
from radiview.net.errors import NotAnImageError
from radiview.net.query import StudyQuery, check_uid

log = logging.getLogger("radiview.net.screen")

STUDY_COLUMN = "study_uid"


class PacsReportWriter(CsvReportWriter):
    """The folder report plus a trailing ``study_uid`` column; ``keys`` = SOP UIDs reported."""

    def __init__(
        self, path: str | os.PathLike[str], labels: Sequence[str] = DEFAULT_LABELS, resume: bool = True
    ) -> None:
        super().__init__(path, labels, resume)
        self.columns = [*csv_columns(self.labels), STUDY_COLUMN]
        self.keys: set[str] = set()

    def open(self) -> frozenset[str]:
        done = super().open()
        self.keys = set(done)
        return done

    def write_film(self, result: ScreeningResult, study_uid: str) -> None:
        """One row, one write call, fsynced (a kill cuts at most this row; resume drops it)."""
        if self._fd is None:
            self.open()
        assert self._fd is not None
        data = _encode_row([*format_csv_row(result, self.labels), study_uid])
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as exc:
            raise ReportError(f"cannot write to the report: {exc.strerror}", self.path) from exc
        self.rows_written += 1
        self.keys.add(result.file)


def film_path(films_dir: Path, study_uid: str, sop_uid: str) -> Path:
    return (
        films_dir
        / check_uid(study_uid, "Study Instance UID")
        / f"{check_uid(sop_uid, 'SOP Instance UID')}.dcm"
    )


def remove_partial_writes(films_dir: Path) -> int:
    """Delete the hidden temporaries a killed write left (atomic writes never expose them)."""
    removed = 0
    for tmp in films_dir.glob("*/.*.tmp"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def iter_screen_films(
    films_dir: str | os.PathLike[str],
    classifier: Any,
    report: PacsReportWriter,
    cancel: threading.Event | None = None,
    batch_size: int = 16,
    workers: int | None = None,
) -> Iterator[tuple[ScreeningResult, str]]:
    """Screen the films under ``films_dir`` not yet in ``report``; each row is written, then yielded."""
    root = Path(films_dir)
    if not root.is_dir():
        return
    files = list_screening_files(root, recursive=True)
    skip = [f for f in files if Path(f).stem in report.keys]
    if len(skip) == len(files):
        return
    for result in iter_screening(
        root, classifier, recursive=True, skip=skip, batch_size=batch_size, workers=workers, cancel=cancel
    ):
        relative = Path(result.file)
        study_uid = relative.parent.name
        row = replace(result, file=relative.stem)
        report.write_film(row, study_uid)
        yield row, study_uid


def _retrieve_series(
    connection: Any, series: Any, films_dir: Path, report: PacsReportWriter, summary: PacsScreeningSummary
) -> None:
    """The series' films not yet reported, onto disk; a non-image instance gets its error row."""
    instances = connection.find_instances(series.study_uid, series.series_uid)
    todo = [i for i in instances if i.sop_uid not in report.keys]
    summary.films_found += len(instances)
    summary.already_reported += len(instances) - len(todo)
    if (
        todo
        and len(todo) == len(instances)
        and all(i.is_image for i in todo)
        and hasattr(connection, "retrieve_series")
    ):
        # DIMSE: one C-GET for the whole series instead of one association per film.
        folder = films_dir / check_uid(series.study_uid, "Study Instance UID")
        connection.retrieve_series(series.study_uid, series.series_uid, folder)
        return
    for instance in todo:
        try:
            connection.retrieve(instance, film_path(films_dir, series.study_uid, instance.sop_uid))
        except NotAnImageError as exc:
            report.write_film(ScreeningResult(instance.sop_uid, "error", None, exc.problem), series.study_uid)
            summary.refused_non_images += 1


@dataclass
class PacsScreeningSummary:
    studies: int = 0
    films_found: int = 0
    already_reported: int = 0
    screened: int = 0
    refused_non_images: int = 0


def screen_pacs(
    connection: Any,
    query: StudyQuery,
    classifier: Any,
    report: PacsReportWriter,
    work_dir: str | os.PathLike[str],
    on_result: Callable[[ScreeningResult, str, Path], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> PacsScreeningSummary:
    """Find the studies of ``query``, then ``screen_studies`` them."""
    studies = connection.find_studies(query)
    return screen_studies(
        connection,
        studies,
        query.modalities,
        classifier,
        report,
        work_dir,
        on_result=on_result,
        on_progress=on_progress,
        cancel=cancel,
    )


def screen_studies(
    connection: Any,
    studies: Sequence[Any],
    modalities: Sequence[str],
    classifier: Any,
    report: PacsReportWriter,
    work_dir: str | os.PathLike[str],
    on_result: Callable[[ScreeningResult, str, Path], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> PacsScreeningSummary:
    """Retrieve each film of these studies not yet reported, screen it, report it.

    One study at a time: its films are retrieved into ``work_dir``, screened, handed to
    ``on_result`` (e.g. to send SC/SR results back) and deleted, so patient data does not
    pile up on disk. A network failure stops the run (resume finishes it); a non-image
    instance gets an ``error`` row saying so. ``cancel`` stops between films.
    """
    summary = PacsScreeningSummary(studies=len(studies))
    films_dir = Path(work_dir)
    for index, study in enumerate(studies, start=1):
        if cancel is not None and cancel.is_set():
            break
        if on_progress:
            on_progress(f"study {index}/{len(studies)}")
        for series in connection.find_series(study.study_uid, modalities):
            _retrieve_series(connection, series, films_dir, report, summary)
        study_dir = films_dir / study.study_uid
        for result, study_uid in iter_screen_films(films_dir, classifier, report, cancel):
            summary.screened += 1
            if on_result is not None:
                on_result(result, study_uid, film_path(films_dir, study_uid, result.file))
        shutil.rmtree(study_dir, ignore_errors=True)
    return summary
