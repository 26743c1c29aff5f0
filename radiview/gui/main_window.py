"""The main window: viewer in the middle, AI reader and film info on the right, batch tab.

The window wires widgets to the Session and to the two worker threads (loader, inference);
it computes nothing itself. The Session is the hub: the window stores each value there once
and the viewer and panels follow its signals. Every request to a worker carries the Session's
request id, so an answer about a film the user has already replaced is dropped. The action
table, menus and toolbar live in actions.py; the Batch tab's run and exports in
batch_controller.py.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QThread, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from radiview import RESEARCH_NOTICE
from radiview.gui.actions import (
    WindowActions,
    build_menus,
    build_toolbar,
    fill_recent_menu,
    install_actions,
    shortcut_rows,
)
from radiview.gui.batch_controller import BatchController
from radiview.gui.dialogs.about import AboutDialog
from radiview.gui.dialogs.errors import ErrorDialog, show_error
from radiview.gui.dialogs.settings import SettingsDialog
from radiview.gui.dialogs.shortcuts import ShortcutsDialog
from radiview.gui.export import ViewSnapshot, choose_view_export, export_view, view_snapshot
from radiview.gui.layout import ViewerArea, add_dock, restore_window_state, save_window_state
from radiview.gui.open_dialog import choose_film
from radiview.gui.panels.batch import BatchPanel
from radiview.gui.panels.empty_hint import EmptyFilmHint
from radiview.gui.panels.metadata import MetadataPanel
from radiview.gui.panels.prediction import PANEL_TITLE, PredictionPanel
from radiview.gui.reading import ReadingRoom
from radiview.gui.session import Session
from radiview.gui.viewer import FilmViewer, PixelProbe
from radiview.gui.workers import (
    AnalysisResult,
    ExplanationResult,
    ExportResult,
    GeneratorWorker,
    InferenceWorker,
    LoaderWorker,
    LoadResult,
    ModelInfo,
    TagsResult,
    TaskError,
    start_worker_thread,
    stop_worker_thread,
)
from radiview.inference.attention import AttentionMask, build_attention_mask, heatmap_for_display
from radiview.inference.flags import reading_flags
from radiview.settings import Settings, load_settings, save_settings

if TYPE_CHECKING:
    from radiview.gui.dialogs.pacs import PacsDialog
    from radiview.inference.prediction import Explanation, Prediction
    from radiview.io import Radiograph

log = logging.getLogger("radiview.gui")

APP_TITLE = "RadiView"
TITLE_NOTICE = "Research software, not for diagnosis"
IMAGE_FILTER = "Radiographs (*.dcm *.dicom *.png *.jpg *.jpeg *.tif *.tiff *.bmp);;All files (*)"

ErrorPresenter = Callable[[QWidget, str, str, str], Any]


class MainWindow(QMainWindow, WindowActions):
    """RadiView's window. ``bundle_dir`` None = the bundled model (resources/model)."""

    # Public events (tests and screenshots wait on these).
    film_loaded = Signal(object)  # Radiograph now shown
    prediction_ready = Signal(object)  # Prediction now shown
    explanation_ready = Signal(object)  # Explanation now shown
    model_ready = Signal(object)  # ModelInfo
    screening_finished = Signal(object)  # ScreeningSummary
    error_shown = Signal(object)  # TaskError
    exported = Signal(str)  # path written

    # Requests to the workers (queued across threads).
    _load_requested = Signal(int, str)
    _tags_requested = Signal(int, str)
    _model_requested = Signal(str, str)
    _analyze_requested = Signal(int, object, str)
    _explain_requested = Signal(int, object, str)

    def __init__(
        self,
        settings: Settings | None = None,
        bundle_dir: str | os.PathLike[str] | None = None,
        error_presenter: ErrorPresenter | None = None,
        save_on_change: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings if settings is not None else load_settings()
        # --model wins over Settings ▸ Model; "" = the bundled model
        self.bundle_dir = str(bundle_dir) if bundle_dir is not None else self.settings.model_dir
        self.error_presenter: ErrorPresenter = error_presenter or show_error
        self.save_on_change = save_on_change
        self.session = Session(self)
        self.model_info: ModelInfo | None = None
        self.model_error: TaskError | None = None
        self.last_error: TaskError | None = None
        self.last_error_dialog: ErrorDialog | Any = None
        self._shut_down = False
        self._pacs_dialog: PacsDialog | None = None  # made on first use (it imports the network)
        self._attention_mask: AttentionMask | None = None  # the film's, built on its first heatmap

        self.setWindowTitle(f"{APP_TITLE} — {TITLE_NOTICE}")
        icon = _app_icon()
        if icon is not None:
            self.setWindowIcon(icon)
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self._build_widgets()
        self._build_status_bar()
        self._connect_widgets()
        install_actions(self)  # actions.py: the action table, menus and toolbar
        build_menus(self)
        build_toolbar(self)
        self.reading = ReadingRoom(self, self.viewer_area)  # next/prev, corners, tools, 1×2
        self._connect_session()
        self._start_workers()
        self.batch = BatchController(self)  # start/cancel/export of the Batch tab
        self._apply_settings(self.settings, reload_model=False)
        self._request_model()
        restore_window_state(self)

    # ================================================================= construction ==========
    def _build_widgets(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.banner = QLabel(f"⚠  {RESEARCH_NOTICE}  The AI reading is a second opinion for research only.")
        self.banner.setObjectName("researchBanner")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setStyleSheet(
            "QLabel#researchBanner { background: #5a3a00; color: #ffe2a8; padding: 4px; font-weight: bold; }"
        )
        layout.addWidget(self.banner)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.viewer: FilmViewer = FilmViewer()
        self.batch_panel = BatchPanel()
        self.viewer_area = ViewerArea(self.viewer)  # frame bar, 1×1 / 1×2 viewports
        self.tabs.addTab(self.viewer_area, "Film")
        from radiview.assets import sample_films

        self.empty_hint = EmptyFilmHint(self.viewer, sample_films())
        self.empty_hint.open_requested.connect(self.choose_file)
        self.empty_hint.sample_requested.connect(self.open_file)
        self.tabs.addTab(self.batch_panel, "Batch screening")
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.prediction_panel = PredictionPanel()
        self.prediction_dock = add_dock(
            self, PANEL_TITLE, self.prediction_panel, "predictionDock", scroll=True
        )
        self.metadata_panel = MetadataPanel()
        self.metadata_dock = add_dock(self, "Film information", self.metadata_panel, "metadataDock")
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.prediction_dock], [360], Qt.Orientation.Horizontal)
        # The AI reading gets most of the column's height; the tag list scrolls.
        self.resizeDocks([self.prediction_dock, self.metadata_dock], [600, 300], Qt.Orientation.Vertical)

    def _build_status_bar(self) -> None:
        self.pixel_label = QLabel("")
        self.pixel_label.setMinimumWidth(260)
        self.measure_label = QLabel("")
        self.zoom_label = QLabel("")
        self.model_label = QLabel("Model: loading…")
        for widget in (self.pixel_label, self.measure_label, self.zoom_label, self.model_label):
            self.statusBar().addPermanentWidget(widget)

    def _connect_widgets(self) -> None:
        self.viewer.pixel_hovered.connect(self._on_viewer_pixel_hovered)
        self.viewer.zoom_changed.connect(lambda z: self.zoom_label.setText(f"Zoom {z * 100:.0f}%"))
        self.viewer.window_changed.connect(self._on_viewer_window_changed)
        self.viewer.measurement_finished.connect(lambda m: self.measure_label.setText(f"Ruler: {m}"))
        self.prediction_panel.overlay_toggled.connect(self._on_overlay_toggled)
        self.prediction_panel.opacity_changed.connect(self.viewer.set_overlay_opacity)
        self.prediction_panel.colormap_changed.connect(self.viewer.set_colormap)
        self.prediction_panel.explain_label_changed.connect(self._on_explain_label_changed)
        self.metadata_panel.all_tags_requested.connect(self._request_tags)
        self.batch_panel.film_activated.connect(self.open_file)

    def _connect_session(self) -> None:
        """The Session is the hub: the window sets each value there once, and views follow."""
        session = self.session
        session.radiograph_changed.connect(self._update_title)
        session.radiograph_changed.connect(lambda r: self.empty_hint.setVisible(r is None))
        session.radiograph_changed.connect(self._forget_attention_mask)
        session.radiograph_changed.connect(self.viewer.set_radiograph)
        session.radiograph_changed.connect(self.metadata_panel.show_radiograph)
        session.prediction_changed.connect(self._show_prediction)
        session.explanation_changed.connect(self._show_explanation)
        session.busy_changed.connect(self._on_session_busy_changed)

    def _on_session_busy_changed(self, busy: bool) -> None:
        # A busy cursor over the film only: the rest of the window stays fully usable.
        self.viewer.viewport().setCursor(Qt.CursorShape.BusyCursor if busy else Qt.CursorShape.ArrowCursor)
        if not busy:
            self.viewer.set_measuring(self.viewer.measuring)

    def _start_workers(self) -> None:
        self.loader = LoaderWorker()
        self.loader_thread = start_worker_thread(self.loader, "radiview-loader")
        self._load_requested.connect(self.loader.load)
        self._tags_requested.connect(self.loader.read_tags)
        self.loader.loaded.connect(self._on_loader_loaded)
        self.loader.tags_read.connect(self._on_loader_tags_read)
        self.loader.exported.connect(self._on_worker_exported)
        self.loader.failed.connect(self._on_loader_failed)
        self.loader.export_failed.connect(self._on_worker_export_failed)

        self.inference = InferenceWorker()
        self.inference_thread = start_worker_thread(self.inference, "radiview-inference")
        self._model_requested.connect(self.inference.load_model)
        self._analyze_requested.connect(self.inference.analyze)
        self._explain_requested.connect(self.inference.explain)
        self.inference.model_loaded.connect(self._on_inference_model_loaded)
        self.inference.model_failed.connect(self._on_inference_model_failed)
        self.inference.analysis_ready.connect(self._on_inference_analysis_ready)
        self.inference.explanation_ready.connect(self._on_inference_explanation_ready)
        self.inference.exported.connect(self._on_worker_exported)
        self.inference.failed.connect(self._on_inference_failed)
        self.inference.export_failed.connect(self._on_worker_export_failed)

    def worker_threads(self) -> list[QThread]:
        return [self.loader_thread, self.inference_thread]

    # ================================================================= settings ==============
    def _apply_settings(self, settings: Settings, reload_model: bool = True) -> None:
        old = self.settings
        self.settings = settings
        self.prediction_panel.set_overlay_defaults(settings.overlay_opacity, settings.colormap)
        self.viewer.set_overlay_opacity(settings.overlay_opacity)
        self.viewer.set_colormap(settings.colormap)
        for viewer in (self.viewer, self.viewer_area.right_viewer):
            viewer.set_corner_fields(settings.corner_fields)
        self.batch_panel.recursive_check.setChecked(settings.batch_recursive)
        self.strip_action.setChecked(settings.strip_identifiers)
        if settings.model_dir != old.model_dir:
            self.bundle_dir = settings.model_dir  # a site bundle from `radiview site adapt`, or ""
        if reload_model and (settings.device != old.device or settings.model_dir != old.model_dir):
            self._request_model()

    def _store_settings(self, settings: Settings) -> None:
        self.settings = settings
        if self.save_on_change:
            try:
                save_settings(settings)
            except OSError as exc:
                log.warning("settings not saved: %s", exc)

    def show_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, parent=self)
        dialog.accepted.connect(lambda: self.apply_new_settings(dialog.settings))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def apply_new_settings(self, settings: Settings) -> None:
        self._apply_settings(settings)
        self._store_settings(settings)

    # ================================================================= model =================
    def _request_model(self) -> None:
        self.model_info = None
        self.model_label.setText("Model: loading…")
        self._model_requested.emit(self.bundle_dir, self.settings.device)

    def _on_inference_model_loaded(self, info: ModelInfo) -> None:
        self.model_info = info
        self.model_error = None
        self.model_label.setText(f"Model: {info.card.name} v{info.card.version} · {info.device}")
        self.prediction_panel.set_model(info.card, info.device)
        self.batch_panel.set_labels(tuple(info.card.labels))
        self.model_ready.emit(info)
        if self.session.radiograph is not None:
            self._request_analysis()

    def _on_inference_model_failed(self, error: TaskError) -> None:
        self.model_info = None
        self.model_error = error
        self.model_label.setText("Model: unavailable")
        self.prediction_panel.set_model_error(error.message)
        self._present_error(error)

    # ================================================================= opening films =========
    def choose_file(self) -> None:
        path = choose_film(self, "Open a chest film", self.settings.last_dir)  # DICOM without extension too
        if path:
            self._store_settings(replace(self.settings, last_dir=str(Path(path).parent)))
            self.open_file(path)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Screen a folder of films", self.settings.last_dir)
        if folder:
            self._store_settings(replace(self.settings, last_dir=folder))
            self.start_screening(folder, self.settings.batch_recursive)

    def open_paths(self, paths: list[str]) -> None:
        """Command line / drag and drop: a folder starts screening, a file opens in the viewer."""
        folders = [p for p in paths if os.path.isdir(p)]
        files = [p for p in paths if not os.path.isdir(p)]
        if folders:
            self.start_screening(folders[0], self.settings.batch_recursive)
        if len(files) > 1:
            self.reading.set_list(files)  # read in this order: PageDown / PageUp
            self.statusBar().showMessage(f"{len(files)} films to read: PageDown for the next", 5000)
        elif files:
            self.open_file(files[0])

    def show_pacs_dialog(self) -> None:
        """Open from PACS (radiview/gui/dialogs/pacs.py); a double-clicked film opens here.

        One dialog per window, shown again with its last search: a new one each time would leave
        the old one (and its network thread) behind as a hidden child until the window closes.
        """
        if self._pacs_dialog is None:
            from radiview.gui.dialogs.pacs import PacsDialog

            self._pacs_dialog = PacsDialog(self)
            self._pacs_dialog.film_chosen.connect(self.open_file)
        self._pacs_dialog.show()
        self._pacs_dialog.raise_()
        self._pacs_dialog.activateWindow()

    def open_file(self, path: str | os.PathLike[str]) -> int:
        """Load a film in the background; returns its request id."""
        path = os.fspath(path)
        request_id = self.session.begin(path)
        self.tabs.setCurrentWidget(self.viewer_area)
        loading = f"Loading {os.path.basename(path)}…"
        self._clear_film(loading, loading)  # nothing of the previous film stays while this one loads
        if not self.prediction_panel.pinned:
            self.prediction_panel.overlay_check.setChecked(False)  # off on each new film unless pinned
        self.statusBar().showMessage(loading)
        self._load_requested.emit(request_id, path)
        return request_id

    def close_film(self) -> None:
        self.session.clear()
        self._clear_film("No film open.")
        self.statusBar().clearMessage()

    def _clear_film(self, status: str, hint_title: str = "") -> None:
        """Empty every view of the film: image, reading, heatmap, tags, title, readouts."""
        self.session.set_radiograph(None)  # → title, hint, viewer, tags, reading and map emptied
        self.prediction_panel.clear(status)
        for label in (self.pixel_label, self.measure_label, self.zoom_label):
            label.setText("")
        self.empty_hint.show_state(hint_title or "No film open")

    def _on_loader_loaded(self, result: LoadResult) -> None:
        if not self.session.is_current(result.request_id):
            log.debug("dropping stale film %s", result.radiograph.source)
            return
        radiograph = result.radiograph
        self.session.set_radiograph(radiograph)  # → title, viewer, tags, empty reading
        self.viewer.set_overlay_visible(self.heatmap_action.isChecked())
        self.statusBar().showMessage(f"Opened {radiograph.name}", 4000)
        for warning in radiograph.warnings:
            self.statusBar().showMessage(warning, 8000)
        self._store_settings(self.settings.with_recent(os.path.abspath(radiograph.source)))
        self.film_loaded.emit(radiograph)
        if self.model_info is not None:
            self._request_analysis()
        else:
            self.session.set_busy(False)
            self.prediction_panel.show_status(
                "No model loaded: the film is shown without an AI reading."
                if self.model_error is not None
                else "Waiting for the model…"
            )

    def _on_loader_failed(self, error: TaskError) -> None:
        if error.request_id and not self.session.is_current(error.request_id):
            return
        self.session.set_busy(False)
        self.statusBar().showMessage(error.message, 8000)
        if error.title == "Cannot open film":  # a clear empty state, never the last film's
            name = os.path.basename(error.path or self.session.path or "")
            self._clear_film(f"Could not open {name}: no film shown.")
            self.empty_hint.show_state(f"Could not open {name}", error.message)
            if error.expected:  # a bad file: a banner, not a modal dialog (PageDown goes on)
                self.reading.show_file_problem(error)
                self.last_error = error
                self.error_shown.emit(error)
                return
        self._present_error(error)

    def _request_tags(self) -> None:
        radiograph = self.session.radiograph
        if radiograph is not None and radiograph.kind == "dicom":
            self._tags_requested.emit(self.session.request_id, radiograph.source)

    def _on_loader_tags_read(self, result: TagsResult) -> None:
        if self.session.is_current(result.request_id):
            self.metadata_panel.show_tags(result.tags)

    # ================================================================= analysis ==============
    def _request_analysis(self) -> None:
        radiograph = self.session.radiograph
        if radiograph is None or self.model_info is None:
            return
        self.session.set_busy(True)
        self.prediction_panel.show_status("Analysing…")
        self._analyze_requested.emit(
            self.session.request_id, radiograph, self.prediction_panel.chosen_label()
        )

    def _on_inference_analysis_ready(self, result: AnalysisResult) -> None:
        if not self.session.is_current(result.request_id):
            return
        self.session.set_busy(False)
        if self.session.radiograph is None:  # closed meanwhile (its id would have changed; belt and braces)
            return
        self.session.set_prediction(result.prediction)  # → bars and flags
        self.session.set_explanation(result.explanation)  # → heatmap and its note
        self.prediction_ready.emit(result.prediction)

    def _show_prediction(self, prediction: Prediction | None) -> None:
        radiograph = self.session.radiograph
        if prediction is None or radiograph is None:
            self.prediction_panel.show_prediction(None)
            return
        card = self.model_info.card if self.model_info is not None else None
        flags = reading_flags(prediction, radiograph.metadata, card, radiograph.view_position)
        self.prediction_panel.show_prediction(prediction, flags)

    def _on_explain_label_changed(self, _label: str) -> None:
        prediction, radiograph = self.session.prediction, self.session.radiograph
        if radiograph is None or prediction is None or not prediction.accepted:
            return
        self.session.set_busy(True)
        self._explain_requested.emit(
            self.session.request_id, radiograph, self.prediction_panel.chosen_label()
        )

    def _on_inference_explanation_ready(self, result: ExplanationResult) -> None:
        if self.session.is_current(result.request_id):
            self.session.set_busy(False)
            self.session.set_explanation(result.explanation)

    def _forget_attention_mask(self, _radiograph: Radiograph | None) -> None:
        self._attention_mask = None  # built again on the next film's first heatmap

    def _show_explanation(self, explanation: Explanation | None) -> None:
        """The map as the card's policy and the body/text mask allow, with the panel's note."""
        radiograph = self.session.radiograph
        if explanation is not None and radiograph is not None and self._attention_mask is None:
            try:
                self._attention_mask = build_attention_mask(radiograph)
            except Exception:  # the mask is an aid: without it the map is shown whole
                log.exception("attention mask failed for %s", radiograph.name)
        card = self.model_info.card if self.model_info is not None else None
        shown = heatmap_for_display(self.session.prediction, explanation, card, self._attention_mask)
        self.viewer.set_heatmap(shown.heatmap, shown.title)
        self.prediction_panel.show_heatmap_note(shown.note)
        self.prediction_panel.show_outside_lung_share(getattr(explanation, "outside_lung_share", None))
        if explanation is not None:
            self.explanation_ready.emit(explanation)

    def _on_inference_failed(self, error: TaskError) -> None:
        if error.request_id and not self.session.is_current(error.request_id):
            return
        self.session.set_busy(False)
        self.prediction_panel.show_status("The AI reading failed (see the message).")
        self._present_error(error)

    # ================================================================= viewer controls =======
    def _on_heatmap_action(self, checked: bool) -> None:
        self.prediction_panel.overlay_check.setChecked(checked)  # → _on_overlay_toggled

    def _on_overlay_toggled(self, checked: bool) -> None:
        self.heatmap_action.setChecked(checked)
        self.viewer.set_overlay_visible(checked)

    def _on_ruler_action(self, checked: bool) -> None:
        self.viewer.set_tool("length" if checked else None)
        self.statusBar().showMessage("Ruler: drag on the film to measure" if checked else "Ruler off", 3000)

    def _on_strip_toggled(self, checked: bool) -> None:
        self._store_settings(replace(self.settings, strip_identifiers=checked))

    def _clear_measurements(self) -> None:
        self.viewer.clear_measurements()
        self.measure_label.setText("")

    def _on_preset_combo_activated(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name and name != "Custom":
            self.viewer.apply_preset(name)

    def _on_viewer_window_changed(self, _window: object) -> None:
        index = self.preset_combo.findData(self.viewer.preset or "Custom")
        self.preset_combo.setCurrentIndex(index if index >= 0 else self.preset_combo.count() - 1)

    def _on_viewer_pixel_hovered(self, probe: PixelProbe | None) -> None:
        if probe is None:
            self.pixel_label.setText("")
            return
        value = probe.value
        text = f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
        self.pixel_label.setText(f"x {probe.column}  y {probe.row}  value {text}")

    def _update_title(self, radiograph: Radiograph | None) -> None:
        name = f" — {radiograph.name}" if radiograph is not None else ""
        self.setWindowTitle(f"{APP_TITLE}{name} — {TITLE_NOTICE}")

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(shortcut_rows(self), self)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def shortcut_rows(self) -> list[tuple[str, str]]:
        return shortcut_rows(self)

    def _fill_recent_menu(self) -> None:
        fill_recent_menu(self)

    def show_about(self) -> AboutDialog:
        card = self.model_info.card if self.model_info is not None else None
        device = self.model_info.device if self.model_info is not None else ""
        dialog = AboutDialog(card, device, self)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    # ================================================================= drag and drop =========
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # ================================================================= batch screening =======
    # (batch_controller.py does the work; these stay for callers: cli, tests, drag and drop)
    @property
    def screening_running(self) -> bool:
        return self.batch.running

    def start_screening(self, folder: str, recursive: bool = True) -> GeneratorWorker | None:
        """Screen ``folder`` on the inference thread; rows arrive in the Batch tab."""
        return self.batch.start(folder, recursive)

    def cancel_screening(self) -> None:
        self.batch.cancel()

    def export_screening(self, path: str, fmt: str) -> int:
        """Write the batch table as CSV or PDF; returns the request id."""
        return self.batch.export(path, fmt)

    def _on_worker_exported(self, result: ExportResult) -> None:
        self.statusBar().showMessage(f"Saved {result.path}", 6000)
        self.exported.emit(result.path)

    def _on_worker_export_failed(self, error: TaskError) -> None:
        self.statusBar().showMessage(error.message, 8000)
        self._present_error(error)

    # ================================================================= view export ===========
    def choose_export(self, fmt: str) -> None:
        choose_view_export(self, fmt)

    def view_snapshot(self, strip_identifiers: bool) -> ViewSnapshot:
        return view_snapshot(self, strip_identifiers)

    def export_view(self, path: str, fmt: str, strip_identifiers: bool = True) -> str | None:
        """Write the current view; errors are shown in a dialog. Returns the path or None."""
        return export_view(self, path, fmt, strip_identifiers)

    # ================================================================= errors ================
    def _present_error(self, error: TaskError) -> None:
        self.last_error = error
        self.last_error_dialog = self.error_presenter(self, error.title, error.message, error.details)
        self.error_shown.emit(error)

    # ================================================================= shutdown ==============
    def shutdown(self, timeout_ms: int = 20000) -> bool:
        """Cancel work and stop both threads (idempotent). True when every thread finished."""
        if self._shut_down:
            return all(t.isFinished() or not t.isRunning() for t in self.worker_threads())
        self._shut_down = True
        self.reading.shutdown()
        if self._pacs_dialog is not None:
            self._pacs_dialog.cancel()  # its network thread stops at its next step
        if self.batch.worker is not None:
            self.batch.worker.quit()
        ok = True
        for thread in self.worker_threads():
            ok = stop_worker_thread(thread, timeout_ms) and ok
        return ok

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.save_on_change:
            save_window_state(self)
        self.shutdown()
        super().closeEvent(event)


def _app_icon() -> QIcon | None:
    from radiview.assets import icon_path

    path = icon_path()
    return QIcon(str(path)) if path.is_file() else None


def window_title_for(radiograph: Any) -> str:
    """For tests/docs: the title the window shows for a film."""
    name = f" — {radiograph.name}" if radiograph is not None else ""
    return f"{APP_TITLE}{name} — {TITLE_NOTICE}"
