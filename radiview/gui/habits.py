"""Day-one viewer habits (RadiAnt/Weasis have them): F11 full screen, F9 side panels on/off,
"compare with prior" (Ctrl+Shift+R), a thumbnail strip of the folder (a bottom dock),
annotations saved beside the film and reopened, and their export as a GSPS.

``ReadingHabits`` is made by the ReadingRoom; it adds its actions to the window's menus.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog

from radiview.errors import RadiviewError
from radiview.gui.annotation_files import read_annotations, sidecar_path, write_annotations
from radiview.gui.gsps_export import write_gsps
from radiview.gui.panels.thumbnails import ThumbnailStrip
from radiview.io.priors import choose_prior

if TYPE_CHECKING:
    from radiview.gui.reading import ReadingRoom

log = logging.getLogger("radiview.gui")

FULL_SCREEN_KEY = "F11"
SIDE_PANELS_KEY = "F9"
PRIOR_KEY = "Ctrl+Shift+R"


class ReadingHabits(QObject):
    def __init__(self, room: ReadingRoom) -> None:
        super().__init__(room)
        self.room = room
        self.window = room.window
        self.viewer = room.viewer
        self.save_annotations = True  # beside the film (tests turn it off for shared films)
        w = self.window
        self.full_screen_action = self._action("&Full screen", FULL_SCREEN_KEY, checkable=True)
        self.full_screen_action.toggled.connect(self.set_full_screen)
        self.side_panels_action = self._action("Side &panels", SIDE_PANELS_KEY, checkable=True)
        self.side_panels_action.setChecked(True)
        self.side_panels_action.toggled.connect(self.set_side_panels)
        self.prior_action = self._action("Compare with &prior (same patient)", PRIOR_KEY)
        self.prior_action.triggered.connect(self.compare_with_prior)
        self.gsps_action = QAction("Export annotations as DICOM presentation state (GSPS)…", w)
        self.gsps_action.triggered.connect(self.choose_gsps_export)
        w.view_menu.addSeparator()
        for action in (self.full_screen_action, self.side_panels_action, self.prior_action):
            w.view_menu.addAction(action)
        w.file_menu.insertAction(w.export_png_action, self.gsps_action)
        self.viewer.annotations_changed.connect(self._save)
        self.strip = ThumbnailStrip()
        self.strip.film_chosen.connect(self.window.open_file)
        self.strip_dock = QDockWidget("Films in this folder / list", w)
        self.strip_dock.setObjectName("thumbnailDock")
        self.strip_dock.setWidget(self.strip)
        w.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.strip_dock)
        self.strip_dock.hide()  # shown with the first folder or list of several films
        self._strip_offered = False
        w.view_menu.addAction(self.strip_dock.toggleViewAction())

    def _action(self, text: str, key: str, checkable: bool = False) -> QAction:
        action = QAction(text, self.window)
        action.setShortcut(QKeySequence(key))
        action.setCheckable(checkable)
        self.window.addAction(action)
        return action

    # ----- full screen and side panels -----------------------------------------------------------
    def set_full_screen(self, on: bool) -> None:
        if on:
            self.window.showFullScreen()
        else:
            self.window.showNormal()
        self.full_screen_action.setChecked(on)

    def set_side_panels(self, visible: bool) -> None:
        """Both docks at once: in 1×2 each film gets the whole width."""
        for dock in (self.window.prediction_dock, self.window.metadata_dock):
            dock.setVisible(visible)
        self.side_panels_action.setChecked(visible)

    # ----- priors ----------------------------------------------------------------------------------
    def compare_with_prior(self) -> str | None:
        """The same patient's latest earlier film in this folder/list opens on the right."""
        current = self.window.session.path
        films = self.room.current_list()
        if not current or films is None:
            self.window.statusBar().showMessage("Open a film first", 4000)
            return None
        prior = choose_prior(current, films.paths)
        if prior is None:
            self.window.statusBar().showMessage(
                "No prior: no other film of this patient (DICOM PatientID) in this folder or list", 6000
            )
            return None
        if self.room.open_right(str(prior)):
            self.window.statusBar().showMessage(f"Prior on the right: {prior.name}", 6000)
        return str(prior)

    # ----- GSPS -------------------------------------------------------------------------------------
    def choose_gsps_export(self) -> None:
        radiograph = self.viewer.radiograph
        if radiograph is None:
            self.window.statusBar().showMessage("Open a film first", 4000)
            return
        folder = self.window.settings.report_dir or str(Path.home())
        suggested = os.path.join(folder, f"{Path(radiograph.source).stem}-annotations-gsps.dcm")
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Export annotations as a GSPS", suggested, "DICOM (*.dcm)"
        )
        if path:
            self.export_gsps(path)

    def export_gsps(self, path: str) -> str | None:
        """The film's annotations as a GSPS at ``path``; None (and a status message) if not."""
        radiograph = self.viewer.radiograph
        if radiograph is None:
            return None
        try:
            write_gsps(
                radiograph.source, self.viewer.annotations(), radiograph, path, self.viewer.display_window
            )
        except (RadiviewError, OSError) as exc:
            self.window.statusBar().showMessage(f"No presentation state written: {exc}", 8000)
            return None
        self.window.statusBar().showMessage(f"Saved {path}", 6000)
        return path

    # ----- annotations beside the film -------------------------------------------------------------
    def _save(self, source: str) -> None:
        if not self.save_annotations or not os.path.isfile(source):
            return
        radiograph = self.viewer.radiograph
        annotations = (
            self.viewer.annotations() if radiograph is not None and radiograph.source == source else []
        )
        try:
            write_annotations(source, annotations)
        except OSError as exc:
            where = sidecar_path(source).name
            self.window.statusBar().showMessage(
                f"Annotations not saved ({where}): {exc.strerror or exc}", 8000
            )

    def on_film_loaded(self, source: str) -> None:
        self.reopen_annotations(source)
        films = self.room.current_list()
        if films is not None:
            self.strip.show_films(films.paths, source)
            if len(films.paths) > 1 and not self._strip_offered:
                self._strip_offered = True  # once: after that the reader decides (View menu)
                self.strip_dock.show()

    def shutdown(self) -> None:
        self.strip.shutdown()

    def reopen_annotations(self, source: str) -> None:
        """A film opened again (another day): its saved annotations come back."""
        if source and not self.viewer.has_annotations_in_memory(source):
            saved = read_annotations(source)
            if saved:
                self.viewer.set_saved_annotations(source, saved)
                self.window.statusBar().showMessage(f"{len(saved)} saved annotation(s) reopened", 5000)
