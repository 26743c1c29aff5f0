"""Screening PACS films with THE screening engine (``radiview.batch.engine``).

CSV contract: the folder report's columns, ``file`` = SOP Instance UID, then ``study_uid``
appended at the end (readers of the folder report keep working). Films sit on disk as
``<films>/<study_uid>/<sop_uid>.dcm``; each becomes a ``ScreeningItem`` keyed by its SOP
Instance UID with ``extra={"study_uid": ...}``. A film is reported once: a resumed report's
SOP Instance UIDs are neither retrieved nor screened again.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radiview.batch.csv_report import CsvReportWriter, Mode, model_stamp
from radiview.batch.engine import ScreeningSettings, iter_screening
from radiview.batch.records import ScreeningItem, ScreeningRecord
from radiview.net.errors import NotAnImageError
from radiview.net.query import StudyQuery, check_uid

log = logging.getLogger("radiview.net.screen")

STUDY_COLUMN = "study_uid"
#: Worker processes start by importing the decoders (and torch): a second or two. Below this
#: many films (one study, a film pushed to the listener) decoding threads finish sooner.
PROCESS_POOL_MIN_FILMS = 32

#: on_result(record, study_uid, film path): after the record is in the report.
ResultCallback = Callable[[ScreeningRecord, str, Path], None]


def pacs_report(path: str | os.PathLike[str], classifier: Any, mode: Mode = "resume") -> CsvReportWriter:
    """The PACS report: the folder report's columns plus ``study_uid`` (not yet opened)."""
    card = classifier.card
    return CsvReportWriter(path, card.labels, model_stamp(card), mode, extra_columns=(STUDY_COLUMN,))


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


def film_items(films_dir: Path, skip: frozenset[str] = frozenset()) -> list[ScreeningItem]:
    """The films under ``films_dir`` (``<study_uid>/<sop_uid>.dcm``) whose SOP UID is not in ``skip``."""
    if not films_dir.is_dir():
        return []
    items = []
    for path in sorted(films_dir.glob("*/*.dcm")):
        if path.name.startswith(".") or path.stem in skip:
            continue
        items.append(ScreeningItem(path.stem, path, {STUDY_COLUMN: path.parent.name}))
    return items


def iter_screen_films(
    films_dir: str | os.PathLike[str],
    classifier: Any,
    report: CsvReportWriter,
    cancel: threading.Event | None = None,
    settings: ScreeningSettings | None = None,
) -> Iterator[ScreeningRecord]:
    """Screen the films under ``films_dir`` not yet in ``report``; each record is in the
    report (fsynced) before it is yielded. Only films screened now are yielded."""
    items = film_items(Path(films_dir), report.reported)
    if not items:
        return
    settings = settings or ScreeningSettings(processes=len(items) >= PROCESS_POOL_MIN_FILMS)
    for record in iter_screening(items, classifier, journal=report, settings=settings, cancel=cancel):
        if not record.resumed:
            yield record


def _retrieve_series(
    connection: Any, series: Any, films_dir: Path, report: CsvReportWriter, summary: PacsScreeningSummary
) -> None:
    """The series' films not yet reported, onto disk; a non-image instance gets its error row."""
    instances = connection.find_instances(series.study_uid, series.series_uid)
    done = report.reported
    todo = [i for i in instances if i.sop_uid not in done]
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
            extra = {STUDY_COLUMN: series.study_uid}
            report.write(
                ScreeningRecord(instance.sop_uid, "error", None, exc.problem, model=report.model, extra=extra)
            )
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
    report: CsvReportWriter,
    work_dir: str | os.PathLike[str],
    on_result: ResultCallback | None = None,
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
    report: CsvReportWriter,
    work_dir: str | os.PathLike[str],
    on_result: ResultCallback | None = None,
    on_progress: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> PacsScreeningSummary:
    """Retrieve each film of these studies not yet reported, screen it, report it.

    ``report`` is an open ``pacs_report``. One study at a time: its films are retrieved into
    ``work_dir``, screened, handed to ``on_result`` (e.g. to send SC/SR results back) and
    deleted, so patient data does not pile up on disk. A network failure stops the run
    (resume finishes it); a non-image instance gets an ``error`` row saying so. ``cancel``
    stops between batches.
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
        study_dir = films_dir / check_uid(study.study_uid, "Study Instance UID")
        for record in iter_screen_films(films_dir, classifier, report, cancel):
            summary.screened += 1
            study_uid = record.extra[STUDY_COLUMN]
            if on_result is not None:
                on_result(record, study_uid, film_path(films_dir, study_uid, record.key))
        shutil.rmtree(study_dir, ignore_errors=True)
    return summary
