"""The batch table's Flags column: issue 14's reading flags in words, searchable."""

from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtCore import Qt


def test_flags_column_shows_and_filters_the_reading_flags(qtbot) -> None:  # type: ignore[no-untyped-def]
    from radiview.batch.records import ScreeningRecord
    from radiview.gui.panels.batch import BatchPanel
    from radiview.inference.prediction import GateVerdict, Prediction

    labels = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")
    panel = BatchPanel()
    qtbot.addWidget(panel)
    panel.begin("/nowhere")
    prediction = Prediction(labels, (0.03, 0.55, 0.41, 0.01), GateVerdict(True), "m@1")
    records = (
        ScreeningRecord("old.dcm", "ok", prediction, flags=("adult", "unvalidated_source", "low_confidence")),
        ScreeningRecord("child.jpeg", "ok", prediction),
    )
    for done, record in enumerate(records, start=1):
        panel.add_progress(SimpleNamespace(result=record, done=done, total=2, elapsed_s=1.0, resumed=0))
    model = panel.model
    column = model.headers().index("Flags")
    assert column == 3 + len(labels) and model.headers()[-1] == "Message"
    assert model.index(0, column).data() == "adult, unvalidated source, low confidence"
    assert model.index(0, column).data(Qt.ItemDataRole.ToolTipRole).splitlines()[0] == "adult"
    assert model.index(1, column).data() == ""
    panel.filter_edit.setText("unvalidated")
    assert panel.proxy.rowCount() == 1
    assert panel.proxy.index(0, 0).data() == "old.dcm"
