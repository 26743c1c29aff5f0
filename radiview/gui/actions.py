"""The main window's action table, menus and toolbar.

Every action is one row of ``ACTIONS``: the window attribute it becomes, its text, its slot
(a function of the window) and its keys. ``install_actions`` makes them, ``build_menus`` and
``build_toolbar`` place them; the slots stay on MainWindow (or on the viewer it holds).
``WindowActions`` declares the attributes so type checkers know what the table makes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QMenu

from radiview.io.windowing import CHEST_PRESETS

if TYPE_CHECKING:
    from radiview.gui.main_window import MainWindow

#: (preset name, key): keys 2-6 in CHEST_PRESETS order; "File" is the file's own window (space).
PRESET_KEYS = tuple(zip(CHEST_PRESETS, "23456", strict=False))

Slot = Callable[["MainWindow"], Callable[..., object]]


@dataclass(frozen=True)
class ActionSpec:
    name: str  # the MainWindow attribute
    text: str
    slot: Slot
    keys: tuple[str, ...] = ()
    checkable: bool = False
    icon_text: str = ""  # the toolbar's short text


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_action", "&Open film…", lambda w: w.choose_file, ("Ctrl+O",), icon_text="Open"),
    ActionSpec(
        "open_folder_action",
        "Screen a &folder…",
        lambda w: w.choose_folder,
        ("Ctrl+Shift+O",),
        icon_text="Screen folder",
    ),
    ActionSpec("open_pacs_action", "Open from &PACS…", lambda w: w.show_pacs_dialog, ("Ctrl+Shift+P",)),
    ActionSpec(
        "export_png_action",
        "Export view as &PNG…",
        lambda w: lambda: w.choose_export("png"),
        ("Ctrl+E",),
        icon_text="Export",
    ),
    ActionSpec(
        "export_pdf_action",
        "Export view as P&DF…",
        lambda w: lambda: w.choose_export("pdf"),
        ("Ctrl+Shift+E",),
    ),
    ActionSpec(
        "strip_action", "Strip patient identifiers from exports", lambda w: w._on_strip_toggled, (), True
    ),
    ActionSpec("close_film_action", "&Close film", lambda w: w.close_film, ("Ctrl+W",)),
    ActionSpec("settings_action", "&Settings…", lambda w: w.show_settings, ("Ctrl+,",)),
    ActionSpec("quit_action", "&Quit", lambda w: w.close, ("Ctrl+Q",)),
    ActionSpec("zoom_in_action", "Zoom &in", lambda w: w.viewer.zoom_in, ("+", "Ctrl++"), icon_text="Zoom +"),
    ActionSpec(
        "zoom_out_action", "Zoom &out", lambda w: w.viewer.zoom_out, ("-", "Ctrl+-"), icon_text="Zoom −"
    ),
    ActionSpec("fit_action", "&Fit to window", lambda w: w.viewer.fit_to_window, ("=",), icon_text="Fit"),
    ActionSpec(
        "actual_size_action", "&Actual size (1:1)", lambda w: w.viewer.actual_size, ("1",), icon_text="1:1"
    ),
    ActionSpec("reset_window_action", "&Reset to file window", lambda w: w.viewer.reset_window, ("Space",)),
    ActionSpec("invert_action", "&Invert", lambda w: w.viewer.set_inverted, ("I",), True, "Invert"),
    ActionSpec(
        "rotate_cw_action",
        "Rotate &clockwise",
        lambda w: lambda: w.viewer.rotate_by(90),
        ("R",),
        icon_text="Rotate",
    ),
    ActionSpec(
        "rotate_ccw_action",
        "Rotate counter-clockwise",
        lambda w: lambda: w.viewer.rotate_by(-90),
        ("Shift+R",),
    ),
    ActionSpec(
        "flip_h_action", "Flip &horizontally", lambda w: w.viewer.flip_horizontal, ("F",), icon_text="Flip"
    ),
    ActionSpec("flip_v_action", "Flip &vertically", lambda w: w.viewer.flip_vertical, ("V",)),
    ActionSpec("reset_view_action", "Reset orientation", lambda w: w.viewer.reset_view, ("0",)),
    ActionSpec("heatmap_action", "Show &heatmap", lambda w: w._on_heatmap_action, ("H",), True, "Heatmap"),
    ActionSpec(
        "ruler_action", "&Ruler (measure distance)", lambda w: w._on_ruler_action, ("M",), True, "Ruler"
    ),
    ActionSpec("clear_measure_action", "Clear measurements", lambda w: w._clear_measurements, ("Esc",)),
    ActionSpec("shortcuts_action", "&Keyboard shortcuts", lambda w: w.show_shortcuts, ("F1",)),
    ActionSpec("about_action", "&About RadiView", lambda w: w.show_about),
    ActionSpec("about_qt_action", "About &Qt", lambda _w: QApplication.aboutQt),
)


class WindowActions:
    """What ``install_actions``, ``build_menus`` and ``build_toolbar`` set on the window."""

    open_action: QAction
    open_folder_action: QAction
    open_pacs_action: QAction
    export_png_action: QAction
    export_pdf_action: QAction
    strip_action: QAction
    close_film_action: QAction
    settings_action: QAction
    quit_action: QAction
    zoom_in_action: QAction
    zoom_out_action: QAction
    fit_action: QAction
    actual_size_action: QAction
    reset_window_action: QAction
    invert_action: QAction
    rotate_cw_action: QAction
    rotate_ccw_action: QAction
    flip_h_action: QAction
    flip_v_action: QAction
    reset_view_action: QAction
    heatmap_action: QAction
    ruler_action: QAction
    clear_measure_action: QAction
    shortcuts_action: QAction
    about_action: QAction
    about_qt_action: QAction
    preset_actions: dict[str, QAction]
    file_menu: QMenu
    recent_menu: QMenu
    view_menu: QMenu
    tools_menu: QMenu
    preset_combo: QComboBox


def make_action(
    window: MainWindow, text: str, slot: Callable[..., object], keys: tuple[str, ...], checkable: bool
) -> QAction:
    action = QAction(text, window)
    action.setShortcuts([QKeySequence(k) for k in keys])
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    action.setCheckable(checkable)
    action.triggered.connect(slot)
    window.addAction(action)  # shortcuts work even when the toolbar/menu is hidden
    return action


def install_actions(window: MainWindow) -> None:
    """Every row of ``ACTIONS`` (and one per W/L preset) as an attribute of ``window``."""
    for spec in ACTIONS:
        action = make_action(window, spec.text, spec.slot(window), spec.keys, spec.checkable)
        if spec.icon_text:
            action.setIconText(spec.icon_text)
        setattr(window, spec.name, action)
        if spec.name == "reset_window_action":  # the presets follow it (menu and F1 list order)
            window.preset_actions = {
                name: make_action(
                    window,
                    f"Preset: {name}",
                    lambda _=False, n=name: window.viewer.apply_preset(n),
                    (key,),
                    False,
                )
                for name, key in PRESET_KEYS
            }
    window.strip_action.setChecked(window.settings.strip_identifiers)


def build_menus(window: MainWindow) -> None:
    w = window
    menu = w.menuBar()
    w.file_menu = menu.addMenu("&File")
    w.file_menu.addAction(w.open_action)
    w.recent_menu = QMenu("Open &recent", w)
    w.recent_menu.aboutToShow.connect(w._fill_recent_menu)
    w.file_menu.addMenu(w.recent_menu)
    _add(w.file_menu, w.open_folder_action, w.open_pacs_action, None)
    _add(w.file_menu, w.export_png_action, w.export_pdf_action, w.strip_action, None)
    _add(w.file_menu, w.close_film_action, w.settings_action, None, w.quit_action)

    w.view_menu = menu.addMenu("&View")
    _add(w.view_menu, w.zoom_in_action, w.zoom_out_action, w.fit_action, w.actual_size_action, None)
    wl_menu = w.view_menu.addMenu("&Window / level")
    _add(wl_menu, w.reset_window_action, *w.preset_actions.values())
    _add(w.view_menu, w.invert_action, None)
    _add(w.view_menu, w.rotate_cw_action, w.rotate_ccw_action, w.flip_h_action, w.flip_v_action)
    _add(w.view_menu, w.reset_view_action, None, w.heatmap_action, None)
    _add(w.view_menu, w.prediction_dock.toggleViewAction(), w.metadata_dock.toggleViewAction())

    w.tools_menu = menu.addMenu("&Tools")
    _add(w.tools_menu, w.ruler_action, w.clear_measure_action, w.open_folder_action)
    _add(menu.addMenu("&Help"), w.shortcuts_action, w.about_action, w.about_qt_action)


def build_toolbar(window: MainWindow) -> None:
    w = window
    bar = w.addToolBar("Main")
    bar.setObjectName("mainToolbar")
    bar.setMovable(False)
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    bar.addActions([w.open_action, w.open_folder_action])
    bar.addSeparator()
    bar.addActions([w.fit_action, w.actual_size_action, w.zoom_in_action, w.zoom_out_action])
    bar.addSeparator()
    bar.addWidget(QLabel(" W/L "))
    w.preset_combo = QComboBox()
    w.preset_combo.addItem("File window (Space)", "File")
    for name, key in PRESET_KEYS:
        w.preset_combo.addItem(f"{name} ({key})", name)
    w.preset_combo.addItem("Custom", "Custom")
    w.preset_combo.setToolTip("Window/level presets for chest films (right-drag for manual W/L)")
    w.preset_combo.activated.connect(w._on_preset_combo_activated)
    bar.addWidget(w.preset_combo)
    bar.addAction(w.invert_action)
    bar.addSeparator()
    bar.addActions([w.rotate_cw_action, w.flip_h_action])
    bar.addSeparator()
    bar.addActions([w.heatmap_action, w.ruler_action])
    bar.addSeparator()
    bar.addAction(w.export_png_action)


def _add(menu: QMenu, *actions: QAction | None) -> None:
    """Append ``actions`` to ``menu``; None is a separator."""
    for action in actions:
        if action is None:
            menu.addSeparator()
        else:
            menu.addAction(action)


def shortcut_rows(window: MainWindow) -> list[tuple[str, str]]:
    """(keys, action) for the F1 list: every action of the window and of the film stack."""
    rows = []
    for action in [*window.actions(), *window.viewer_area.films.actions()]:  # + next/previous film
        keys = [s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()]
        if keys:
            rows.append((" / ".join(keys), action.text().replace("&", "")))
    return rows


def fill_recent_menu(window: MainWindow) -> None:
    menu = window.recent_menu
    menu.clear()
    for path in window.settings.recent_files:
        action = menu.addAction(path)
        action.triggered.connect(lambda _=False, p=path: window.open_file(p))
    if not window.settings.recent_files:
        menu.addAction("(none)").setEnabled(False)
