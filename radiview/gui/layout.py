"""The film area: a frame slider with cine for multi-frame films, and a 1×1 or 1×2 layout.

The left viewport is the active film: the one the AI reads, exports and the side panels
describe. In 1×2 the right viewport shows a comparison film (a prior, say), opened with
"Open in right viewport…"; it gets no AI reading. Window/level and zoom are linked both ways:
a named preset is applied to each film by name (presets are percentiles of each film's own
values), a manual window by value.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QSettings, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from radiview.errors import RadiviewError
from radiview.gui.viewer import FilmViewer
from radiview.io import load_radiograph, read_dicom_frames
from radiview.io.radiograph import Radiograph
from radiview.settings import config_dir

log = logging.getLogger("radiview.gui")

DEFAULT_CINE_FPS = 10


class _FrameSignals(QObject):
    loaded = Signal(str, object)  # source, tuple[Radiograph, ...]
    failed = Signal(str, str)  # source, message


class _FramesJob(QRunnable):
    """Decodes every frame off the GUI thread (a cine of a large film takes a while)."""

    def __init__(self, source: str, signals: _FrameSignals) -> None:
        super().__init__()
        self.source, self.signals = source, signals

    def run(self) -> None:
        try:
            frames = read_dicom_frames(self.source)
        except RadiviewError as exc:
            self.signals.failed.emit(self.source, str(exc))
            return
        except Exception as exc:  # never let a worker die silently
            self.signals.failed.emit(self.source, f"{Path(self.source).name}: frames not read ({exc})")
            return
        self.signals.loaded.emit(self.source, frames)


class FrameStackBar(QWidget):
    """Frame slider, play/stop and speed for a multi-frame film; hidden for single frames."""

    frame_shown = Signal(int)  # 0-based index now on screen
    frames_failed = Signal(str)

    def __init__(self, viewer: FilmViewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.frames: tuple[Radiograph, ...] = ()
        self._source = ""
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _FrameSignals(self)
        self._signals.loaded.connect(self._on_loaded)
        self._signals.failed.connect(self._on_failed)
        self.cine_timer = QTimer(self)
        self.cine_timer.timeout.connect(self.step)

        row = QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 2)
        self.play_button = QPushButton("▶ Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self.set_playing)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.slider.valueChanged.connect(self.show_frame)
        self.fps_spin = QSpinBox()
        self.fps_spin.setRange(1, 60)
        self.fps_spin.setValue(DEFAULT_CINE_FPS)
        self.fps_spin.setSuffix(" fps")
        self.fps_spin.valueChanged.connect(lambda fps: self.cine_timer.setInterval(round(1000 / fps)))
        self.cine_timer.setInterval(round(1000 / DEFAULT_CINE_FPS))
        self.frame_label = QLabel("")
        self.note_label = QLabel("AI reading: frame 1 only")
        self.note_label.setStyleSheet("color: #c08000;")
        for widget in (self.play_button, self.slider, self.frame_label, self.fps_spin, self.note_label):
            row.addWidget(widget, 1 if widget is self.slider else 0)
        self.hide()

    @property
    def frame_count(self) -> int:
        return self.slider.maximum() + 1

    @property
    def frame_index(self) -> int:
        return self.slider.value()

    def show_film(self, radiograph: Radiograph | None) -> None:
        """A new film in the left viewport: start loading its frames if it has several."""
        self.set_playing(False)
        self.frames = ()
        count = _frame_count(radiograph)
        if radiograph is None or count <= 1:
            self._source = ""
            self.hide()
            return
        self._source = radiograph.source
        self.slider.blockSignals(True)
        self.slider.setRange(0, count - 1)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.frame_label.setText(f"Loading {count} frames…")
        self.setEnabled(False)
        self.show()
        self._pool.start(_FramesJob(self._source, self._signals))

    def _on_loaded(self, source: str, frames: tuple[Radiograph, ...]) -> None:
        if source != self._source:
            return  # the user has moved on to another film
        self.frames = frames
        self.slider.setRange(0, len(frames) - 1)
        self.setEnabled(True)
        self._label()

    def _on_failed(self, source: str, message: str) -> None:
        if source == self._source:
            self.frame_label.setText("frames not readable")
            self.frames_failed.emit(message)

    def show_frame(self, index: int) -> None:
        if not self.frames or not 0 <= index < len(self.frames):
            return
        # the AI read the first frame (load_radiograph's), so its heatmap shows on that one only
        self.viewer.set_frame(self.frames[index], f"Frame {index + 1}/{len(self.frames)}", index == 0)
        self._label()
        self.frame_shown.emit(index)

    def step(self) -> None:
        """The next frame (cine wraps round to the first)."""
        if self.frames:
            self.slider.setValue((self.slider.value() + 1) % len(self.frames))

    def set_playing(self, playing: bool) -> None:
        playing = playing and bool(self.frames)
        if playing:
            self.cine_timer.start()
        else:
            self.cine_timer.stop()
        self.play_button.blockSignals(True)
        self.play_button.setChecked(playing)
        self.play_button.setText("■ Stop" if playing else "▶ Play")
        self.play_button.blockSignals(False)

    @property
    def playing(self) -> bool:
        return self.cine_timer.isActive()

    def _label(self) -> None:
        self.frame_label.setText(f"Frame {self.slider.value() + 1} / {len(self.frames)}")

    def shutdown(self) -> None:
        self.set_playing(False)
        self._source = ""
        self._pool.waitForDone(10000)


def _frame_count(radiograph: Radiograph | None) -> int:
    if radiograph is None or radiograph.kind != "dicom":
        return 1
    try:
        return int(radiograph.metadata.get("frames", "1"))
    except ValueError:
        return 1


class ViewerArea(QWidget):
    """The Film tab: frame bar over one or two viewports."""

    layout_changed = Signal(str)  # "1x1" or "1x2"

    def __init__(self, viewer: FilmViewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.right_viewer = FilmViewer()
        self.stack_bar = FrameStackBar(viewer)
        self.films = QWidget()  # navigation keys live here (not on the frame slider)
        self.left_caption = QLabel("Active film: the AI reading applies to this one")
        self.right_caption = QLabel("Comparison film: no AI reading. File ▸ Open in right viewport…")
        for caption in (self.left_caption, self.right_caption):
            caption.setStyleSheet("background: #202020; color: #d0d0c0; padding: 2px 6px;")
            # a long file name must not widen its viewport (the split stays half and half)
            caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(_captioned(self.left_caption, viewer))
        self._right_holder = _captioned(self.right_caption, self.right_viewer)
        self.splitter.addWidget(self._right_holder)
        films_layout = QVBoxLayout(self.films)
        films_layout.setContentsMargins(0, 0, 0, 0)
        films_layout.addWidget(self.splitter)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.stack_bar)
        column.addWidget(self.films, 1)
        self._linking = False
        self.linked = True
        for source, target in ((viewer, self.right_viewer), (self.right_viewer, viewer)):
            source.window_changed.connect(lambda _w, s=source, t=target: self._link_window(s, t))
            source.zoom_changed.connect(lambda _z, s=source, t=target: self._link_zoom(s, t))
        self.set_layout("1x1")

    def set_layout(self, name: str) -> None:
        two = name == "1x2"
        self.layout_name = "1x2" if two else "1x1"
        self._right_holder.setVisible(two)
        self.left_caption.setVisible(two)
        if two:  # half and half, also when the widgets are not laid out yet
            QTimer.singleShot(0, self._halve)
            self._halve()
        self.layout_changed.emit("1x2" if two else "1x1")

    def _halve(self) -> None:
        total = max(self.splitter.width(), 2)
        self.splitter.setSizes([total // 2, total - total // 2])

    def open_right(self, path: str) -> Radiograph:
        """Show ``path`` in the right viewport (switching to 1×2); RadiviewError if unreadable."""
        radiograph = load_radiograph(path)
        self.set_layout("1x2")
        self.right_viewer.set_radiograph(radiograph)
        self.right_caption.setText(f"Comparison film (no AI reading): {radiograph.name}")
        self._link_window(self.viewer, self.right_viewer)
        self._link_zoom(self.viewer, self.right_viewer)
        return radiograph

    def _link_window(self, source: FilmViewer, target: FilmViewer) -> None:
        if self._linking or not self.linked or source.display_window is None or target.radiograph is None:
            return
        self._linking = True
        try:
            preset = source.preset
            if preset == "File":
                target.reset_window()
            elif preset and preset != "Custom":
                target.apply_preset(preset)
            else:
                target.set_window(source.display_window)
        finally:
            self._linking = False

    def _link_zoom(self, source: FilmViewer, target: FilmViewer) -> None:
        if self._linking or not self.linked or target.radiograph is None or source.radiograph is None:
            return
        self._linking = True
        try:
            if source.fitted:
                target.fit_to_window()
            else:
                target.zoom_by(source.scale_factor() / max(target.scale_factor(), 1e-9))
        finally:
            self._linking = False

    def shutdown(self) -> None:
        self.stack_bar.shutdown()


def _captioned(caption: QLabel, viewer: FilmViewer) -> QWidget:
    holder = QWidget()
    column = QVBoxLayout(holder)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(0)
    column.addWidget(caption)
    column.addWidget(viewer, 1)
    return holder


def add_dock(
    window: QMainWindow, title: str, widget: QWidget, name: str, scroll: bool = False
) -> QDockWidget:
    """A movable, closable dock on the right of ``window``; ``scroll`` wraps ``widget``."""
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    if scroll:
        # Word-wrapped labels (the gate's reason) make the panel taller than a short dock;
        # scroll instead of squeezing the combo boxes until their text is cut.
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setWidget(widget)
        # Never narrower than the panel's own minimum: the dock cannot clip its text.
        area.setMinimumWidth(widget.minimumWidth() + area.verticalScrollBar().sizeHint().width())
        widget = area
    dock.setWidget(widget)
    dock.setFeatures(
        QDockWidget.DockWidgetFeature.DockWidgetMovable
        | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        | QDockWidget.DockWidgetFeature.DockWidgetClosable
    )
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    return dock


def _window_state_file() -> QSettings:
    return QSettings(str(config_dir() / "window.ini"), QSettings.Format.IniFormat)


def restore_window_state(window: QMainWindow) -> None:
    """The window's size, place, docks and toolbar as the user left them (window.ini)."""
    state = _window_state_file()
    geometry = state.value("geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    layout = state.value("state")
    if layout is not None:
        window.restoreState(layout)


def save_window_state(window: QMainWindow) -> None:
    state = _window_state_file()
    state.setValue("geometry", window.saveGeometry())
    state.setValue("state", window.saveState())
    state.sync()
