"""A C-STORE SCP that screens what a modality or PACS pushes: ``radiview listen``.

Durability order, so nothing is lost or screened twice: a film is written to
``<out>/films/<study_uid>/<sop_uid>.dcm`` (temporary file, fsync, rename, folder fsync)
BEFORE the sender gets its success status; screening runs afterwards, on the folder, and
appends to ``<out>/report.csv`` through the screening engine (fsynced row by row). After a
crash, a restart screens every film on disk whose SOP Instance UID is not yet in the report;
a film pushed twice is stored once (same path) and reported once.

Malformed data is refused with a failure status and logged without patient data (no names,
IDs or UIDs: only the calling AE title and the kind of problem).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radiview.atomic import atomic_write
from radiview.net.dimse import VERIFICATION, decodable_transfer_syntaxes
from radiview.net.nodes import validate_ae_title
from radiview.net.query import IMAGE_SOP_CLASSES
from radiview.net.screen_study import iter_screen_films, pacs_report, remove_partial_writes

if TYPE_CHECKING:
    from radiview.batch.csv_report import CsvReportWriter

log = logging.getLogger("radiview.net.listener")

REPORT_NAME = "report.csv"
FILMS_NAME = "films"
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
STATUS_SUCCESS = 0x0000
STATUS_CANNOT_UNDERSTAND = 0xC210
STATUS_DATASET_MISMATCH = 0xA900
STATUS_OUT_OF_RESOURCES = 0xA700


def _valid_uid(value: Any) -> bool:
    text = str(value or "")
    return 0 < len(text) <= 64 and bool(_UID.match(text))


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable: fsync the folder that holds the new name."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pixel_data_problem(dataset: Any) -> str:
    """Why the pixel data cannot be a whole film ('' if it can), without decoding it."""
    if "PixelData" not in dataset:
        return "no pixel data"
    try:
        rows, columns = int(dataset.Rows), int(dataset.Columns)
        samples, bits = int(dataset.get("SamplesPerPixel", 1)), int(dataset.BitsAllocated)
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
        data = dataset.PixelData
        if dataset.file_meta.TransferSyntaxUID.is_compressed:
            from pydicom.encaps import generate_fragments

            if not any(len(fragment) for fragment in generate_fragments(data)):
                return "empty compressed pixel data"
            return ""
    except Exception as exc:  # missing Rows/Columns, broken fragments
        return f"pixel data unreadable ({type(exc).__name__})"
    expected = rows * columns * samples * frames * bits // 8
    if rows < 1 or columns < 1 or len(data) < expected:
        return f"pixel data truncated ({len(data)} of {expected} bytes)"
    return ""


@dataclass
class FilmListener:
    """The SCP and its screening loop. ``serve_forever`` runs until ``stop`` is set."""

    ae_title: str
    port: int
    out_dir: Path
    allowed_aets: Sequence[str]
    classifier: Any
    host: str = "0.0.0.0"
    network_timeout_s: float = 60.0
    stop: threading.Event = field(default_factory=threading.Event)
    stored: int = 0
    refused: int = 0
    _arrived: threading.Event = field(default_factory=threading.Event)
    _server: Any = None

    def __post_init__(self) -> None:
        self.ae_title = validate_ae_title(self.ae_title, "listener AE title")
        self.allowed_aets = [validate_ae_title(a, "allowed calling AE title") for a in self.allowed_aets]
        if not self.allowed_aets:
            raise ValueError("the listener needs an allow-list of calling AE titles")
        self.out_dir = Path(self.out_dir)
        self.films_dir = self.out_dir / FILMS_NAME
        self.report_path = self.out_dir / REPORT_NAME

    # ------------------------------------------------------------------ C-STORE handling

    def handle_store(self, event: Any) -> int:
        # pydicom's validation warnings quote element values (names, IDs): keep them out of logs.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._handle_store(event)

    def _handle_store(self, event: Any) -> int:
        calling = str(event.assoc.requestor.ae_title).strip()
        try:
            dataset = event.dataset
            dataset.file_meta = event.file_meta
            for _ in dataset.iterall():  # parse every element now: a truncated one raises here
                pass
        except Exception as exc:
            return self._refuse(
                calling, f"undecodable dataset ({type(exc).__name__})", STATUS_CANNOT_UNDERSTAND
            )
        sop_class = str(dataset.get("SOPClassUID", ""))
        if sop_class not in IMAGE_SOP_CLASSES or sop_class != str(event.context.abstract_syntax):
            return self._refuse(
                calling, "SOP class missing or not the negotiated one", STATUS_DATASET_MISMATCH
            )
        sop_uid, study_uid = dataset.get("SOPInstanceUID"), dataset.get("StudyInstanceUID")
        if not (_valid_uid(sop_uid) and _valid_uid(study_uid)):
            return self._refuse(
                calling, "missing or invalid SOP/Study Instance UID", STATUS_CANNOT_UNDERSTAND
            )
        problem = pixel_data_problem(dataset)
        if problem:
            return self._refuse(calling, problem, STATUS_CANNOT_UNDERSTAND)
        try:
            self._write(dataset, str(study_uid), str(sop_uid))
        except Exception as exc:
            log.error("could not store a film from %s: %s", calling, type(exc).__name__)
            return STATUS_OUT_OF_RESOURCES
        self.stored += 1
        self._arrived.set()
        return STATUS_SUCCESS

    def _refuse(self, calling: str, problem: str, status: int) -> int:
        self.refused += 1
        log.warning("refused a C-STORE from %s: %s (status 0x%04X)", calling, problem, status)
        return status

    def _write(self, dataset: Any, study_uid: str, sop_uid: str) -> None:
        folder = self.films_dir / study_uid
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(folder / f"{sop_uid}.dcm") as fh:
            dataset.save_as(fh, enforce_file_format=True)
        _fsync_dir(folder)

    # ------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Recover (drop partial writes), then listen in the background."""
        from pynetdicom import AE, evt

        self.films_dir.mkdir(parents=True, exist_ok=True)
        dropped = remove_partial_writes(self.films_dir)
        if dropped:
            log.warning("removed %d partial film write(s) left by a crash (never acknowledged)", dropped)
        ae = AE(ae_title=self.ae_title)
        ae.network_timeout = self.network_timeout_s
        ae.require_calling_aet = list(self.allowed_aets)
        ae.add_supported_context(VERIFICATION)
        syntaxes = decodable_transfer_syntaxes()
        for uid in IMAGE_SOP_CLASSES:
            ae.add_supported_context(uid, syntaxes)
        self._server = ae.start_server(
            (self.host, self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self.handle_store)]
        )
        self._arrived.set()  # screen whatever a previous run left unreported
        log.info(
            "listening as %s on %s:%d; accepting %s",
            self.ae_title,
            self.host,
            self.port,
            ", ".join(self.allowed_aets),
        )

    def serve_forever(self, report: CsvReportWriter | None = None) -> None:
        """Screen films as they arrive until ``stop``; then stop listening and finish the queue."""
        own_report = report is None
        # Resume: validated, a row cut by a kill dropped; its SOP UIDs are not screened again.
        report = report or pacs_report(self.report_path, self.classifier, mode="resume")
        report.open()
        try:
            if self._server is None:
                self.start()
            while not self.stop.is_set():
                if self._arrived.wait(timeout=0.5):
                    self._arrived.clear()
                    self._screen_pending(report)
            self.shutdown()
            self._screen_pending(report)  # films acknowledged before the stop
        finally:
            if own_report:
                report.close()

    def _screen_pending(self, report: CsvReportWriter) -> None:
        for record in iter_screen_films(self.films_dir, self.classifier, report):
            log.info("screened a film: %s", record.status)

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
