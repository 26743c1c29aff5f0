"""The AI finding as a reader sees it, with the real bundled model and the shared real films:
warnings beside the result, an honest heatmap, and state that is always the film's own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLabel

from radiview.assets import default_model_dir
from radiview.gui.main_window import APP_TITLE, TITLE_NOTICE
from radiview.gui.panels.prediction import MIN_PANEL_WIDTH, PANEL_TITLE
from radiview.gui.workers import AnalysisResult, ExplanationResult
from radiview.inference.flags import ADULT, AGE_UNKNOWN, UNVALIDATED_SOURCE, VIEW_UNKNOWN
from radiview.inference.headline import display_probability
from radiview.inference.prediction import Explanation, GateVerdict, Prediction
from tests.gui.conftest import open_and_wait

pytestmark = pytest.mark.realdata


@pytest.fixture
def nih(data_dir: Path) -> Path:
    return next((data_dir / "dicom").glob("nih-cxr14_*.dcm"))


@pytest.fixture
def siim(data_dir: Path) -> Path:
    return next((data_dir / "dicom").glob("siim-acr_1.2.276*.dcm"))


@pytest.fixture
def real_window(make_window):  # type: ignore[no-untyped-def]
    shown: list[tuple[str, str]] = []
    window = make_window(
        bundle_dir=default_model_dir(),
        error_presenter=lambda parent, title, message, details: shown.append((title, message)),
    )
    window.shown_errors = shown
    return window


def open_and_explain(qtbot, window, path: Path):  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.explanation_ready, timeout=60000):
        prediction = open_and_wait(qtbot, window, path)
    return prediction


def test_adult_dicom_gets_its_warnings_beside_the_finding(qtbot, real_window, nih) -> None:  # type: ignore[no-untyped-def]
    prediction = open_and_explain(qtbot, real_window, nih)
    panel = real_window.prediction_panel
    # 1.2.0 called this pre-COVID "No Finding" film of an 81-year-old COVID-19 (p = 0.97); 2.0 does not,
    # but its pneumonia call is no better founded: the warnings beside it are what a reader needs.
    assert prediction.top_label == "bacterial_pneumonia" and prediction.probability("covid19") < 0.05
    assert real_window.prediction_dock.windowTitle() == PANEL_TITLE == "AI finding"
    # Two steps: over 95 % some pneumonia (bacterial + viral), then which cause; the low
    # confidence of the old top-class headline (bacterial alone, under 0.6) is gone.
    p_any = 1.0 - prediction.probability("normal")
    assert p_any > 0.95 and prediction.probability("bacterial_pneumonia") < 0.6
    assert panel.finding_label.text() == f"Pneumonia pattern (any cause) {p_any * 100:.1f}\u00a0%"
    bacterial = prediction.probability("bacterial_pneumonia") / p_any
    assert panel.cause_label.text().startswith(f"most like: bacterial {bacterial * 100:.0f}\u00a0% · viral ")
    assert "four classes" in panel.finding_label.toolTip()
    assert [f.code for f in panel.flags] == [ADULT, UNVALIDATED_SOURCE, VIEW_UNKNOWN]  # no ViewPosition
    assert "Does not assess pneumothorax, effusion, lines and tubes, nodules, fractures." in (
        panel.warnings_box.text()
    )
    assert not panel.warnings_box.isHidden()
    assert "adult film: the model calls some normal adults COVID-19" in panel.warnings_box.text()
    assert "source not validated" in panel.warnings_box.text() and "view unknown" in panel.warnings_box.text()
    # One format for every probability on screen.
    assert all(
        bar.text() == display_probability(prediction.probability(lb)) for lb, bar in panel.bars.items()
    )
    # The heatmap is computed but off on a new film; its class name is human.
    assert real_window.viewer.has_heatmap() and not real_window.viewer.overlay_visible
    assert real_window.viewer.heatmap_label == "Bacterial pneumonia"
    assert "Grad-CAM for “Bacterial pneumonia”" in panel.heatmap_note.text()


def test_siim_heatmap_policy_and_marker_mask(qtbot, real_window, siim) -> None:  # type: ignore[no-untyped-def]
    prediction = open_and_explain(qtbot, real_window, siim)
    panel = real_window.prediction_panel
    # model 2.0: bacterial 44.8 %, normal 27.3 %, viral 24.2 %, COVID-19 3.7 %
    assert prediction.top_label == "bacterial_pneumonia"
    p_any = 1.0 - prediction.probability("normal")
    assert panel.finding_label.text() == f"Pneumonia pattern (any cause) {p_any * 100:.1f}\u00a0%"
    assert panel.cause_label.text().startswith("most like: bacterial ")
    # No map for "no pneumonia": the panel says why.
    with qtbot.waitSignal(real_window.explanation_ready, timeout=60000):
        panel.class_combo.setCurrentIndex(panel.class_combo.findData("normal"))
    assert not real_window.viewer.has_heatmap()
    assert "No heatmap for “No pneumonia”" in panel.heatmap_note.text()
    # A class under the card's minimum gets no map either, with its probability stated.
    with qtbot.waitSignal(real_window.explanation_ready, timeout=60000):
        panel.class_combo.setCurrentIndex(panel.class_combo.findData("covid19"))
    assert not real_window.viewer.has_heatmap()
    assert "is under 10.0 %" in panel.heatmap_note.text()
    # Viral pneumonia (about a quarter) is shown, masked on the corner "L" marker and the air.
    with qtbot.waitSignal(real_window.explanation_ready, timeout=60000) as blocker:
        panel.class_combo.setCurrentIndex(panel.class_combo.findData("viral_pneumonia"))
    raw = blocker.args[0].heatmap
    shown = real_window.viewer._heatmap
    assert shown is not None and shown.shape == raw.shape
    weights = real_window._attention_mask.weights
    assert weights[60:100, 880:905].max() < 0.1  # the "L" marker
    np.testing.assert_allclose(shown, raw * weights, atol=1e-6)
    assert (shown[300:700, 200:800] == raw[300:700, 200:800]).all()
    assert "burned-in text/marker" in panel.heatmap_note.text()


def test_heatmap_is_off_on_each_new_film_unless_pinned(qtbot, real_window, nih, siim) -> None:  # type: ignore[no-untyped-def]
    panel = real_window.prediction_panel
    open_and_explain(qtbot, real_window, nih)
    panel.overlay_check.setChecked(True)
    assert real_window.viewer.overlay_visible
    open_and_wait(qtbot, real_window, siim)
    assert not panel.overlay_check.isChecked() and not real_window.viewer.overlay_visible
    panel.overlay_check.setChecked(True)
    panel.pin_check.setChecked(True)
    open_and_explain(qtbot, real_window, nih)
    assert panel.overlay_check.isChecked() and real_window.viewer.overlay_visible


def test_broken_film_after_a_good_one_leaves_nothing_of_it(qtbot, real_window, nih, films) -> None:  # type: ignore[no-untyped-def]
    window = real_window
    open_and_explain(qtbot, window, nih)
    window.prediction_panel.overlay_check.setChecked(True)
    assert window.metadata_panel.key_table.rowCount() > 0 and "nih-cxr14" in window.windowTitle()
    with qtbot.waitSignal(window.error_shown, timeout=30000):
        window.open_file(films["empty"])
    panel = window.prediction_panel
    assert window.viewer.radiograph is None and window.viewer.displayed_image().isNull()
    assert not window.viewer.has_heatmap() and window.viewer.render_film().width() <= 1
    assert window.session.radiograph is None and window.session.prediction is None
    assert window.session.explanation is None
    assert all(bar.text() == "–" and bar.value() == 0 for bar in panel.bars.values())
    assert panel.finding_label.text() == "" and panel.flags == () and panel.warnings_box.isHidden()
    assert panel.heatmap_note.text() == ""
    assert window.metadata_panel.key_table.rowCount() == 0
    assert window.windowTitle() == f"{APP_TITLE} — {TITLE_NOTICE}"
    # A clear empty state, never "Loading empty.dcm…" forever.
    assert panel.status_label.text() == "Could not open empty.dcm: no film shown."
    assert "Loading" not in window.statusBar().currentMessage()
    assert (
        window.empty_hint.isVisible() and window.empty_hint.title_label.text() == "Could not open empty.dcm"
    )
    assert "empty" in window.empty_hint.problem_label.text().lower()
    assert window.last_error.title == "Cannot open film" and window.reading.file_banner.isVisible()
    assert window.shown_errors == []  # no modal dialog for a bad file (issue 21)


def test_results_for_a_replaced_film_are_dropped(qtbot, real_window, nih, siim) -> None:  # type: ignore[no-untyped-def]
    window = real_window
    open_and_explain(qtbot, window, nih)
    stale_id = window.session.request_id
    open_and_explain(qtbot, window, siim)
    current = (window.session.prediction, window.viewer._heatmap, panel_text(window))
    fake = Prediction(
        ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19"),
        (0.0, 0.0, 0.0, 1.0),
        GateVerdict(True),
        "x@1",
    )
    heat = Explanation(window.viewer.radiograph.pixels * 0 + 1.0, "covid19")
    window.inference.analysis_ready.emit(AnalysisResult(stale_id, fake, heat))
    window.inference.explanation_ready.emit(ExplanationResult(stale_id, heat))
    qtbot.wait(50)
    assert window.session.prediction is current[0] and window.viewer._heatmap is current[1]
    assert panel_text(window) == current[2] and "Pneumonia pattern (any cause)" in current[2]


def panel_text(window) -> str:  # type: ignore[no-untyped-def]
    panel = window.prediction_panel
    return panel.finding_label.text() + "|" + "|".join(b.text() for b in panel.bars.values())


def test_ai_panel_never_clips_at_1280x720(qtbot, real_window, nih) -> None:  # type: ignore[no-untyped-def]
    window = real_window
    window.resize(1280, 720)
    open_and_explain(qtbot, window, nih)
    window.prediction_panel.overlay_check.setChecked(True)
    qtbot.wait(100)
    panel = window.prediction_panel
    assert window.size().width() == 1280 and window.size().height() == 720
    assert panel.width() >= MIN_PANEL_WIDTH
    assert_fits(panel)
    # A dock dragged narrow (or restored so from an old layout) still cannot clip it.
    window.resizeDocks([window.prediction_dock], [120], Qt.Orientation.Horizontal)
    qtbot.wait(50)
    assert panel.width() >= MIN_PANEL_WIDTH
    assert_fits(panel)


def assert_fits(panel) -> None:  # type: ignore[no-untyped-def]
    viewport = panel.parentWidget()  # the scroll area's viewport: the visible width
    assert panel.width() <= viewport.width(), "the panel is wider than what is visible"
    for label in panel.findChildren(QLabel):
        if not label.isVisible() or not label.text():
            continue
        if label.wordWrap():
            assert label.heightForWidth(label.width()) <= label.height() + 1, label.text()
        else:
            width = label.fontMetrics().horizontalAdvance(label.text())
            assert width <= label.contentsRect().width(), label.text()
    for box in panel.findChildren(QCheckBox):
        assert box.sizeHint().width() <= box.width(), box.text()
    for bar in panel.bars.values():
        assert bar.fontMetrics().horizontalAdvance(bar.text()) + 8 <= bar.width(), bar.text()


def test_reset_layout_restores_a_usable_panel(qtbot, real_window) -> None:  # type: ignore[no-untyped-def]
    """View ▸ Layout ▸ Reset layout (the reading room's) brings back an AI panel that fits."""
    window = real_window
    window.prediction_dock.hide()
    window.metadata_dock.setFloating(True)
    window.reading.reset_layout_action.trigger()
    qtbot.wait(50)
    assert window.prediction_dock.isVisible() and not window.metadata_dock.isFloating()
    assert window.prediction_panel.width() >= MIN_PANEL_WIDTH


def test_empty_window_offers_open_and_samples(qtbot, real_window, data_dir) -> None:  # type: ignore[no-untyped-def]
    window = real_window
    hint = window.empty_hint
    assert hint.isVisible() and hint.title_label.text() == "No film open"
    assert "drag and drop" in hint.text_label.text() and hint.open_button.text() == "Open…"
    names = hint.sample_names()
    assert len(names) == 12 and all((data_dir / "samples" / n).is_file() for n in names)
    action = next(a for a in hint.sample_menu.actions() if a.text().startswith("normal__kermany"))
    with qtbot.waitSignal(window.prediction_ready, timeout=60000):
        action.trigger()
    assert not hint.isVisible() and window.viewer.radiograph.name == action.text()
    # A JPEG says no age, view or source: each is a warning (issue 21), not silence.
    assert [f.code for f in window.prediction_panel.flags][:3] == [
        AGE_UNKNOWN,
        UNVALIDATED_SOURCE,
        VIEW_UNKNOWN,
    ]
    window.close_film()
    assert hint.isVisible() and window.statusBar().currentMessage() == ""
    assert window.zoom_label.text() == "" and window.pixel_label.text() == ""
