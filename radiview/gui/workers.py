"""Background work: a loader thread (files, tags, CSV) and ONE inference thread (the classifier).

Each worker is a QObject moved to its own QThread; the GUI talks to it only through queued
signals, and it answers only with signals carrying frozen dataclasses (results, or a
``TaskError`` for failures: no worker dies silently). The ``Classifier`` is created inside
the inference thread and never touched from anywhere else (Grad-CAM hooks make it
non-reentrant). Every request carries a ``request_id``; the GUI drops answers for a film it
has already replaced.

Every slot runs its work through ``answer``: the result goes out on the slot's done signal,
any exception becomes a ``TaskError`` on its failure signal (superqt's ``WorkerBase.run``).

Screening runs as a ``GeneratorWorker`` (the superqt ``_qthreading`` pattern): it iterates a
generator on the inference thread one queued step at a time, emits ``yielded`` per item and
checks a thread-safe abort flag between items, so Cancel stops within one film (or one batch).
Between two steps the thread's event loop runs its other queued calls (the viewer's film is
analysed while a folder screens) without a nested event loop. Every screened film
is also journaled to a CSV in the config dir (``screening_journal_path``): a run that is
cancelled, or dies with the app, resumes where it stopped the next time the same folder is
screened with the same model; a run that completes deletes its journal.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QMetaObject, QObject, Qt, QThread, Signal, SignalInstance, Slot

from radiview.errors import RadiviewError

if TYPE_CHECKING:  # payload types only: importing them at run time would load torch here
    from radiview.batch.records import ScreeningRecord
    from radiview.inference import Classifier
    from radiview.inference.bundle import ModelCard
    from radiview.inference.prediction import Explanation, Prediction
    from radiview.io import Radiograph

log = logging.getLogger("radiview.gui")


# ----- what crosses threads ------------------------------------------------------------------
@dataclass(frozen=True)
class TaskError:
    """A failure reported by a worker. ``expected`` errors are RadiviewErrors (bad file,
    bad bundle) and show a specific dialog; others carry the traceback in ``details``."""

    request_id: int
    title: str
    message: str
    path: str | None = None
    details: str = ""
    expected: bool = True


def task_error(request_id: int, title: str, exc: BaseException) -> TaskError:
    if isinstance(exc, RadiviewError):
        return TaskError(request_id, title, str(exc), exc.path)
    if isinstance(exc, OSError):
        return TaskError(
            request_id,
            title,
            f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "),
            exc.filename if isinstance(exc.filename, str) else None,
        )
    details = "".join(traceback.format_exception(exc))
    log.error("unexpected error in %s\n%s", title, details)
    return TaskError(request_id, title, f"{type(exc).__name__}: {exc}", None, details, expected=False)


@dataclass(frozen=True)
class LoadResult:
    request_id: int
    radiograph: Radiograph


@dataclass(frozen=True)
class TagsResult:
    request_id: int
    path: str
    tags: tuple[tuple[str, str, str, str], ...]  # (tag, keyword/name, VR, value)


@dataclass(frozen=True)
class ModelInfo:
    card: ModelCard
    device: str
    bundle_dir: str


@dataclass(frozen=True)
class AnalysisResult:
    request_id: int
    prediction: Prediction
    explanation: Explanation | None


@dataclass(frozen=True)
class ExplanationResult:
    request_id: int
    explanation: Explanation


@dataclass(frozen=True)
class ScreeningRequest:
    """A folder to screen; batch size and workers are the engine's defaults, as in the CLI."""

    folder: str
    recursive: bool = True


@dataclass(frozen=True)
class ScreeningProgress:
    """One screened film plus where the run stands."""

    result: ScreeningRecord
    done: int
    total: int
    elapsed_s: float
    resumed: int = 0  # films restored from an interrupted run's journal (not timed)


@dataclass(frozen=True)
class ScreeningSummary:
    folder: str
    done: int
    total: int
    elapsed_s: float
    cancelled: bool


