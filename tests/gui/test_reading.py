"""The reading room through the real window: corner annotations, next/previous film, the
command-line list, multi-frame cine and the 1×2 layout with linked W/L and zoom."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from radiview.gui.annotations import orientation_markers
from radiview.gui.qimage import qimage_to_array
from radiview.io import Window
from radiview.settings import load_settings
from tests.gui.conftest import PATIENT_ID, film_pixels, open_and_wait, write_dicom


def write_tagged_dicom(path: Path, pixels: np.ndarray, **tags: object) -> Path:
    """The GUI factory's DICOM plus extra header tags (PatientOrientation, frames…)."""
    import pydicom

    frames = pixels if pixels.ndim == 3 else None
    write_dicom(path, pixels[0] if frames is not None else pixels)
    ds = pydicom.dcmread(path)
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    if frames is not None:
        ds.NumberOfFrames = len(frames)
        ds.PixelData = np.ascontiguousarray(frames, dtype=np.uint16).tobytes()
    ds.save_as(path)
    return path


@pytest.fixture
def oriented(tmp_path: Path) -> Path:
    return write_tagged_dicom(
        tmp_path / "oriented.dcm",
        film_pixels(),
        PatientOrientation=["L", "F"],
        PatientAge="054Y",
        PatientSex="F",
        InstitutionName="St Elsewhere",
        StudyDescription="Chest PA",
    )


# ----------------------------------------------------------------------------- corners


def test_corner_text_from_a_generated_dicom(qtbot, window, oriented) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, oriented, analysed=False)
    corners = window.viewer.corner_text()
    assert corners.lines["top_left"] == ("Doe Jane", f"ID {PATIENT_ID}", "54Y F")
    assert corners.lines["top_right"] == ("St Elsewhere", "2024-01-02", "Chest PA")
    assert corners.lines["bottom_right"][0] == "View PA"
    assert corners.markers == {"right": "L", "left": "R", "bottom": "F", "top": "H"}
    # The markers follow the film: rotated clockwise, the head is on the right.
    qtbot.keyClick(window.viewer, "r")
    assert window.viewer.corner_text().markers == {"right": "H", "left": "F", "top": "R", "bottom": "L"}
    qtbot.keyClick(window.viewer, "0")
    qtbot.keyClick(window.viewer, "f")
    assert window.viewer.corner_text().markers["right"] == "R"
    # Stripping identifiers (exports) keeps only the technical fields.
    stripped = window.viewer.corner_text(strip_identifiers=True)
    assert stripped.lines["top_left"] == () and "Doe Jane" not in str(stripped)
    assert stripped.markers and stripped.lines["bottom_left"][-1].startswith("W ")


def test_orientation_markers_need_a_valid_tag() -> None:
    assert orientation_markers("", (1, 0, 0, 1)) == {}
    assert orientation_markers("X\\Q", (1, 0, 0, 1)) == {}
    assert orientation_markers("P\\F", (1, 0, 0, 1))["left"] == "A"  # a lateral: anterior on the left
    assert orientation_markers("LP\\F", (-1, 0, 0, 1))["right"] == "RA"  # mirrored oblique


@pytest.mark.realdata
def test_corner_text_from_real_dicoms(qtbot, window, data_dir) -> None:  # type: ignore[no-untyped-def]
    nih = next((data_dir / "dicom").glob("nih-cxr14_*.dcm"))
    open_and_wait(qtbot, window, nih, analysed=False)
    lines = window.viewer.corner_text().lines
    assert lines["top_left"] == ("Covid0000", "ID Covid0000", "81Y M")
    assert lines["top_right"] == ("No Finding",)  # its StudyDescription; no date in the file
    siim = next((data_dir / "dicom").glob("siim-acr_1.*.dcm"))
    open_and_wait(qtbot, window, siim, analysed=False)
    lines = window.viewer.corner_text().lines
    assert lines["top_left"][2] == "62Y M" and lines["top_right"][0] == "1901-01-01"
    assert "View PA" in lines["bottom_right"]
    assert window.viewer.corner_text().markers == {}  # PatientOrientation is empty: no guessing


