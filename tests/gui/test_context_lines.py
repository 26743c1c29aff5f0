"""Issue 21's target: no AI reading on screen without a context line beside it.

Every shared sample (JPEG/PNG: no age, view or source) and every shared DICOM is opened in the
real window with the real bundled model. Before issue 21 the JPEG/PNG readings came with no
warning at all (an adult normal film read "COVID-19 99.7 %" with nothing beside it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from radiview.assets import default_model_dir
from radiview.gui.panels.prediction import OUTSIDE_LUNG_TEXT, PredictionPanel
from radiview.inference.flags import AGE_UNKNOWN, UNKNOWN_CONTEXT_CODES, UNVALIDATED_SOURCE, VIEW_UNKNOWN
from radiview.inference.prediction import Explanation, GateVerdict, Prediction
from radiview.inference.wording import NOT_ASSESSED_LINE
from tests.gui.conftest import open_and_wait

LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")


@pytest.mark.realdata
def test_every_shared_film_read_with_a_context_line(qtbot, make_window, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    window = make_window(bundle_dir=default_model_dir(), error_presenter=lambda *a: None)
    films = sorted((data_dir / "samples").glob("*.*g")) + sorted((data_dir / "dicom").glob("*.dcm"))
    assert len(films) >= 15
    panel = window.prediction_panel
    read, bare = 0, []
    for film in films:
        prediction = open_and_wait(qtbot, window, film)
        if not prediction.accepted:
            assert panel.warnings_box.isHidden() and panel.finding_label.text() == ""
            continue
        read += 1
        codes = [flag.code for flag in panel.flags]
        if not set(codes) & set(UNKNOWN_CONTEXT_CODES) or panel.warnings_box.isHidden():
            bare.append(film.name)
        assert NOT_ASSESSED_LINE in panel.warnings_box.text()
        if film.suffix != ".dcm":  # a JPEG/PNG says nothing: all three unknowns, never a guess
            assert codes[:3] == [AGE_UNKNOWN, UNVALIDATED_SOURCE, VIEW_UNKNOWN], film.name
            assert "age unknown: the model is unreliable on adults' films" in panel.warnings_box.text()
    assert read >= 12
    assert bare == []


def test_attention_outside_the_lungs_is_a_warning_line(qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = PredictionPanel()
    qtbot.addWidget(panel)
    panel.show_prediction(Prediction(LABELS, (0.1, 0.7, 0.1, 0.1), GateVerdict(True), "m@1"))
    heatmap = Explanation(__import__("numpy").zeros((4, 4), "float32"), "bacterial_pneumonia")
    for share, shown in ((None, False), (0.4, False), (0.5, False), (0.73, True)):
        explanation = Explanation(heatmap.heatmap, heatmap.label, outside_lung_share=share)
        panel.show_outside_lung_share(explanation.outside_lung_share)
        assert (OUTSIDE_LUNG_TEXT in panel.warnings_box.text()) is shown, share
        assert NOT_ASSESSED_LINE in panel.warnings_box.text()
    assert "73 %" in panel.warnings_box.toolTip()
    # A new reading starts without the previous map's share.
    panel.show_prediction(Prediction(LABELS, (0.1, 0.7, 0.1, 0.1), GateVerdict(True), "m@1"))
    assert OUTSIDE_LUNG_TEXT not in panel.warnings_box.text()


def test_the_window_passes_the_explanations_outside_lung_share_to_the_panel(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from radiview.gui.workers import ExplanationResult

    prediction = open_and_wait(qtbot, window, films["png8"])
    assert prediction.accepted
    label = prediction.top_label
    heat = Explanation(
        np.zeros(window.viewer.radiograph.pixels.shape, np.float32), label, outside_lung_share=0.8
    )
    with qtbot.waitSignal(window.explanation_ready, timeout=10000):
        window.inference.explanation_ready.emit(ExplanationResult(window.session.request_id, heat))
    assert OUTSIDE_LUNG_TEXT in window.prediction_panel.warnings_box.text()
