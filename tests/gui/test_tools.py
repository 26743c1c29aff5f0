"""Reading tools on known geometry: values, mouse gestures, persistence, the spacing note,
export with annotations, and the Bone preset on real films."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from radiview.gui.qimage import qimage_to_array
from radiview.gui.tools import (
    Annotation,
    cardiothoracic_ratio,
    describe,
    measure_angle,
    measure_distance,
    measure_roi,
)
from radiview.io import Window, load_radiograph
from tests.gui.conftest import film_pixels, open_and_wait
from tests.gui.test_reading import write_tagged_dicom


@pytest.fixture
def calibrated(tmp_path: Path) -> Path:
    """Left half 100, right half 300; PixelSpacing 0.5 (row) × 0.4 (column) mm, calibrated."""
    pixels = np.full((120, 100), 100, np.uint16)
    pixels[:, 50:] = 300
    return write_tagged_dicom(tmp_path / "calibrated.dcm", pixels, PixelSpacingCalibrationType="GEOMETRY")


def drag(qtbot, viewer, start, end) -> None:  # type: ignore[no-untyped-def]
    viewport = viewer.viewport()
    a, b = viewer.view_point(QPointF(*start)), viewer.view_point(QPointF(*end))
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(viewport, pos=b)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=b)


def test_values_on_known_geometry(calibrated: Path) -> None:
    film = load_radiograph(calibrated)
    assert film.spacing_calibrated
    assert measure_distance((10, 10), (60, 10), film).length == pytest.approx(50 * 0.4)
    assert measure_distance((10, 10), (10, 70), film).length == pytest.approx(60 * 0.5)
    assert str(measure_distance((10, 10), (60, 10), film)) == "20.0 mm"  # calibrated: no asterisk
    # Angles are physical: 10 columns (4 mm) against 8 rows (4 mm) is 45°, not atan(8/10).
    assert measure_angle((20, 10), (10, 10), (10, 30), film) == pytest.approx(90.0)
    assert measure_angle((20, 10), (10, 10), (20, 18), film) == pytest.approx(45.0)
    assert measure_angle((20, 10), (10, 10), (20, 18), None) == pytest.approx(38.66, abs=0.01)
    stats = measure_roi(film, "roi_rect", (30, 0), (70, 120))  # 20 columns of 100, 20 of 300
    assert (stats.mean, stats.sd, stats.pixels) == (pytest.approx(200.0), pytest.approx(100.0), 4800)
    assert stats.area == pytest.approx(4800 * 0.5 * 0.4) and stats.area_unit == "mm²"
    ellipse = measure_roi(film, "roi_ellipse", (0, 0), (40, 40))  # all in the 100 half
    assert ellipse.mean == 100.0 and ellipse.sd == 0.0
    assert ellipse.pixels == pytest.approx(np.pi * 20 * 20, rel=0.03)
    assert measure_roi(film, "roi_rect", (-10, -10), (10, 10)).pixels == 100  # clipped to the film
    assert measure_roi(film, "roi_rect", (200, 200), (220, 220)).pixels == 0  # wholly outside
    assert cardiothoracic_ratio(((40, 60), (60, 60)), ((20, 50), (100, 50))) == pytest.approx(0.25)
    assert describe(Annotation("ctr", ((40, 60), (60, 60), (20, 50), (100, 50))), film) == "CTR 0.25"


def test_tool_gestures_through_the_window(qtbot, window, calibrated) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, calibrated, analysed=False)
    viewer = window.viewer
    qtbot.keyClick(viewer, "g")  # angle: drag the first arm to the vertex, click the end
    assert viewer.tool == "angle" and window.reading.tool_actions["angle"].isChecked()
    drag(qtbot, viewer, (20, 10), (10, 10))
    assert viewer.annotations() == []  # waiting for the third point
    drag(qtbot, viewer, (10, 30), (10, 30))
    angle = viewer.annotations()[-1]
    assert angle.kind == "angle"
    assert measure_angle(*angle.points, viewer.radiograph) == pytest.approx(90, abs=2)
    assert window.measure_label.text().startswith("Angle: ")

    qtbot.keyClick(viewer, "c")  # CTR: heart span, then thoracic span; spans are horizontal
    assert viewer.tool == "ctr" and not window.reading.tool_actions["angle"].isChecked()
    drag(qtbot, viewer, (40, 60), (60, 66))
    drag(qtbot, viewer, (20, 50), (100, 44))
    ctr = viewer.annotations()[-1]
    assert ctr.points[1][1] == ctr.points[0][1] and ctr.points[3][1] == ctr.points[2][1]
    assert describe(ctr, viewer.radiograph) == "CTR 0.25"
    assert window.measure_label.text() == "Cardiothoracic ratio: CTR 0.25"

    qtbot.keyClick(viewer, "o")  # ellipse ROI
    drag(qtbot, viewer, (0, 0), (40, 40))
    assert describe(viewer.annotations()[-1], viewer.radiograph).startswith("mean 100.0  SD 0.0")
    qtbot.keyClick(viewer, Qt.Key.Key_O, Qt.KeyboardModifier.ShiftModifier)  # rectangle ROI
    assert viewer.tool == "roi_rect"
    qtbot.keyClick(viewer, "p")  # arrow
    drag(qtbot, viewer, (80, 100), (55, 70))
    assert viewer.annotations()[-1].kind == "arrow"
    viewer.text_provider = lambda _point: "effusion?"
    qtbot.keyClick(viewer, "t")
    drag(qtbot, viewer, (70, 20), (70, 20))
    assert viewer.annotations()[-1] == Annotation("text", viewer.annotations()[-1].points, "effusion?")
    assert len(viewer.annotations()) == 5
    qtbot.keyClick(viewer, Qt.Key.Key_Delete)
    assert len(viewer.annotations()) == 4
    assert viewer.tool is None  # each tool is put down after one use (issue 21)
    qtbot.keyClick(viewer, "t")
    assert viewer.tool == "text"
    qtbot.keyClick(viewer, "t")  # the same key again: back to panning
    assert viewer.tool is None


def test_annotations_are_kept_per_film_until_it_is_closed(qtbot, window, calibrated, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, calibrated, analysed=False)
    viewer = window.viewer
    viewer.measure(QPointF(10, 10), QPointF(60, 10))
    viewer.set_window(Window(center=200.0, width=50.0))
    viewer.zoom_in()
    viewer.rotate_by(90)
    assert len(viewer.annotations()) == 1 and str(viewer.last_measurement) == "20.0 mm"
    open_and_wait(qtbot, window, films["png8"], analysed=False)
    assert viewer.annotations() == [] and viewer.last_measurement is None
    open_and_wait(qtbot, window, calibrated, analysed=False)
    assert len(viewer.annotations()) == 1  # back to the film: its length is still there
    qtbot.keyClick(viewer, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)  # close the film
    open_and_wait(qtbot, window, calibrated, analysed=False)
    assert viewer.annotations() == []


def test_export_includes_the_annotations(qtbot, window, calibrated, tmp_path) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, calibrated, analysed=False)
    window.viewer.set_corners_visible(False)
    plain = qimage_to_array(window.viewer.render_view())
    window.viewer.measure(QPointF(5, 100), QPointF(95, 100))
    marked = qimage_to_array(window.viewer.render_view())
    changed = np.abs(marked[:, :, :3].astype(int) - plain[:, :, :3].astype(int)).max(axis=2) > 60
    assert changed[97:104, 10:90].any(axis=0).mean() > 0.9  # the yellow line across row 100
    assert not changed[:90].any()  # and nothing else (corners hidden, calibrated: no note)
    out = window.export_view(str(tmp_path / "view.png"), "png", strip_identifiers=True)
    assert out is not None and Path(out).stat().st_size > 0


@pytest.mark.parametrize(
    ("tags", "note"),
    [
        ({"PixelSpacingCalibrationType": "GEOMETRY"}, ""),
        ({}, "* PixelSpacing without a stated calibration: sizes are approximate"),
    ],
)
def test_spacing_note(qtbot, window, tmp_path, tags, note) -> None:  # type: ignore[no-untyped-def]
    path = write_tagged_dicom(tmp_path / "s.dcm", film_pixels(), **tags)
    open_and_wait(qtbot, window, path, analysed=False)
    assert window.viewer.measurement_note() == ""  # nothing measured yet: no note
    length = window.viewer.measure(QPointF(0, 0), QPointF(50, 0))
    assert window.viewer.measurement_note() == note
    assert str(length).endswith("*") is bool(note)
    roi = Annotation("roi_rect", ((0, 0), (10, 10)))
    assert describe(roi, window.viewer.radiograph).endswith("mm² *" if note else "mm²")


def test_imager_pixel_spacing_note(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pydicom

    path = write_tagged_dicom(tmp_path / "imager.dcm", film_pixels(), ImagerPixelSpacing=[0.15, 0.15])
    ds = pydicom.dcmread(path)
    del ds.PixelSpacing
    ds.save_as(path)
    open_and_wait(qtbot, window, path, analysed=False)
    window.viewer.measure(QPointF(0, 0), QPointF(100, 0))
    assert str(window.viewer.last_measurement) == "15.0 mm*"
    assert "ImagerPixelSpacing" in window.viewer.measurement_note()
    assert "ImagerPixelSpacing" in window.measure_label.text()


@pytest.mark.realdata
def test_siim_thorax_shows_the_uncalibrated_note(qtbot, window, data_dir) -> None:  # type: ignore[no-untyped-def]
    siim = next((data_dir / "dicom").glob("siim-acr_1.*.dcm"))
    open_and_wait(qtbot, window, siim, analysed=False)
    thorax = window.viewer.measure(QPointF(116, 610), QPointF(964, 610))
    assert str(thorax) == f"{848 * 0.168:.1f} mm*"  # 142.5 mm for an adult thorax: not believable
    assert "without a stated calibration" in window.viewer.measurement_note()


@pytest.mark.realdata
def test_bone_preset_keeps_the_lungs_above_black_on_real_films(qtbot, window, data_dir) -> None:  # type: ignore[no-untyped-def]
    films = [*sorted((data_dir / "dicom").glob("*.dcm")), data_dir / "samples/normal__ieee8023__8fc103ca.jpg"]
    for path in films:
        open_and_wait(qtbot, window, path, analysed=False)
        qtbot.keyClick(window.viewer, "6")
        assert window.viewer.preset == "Bone"
        shown = qimage_to_array(window.viewer.displayed_image()).astype(int)
        pixels = window.viewer.radiograph.pixels
        lo, hi = np.percentile(pixels, [1, 99.9])
        body = pixels > lo + 0.08 * (hi - lo)
        # The old preset (from the median up) put half the body, lungs and their ribs, at black.
        assert (shown[body] == 0).mean() < 0.15, path.name
        assert (shown[body] == 255).mean() < 0.01, path.name  # and the densest bone is not clipped
