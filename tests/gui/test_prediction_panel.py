"""The prediction panel: bars for an accepted film, the gate's refusal (no answer) otherwise."""

from __future__ import annotations

import numpy as np
from PIL import Image

from radiview.inference.prediction import GateVerdict, Prediction
from tests.gui.conftest import open_and_wait

LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")


def test_top_class_is_highlighted(qtbot) -> None:  # type: ignore[no-untyped-def]
    from radiview.gui.panels.prediction import PredictionPanel

    panel = PredictionPanel()
    qtbot.addWidget(panel)
    panel.show_prediction(Prediction(LABELS, (0.1, 0.2, 0.6, 0.1), GateVerdict(True), "m@1"))
    assert panel.bars["viral_pneumonia"].text() == "60.0 %"
    assert panel.bar_labels["viral_pneumonia"].font().bold()
    assert not panel.bar_labels["normal"].font().bold()
    # Step one: 90 % of the mass is some pneumonia; step two: which cause, as shares of it.
    assert panel.finding_label.text() == "Pneumonia pattern (any cause) 90.0\u00a0%"
    assert panel.cause_label.text() == "most like: viral 67\u00a0% · bacterial 22\u00a0% · COVID-19 11\u00a0%"
    panel.show_prediction(Prediction(LABELS, (0.996, 0.002, 0.001, 0.001), GateVerdict(True), "m@1"))
    assert panel.finding_label.text() == "No pneumonia pattern >99\u00a0%" and panel.cause_label.isHidden()
    assert panel.bars["normal"].text() == ">99 %" and panel.bars["covid19"].text() == "<1 %"
    assert "four classes" in panel.finding_label.toolTip()
    assert panel.refusal_box.isHidden() and panel.bars_box.isEnabled()


def test_refused_film_shows_the_reason_and_no_answer(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((80, 80), 128, np.uint8)).save(flat)  # near-uniform: the gate refuses it
    prediction = open_and_wait(qtbot, window, flat)
    assert not prediction.accepted and prediction.top_label is None
    panel = window.prediction_panel
    assert not panel.refusal_box.isHidden()
    assert prediction.gate.reason and prediction.gate.reason in panel.refusal_box.text()
    assert not panel.bars_box.isEnabled()
    assert all(bar.value() == 0 for bar in panel.bars.values())
    assert not window.viewer.has_heatmap()  # no attention map for a film the model should not read
    assert "Refused" in panel.status_label.text()
