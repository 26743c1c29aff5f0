"""Batch screening for the main window: start, cancel, progress into the Batch tab, export.

The run is a ``GeneratorWorker`` on the inference thread (which owns the classifier), so the
film in the viewer is still analysed between two screened films. Reports are written with
the CLI's writers: the CSV on the loader thread, the PDF on the inference thread.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from radiview.gui.workers import (
    ExportRequest,
    GeneratorWorker,
    ScreeningProgress,
    ScreeningRequest,
    ScreeningSummary,
    TaskError,
)

if TYPE_CHECKING:
    from radiview.gui.main_window import MainWindow


class BatchController(QObject):
    """Owns the one screening run of ``window`` and the Batch tab's requests."""

    csv_requested = Signal(object)  # ExportRequest, to the loader thread
    pdf_requested = Signal(object)  # ExportRequest, to the inference thread

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.main = window
        self.panel = window.batch_panel
        self.worker: GeneratorWorker | None = None
        self._progress: ScreeningProgress | None = None
        self._request: ScreeningRequest | None = None
        self._export_ids = 0
        self.panel.start_requested.connect(self.start)
        self.panel.cancel_requested.connect(self.cancel)
        self.panel.export_requested.connect(self.choose_export)
        self.csv_requested.connect(window.loader.write_csv)
        self.pdf_requested.connect(window.inference.write_pdf)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, folder: str, recursive: bool = True) -> GeneratorWorker | None:
        """Screen ``folder`` on the inference thread; rows arrive in the Batch tab."""
        w = self.main
        w.tabs.setCurrentWidget(self.panel)
        if self.worker is not None:
            w.statusBar().showMessage("A screening run is already in progress", 5000)
            return None
        if w.model_info is None:
            problem = w.model_error.message if w.model_error else "the model is still loading; try again"
            w._present_error(TaskError(0, "Cannot screen the folder", f"{folder}: {problem}", folder))
            return None
        request = ScreeningRequest(folder=folder, recursive=recursive)
        inference = w.inference  # runs on the inference thread, which owns the classifier
        worker = GeneratorWorker(lambda cancel: inference.iter_screening(request, cancel), "Screening failed")
        worker.moveToThread(w.inference_thread)
        worker.yielded.connect(self._on_yielded)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self._progress = None
        self._request = request
        self.panel.begin(folder)
        worker.start_in_own_thread()
        return worker

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.quit()
            self.panel.mark_cancelling()

    def _on_yielded(self, progress: ScreeningProgress) -> None:
        self._progress = progress
        self.panel.add_progress(progress)

    def _on_errored(self, error: TaskError) -> None:
        self.panel.fail(error.message)
        self.main._present_error(error)

    def _on_finished(self) -> None:
        worker, request, progress = self.worker, self._request, self._progress
        self.worker = None
        if worker is None or request is None:
            return
        summary = ScreeningSummary(
            folder=request.folder,
            done=progress.done if progress else 0,
            total=progress.total if progress else 0,
            elapsed_s=progress.elapsed_s if progress else 0.0,
            cancelled=worker.abort_requested,
        )
        worker.deleteLater()
        if self.panel.running:
            self.panel.finish(summary)
        self.main.statusBar().showMessage(
            f"Screening {'cancelled' if summary.cancelled else 'finished'}: {summary.done} films", 6000
        )
        self.main.screening_finished.emit(summary)

    def choose_export(self, fmt: str) -> None:
        default_dir = self.main.settings.report_dir or str(Path.home())
        name = f"screening-report.{fmt}"
        title = "Export screening report as CSV" if fmt == "csv" else "Export screening report as PDF"
        filter_ = "CSV files (*.csv)" if fmt == "csv" else "PDF files (*.pdf)"
        from radiview.gui.export import export_caption

        caption = export_caption(title, self.main.settings.strip_identifiers)
        path, _ = QFileDialog.getSaveFileName(self.main, caption, os.path.join(default_dir, name), filter_)
        if path:
            self.export(path, fmt)

    def export(self, path: str, fmt: str) -> int:
        """Write the batch table with the CLI's writers (CSV on the loader, PDF on inference)."""
        self._export_ids += 1
        info = self.main.model_info
        request = ExportRequest(
            self._export_ids,
            path,
            self.panel.model.results,
            self.panel.folder,
            tuple(info.card.labels) if info else self.panel.model.labels,
            info.card.display_name if info else "",
            self.main.settings.strip_identifiers,
        )
        self.main.statusBar().showMessage(f"Writing {os.path.basename(path)}…")
        if fmt == "csv":
            self.csv_requested.emit(request)
        else:
            self.pdf_requested.emit(request)
        return request.request_id