def test_key_a_hides_the_corners_without_touching_the_film(qtbot, window, oriented) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, oriented, analysed=False)
    film_before = qimage_to_array(window.viewer.displayed_image())
    shown = qimage_to_array(window.viewer.grab().toImage())
    qtbot.keyClick(window.viewer, "a")
    assert not window.viewer.corners_visible and not window.reading.corners_action.isChecked()
    window.viewer.viewport().repaint()
    hidden = qimage_to_array(window.viewer.grab().toImage())
    np.testing.assert_array_equal(qimage_to_array(window.viewer.displayed_image()), film_before)
    top_left = (slice(0, 50), slice(0, 120))  # where "Doe Jane / ID MRN-4711" is painted
    assert np.abs(shown[top_left].astype(int) - hidden[top_left].astype(int)).max() > 100
    assert load_settings().corners_visible is False  # remembered
    qtbot.keyClick(window.viewer, "a")
    assert window.viewer.corners_visible


def test_settings_choose_the_corner_fields(qtbot, window, oriented) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, oriented, analysed=False)
    window.apply_new_settings(replace(window.settings, corner_fields=("window", "markers")))
    window.viewer.set_window(Window(center=1000.0, width=500.0))
    lines = window.viewer.overlay_lines()
    assert lines == {"top_left": [], "top_right": [], "bottom_left": ["W 500  L 1000"], "bottom_right": []}
    assert window.viewer.corner_text().markers["right"] == "L"
    dialog = window.show_settings()
    assert dialog.corner_fields_editor.fields() == ("markers", "window")
    dialog.corner_fields_editor.checks["patient"].setChecked(True)
    assert "patient" in dialog.settings.corner_fields
    dialog.reject()


# ----------------------------------------------------------------------------- next / previous


@pytest.fixture
def three_films(tmp_path: Path) -> list[Path]:
    from PIL import Image

    folder = tmp_path / "reading"
    folder.mkdir()
    paths = []
    for index, name in enumerate(("a.png", "b.png", "c.png")):
        Image.fromarray((film_pixels(seed=index) // 16).astype(np.uint8)).save(folder / name)
        paths.append(folder / name)
    (folder / "notes.txt").write_text("not a film")
    return paths


def shown_name(window) -> str:  # type: ignore[no-untyped-def]
    return Path(window.session.radiograph.source).name


def step(qtbot, window, key) -> str:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.film_loaded, timeout=60000):
        qtbot.keyClick(window.viewer, key)
    return shown_name(window)


def test_next_and_previous_in_the_folder_wrap_round(qtbot, window, three_films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, three_films[1], analysed=False)
    assert step(qtbot, window, Qt.Key.Key_PageDown) == "c.png"
    assert step(qtbot, window, Qt.Key.Key_PageDown) == "a.png"  # wrapped
    assert "wrapped round to the first" in window.statusBar().currentMessage()
    assert step(qtbot, window, Qt.Key.Key_PageUp) == "c.png"  # wrapped back
    assert step(qtbot, window, Qt.Key.Key_Up) == "b.png"
    assert step(qtbot, window, Qt.Key.Key_Right) == "c.png"
    assert step(qtbot, window, Qt.Key.Key_Left) == "b.png"
    assert step(qtbot, window, Qt.Key.Key_Down) == "c.png"


def test_command_line_list_is_read_in_its_order(qtbot, window, three_films) -> None:  # type: ignore[no-untyped-def]
    a, b, c = (str(p) for p in three_films)
    with qtbot.waitSignal(window.film_loaded, timeout=60000):
        window.open_paths([c, a, b])  # radiview C A B (radiview.gui.app.run_app passes argv here)
    assert shown_name(window) == "c.png"
    assert [step(qtbot, window, Qt.Key.Key_PageDown) for _ in range(3)] == ["a.png", "b.png", "c.png"]
    assert window.reading.current_list().origin == "command line"
    rows = dict(window.shortcut_rows())  # F1 lists the film-area keys too
    assert rows["PgDown / Down / Right"] == "Next film" and rows["A"] == "Corner annotations"


def test_screened_list_is_read_in_the_table_order(qtbot, window, three_films) -> None:  # type: ignore[no-untyped-def]
    folder = three_films[0].parent
    with qtbot.waitSignal(window.screening_finished, timeout=120000):
        window.start_screening(str(folder), True)
    panel = window.batch_panel
    panel.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)  # c, b, a
    with qtbot.waitSignal(window.film_loaded, timeout=60000):
        panel.table.doubleClicked.emit(panel.proxy.index(0, 0))
    assert shown_name(window) == "c.png" and window.reading.current_list().origin == "screened list"
    assert [step(qtbot, window, Qt.Key.Key_PageDown) for _ in range(3)] == ["b.png", "a.png", "c.png"]