@dataclass(frozen=True)
class ExportRequest:
    request_id: int
    path: str
    results: tuple[ScreeningRecord, ...]
    folder: str
    labels: tuple[str, ...] = ()
    model: str = ""  # the model's display name, for the PDF
    strip_identifiers: bool = False


@dataclass(frozen=True)
class ExportResult:
    request_id: int
    path: str


# ----- thread helpers ------------------------------------------------------------------------
def start_worker_thread(worker: QObject, name: str) -> QThread:
    """Move ``worker`` to a new, started QThread (the worker must have no parent)."""
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.start()
    return thread


def stop_worker_thread(thread: QThread, timeout_ms: int = 15000) -> bool:
    """Ask the thread's event loop to quit once its current task ends, then wait."""
    if not thread.isRunning():
        return True
    thread.quit()
    finished = thread.wait(timeout_ms)
    if not finished:
        log.error("worker thread %s did not stop within %d ms", thread.objectName(), timeout_ms)
    return finished


def answer(
    done: SignalInstance,
    failed: SignalInstance,
    request_id: int,
    title: str,
    work: Callable[[], object],
) -> None:
    """Emit ``work()`` on ``done``; any exception becomes a TaskError on ``failed``.

    The one wrapper every worker slot goes through (superqt's ``WorkerBase.run``): no worker
    dies silently, and the thread lives on for the next request.
    """
    try:
        result = work()
    except Exception as exc:
        failed.emit(task_error(request_id, title, exc))
        return
    done.emit(result)


def _read_dicom_tag_rows(path: str) -> tuple[tuple[str, str, str, str], ...]:
    """Every tag of a DICOM file as (tag, keyword, VR, value) strings, via io.read_dicom_tags."""
    from radiview.io import read_dicom_tags

    return tuple((str(t), str(k), str(vr), str(v)) for t, k, vr, v in read_dicom_tags(path))


def _load_radiograph(path: str) -> Radiograph:
    from radiview.io import load_radiograph

    return load_radiograph(path)


# ----- loader thread -------------------------------------------------------------------------
class LoaderWorker(QObject):
    """Reads films, their full tag lists and writes CSV reports, off the GUI thread."""

    loaded = Signal(object)  # LoadResult
    tags_read = Signal(object)  # TagsResult
    exported = Signal(object)  # ExportResult
    export_failed = Signal(object)  # TaskError
    failed = Signal(object)  # TaskError (films and tags)

    @Slot(int, str)
    def load(self, request_id: int, path: str) -> None:
        answer(
            self.loaded,
            self.failed,
            request_id,
            "Cannot open film",
            lambda: LoadResult(request_id, _load_radiograph(path)),
        )

    @Slot(int, str)
    def read_tags(self, request_id: int, path: str) -> None:
        answer(
            self.tags_read,
            self.failed,
            request_id,
            "Cannot read DICOM tags",
            lambda: TagsResult(request_id, path, _read_dicom_tag_rows(path)),
        )

    @Slot(object)
    def write_csv(self, request: ExportRequest) -> None:
        def write() -> ExportResult:
            from radiview.batch.csv_report import write_csv_report

            labels = request.labels or _default_labels()
            write_csv_report(request.path, request.results, labels, request.strip_identifiers)
            return ExportResult(request.request_id, request.path)

        answer(self.exported, self.export_failed, request.request_id, "Cannot write CSV report", write)


def _default_labels() -> tuple[str, ...]:
    from radiview.batch.csv_report import DEFAULT_LABELS

    return tuple(DEFAULT_LABELS)


