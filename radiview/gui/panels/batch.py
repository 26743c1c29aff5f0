"""Batch screening inside the app: progress, cancel, a sortable/filterable results table."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
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
from radiview.gui.panels.prediction import DEFAULT_LABELS, label_title
from radiview.inference.flags import flag_short_text
from radiview.inference.wording import format_probability, human_gate_reason

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ALL_STATUSES = "All statuses"
_STATUS_COLORS = {"ok": "#8fd18f", "refused": "#e8b04a", "error": "#ff7b7b"}
_Index = QModelIndex | QPersistentModelIndex
#: The Message column is never narrower than this (reasons are sentences).
MESSAGE_MIN_WIDTH = 420
#: Digits the screening CSV/journal keeps: live rows are shown from the same rounded value, so
#: a resumed row reads exactly as it did before the interruption.
CSV_DIGITS = 4


def message_text(result: Any) -> tuple[str, str]:
    """The Message cell in words, and its tooltip (which keeps the gate's raw figures)."""
    message = str(getattr(result, "message", "") or "")
    if getattr(result, "status", "") != "refused":
        return message, message
    words, figures = human_gate_reason(message)
    return words, f"{words}\n({figures})" if figures else words


def flags_text(result: Any) -> str:
    """The Flags cell: the reading's context warnings in a few words each (issue 14)."""
    return ", ".join(flag_short_text(code) for code in getattr(result, "flags", ()) or ())


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


_SHORT_TITLES = {"bacterial_pneumonia": "Bacterial", "viral_pneumonia": "Viral"}


def short_title(label: str) -> str:
    """Column titles narrow enough to keep every probability on screen."""
    return _SHORT_TITLES.get(label, label_title(label))


class ScreeningTableModel(QAbstractTableModel):
    """One row per ScreeningRecord: file, status, prediction, one column per label, flags, message."""

    def __init__(self, labels: tuple[str, ...] = DEFAULT_LABELS, parent: Any = None) -> None:
        super().__init__(parent)
        self._labels = tuple(labels)
        self._rows: list[Any] = []

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def results(self) -> tuple[Any, ...]:
        return tuple(self._rows)

    def set_labels(self, labels: tuple[str, ...]) -> None:
        self.beginResetModel()
        self._labels = tuple(labels)
        self.endResetModel()

    def headers(self) -> list[str]:
        probabilities = (f"P({short_title(lb)})" for lb in self._labels)
        return ["File", "Status", "Prediction", *probabilities, "Flags", "Message"]

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self.endResetModel()

    def append(self, result: Any) -> None:
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append(result)
        self.endInsertRows()

    def result_at(self, row: int) -> Any:
        return self._rows[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 5 + len(self._labels)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # type: ignore[no-untyped-def]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers()[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):  # type: ignore[no-untyped-def]
        if not index.isValid():
            return None
        result = self._rows[index.row()]
        column = index.column()
        n = len(self._labels)
        prediction = result.prediction if result.status == "ok" else None
        if 3 <= column < 3 + n:
            p = prediction.probability(self._labels[column - 3]) if prediction is not None else None
            if role == Qt.ItemDataRole.DisplayRole:
                return "" if p is None else format_probability(round(p, CSV_DIGITS))
            if role == SORT_ROLE:
                return -1.0 if p is None else p
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        if column == 0:
            value = result.file
        elif column == 1:
            value = result.status
            if role == Qt.ItemDataRole.ForegroundRole:
                return QBrush(QColor(_STATUS_COLORS.get(result.status, "#ffffff")))
        elif column == 2:
            value = (
                label_title(prediction.top_label) if prediction is not None and prediction.top_label else ""
            )
        elif column == 3 + n:
            value = flags_text(result)
            if role == Qt.ItemDataRole.ToolTipRole:
                return value.replace(", ", "\n")
        else:
            value, tip = message_text(result)
            if role == Qt.ItemDataRole.ToolTipRole:
                return tip
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            return value
        if role == Qt.ItemDataRole.ToolTipRole and column == 0:
            return value
        return None


class ScreeningFilterProxy(QSortFilterProxyModel):
    """Filters by free text (file, prediction, flags, message) and by status; sorts numerically."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._status = ""
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    def set_text(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "_text", text.strip().lower()))

    def set_status(self, status: str) -> None:
        self._refilter(lambda: setattr(self, "_status", "" if status == ALL_STATUSES else status))

    def _refilter(self, change: Callable[[], None]) -> None:
        # Qt >= 6.10 replaced invalidateFilter() with begin/endFilterChange().
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, ScreeningTableModel)
        result = model.result_at(source_row)
        if self._status and result.status != self._status:
            return False
        if not self._text:
            return True
        prediction = result.prediction
        top = prediction.top_label if prediction is not None and result.status == "ok" else ""
        words = message_text(result)[0]
        haystack = " ".join([result.file, result.status, top or "", label_title(top or ""), result.message])
        haystack += " " + words + " " + flags_text(result)
        return self._text in haystack.lower()


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
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        # Qt's default indicator is descending; a reading list starts A→Z by file.
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
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
            last = self.model.columnCount() - 1
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
