"""Issue 21's tool habits: Esc cancels only the tool in progress, Ctrl+Z / Ctrl+Shift+Z undo and
redo annotations, a tool disarms after one use (Shift keeps it armed), CTR on AP or unknown
view carries the magnification caveat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from radiview.gui.tools import CTR_CAVEAT, Annotation, describe
from radiview.io import load_radiograph
from tests.gui.conftest import open_and_wait
from tests.gui.test_reading import write_tagged_dicom

CTR_POINTS = ((40, 60), (60, 60), (20, 50), (100, 50))


@pytest.fixture
def pa_film(tmp_path: Path) -> Path:
    return write_tagged_dicom(tmp_path / "pa.dcm", np.full((120, 100), 100, np.uint16))


def drag(qtbot, viewer, start, end, modifier=Qt.KeyboardModifier.NoModifier) -> None:  # type: ignore[no-untyped-def]
    viewport = viewer.viewport()
    a, b = viewer.view_point(QPointF(*start)), viewer.view_point(QPointF(*end))
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, modifier, pos=a)
    qtbot.mouseMove(viewport, pos=b)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, modifier, pos=b)


def test_esc_cancels_the_gesture_in_progress_and_never_deletes_annotations(qtbot, window, pa_film) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, pa_film, analysed=False)
    viewer = window.viewer
    viewer.measure(QPointF(10, 10), QPointF(60, 10))
    viewer.measure(QPointF(10, 20), QPointF(60, 20))
    qtbot.keyClick(viewer, "c")
    drag(qtbot, viewer, (40, 60), (60, 60))  # the heart span: half a CTR
    assert viewer.tool == "ctr" and viewer.gesture_in_progress
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    assert not viewer.gesture_in_progress and viewer.tool == "ctr"  # the half-drawn CTR is gone…
    assert len(viewer.annotations()) == 2  # …and the film's annotations are not
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)  # nothing in progress: the tool is put down
    assert viewer.tool is None and not window.reading.tool_actions["ctr"].isChecked()
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    assert len(viewer.annotations()) == 2


def test_undo_and_redo_annotations(qtbot, window, pa_film) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, pa_film, analysed=False)
    viewer = window.viewer
    viewer.measure(QPointF(10, 10), QPointF(60, 10))
    viewer.measure(QPointF(10, 20), QPointF(60, 20))
    undo = (Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    redo = (Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(viewer, *undo)
    assert [a.points[0][1] for a in viewer.annotations()] == [10]
    qtbot.keyClick(viewer, *undo)
    assert viewer.annotations() == []
    qtbot.keyClick(viewer, *undo)  # nothing left to undo: no error, nothing changes
    qtbot.keyClick(viewer, *redo)
    qtbot.keyClick(viewer, *redo)
    assert [a.points[0][1] for a in viewer.annotations()] == [10, 20]
    window._clear_measurements()  # the menu's "Clear measurements" is undoable too
    assert viewer.annotations() == []
    qtbot.keyClick(viewer, *undo)
    assert len(viewer.annotations()) == 2
    qtbot.keyClick(viewer, Qt.Key.Key_Delete)
    qtbot.keyClick(viewer, *undo)
    assert len(viewer.annotations()) == 2
    viewer.measure(QPointF(10, 30), QPointF(60, 30))  # a new annotation ends the redo branch
    qtbot.keyClick(viewer, *redo)
    assert len(viewer.annotations()) == 3


def test_a_tool_disarms_after_one_use_unless_shift_is_held(qtbot, window, pa_film) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, pa_film, analysed=False)
    viewer = window.viewer
    asked: list[tuple[float, float]] = []
    viewer.text_provider = lambda point: asked.append(point) or "nodule?"
    qtbot.keyClick(viewer, "t")
    drag(qtbot, viewer, (70, 20), (70, 20))
    assert len(asked) == 1 and viewer.tool is None
    assert not window.reading.tool_actions["text"].isChecked()
    drag(qtbot, viewer, (30, 30), (30, 30))  # the next click pans: no second Text dialog
    assert len(asked) == 1 and len(viewer.annotations()) == 1
    shift = Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(viewer, "p")
    drag(qtbot, viewer, (80, 100), (55, 70), shift)
    assert viewer.tool == "arrow" and window.reading.tool_actions["arrow"].isChecked()
    drag(qtbot, viewer, (80, 90), (55, 60))
    assert viewer.tool is None and len(viewer.annotations()) == 3


@pytest.mark.parametrize(("view", "caveat"), [("PA", False), ("AP", True), (None, True)])
def test_ctr_on_an_ap_or_unknown_view_film_carries_the_caveat(tmp_path: Path, view, caveat) -> None:  # type: ignore[no-untyped-def]
    path = write_tagged_dicom(tmp_path / "film.dcm", np.full((120, 100), 100, np.uint16))
    if view != "PA":
        import pydicom

        ds = pydicom.dcmread(path)
        if view is None:
            del ds.ViewPosition
        else:
            ds.ViewPosition = view
        ds.save_as(path)
    film = load_radiograph(path)
    text = describe(Annotation("ctr", CTR_POINTS), film)
    assert text.startswith("CTR 0.25")
    assert (CTR_CAVEAT in text) is caveat
    assert CTR_CAVEAT == "AP magnifies the heart: CTR overestimated"