def test_arrow_keys_keep_their_meaning_outside_the_film(qtbot, window, three_films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, three_films[0], analysed=False)
    window.preset_combo.setFocus()
    qtbot.keyClick(window.preset_combo, Qt.Key.Key_Down)
    qtbot.wait(200)
    assert shown_name(window) == "a.png"  # the combo box took the key, not the film list


# ----------------------------------------------------------------------------- multi-frame


def test_multi_frame_stack_and_cine(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = film_pixels(maximum=3000)  # a chest-like film the model reads, brighter each frame
    frames = np.stack([base + 200 * i for i in range(5)]).astype(np.uint16)
    path = write_tagged_dicom(tmp_path / "cine.dcm", frames)
    open_and_wait(qtbot, window, path)  # analysed: frame 1 has its heatmap
    bar = window.viewer_area.stack_bar
    qtbot.waitUntil(lambda: len(bar.frames) == 5, timeout=20000)
    assert window.viewer.has_heatmap()
    assert not bar.isHidden() and bar.isEnabled()
    bar.slider.setValue(3)
    assert window.viewer.radiograph.pixels[10, 10] == base[10, 10] + 600  # frame 4
    assert not window.viewer.has_heatmap()  # the AI did not read this frame
    assert "Frame 4/5" in window.viewer.corner_text().lines["bottom_left"]
    window.viewer.set_window(Window(center=1200.0, width=300.0))
    seen: list[int] = []
    bar.frame_shown.connect(seen.append)
    bar.play_button.click()
    assert bar.playing and bar.play_button.text() == "■ Stop"
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=5000)
    bar.play_button.click()
    assert not bar.playing
    assert seen[:3] == [4, 0, 1]  # advances one frame a tick and wraps round
    assert window.viewer.display_window == Window(center=1200.0, width=300.0)  # cine keeps W/L
    bar.slider.setValue(0)
    assert window.viewer.has_heatmap()  # back on the frame the AI read
    assert window.session.radiograph.metadata["frame"] == "1"  # the AI read frame 1 only
    assert bar.note_label.text() == "AI reading: frame 1 only"
    open_and_wait(qtbot, window, three_frames_free_film(tmp_path), analysed=False)
    assert bar.isHidden()


def three_frames_free_film(tmp_path: Path) -> Path:
    return write_dicom(tmp_path / "single.dcm", film_pixels())


# ----------------------------------------------------------------------------- 1×2 layout


def test_one_by_two_links_window_level_and_zoom(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["dicom_m2"], analysed=False)
    area = window.viewer_area
    assert area.layout_name == "1x1" and area.right_viewer.parentWidget().isHidden()
    assert window.reading.open_right(str(films["dicom_window"]))
    assert area.layout_name == "1x2" and window.reading.layout_actions["1x2"].isChecked()
    right = area.right_viewer
    assert right.radiograph.name == "windowed.dcm" and window.session.radiograph.name == "m2.dcm"
    window.viewer.set_window(Window(center=1800.0, width=640.0))
    assert right.display_window == Window(center=1800.0, width=640.0)
    right.set_window(Window(center=1500.0, width=300.0))  # and back the other way
    assert window.viewer.display_window == Window(center=1500.0, width=300.0)
    qtbot.keyClick(window.viewer, "4")  # Lung preset: by name, on each film's own values
    assert right.preset == "Lung"
    window.viewer.zoom_in()
    assert right.scale_factor() == pytest.approx(window.viewer.scale_factor(), rel=1e-6)
    window.reading.layout_actions["1x1"].trigger()
    assert area.layout_name == "1x1"


def test_bad_comparison_film_is_a_clear_error(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["png8"], analysed=False)
    with qtbot.waitSignal(window.error_shown, timeout=5000) as blocker:
        assert not window.reading.open_right(str(films["garbage"]))
    assert "garbage.png" in blocker.args[0].message
    assert window.viewer_area.right_viewer.radiograph is None


def test_reset_layout_brings_the_docks_back(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.resize(1280, 720)
    window.prediction_dock.setFloating(True)
    window.metadata_dock.close()
    window.viewer_area.set_layout("1x2")
    window.reading.reset_layout_action.trigger()
    qtbot.waitUntil(lambda: window.metadata_dock.isVisible(), timeout=5000)
    assert not window.prediction_dock.isFloating() and window.prediction_dock.isVisible()
    assert window.dockWidgetArea(window.prediction_dock) == Qt.DockWidgetArea.RightDockWidgetArea
    assert window.prediction_dock.width() >= 300
    assert window.viewer_area.layout_name == "1x1"