# ----- generator worker (superqt pattern) ------------------------------------------------------
class GeneratorWorker(QObject):
    """Runs ``factory()`` (a generator) in the thread this object lives in, one item per step.

    Emits ``yielded`` for each item, then ``finished``; ``aborted`` before it when ``quit()``
    was called (checked between items: cooperative, like superqt); ``errored`` with a
    TaskError when the generator raises. ``quit()`` is thread-safe (a threading.Event,
    which is also handed to the generator so it can stop inside a batch).

    Each step is a queued call, so the thread's other queued calls run between items: on the
    inference thread that lets the film in the viewer be analysed while a batch screens (the
    classifier is idle between items, and still used from this one thread only).
    """

    started = Signal()
    yielded = Signal(object)
    errored = Signal(object)
    aborted = Signal()
    finished = Signal()
    _step_requested = Signal()

    def __init__(self, factory: Callable[[threading.Event], Iterator[Any]], title: str = "Task") -> None:
        super().__init__()
        self._factory = factory
        self._title = title
        self._items: Iterator[Any] | None = None
        self.abort_event = threading.Event()
        self._done = threading.Event()
        self._step_requested.connect(self._step, Qt.ConnectionType.QueuedConnection)

    def quit(self) -> None:
        self.abort_event.set()

    @property
    def abort_requested(self) -> bool:
        return self.abort_event.is_set()

    def is_done(self) -> bool:
        return self._done.is_set()

    def start_in_own_thread(self) -> None:
        """Queue ``run`` on this object's thread's event loop."""
        # If that loop stops first (the app closes), still close the generator and finish.
        self.thread().finished.connect(self._finish, Qt.ConnectionType.DirectConnection)
        QMetaObject.invokeMethod(self, "run", Qt.ConnectionType.QueuedConnection)

    @Slot()
    def run(self) -> None:
        self.started.emit()
        try:
            self._items = iter(self._factory(self.abort_event))
        except Exception as exc:
            self._finish(exc)
            return
        self._step_requested.emit()

    @Slot()
    def _step(self) -> None:
        if self._items is None:  # finished already
            return
        try:
            item = next(self._items)
        except StopIteration:
            self._finish()
            return
        except Exception as exc:
            self._finish(exc)
            return
        # An item that arrives after Cancel is still finished work (the screening generator
        # has journaled it): show it, or the run's count and its journal's disagree by one.
        self.yielded.emit(item)
        if self.abort_event.is_set():
            self._finish()
        else:
            self._step_requested.emit()

    def _finish(self, error: Exception | None = None) -> None:
        if self._done.is_set():
            return
        items, self._items = self._items, None
        close = getattr(items, "close", None)
        try:
            if close is not None:
                close()  # a generator's ``finally`` (journal, decoding processes) runs now
        except Exception as exc:
            error = error or exc
        if error is not None:
            self.errored.emit(task_error(0, self._title, error))
        elif self.abort_event.is_set():
            self.aborted.emit()
        self._done.set()
        self.finished.emit()


