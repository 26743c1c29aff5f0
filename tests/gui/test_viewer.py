"""Opening each kind of film and the viewer's display controls, through the real window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from radiview.gui.qimage import qimage_to_array
from radiview.io import Window, apply_window, load_radiograph, window_for_preset
from tests.gui.conftest import open_and_wait


def shown(window) -> np.ndarray:  # type: ignore[no-untyped-def]
    window.viewer.render_now()
    return qimage_to_array(window.viewer.displayed_image())


def key(qtbot, window, k) -> None:  # type: ignore[no-untyped-def]
    qtbot.keyClick(window.viewer, k)
    window.viewer.render_now()


@pytest.mark.parametrize("kind", ["png8", "png16", "jpeg", "dicom_m2", "dicom_m1"])
def test_opens_each_kind(qtbot, window, films, kind: str) -> None:  # type: ignore[no-untyped-def]
    prediction = open_and_wait(qtbot, window, films[kind])
    radiograph = window.session.radiograph
    assert Path(radiograph.source).name == films[kind].name
    assert window.viewer.radiograph is radiograph
    assert prediction.accepted and len(prediction.probabilities) == 4
    assert sum(prediction.probabilities) == pytest.approx(1.0, abs=1e-4)
    # What is shown is the film's own default window, pixel for pixel.
    np.testing.assert_array_equal(shown(window), apply_window(radiograph.pixels, radiograph.default_window))
    assert films[kind].name in window.windowTitle() and "not for diagnosis" in window.windowTitle()
    top = prediction.top_label
    assert window.prediction_panel.bars[top].value() == round(prediction.probability(top) * 1000)


def test_png16_keeps_sixteen_bits(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["png16"], analysed=False)
    radiograph = window.session.radiograph
    assert radiograph.pixels.max() > 255  # not squashed to 8 bits on the way in


def test_monochrome1_displays_like_monochrome2(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["dicom_m2"], analysed=False)
    m2 = shown(window)
    open_and_wait(qtbot, window, films["dicom_m1"], analysed=False)
    m1 = shown(window)
    # Same chest, stored inverted: after io's MONOCHROME1 handling the display must match.
    assert np.abs(m1.astype(int) - m2.astype(int)).max() <= 1
    assert m2[60, 30] < m2[5, 50]  # lung (dark) vs mediastinum/edge (bright): not inverted


def test_window_level_changes_displayed_pixels(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["dicom_m2"], analysed=False)
    pixels = window.session.radiograph.pixels
    narrow = Window(center=float(np.median(pixels)), width=200.0)
    window.viewer.set_window(narrow)
    np.testing.assert_array_equal(shown(window), apply_window(pixels, narrow))
    # Right-drag to the right widens the window (less contrast), downwards raises the level.
    viewport = window.viewer.viewport()
    start = viewport.rect().center()
    qtbot.mousePress(viewport, Qt.MouseButton.RightButton, pos=start)
    qtbot.mouseMove(viewport, pos=start + type(start)(40, 25))
    qtbot.mouseRelease(viewport, Qt.MouseButton.RightButton, pos=start + type(start)(40, 25))
    dragged = window.viewer.display_window
    assert dragged.width > narrow.width and dragged.center > narrow.center
    assert window.viewer.preset == "Custom"
    np.testing.assert_array_equal(shown(window), apply_window(pixels, dragged))


def test_space_resets_to_the_dicom_window(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["dicom_window"], analysed=False)
    radiograph = window.session.radiograph
    assert (radiograph.default_window.center, radiograph.default_window.width) == pytest.approx(
        (2000, 1000), abs=1
    )
    window.viewer.set_window(Window(100.0, 50.0))
    key(qtbot, window, Qt.Key.Key_Space)
    assert window.viewer.display_window == radiograph.default_window
    np.testing.assert_array_equal(shown(window), apply_window(radiograph.pixels, radiograph.default_window))


@pytest.mark.parametrize(
    ("k", "name"),
    [("2", "Default"), ("3", "Full dynamic"), ("4", "Lung"), ("5", "Mediastinum"), ("6", "Bone")],
)
def test_preset_keys(qtbot, window, films, k: str, name: str) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["dicom_m2"], analysed=False)
    pixels = window.session.radiograph.pixels
    key(qtbot, window, k)
    expected = window_for_preset(pixels, name)
    assert window.viewer.display_window == expected
    assert window.viewer.preset == name
    assert window.preset_combo.currentData() == name
    np.testing.assert_array_equal(shown(window), apply_window(pixels, expected))


def test_invert_key(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["png8"], analysed=False)
    before = shown(window)
    key(qtbot, window, "i")
    assert window.viewer.inverted and window.invert_action.isChecked()
    radiograph = window.session.radiograph
    inverted = shown(window)
    np.testing.assert_array_equal(
        inverted, apply_window(radiograph.pixels, radiograph.default_window, invert=True)
    )
    assert np.abs(inverted.astype(int) - (255 - before.astype(int))).max() <= 1  # rounding only
    key(qtbot, window, "i")
    np.testing.assert_array_equal(shown(window), before)


def test_heatmap_toggle_and_controls(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["png8"])
    gray = shown(window)
    assert window.viewer.has_heatmap()
    key(qtbot, window, "h")
    assert window.viewer.overlay_visible and window.prediction_panel.overlay_check.isChecked()
    coloured = shown(window)
    assert coloured.ndim == 3  # RGB(A) now
    assert (np.abs(coloured[:, :, 0].astype(int) - gray) > 2).any()
    # Opacity 0 → the film again; the slider drives the viewer.
    window.prediction_panel.opacity_slider.setValue(0)
    np.testing.assert_array_equal(shown(window), gray)
    window.prediction_panel.opacity_slider.setValue(60)
    assert window.viewer.overlay_opacity == pytest.approx(0.6)
    window.prediction_panel.colormap_combo.setCurrentText("viridis")
    assert window.viewer.colormap == "viridis"
    # Explaining another class recomputes the map for that class.
    with qtbot.waitSignal(window.explanation_ready, timeout=30000) as blocker:
        window.prediction_panel.class_combo.setCurrentIndex(
            window.prediction_panel.class_combo.findData("covid19")
        )
    assert blocker.args[0].label == "covid19"
    assert window.viewer.heatmap_label == "COVID-19"  # the human class name
    key(qtbot, window, "h")
    assert not window.viewer.overlay_visible
    np.testing.assert_array_equal(shown(window), gray)


def test_zoom_fit_and_actual_size_keys(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["png8"], analysed=False)
    fitted = window.viewer.scale_factor()
    key(qtbot, window, Qt.Key.Key_Plus)
    assert window.viewer.scale_factor() == pytest.approx(fitted * 1.25)
    key(qtbot, window, Qt.Key.Key_Minus)
    key(qtbot, window, Qt.Key.Key_Minus)
    assert window.viewer.scale_factor() == pytest.approx(fitted / 1.25)
    key(qtbot, window, "1")
    assert window.viewer.scale_factor() == pytest.approx(1.0)
    key(qtbot, window, "=")
    assert window.viewer.scale_factor() == pytest.approx(fitted)


def test_rotate_and_flip(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["png8"], analysed=False)
    upright = qimage_to_array(window.viewer.render_film())[:, :, 0]
    key(qtbot, window, "r")
    rotated = qimage_to_array(window.viewer.render_film())[:, :, 0]
    assert rotated.shape == upright.shape[::-1]
    assert np.abs(rotated.astype(int) - np.rot90(upright, -1)).mean() < 3
    key(qtbot, window, "0")
    key(qtbot, window, "f")
    flipped = qimage_to_array(window.viewer.render_film())[:, :, 0]
    assert np.abs(flipped.astype(int) - upright[:, ::-1]).mean() < 3
    key(qtbot, window, "f")
    key(qtbot, window, "v")
    flipped_v = qimage_to_array(window.viewer.render_film())[:, :, 0]
    assert np.abs(flipped_v.astype(int) - upright[::-1, :]).mean() < 3


def test_pixel_readout_in_film_value_space(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["dicom_m2"], analysed=False)
    pixels = window.session.radiograph.pixels
    key(qtbot, window, "r")  # readout must map through the rotation
    target = QPointF(30.5, 70.5)  # (column, row)
    qtbot.mouseMove(window.viewer.viewport(), pos=window.viewer.view_point(target))
    value = pixels[70, 30]
    assert window.pixel_label.text() == f"x 30  y 70  value {value:.0f}"


def test_ruler_in_mm_with_spacing_and_px_without(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["dicom_m2"], analysed=False)  # spacing 0.5 (row) × 0.4 (col) mm
    key(qtbot, window, "m")
    assert window.viewer.measuring
    viewport = window.viewer.viewport()
    a, b = window.viewer.view_point(QPointF(10, 20)), window.viewer.view_point(QPointF(10, 80))
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(viewport, pos=b)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=b)
    measurement = window.viewer.last_measurement
    assert measurement.unit == "mm"
    assert measurement.length == pytest.approx(60 * 0.5, rel=0.05)
    assert "mm" in window.measure_label.text()
    horizontal = window.viewer.measure(QPointF(0, 0), QPointF(50, 0))
    assert horizontal.length == pytest.approx(50 * 0.4)
    key(qtbot, window, Qt.Key.Key_Escape)  # Esc puts the ruler down, keeps the lengths (issue 21)
    assert not window.viewer.measuring and window.viewer.last_measurement == horizontal
    window.clear_measure_action.trigger()  # the menu entry still clears them
    assert window.viewer.last_measurement is None
    open_and_wait(qtbot, window, films["png8"], analysed=False)
    assert window.viewer.measure(QPointF(0, 0), QPointF(30, 40)).__str__() == "50.0 px"


def test_full_dicom_tag_list(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["dicom_m2"], analysed=False)
    keys = dict(window.metadata_panel.key_rows())
    assert keys["Pixel spacing"].startswith("0.500 × 0.400")
    assert keys["View"] == "PA"
    window.metadata_panel.load_button.click()
    qtbot.waitUntil(lambda: window.metadata_panel.tag_model.rowCount() > 10, timeout=10000)
    names = {
        window.metadata_panel.tag_model.item(r, 1).text()
        for r in range(window.metadata_panel.tag_model.rowCount())
    }
    assert {"PatientName", "PhotometricInterpretation", "PixelSpacing"} <= names
    window.metadata_panel.tag_filter.setText("photometric")
    assert window.metadata_panel.tag_proxy.rowCount() == 1


def test_real_films(qtbot, window, data_dir) -> None:  # type: ignore[no-untyped-def]
    dicoms = sorted((data_dir / "dicom").glob("*.dcm"))
    samples = sorted((data_dir / "samples").glob("*"))
    chosen = [*dicoms, *[p for p in samples if p.suffix.lower() in (".png", ".jpg", ".jpeg")][:3]]
    assert chosen
    for path in chosen:
        prediction = open_and_wait(qtbot, window, path)
        radiograph = window.session.radiograph
        assert Path(radiograph.source).name == path.name
        assert prediction.model == "tiny-random@0.0.1"
        expected = apply_window(load_radiograph(path).pixels, radiograph.default_window)
        np.testing.assert_array_equal(shown(window), expected)


def test_corner_overlay_shows_window_level(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["dicom_m2"])
    window.viewer.set_window(Window(center=1500.0, width=200.0))
    lines = window.viewer.overlay_lines()
    assert lines["bottom_left"] == ["m2.dcm", "100 × 120 px", "W 200  L 1500"]
    assert lines["top_left"] == ["Doe Jane", "ID MRN-4711"] and "View PA" in lines["bottom_right"]
    assert lines["top_right"] == ["2024-01-02"]
    key(qtbot, window, "4")
    key(qtbot, window, "i")
    key(qtbot, window, "h")
    lines = window.viewer.overlay_lines()
    assert lines["bottom_left"][-2] == "Inverted" and lines["bottom_left"][-1].endswith("(Lung)")
    assert lines["top_right"][-1] == "Model attention, not a finding"


def test_wheel_zoom_and_middle_drag_pan(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent

    open_and_wait(qtbot, window, films["png8"], analysed=False)
    viewer = window.viewer
    fitted = viewer.scale_factor()
    center = viewer.viewport().rect().center()
    for _ in range(6):  # 1.25**6 = 3.8x: the film overflows the viewport both ways, so both bars can move
        event = QWheelEvent(
            QPointF(center),
            QPointF(viewer.mapToGlobal(center)),
            QPoint(0, 0),
            QPoint(0, 120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        viewer.wheelEvent(event)
    assert viewer.scale_factor() == pytest.approx(fitted * 1.25**6)
    before = (viewer.horizontalScrollBar().value(), viewer.verticalScrollBar().value())
    qtbot.mousePress(viewer.viewport(), Qt.MouseButton.MiddleButton, pos=center)
    qtbot.mouseMove(viewer.viewport(), pos=center + QPoint(30, 20))
    qtbot.mouseRelease(viewer.viewport(), Qt.MouseButton.MiddleButton, pos=center + QPoint(30, 20))
    after = (viewer.horizontalScrollBar().value(), viewer.verticalScrollBar().value())
    assert after == (before[0] - 30, before[1] - 20)


def test_painted_overlay_matches_render_composite_and_stays_aligned(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["dicom_m2"])
    key(qtbot, window, "h")
    composite = qimage_to_array(window.viewer.displayed_image())[:, :, :3].astype(int)
    painted = qimage_to_array(window.viewer.render_film())[:, :, :3].astype(int)
    assert np.abs(painted - composite).max() <= 2  # Qt's 8-bit blending vs radiview.render
    key(qtbot, window, "r")
    key(qtbot, window, "f")
    turned = qimage_to_array(window.viewer.render_film())[:, :, :3].astype(int)
    expected = np.rot90(composite, -1)[:, ::-1]
    assert turned.shape == expected.shape
    assert np.abs(turned - expected).max() <= 4  # the heatmap turns with the film
    assert np.abs(turned - expected).mean() < 1.5  # resampling rounding; misalignment gives tens


def test_flip_after_rotate_acts_in_screen_space(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["png8"], analysed=False)
    upright = qimage_to_array(window.viewer.render_film())[:, :, 0].astype(int)
    key(qtbot, window, "r")
    key(qtbot, window, "f")  # mirror what is on screen now (the rotated film)
    shown_now = qimage_to_array(window.viewer.render_film())[:, :, 0].astype(int)
    assert np.abs(shown_now - np.rot90(upright, -1)[:, ::-1]).mean() < 3
    # rotate 90° then mirror == mirror, then rotate 270° (the text's convention)
    assert window.viewer.orientation_text() == "Mirrored · Rot 270°"
    key(qtbot, window, "f")
    key(qtbot, window, Qt.Key.Key_R)
    key(qtbot, window, "r")
    key(qtbot, window, "r")
    assert window.viewer.orientation == (1, 0, 0, 1)  # four quarter turns: upright again
    assert window.viewer.orientation_text() == ""
