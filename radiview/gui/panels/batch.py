"""Batch screening inside the app: progress, cancel, a sortable/filterable results table."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from radiview import RESEARCH_NOTICE
from radiview.gui.panels.frozen_table import FrozenColumnTableView
from radiview.gui.panels.screening_table import (  # noqa: F401  (re-exported for callers)
    ALL_STATUSES,
    MESSAGE,
    MESSAGE_MIN_WIDTH,
    READING,
    SORT_ROLE,
    ScreeningFilterProxy,
    ScreeningTableModel,
    flags_text,
    message_text,
    reading_text,
    short_title,
)


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_text(done: int, total: int, elapsed_s: float, resumed: int = 0) -> str:
    """ "12 / 40 films · 3.1 films/s · ETA 0:09" (rate and ETA once there is something to time).

    ``resumed`` films came from an interrupted run's journal: counted, but not in the rate.
    """
    text = f"{done} / {total} films"
    if resumed:
        text += f" ({resumed} resumed)"
    timed = done - resumed
    if timed > 0 and elapsed_s > 0:
        rate = timed / elapsed_s
        text += f" · {rate:.1f} films/s"
        if total > done:
            text += f" · ETA {format_duration((total - done) / rate)}"
    return text


class BatchPanel(QWidget):
    """Choose a folder, run/cancel, watch progress, filter/sort the results, export them."""

    start_requested = Signal(str, bool)  # folder, recursive
    cancel_requested = Signal()
    film_activated = Signal(str)  # absolute path of a double-clicked row
    export_requested = Signal(str)  # "csv" or "pdf"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = ""
        self.running = False
        self.cancelled = False
        self.resumed = 0  # films of this run restored from an interrupted run's journal
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)

        top = QHBoxLayout()
        top.addWidget(QLabel("Folder:"))
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("Choose a folder of films (DICOM, PNG, JPEG), or drop one here")
        top.addWidget(self.folder_edit, 1)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse)
        top.addWidget(self.browse_button)
        self.recursive_check = QCheckBox("Include subfolders")
        self.recursive_check.setChecked(True)
        top.addWidget(self.recursive_check)
        self.start_button = QPushButton("Start screening")
        self.start_button.clicked.connect(self._on_start_clicked)
        top.addWidget(self.start_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        top.addWidget(self.cancel_button)
        layout.addLayout(top)

        progress = QHBoxLayout()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        progress.addWidget(self.progress_bar, 1)
        self.rate_label = QLabel("Idle")
        self.rate_label.setMinimumWidth(320)
        progress.addWidget(self.rate_label)
        layout.addLayout(progress)

        filters = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by file, prediction, flag or message…")
        self.filter_edit.setClearButtonEnabled(True)
        filters.addWidget(self.filter_edit, 1)
        self.status_combo = QComboBox()
        self.status_combo.addItems([ALL_STATUSES, "ok", "refused", "error"])
        filters.addWidget(self.status_combo)
        self.counts_label = QLabel("")
        filters.addWidget(self.counts_label)
        self.export_csv_button = QPushButton("Export CSV…")
        self.export_csv_button.clicked.connect(lambda: self.export_requested.emit("csv"))
        filters.addWidget(self.export_csv_button)
        self.export_pdf_button = QPushButton("Export PDF…")
        self.export_pdf_button.clicked.connect(lambda: self.export_requested.emit("pdf"))
        filters.addWidget(self.export_pdf_button)
        layout.addLayout(filters)

        self.model = ScreeningTableModel(parent=self)
        self.proxy = ScreeningFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.status_combo.currentTextChanged.connect(self.proxy.set_status)
        self.table = FrozenColumnTableView()  # the File column stays while Message is read
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        # Read by risk: COVID-19 or pneumonia first, then the unsure, then the unread.
        self.table.sortByColumn(self.model.column(READING), Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)  # read from the start
        self.table.setWordWrap(False)
        self.table.doubleClicked.connect(self._on_row_activated)
        layout.addWidget(self.table, 1)

        notice = QLabel(f"<b>{RESEARCH_NOTICE}</b> Screening results are a second read, not a diagnosis.")
        notice.setStyleSheet("color: #ffb060;")
        layout.addWidget(notice)
        self._update_buttons()

    # ----- user actions -------------------------------------------------------------------
    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder to screen", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def _on_start_clicked(self) -> None:
        folder = self.folder_edit.text().strip()
        if folder:
            self.start_requested.emit(folder, self.recursive_check.isChecked())

    def _on_row_activated(self, index: QModelIndex) -> None:
        source = self.proxy.mapToSource(index)
        result = self.model.result_at(source.row())
        self.film_activated.emit(os.path.join(self.folder, *result.file.split("/")))

    # ----- run state ------------------------------------------------------------------------
    def set_labels(self, labels: tuple[str, ...]) -> None:
        if tuple(labels) != self.model.labels:
            self.model.set_labels(tuple(labels))

    def begin(self, folder: str) -> None:
        self.folder = folder
        self.folder_edit.setText(folder)
        self.running = True
        self.cancelled = False
        self.resumed = 0
        self.model.clear()
        self.progress_bar.setRange(0, 0)  # busy until the first result tells the total
        self.rate_label.setText("Listing files…")
        self._update_buttons()

    def add_progress(self, progress: Any) -> None:
        self.model.append(progress.result)
        self.progress_bar.setRange(0, max(progress.total, 1))
        self.progress_bar.setValue(progress.done)
        resumed = getattr(progress, "resumed", 0)
        self.resumed = resumed
        self.rate_label.setText(progress_text(progress.done, progress.total, progress.elapsed_s, resumed))
        self._update_counts()
        if self.model.rowCount() == 1:
            self._fit_columns()

    def mark_cancelling(self) -> None:
        self.cancelled = True
        self.cancel_button.setEnabled(False)
        self.rate_label.setText(self.rate_label.text() + " · cancelling…")

    def finish(self, summary: Any) -> None:
        self.running = False
        self.cancelled = summary.cancelled
        done, total = summary.done, summary.total
        if total:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)
        else:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
        state = "Cancelled" if summary.cancelled else "Finished"
        timed = done - self.resumed
        rate = f" · {timed / summary.elapsed_s:.1f} films/s" if timed > 0 and summary.elapsed_s > 0 else ""
        resumed = f" ({self.resumed} resumed from an interrupted run)" if self.resumed else ""
        kept = " · the rest resumes when this folder is screened again" if summary.cancelled else ""
        self.rate_label.setText(
            f"{state}: {done} / {total} films in {format_duration(summary.elapsed_s)}{rate}{resumed}{kept}"
        )
        self._fit_columns()
        self._update_counts()
        self._update_buttons()

    def _fit_columns(self) -> None:
        # Long file names must not push the probabilities off screen (the full name is a tooltip).
        self.table.resizeColumnsToContents()
        self.table.setColumnWidth(0, min(self.table.columnWidth(0), 340))
        if any(r.message for r in self.model.results):  # sentences to read: room for them
            last = self.model.column(MESSAGE)
            self.table.setColumnWidth(last, max(self.table.columnWidth(last), MESSAGE_MIN_WIDTH))

    def fail(self, message: str) -> None:
        self.running = False
        self.progress_bar.setRange(0, 1)
        self.rate_label.setText(f"Stopped: {message}")
        self._update_buttons()

    def _update_counts(self) -> None:
        counts = Counter(r.status for r in self.model.results)
        self.counts_label.setText(" · ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "refused", "error")))

    def _update_buttons(self) -> None:
        has_rows = self.model.rowCount() > 0
        self.start_button.setEnabled(not self.running)
        self.browse_button.setEnabled(not self.running)
        self.cancel_button.setEnabled(self.running and not self.cancelled)
        self.export_csv_button.setEnabled(has_rows and not self.running)
        self.export_pdf_button.setEnabled(has_rows and not self.running)