# ----- inference thread ------------------------------------------------------------------------
class InferenceWorker(QObject):
    """Owns the Classifier. Lives in the one inference thread; all methods run there."""

    model_loaded = Signal(object)  # ModelInfo
    model_failed = Signal(object)  # TaskError
    analysis_ready = Signal(object)  # AnalysisResult
    explanation_ready = Signal(object)  # ExplanationResult
    exported = Signal(object)  # ExportResult
    export_failed = Signal(object)  # TaskError
    failed = Signal(object)  # TaskError (analysis of the current film)

    def __init__(self) -> None:
        super().__init__()
        self._classifier: Classifier | None = None

    @property
    def has_model(self) -> bool:
        return self._classifier is not None

    def _require_model(self) -> Classifier:
        if self._classifier is None:
            raise RadiviewError("no model is loaded (see Help > About for the bundle problem)")
        return self._classifier

    @Slot(str, str)
    def load_model(self, bundle_dir: str, device: str) -> None:
        def load() -> ModelInfo:
            from radiview.inference.loader import load_classifier

            self._classifier = None  # a failed load leaves no model, not the previous one
            classifier = load_classifier(bundle_dir or None, device or "auto", fallback_to_cpu=True)
            self._classifier = classifier
            resolved = bundle_dir or str(_default_bundle_dir())
            return ModelInfo(classifier.card, str(classifier.device), resolved)

        answer(self.model_loaded, self.model_failed, 0, "Cannot load the model", load)

    @Slot(int, object, str)
    def analyze(self, request_id: int, radiograph: Radiograph, label: str) -> None:
        def analyze() -> AnalysisResult:
            prediction, explanation = self._require_model().analyze(radiograph, label or None)
            return AnalysisResult(request_id, prediction, explanation)

        answer(self.analysis_ready, self.failed, request_id, "Analysis failed", analyze)

    @Slot(int, object, str)
    def explain(self, request_id: int, radiograph: Radiograph, label: str) -> None:
        def explain() -> ExplanationResult:
            explanation = self._require_model().explain(radiograph, label or None)
            return ExplanationResult(request_id, explanation)

        answer(self.explanation_ready, self.failed, request_id, "Grad-CAM failed", explain)

    @Slot(object)
    def write_pdf(self, request: ExportRequest) -> None:
        """The batch PDF, from the records alone (their thumbnails were made during the run)."""

        def write() -> ExportResult:
            from radiview.batch.pdf_report import write_pdf_report

            labels = request.labels or _default_labels()
            model = request.model or (self._classifier.card.display_name if self._classifier else "")
            write_pdf_report(request.path, request.results, model, labels, request.folder)
            return ExportResult(request.request_id, request.path)

        answer(self.exported, self.export_failed, request.request_id, "Cannot write PDF report", write)

    def iter_screening(
        self, request: ScreeningRequest, cancel: threading.Event
    ) -> Iterator[ScreeningProgress]:
        """Screen a folder with the one engine (call only on the inference thread, e.g. from a
        GeneratorWorker). The run journals to the config dir, so films of an interrupted run
        come first and the rest resume; a run that completes deletes its journal."""
        from radiview.batch.engine import MAX_THUMBNAILS, ScreeningSettings, iter_screening
        from radiview.batch.folder import list_folder

        classifier = self._require_model()
        listing = list_folder(request.folder, request.recursive)
        journal = open_screening_journal(request.folder, request.recursive, classifier.card)
        counts: list[Any] = [None]
        records = iter_screening(
            listing.items,
            classifier,
            journal=journal,
            settings=ScreeningSettings(thumbnails=MAX_THUMBNAILS),
            cancel=cancel,
            on_progress=lambda c: counts.__setitem__(0, c),
        )
        try:
            for record in records:
                c = counts[0]
                elapsed = c.elapsed_s if c.screened else 0.0
                yield ScreeningProgress(record, c.done, c.total, elapsed, c.resumed)
        finally:
            records.close()
            journal.close()
        if not cancel.is_set():
            journal.path.unlink(missing_ok=True)


def open_screening_journal(folder: str, recursive: bool, card: Any) -> Any:
    """This folder's journal, resumed; an unusable one (damaged, another model) starts afresh.

    Another RadiView window screening the same folder holds its lock: that is an error.
    """
    from radiview.batch.csv_report import CsvReportWriter, model_stamp
    from radiview.batch.report_lock import ReportLockedError

    stamp = model_stamp(card)
    path = screening_journal_path(folder, recursive, stamp)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return CsvReportWriter(path, card.labels, stamp, mode="resume").open()
    except ReportLockedError as exc:
        raise RadiviewError(
            "this folder is being screened by another RadiView window; wait for it to finish", folder
        ) from exc
    except RadiviewError as exc:  # our own file in the config dir: safe to start afresh
        log.warning("screening journal %s unusable (%s); starting afresh", path.name, exc.problem)
        path.unlink(missing_ok=True)
        return CsvReportWriter(path, card.labels, stamp, mode="create").open()


def screening_journal_path(folder: str, recursive: bool, model: str) -> Path:
    """Where a screening run of ``folder`` journals its rows: one file per folder, mode and
    model (``model`` is the model stamp, ``csv_report.model_stamp(card)``)."""
    from radiview.settings import settings_path

    key = f"{Path(folder).resolve()}|{'recursive' if recursive else 'flat'}|{model}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return settings_path().parent / "screening" / f"{digest}.csv"


def _default_bundle_dir() -> Path:
    from radiview.assets import default_model_dir

    return default_model_dir()
