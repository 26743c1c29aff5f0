"""Open from PACS: search studies, browse series and thumbnails, double-click to open a film.

All network work runs in one background thread per request (bounded by the node's
timeouts); results come back as queued signals, so a slow or dead server never freezes the
window. Cancel stops a thumbnail download between films. Retrieved films stay in one temporary
folder for the app's lifetime (the viewer re-reads them) and are deleted at exit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from radiview import RESEARCH_NOTICE
from radiview.errors import RadiviewError
from radiview.gui.dialogs.pacs_screen import THUMB_PX, display_name, pacs_cache_dir, thumbnail
from radiview.gui.qimage import gray_to_qimage
from radiview.net.nodes import SecretStore, load_nodes
from radiview.net.query import StudyQuery, check_uid, parse_date_range, parse_modalities


class _Signals(QObject):
    studies_found = Signal(int, object)
    series_found = Signal(int, object)
    thumbnail_ready = Signal(int, object, str, object)  # request, instance, path, uint8 array or None
    progress = Signal(int, int, int)  # request, done, total
    message = Signal(int, str)
    failed = Signal(int, str)
    finished = Signal(int)


class PacsDialog(QDialog):
    """``film_chosen(path)`` is emitted on a double-click; the main window opens the film."""

    film_chosen = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        connect: Callable[[Any], Any] | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(parent)
        self._model = model  # a model bundle folder for screening (None: the bundled model)
        self._runner: Any = None
        self.setWindowTitle("Open from PACS")
        self.resize(1100, 700)
        self._connect = connect or self._default_connect
        self._request = 0
        self._cancel = threading.Event()
        self.signals = _Signals(self)  # owned by the dialog: deleted with it, in the GUI thread
        self.signals.studies_found.connect(self._on_studies)
        self.signals.series_found.connect(self._on_series)
        self.signals.thumbnail_ready.connect(self._on_thumbnail)
        self.signals.progress.connect(self._on_progress)
        self.signals.failed.connect(self._on_failed)
        self.signals.message.connect(self._on_failed)  # same display: the status line
        self.signals.finished.connect(self._on_finished)
        self._build()
        self.reload_nodes()

    # ------------------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.node_combo = QComboBox()
        nodes_button = QPushButton("Nodes…")
        nodes_button.clicked.connect(self._edit_nodes)
        self.patient_name, self.patient_id, self.accession = QLineEdit(), QLineEdit(), QLineEdit()
        self.patient_name.setPlaceholderText("DOE^* (wildcards * and ?)")
        self.dates = QLineEdit()
        self.dates.setPlaceholderText("20260101-20260131")
        self.modalities = QLineEdit("CR,DX")
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        form = QFormLayout()
        node_row = QHBoxLayout()
        node_row.addWidget(self.node_combo, 1)
        node_row.addWidget(nodes_button)
        form.addRow("PACS", node_row)
        form.addRow("Patient name", self.patient_name)
        form.addRow("Patient ID", self.patient_id)
        form.addRow("Accession", self.accession)
        form.addRow("Study date", self.dates)
        form.addRow("Modalities", self.modalities)
        form.addRow("", self.search_button)

        self.studies = QTreeWidget()
        self.studies.setHeaderLabels(
            ["Patient", "ID", "Date", "Accession", "Modalities", "Films", "Description"]
        )
        self.studies.setRootIsDecorated(False)
        self.studies.itemSelectionChanged.connect(self._study_selected)
        self.studies.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.screen_button = QPushButton("Screen selected studies…")
        self.screen_button.clicked.connect(self._choose_screening_report)
        self.send_results_check = QCheckBox("Send results (DICOM SC + SR) back to this PACS")
        self.series = QTreeWidget()
        self.series.setHeaderLabels(["#", "Modality", "Films", "Series"])
        self.series.setRootIsDecorated(False)
        self.series.itemSelectionChanged.connect(self._series_selected)
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListWidget.ViewMode.IconMode)
        self.thumbs.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.thumbs.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.thumbs.itemDoubleClicked.connect(self._open_item)

        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.series)
        lower.addWidget(self.thumbs)
        lower.setSizes([350, 750])
        studies_box = QWidget()
        studies_layout = QVBoxLayout(studies_box)
        studies_layout.setContentsMargins(0, 0, 0, 0)
        studies_layout.addWidget(self.studies)
        screen_row = QHBoxLayout()
        screen_row.addWidget(self.screen_button)
        screen_row.addWidget(self.send_results_check)
        screen_row.addStretch(1)
        studies_layout.addLayout(screen_row)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(studies_box)
        split.addWidget(lower)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel("Choose a node and search.")
        self.status.setWordWrap(True)
        notice = QLabel(RESEARCH_NOTICE)
        notice.setStyleSheet("color: #a00000;")
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.progress)
        bottom.addWidget(self.cancel_button)

        top = QHBoxLayout()
        search_box = QWidget()
        search_box.setLayout(form)
        search_box.setMaximumWidth(360)
        top.addWidget(search_box)
        top.addWidget(split, 1)
        outer = QVBoxLayout(self)
        outer.addLayout(top, 1)
        outer.addLayout(bottom)
        outer.addWidget(notice)

    def reload_nodes(self) -> None:
        self.nodes = load_nodes()
        current = self.node_combo.currentText()
        self.node_combo.clear()
        self.node_combo.addItems(sorted(self.nodes))
        if current in self.nodes:
            self.node_combo.setCurrentText(current)

    def _edit_nodes(self) -> None:
        from radiview.gui.dialogs.pacs_nodes import PacsNodesDialog

        if PacsNodesDialog(self).exec():
            self.reload_nodes()

    # -------------------------------------------------------------------- background work

    @staticmethod
    def _default_connect(node: Any) -> Any:
        from radiview.net.connection import open_connection

        secret = SecretStore().get(node.name) if node.auth != "none" else ""
        return open_connection(node, secret)

    def _run(self, label: str, work: Callable[[int, Any, threading.Event], None]) -> int:
        """Start ``work(request, connection)`` in a thread; errors come back as ``failed``."""
        node = self.nodes.get(self.node_combo.currentText())
        if node is None:
            self.status.setText("No PACS node: add one with Nodes…")
            return 0
        self._cancel.set()  # a newer request supersedes the running one
        self._cancel = cancel = threading.Event()
        self._request += 1
        request = self._request
        self.status.setText(f"{label} on {node.name}…")
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setEnabled(True)

        def run() -> None:
            try:
                work(request, self._connect(node), cancel)
            except RadiviewError as exc:
                self.signals.failed.emit(request, str(exc))
            except Exception as exc:  # shown to the user, never a dead thread
                self.signals.failed.emit(request, f"{type(exc).__name__}: {exc}")
            finally:
                self.signals.finished.emit(request)

        threading.Thread(target=run, name="radiview-pacs", daemon=True).start()
        return request

    def query(self) -> StudyQuery:
        date_from, date_to = parse_date_range(self.dates.text()) if self.dates.text().strip() else ("", "")
        return StudyQuery(
            patient_name=self.patient_name.text().strip(),
            patient_id=self.patient_id.text().strip(),
            accession_number=self.accession.text().strip(),
            date_from=date_from,
            date_to=date_to,
            modalities=parse_modalities(self.modalities.text()),
        )

    def search(self) -> int:
        try:
            query = self.query()
        except RadiviewError as exc:
            self.status.setText(str(exc))
            return 0
        self.studies.clear()
        self.series.clear()
        self.thumbs.clear()
        return self._run(
            "Searching", lambda r, c, cancel: self.signals.studies_found.emit(r, c.find_studies(query))
        )

    def _study_selected(self) -> None:
        items = self.studies.selectedItems()
        if not items:
            return
        study = items[0].data(0, Qt.ItemDataRole.UserRole)
        modalities = parse_modalities(self.modalities.text() or None)
        self.series.clear()
        self.thumbs.clear()
        self._run(
            "Listing series",
            lambda r, c, cancel: self.signals.series_found.emit(
                r, c.find_series(study.study_uid, modalities)
            ),
        )

    def _series_selected(self) -> None:
        items = self.series.selectedItems()
        if items:
            self.load_thumbnails(items[0].data(0, Qt.ItemDataRole.UserRole))

    def load_thumbnails(self, series: Any) -> int:
        self.thumbs.clear()
        cache = pacs_cache_dir()

        def work(request: int, connection: Any, cancel: threading.Event) -> None:
            instances = [i for i in connection.find_instances(series.study_uid, series.series_uid)]
            for done, instance in enumerate(instances, start=1):
                if cancel.is_set():
                    return
                path = cache / check_uid(series.study_uid) / f"{check_uid(instance.sop_uid)}.dcm"
                try:
                    if not path.exists():
                        connection.retrieve(instance, path)
                    pixels = thumbnail(path)
                except RadiviewError as exc:
                    self.signals.thumbnail_ready.emit(request, instance, "", exc.problem)
                else:
                    self.signals.thumbnail_ready.emit(request, instance, str(path), pixels)
                self.signals.progress.emit(request, done, len(instances))

        return self._run("Retrieving films", work)

    def _choose_screening_report(self) -> None:
        from radiview.settings import load_settings

        start = str(Path(load_settings().report_dir or Path.home()) / "pacs-report.csv")
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Screening report (CSV, resumed if it exists)",
            start,
            "CSV (*.csv)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.screen_selected(Path(path))

    def screen_selected(self, out_csv: Path) -> int:
        """Screen the selected studies into ``out_csv`` in the background (progress, cancel)."""
        studies = [item.data(0, Qt.ItemDataRole.UserRole) for item in self.studies.selectedItems()]
        if not studies:
            self.status.setText("Select one or more studies to screen.")
            return 0
        if self._runner is None:
            from radiview.gui.dialogs.pacs_screen import PacsScreeningRunner
            from radiview.settings import load_settings

            self._runner = PacsScreeningRunner(device=load_settings().device, model=self._model)
        runner, modalities = self._runner, parse_modalities(self.modalities.text() or None)
        send = self.send_results_check.isChecked()

        def work(request: int, connection: Any, cancel: threading.Event) -> None:
            line = runner.screen(
                connection,
                studies,
                modalities,
                out_csv,
                send,
                cancel,
                lambda text: self.signals.message.emit(request, text),
            )
            self.signals.message.emit(request, line)

        return self._run(f"Screening {len(studies)} studies", work)

    def cancel(self) -> None:
        self._cancel.set()
        self.status.setText("Cancelled.")
        self.cancel_button.setEnabled(False)
        self.progress.setVisible(False)

    # ------------------------------------------------------------------------ results (GUI)

    def _current(self, request: int) -> bool:
        return request == self._request

    def _on_studies(self, request: int, studies: list[Any]) -> None:
        if not self._current(request):
            return
        for study in studies:
            item = QTreeWidgetItem(
                [
                    display_name(study.patient_name),
                    study.patient_id,
                    study.study_date,
                    study.accession_number,
                    ",".join(study.modalities),
                    str(study.n_instances or ""),
                    study.description,
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, study)
            self.studies.addTopLevelItem(item)
        for column in range(6):
            self.studies.resizeColumnToContents(column)
        self.status.setText(f"{len(studies)} studies found.")

    def _on_series(self, request: int, series: list[Any]) -> None:
        if not self._current(request):
            return
        for one in series:
            item = QTreeWidgetItem(
                [str(one.number), one.modality, str(one.n_instances or ""), one.description]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, one)
            self.series.addTopLevelItem(item)
        self.status.setText(f"{len(series)} series.")
        first = self.series.topLevelItem(0)
        if len(series) == 1 and first is not None:
            self.series.setCurrentItem(first)

    def _on_thumbnail(self, request: int, instance: Any, path: str, pixels: Any) -> None:
        if not self._current(request):
            return
        item = QListWidgetItem(f"#{instance.number}")
        if isinstance(pixels, np.ndarray):
            item.setIcon(QIcon(QPixmap.fromImage(gray_to_qimage(pixels))))
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip("Double-click to open")
        else:
            item.setText(f"#{instance.number}: {pixels}")
            item.setToolTip(str(pixels))
        self.thumbs.addItem(item)

    def _on_progress(self, request: int, done: int, total: int) -> None:
        if self._current(request):
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.status.setText(f"Retrieved {done} of {total} films.")

    def _on_failed(self, request: int, message: str) -> None:
        if self._current(request):
            self.status.setText(message)

    def _on_finished(self, request: int) -> None:
        if self._current(request):
            self.progress.setVisible(False)
            self.cancel_button.setEnabled(False)

    def _open_item(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            self.film_chosen.emit(path)
