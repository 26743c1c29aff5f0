"""Issue 21's day-one habits: F11 full screen, F9 side panels, a magnifier held on Z, compare
with the same patient's prior, annotations saved beside the film and reopened."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PySide6.QtCore import QPointF, Qt

from radiview.gui.annotation_files import read_annotations, sidecar_path
from radiview.gui.magnifier import LOUPE_SIZE_PX
from tests.gui.conftest import film_pixels, open_and_wait, write_dicom


def dicom(path: Path, patient: str, date: str) -> Path:
    write_dicom(path, film_pixels())
    ds = pydicom.dcmread(path)
    ds.PatientID, ds.StudyDate, ds.StudyTime = patient, date, "101500"
    ds.save_as(path)
    return path


def test_full_screen_and_side_panels(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    habits = window.reading.habits
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert window.windowState() & Qt.WindowState.WindowFullScreen
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert not window.windowState() & Qt.WindowState.WindowFullScreen
    qtbot.keyClick(window, Qt.Key.Key_F9)
    assert window.prediction_dock.isHidden() and window.metadata_dock.isHidden()
    assert not habits.side_panels_action.isChecked()
    qtbot.keyClick(window, Qt.Key.Key_F9)
    assert not window.prediction_dock.isHidden() and not window.metadata_dock.isHidden()


def test_magnifier_while_z_is_held(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["dicom_m2"], analysed=False)
    viewer = window.viewer
    centre = viewer.view_point(QPointF(50, 60))
    qtbot.mouseMove(viewer.viewport(), pos=centre)
    qtbot.keyPress(viewer, Qt.Key.Key_Z)
    loupe = viewer.loupe
    assert loupe.isVisible() and loupe.pixmap().width() == LOUPE_SIZE_PX
    image = loupe.pixmap().toImage()
    middle = image.pixelColor(LOUPE_SIZE_PX // 2, LOUPE_SIZE_PX // 2)
    corner = image.pixelColor(2, 2)
    assert middle.value() > 0 and corner.value() == 0  # film inside, black outside the circle
    qtbot.keyRelease(viewer, Qt.Key.Key_Z)
    assert not loupe.isVisible()


def test_compare_with_prior_opens_the_latest_earlier_film_of_the_patient(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "films"
    folder.mkdir()
    dicom(folder / "a.dcm", "P1", "20240101")
    prior = dicom(folder / "b.dcm", "P1", "20240301")
    dicom(folder / "c.dcm", "P2", "20240501")  # someone else, more recent
    current = dicom(folder / "d.dcm", "P1", "20240601")
    open_and_wait(qtbot, window, current, analysed=False)
    qtbot.keyClick(
        window.viewer, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    right = window.viewer_area.right_viewer.radiograph
    assert right is not None and Path(right.source).name == prior.name
    assert window.reading.layout_actions["1x2"].isChecked()
    open_and_wait(qtbot, window, folder / "c.dcm", analysed=False)
    assert window.reading.habits.compare_with_prior() is None  # P2 has no other film


def test_annotations_are_saved_beside_the_film_and_reopened(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    film = dicom(tmp_path / "film.dcm", "P1", "20240101")
    window.reading.save_annotations = True
    open_and_wait(qtbot, window, film, analysed=False)
    viewer = window.viewer
    viewer.measure(QPointF(10, 10), QPointF(60, 10))
    saved = json.loads(sidecar_path(film).read_text())
    assert saved["film"] == "film.dcm" and saved["annotations"][0]["kind"] == "length"
    qtbot.keyClick(viewer, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)  # close the film
    open_and_wait(qtbot, window, film, analysed=False)
    assert [a.kind for a in viewer.annotations()] == ["length"]  # back from the sidecar
    qtbot.keyClick(viewer, Qt.Key.Key_Delete)
    assert viewer.annotations() == [] and not sidecar_path(film).exists()  # none left: no file
    sidecar_path(film).write_text("{not json")
    assert read_annotations(film) == []  # a damaged sidecar is ignored, not fatal
    np.testing.assert_equal(len(list(tmp_path.glob(".*tmp*"))), 0)


@pytest.mark.realdata
def test_annotations_export_as_a_gsps_that_references_the_film(qtbot, window, data_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from radiview.gui.tools import Annotation

    siim = next((data_dir / "dicom").glob("siim-acr_1.*.dcm"))
    open_and_wait(qtbot, window, siim, analysed=False)
    viewer = window.viewer
    viewer.add_annotation(Annotation("ctr", ((464.0, 650.0), (806.0, 650.0), (116.0, 610.0), (964.0, 610.0))))
    viewer.add_annotation(Annotation("roi_ellipse", ((230.0, 360.0), (330.0, 450.0))))
    viewer.add_annotation(Annotation("text", ((725.0, 140.0),), "wires"))
    out = window.reading.habits.export_gsps(str(tmp_path / "gsps.dcm"))
    assert out is not None
    gsps = pydicom.dcmread(out)
    assert gsps.SOPClassUID == "1.2.840.10008.5.1.4.1.1.11.1"  # Grayscale Softcopy Presentation State
    referenced = gsps.ReferencedSeriesSequence[0].ReferencedImageSequence[0].ReferencedSOPInstanceUID
    assert referenced == pydicom.dcmread(siim, stop_before_pixels=True).SOPInstanceUID
    group = gsps.GraphicAnnotationSequence[0]
    assert [g.GraphicType for g in group.GraphicObjectSequence] == ["POLYLINE", "POLYLINE", "ELLIPSE"]
    assert [t.UnformattedTextValue for t in group.TextObjectSequence][::2] == ["CTR 0.40", "wires"]
    assert gsps.SoftcopyVOILUTSequence[0].WindowWidth == pytest.approx(window.viewer.display_window.width)
    # An image file has nothing for a GSPS to reference: a message, no file.
    png = tmp_path / "film.png"
    from PIL import Image

    Image.fromarray(film_pixels(40, 30, 255).astype(np.uint8)).save(png)
    open_and_wait(qtbot, window, png, analysed=False)
    viewer.add_annotation(Annotation("text", ((5.0, 5.0),), "x"))
    assert window.reading.habits.export_gsps(str(tmp_path / "no.dcm")) is None
    assert not (tmp_path / "no.dcm").exists() and "needs a DICOM film" in window.statusBar().currentMessage()


def test_thumbnail_strip_of_the_folder_opens_a_film(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    folder = tmp_path / "films"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(film_pixels(60, 50, 255, seed=i).astype(np.uint8)).save(folder / f"f{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    assert window.reading.habits.strip_dock.isHidden()  # nothing to show before a folder
    open_and_wait(qtbot, window, folder / "f0.png", analysed=False)
    strip = window.reading.habits.strip
    assert not window.reading.habits.strip_dock.isHidden()
    assert [Path(p).name for p in strip.paths] == ["broken.png", "f0.png", "f1.png", "f2.png"]
    qtbot.waitUntil(
        lambda: strip.thumbnails_made() == 3 and strip.item(0).text().startswith("⚠"), timeout=20000
    )
    assert strip.currentItem().text() == "f0.png"
    with qtbot.waitSignal(window.film_loaded, timeout=20000):
        strip.itemClicked.emit(strip.item(3))
    assert Path(window.session.radiograph.source).name == "f2.png"
    assert strip.currentItem().text() == "f2.png"
