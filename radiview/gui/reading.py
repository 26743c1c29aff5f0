"""The reading flow: next/previous film, corner annotations on/off, reading tools, 1×2 layout.

``ReadingRoom`` adds these actions and menu entries to the main window and wires them to the
viewer area (radiview.gui.layout), so main_window.py only creates it. Films are read in the
order of the list given on the command line (``radiview A B C``), of the batch table as sorted
and filtered (for a film opened from it) or, for a film opened on its own, of the films in its
folder (sorted by name, as radiview.io.discovery lists them); all wrap round at the ends, with a
status message saying so.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu

from radiview.errors import RadiviewError
from radiview.gui.habits import ReadingHabits
from radiview.gui.layout import ViewerArea
from radiview.gui.open_dialog import choose_film
from radiview.gui.panels.file_banner import FileProblemBanner
from radiview.gui.tools import TOOL_HINTS, TOOL_TITLES, Annotation, spacing_note
from radiview.gui.viewer import STORED_PRESET, stored_windows
from radiview.io.discovery import iter_image_files

if TYPE_CHECKING:
    from radiview.gui.main_window import MainWindow
    from radiview.gui.workers import TaskError

log = logging.getLogger("radiview.gui")

#: tool -> shortcut (the length tool is the main window's ruler action, key M)
TOOL_KEYS = {"angle": "G", "roi_ellipse": "O", "roi_rect": "Shift+O", "ctr": "C", "arrow": "P", "text": "T"}
NEXT_KEYS = ("PgDown", "Down", "Right")
PREVIOUS_KEYS = ("PgUp", "Up", "Left")
CORNERS_KEY = "A"


@dataclass(frozen=True)
class Step:
    path: str
    index: int  # 0-based position in the list
    count: int
    wrapped: bool


class ReadingList:
    """An ordered list of films and where the reader is in it."""

    def __init__(self, paths: Sequence[str | os.PathLike[str]], origin: str) -> None:
        self.paths = [os.path.abspath(os.fspath(p)) for p in paths]
        self.origin = origin  # "command line", "screened list" or "folder"

    @classmethod
    def from_folder(cls, film: str | os.PathLike[str]) -> ReadingList:
        folder = Path(film).resolve().parent
        try:
            paths = [str(p) for p in iter_image_files(folder)]
        except RadiviewError:
            paths = []
        return cls(paths or [film], "folder")

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and os.path.abspath(path) in self.paths

    def step(self, current: str | None, delta: int) -> Step | None:
        """The film ``delta`` places from ``current`` (wrapping); None for an empty list."""
        if not self.paths:
            return None
        count = len(self.paths)
        here = self.paths.index(os.path.abspath(current)) if current and current in self else -1
        if here < 0:
            target = 0 if delta > 0 else count - 1
            return Step(self.paths[target], target, count, False)
        target = here + delta
        return Step(self.paths[target % count], target % count, count, not 0 <= target < count)


class ReadingRoom(QObject):
    """Installs the reading actions on ``window`` (a MainWindow) and owns the reading list."""

    def __init__(self, window: MainWindow, area: ViewerArea) -> None:
        super().__init__(window)
        self.window = window
        self.area = area
        self.viewer = window.viewer
        self.reading_list: ReadingList | None = None
        self._step_message = ("", "")  # (path, status text) of the film being stepped to
        # The docks as built, before window.ini restores the user's: View ▸ Reset layout.
        self._default_dock_state = window.saveState()
        self._build_actions()
        self._build_menus()
        window.film_loaded.connect(self._on_film_loaded)
        window.batch_panel.film_activated.connect(self._on_batch_film_activated)
        # Closing a film (File ▸ Close, Ctrl+W) ends its annotations; stepping to another does not.
        self._shown_source = ""
        window.close_film_action.triggered.connect(lambda: self.viewer.forget_annotations(self._shown_source))
        self.viewer.annotation_added.connect(self._on_annotation_added)
        self.file_banner = FileProblemBanner(self.viewer)
        self.habits = ReadingHabits(self)  # F11, F9, compare with prior, saved annotations
        area.stack_bar.frames_failed.connect(lambda message: window.statusBar().showMessage(message, 8000))

    # ----- actions -----------------------------------------------------------------------------
    def _action(self, text: str, keys: Sequence[str] = (), checkable: bool = False) -> QAction:
        action = QAction(text, self.window)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setCheckable(checkable)
        self.window.addAction(action)
        return action

    def _build_actions(self) -> None:
        w = self.window
        self.corners_action = self._action("Corner &annotations", (CORNERS_KEY,), checkable=True)
        self.corners_action.setChecked(w.settings.corners_visible)
        self.viewer.set_corners_visible(w.settings.corners_visible)
        self.corners_action.toggled.connect(self.set_corners_visible)
        # Film navigation belongs to the film area: arrow keys keep their meaning in tables,
        # combo boxes and the frame slider elsewhere in the window.
        self.next_action = self._action("&Next film", NEXT_KEYS)
        self.previous_action = self._action("&Previous film", PREVIOUS_KEYS)
        for action in (self.next_action, self.previous_action):
            w.removeAction(action)
            self.area.films.addAction(action)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.next_action.triggered.connect(lambda: self.go(1))
        self.previous_action.triggered.connect(lambda: self.go(-1))

        self.tool_group = QActionGroup(self)
        self.tool_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.tool_actions: dict[str, QAction] = {"length": w.ruler_action}
        for kind, key in TOOL_KEYS.items():
            self.tool_actions[kind] = self._action(TOOL_TITLES[kind], (key,), checkable=True)
        for kind, action in self.tool_actions.items():
            self.tool_group.addAction(action)
            action.setToolTip(f"{TOOL_TITLES[kind]}: {TOOL_HINTS[kind]}")
            action.toggled.connect(lambda checked, k=kind: self._on_tool_toggled(k, checked))
        self.remove_last_action = self._action("Remove the last annotation", ("Del", "Backspace"))
        self.remove_last_action.triggered.connect(self.viewer.remove_last_annotation)
        # Esc cancels the tool in progress, never the film's annotations (it used to clear
        # them all, with no undo): "Clear measurements" keeps its menu entry, not the key.
        w.clear_measure_action.setShortcuts([])
        self.cancel_tool_action = self._action("Cancel the tool in progress", ("Esc",))
        self.cancel_tool_action.triggered.connect(self.cancel_tool)
        self.undo_action = self._action("&Undo annotation", ("Ctrl+Z",))
        self.undo_action.triggered.connect(lambda: self._history_step(self.viewer.undo_annotation, "undo"))
        self.redo_action = self._action("&Redo annotation", ("Ctrl+Shift+Z", "Ctrl+Y"))
        self.redo_action.triggered.connect(lambda: self._history_step(self.viewer.redo_annotation, "redo"))
        self.viewer.tool_changed.connect(self._sync_tool_actions)

        self.layout_group = QActionGroup(self)
        self.layout_actions = {
            "1x1": self._action("Layout 1×1", checkable=True),
            "1x2": self._action("Layout 1×2 (compare two films)", checkable=True),
        }
        for name, action in self.layout_actions.items():
            self.layout_group.addAction(action)
            action.triggered.connect(lambda _=False, n=name: self.area.set_layout(n))
        self.layout_actions["1x1"].setChecked(True)
        self.area.layout_changed.connect(lambda n: self.layout_actions[n].setChecked(True))
        self.open_right_action = self._action("Open in right viewport…")
        self.open_right_action.triggered.connect(self.choose_right_film)
        self.reset_layout_action = self._action("Reset layout")
        self.reset_layout_action.triggered.connect(self.reset_layout)

    def _build_menus(self) -> None:
        w = self.window
        view_menu: QMenu = w.view_menu
        view_menu.addSeparator()
        view_menu.addAction(self.corners_action)
        layout_menu = view_menu.addMenu("&Layout")
        for action in self.layout_actions.values():
            layout_menu.addAction(action)
        layout_menu.addAction(self.open_right_action)
        layout_menu.addSeparator()
        layout_menu.addAction(self.reset_layout_action)
        view_menu.addSeparator()
        view_menu.addAction(self.next_action)
        view_menu.addAction(self.previous_action)
        w.file_menu.insertAction(w.export_png_action, self.open_right_action)
        tools_menu: QMenu = w.tools_menu
        for kind, action in self.tool_actions.items():
            if kind != "length":  # the ruler is already there
                tools_menu.insertAction(w.clear_measure_action, action)
        tools_menu.insertAction(w.clear_measure_action, self.remove_last_action)
        for action in (self.undo_action, self.redo_action, self.cancel_tool_action):
            tools_menu.insertAction(w.clear_measure_action, action)

    # ----- corners and tools --------------------------------------------------------------------
    def set_corners_visible(self, visible: bool) -> None:
        self.corners_action.setChecked(visible)
        self.viewer.set_corners_visible(visible)
        self.area.right_viewer.set_corners_visible(visible)
        if visible != self.window.settings.corners_visible:
            self.window._store_settings(replace(self.window.settings, corners_visible=visible))

    def _on_tool_toggled(self, kind: str, checked: bool) -> None:
        if checked:
            self.viewer.set_tool(kind)
            self.window.statusBar().showMessage(f"{TOOL_TITLES[kind]}: {TOOL_HINTS[kind]}", 6000)
        elif self.viewer.tool == kind:
            self.viewer.set_tool(None)

    def _sync_tool_actions(self, tool: str | None) -> None:
        """The viewer put its tool down (one use, or Esc): uncheck its action quietly."""
        for kind, action in self.tool_actions.items():
            if action.isChecked() != (kind == tool):
                action.blockSignals(True)
                action.setChecked(kind == tool)
                action.blockSignals(False)

    def cancel_tool(self) -> None:
        done = self.viewer.cancel_tool()
        if done:
            text = "Tool cancelled" if done == "cancelled" else "Tool put down: left-drag pans"
            self.window.statusBar().showMessage(text, 3000)

    def _history_step(self, step: Callable[[], bool], verb: str) -> None:
        changed = step()
        self.window.statusBar().showMessage(
            f"Annotations: {verb} done" if changed else f"Nothing to {verb}", 2000
        )
        if changed:
            self.window.measure_label.setText("")

    def _on_annotation_added(self, annotation: Annotation, label: str) -> None:
        title = TOOL_TITLES.get(annotation.kind, annotation.kind)
        note = spacing_note(self.viewer.radiograph) if "mm" in label else ""
        text = f"{title}: {' '.join(label.split())}" + (f"   {note}" if note else "")
        self.window.measure_label.setText(text)

    # ----- reading list ---------------------------------------------------------------------------
    def set_list(self, paths: Sequence[str]) -> None:
        """Read these films in this order (``radiview A B C``); opens the first."""
        self.reading_list = ReadingList(paths, "command line")
        if self.reading_list.paths:
            self.window.open_file(self.reading_list.paths[0])

    def _on_batch_film_activated(self, _path: str) -> None:
        """A film opened from the batch table: read on through the table as it is sorted and
        filtered now (the most suspicious first, say)."""
        panel = self.window.batch_panel
        paths = []
        for row in range(panel.proxy.rowCount()):
            index = panel.proxy.index(row, panel.model.column("file"))
            result = panel.model.result_at(panel.proxy.mapToSource(index).row())
            paths.append(os.path.join(panel.folder, *result.file.split("/")))
        self.reading_list = ReadingList(paths, "screened list")

    def current_list(self) -> ReadingList | None:
        current = self.window.session.path
        if self.reading_list is not None and (current is None or current in self.reading_list):
            return self.reading_list
        return ReadingList.from_folder(current) if current else None

    def go(self, delta: int) -> str | None:
        """Open the next (+1) or previous (-1) film; returns its path."""
        films = self.current_list()
        step = films.step(self.window.session.path, delta) if films is not None else None
        if step is None:
            self.window.statusBar().showMessage("No film to go to: open a film first", 5000)
            return None
        where = f"{step.index + 1} of {step.count} ({films.origin if films else ''})"
        wrapped = " — wrapped round to the " + ("first" if delta > 0 else "last") if step.wrapped else ""
        self._step_message = (step.path, f"Film {where}{wrapped}")  # shown once it has loaded
        self.window.open_file(step.path)
        return step.path

    def show_file_problem(self, error: TaskError) -> None:
        """A film that would not open: say why over the film area and keep the keys there."""
        films = self.current_list()
        more = films is not None and len(films.paths) > 1
        hint = "PageDown / PageUp for the next or previous film." if more else ""
        self.file_banner.show_problem(error.path or self.window.session.path, error.message, hint)
        self.viewer.setFocus()

    def _list_stored_windows(self, radiograph: object) -> None:
        """Every window the file stores goes in the W/L list (the first is "File window")."""
        combo = self.window.preset_combo
        for index in reversed(range(combo.count())):
            if str(combo.itemData(index) or "").startswith(STORED_PRESET):
                combo.removeItem(index)
        stored = stored_windows(radiograph)  # type: ignore[arg-type]
        for number, (window, name) in enumerate(stored[1:], start=2):
            label = f"W {window.width:.0f} / L {window.center:.0f}" + (f" {name}" if name else "")
            combo.insertItem(number - 1, f"File window {number}: {label}", f"{STORED_PRESET}{number}")

    @property
    def save_annotations(self) -> bool:
        return self.habits.save_annotations

    @save_annotations.setter
    def save_annotations(self, on: bool) -> None:
        self.habits.save_annotations = on

    def _on_film_loaded(self, radiograph: object) -> None:
        self.file_banner.hide()
        self.habits.on_film_loaded(getattr(radiograph, "source", ""))
        self._list_stored_windows(radiograph)
        self.area.stack_bar.show_film(radiograph)  # type: ignore[arg-type]
        self._shown_source = getattr(radiograph, "source", "")
        self.window.measure_label.setText("")  # the previous film's value is not this one's
        source = os.path.abspath(getattr(radiograph, "source", ""))
        path, message = self._step_message
        stack = not self.area.stack_bar.isHidden()
        if stack:
            count = self.area.stack_bar.frame_count
            message = f"{count} frames: slider or Play for cine; the AI reads frame 1"
        if message and (path == source or stack):
            self.window.statusBar().showMessage(message, 8000)
        self._step_message = ("", "")
        self.viewer.setFocus()  # so the navigation keys work at once

    # ----- right viewport ---------------------------------------------------------------------------
    def choose_right_film(self) -> None:
        path = choose_film(
            self.window, "Open a comparison film in the right viewport", self.window.settings.last_dir
        )
        if path:
            self.open_right(path)

    def open_right(self, path: str) -> bool:
        try:
            radiograph = self.area.open_right(path)
        except RadiviewError as exc:
            from radiview.gui.workers import TaskError

            self.window._present_error(TaskError(0, "Cannot open the comparison film", str(exc), path))
            return False
        self.window.statusBar().showMessage(f"Right viewport: {radiograph.name} (no AI reading)", 5000)
        return True

    def reset_layout(self) -> None:
        """Docks back where they were built (all shown), one viewport, the film fitted."""
        w = self.window
        w.restoreState(self._default_dock_state)
        for dock in (w.prediction_dock, w.metadata_dock):
            dock.setFloating(False)
            dock.show()
        w.resizeDocks([w.prediction_dock], [360], Qt.Orientation.Horizontal)
        self.area.set_layout("1x1")
        self.viewer.fit_to_window()

    def shutdown(self) -> None:
        self.habits.shutdown()
        self.area.shutdown()
