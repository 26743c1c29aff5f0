"""Issue 21's batch table: risk order, the two-step reading, a frozen File column, text cut on
the right, probabilities capped at 99 %, columns found by name, the export dialog's note."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt

from radiview.batch.records import ScreeningRecord
from radiview.inference.prediction import GateVerdict, Prediction

LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")
UNKNOWN = ("age_unknown", "unvalidated_source", "view_unknown")


def ok(name: str, *probabilities: float, flags: tuple[str, ...] = UNKNOWN) -> ScreeningRecord:
    return ScreeningRecord(
        name, "ok", Prediction(LABELS, probabilities, GateVerdict(True), "m@1"), flags=flags
    )


RECORDS = (
    ok("a_normal.png", 0.997, 0.001, 0.001, 0.001),
    ok("b_unsure.png", 0.55, 0.2, 0.15, 0.1, flags=(*UNKNOWN, "low_confidence")),
    ScreeningRecord(
        "c_refused.png", "refused", None, "unlike the films the model was trained on (distance 9 > 3)"
    ),
    ok("d_pneumonia.png", 0.03, 0.55, 0.41, 0.01),
    ScreeningRecord("e_error.dcm", "error", None, "file incomplete: 4.4 of 13 MB"),
    ok("f_covid.png", 0.0004, 0.0003, 0.0003, 0.999),
)


@pytest.fixture
def panel(qtbot):  # type: ignore[no-untyped-def]
    from radiview.gui.panels.batch import BatchPanel

    panel = BatchPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 400)
    panel.show()
    panel.begin("/nowhere")
    for done, record in enumerate(RECORDS, start=1):
        panel.add_progress(
            SimpleNamespace(result=record, done=done, total=len(RECORDS), elapsed_s=1.0, resumed=0)
        )
    panel.finish(SimpleNamespace(cancelled=False, done=len(RECORDS), total=len(RECORDS), elapsed_s=1.0))
    return panel


def shown(panel, column_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    column = panel.model.column(column_id)
    return [panel.proxy.index(r, column).data() for r in range(panel.proxy.rowCount())]


def test_default_order_is_risk_covid_and_pneumonia_first(panel) -> None:  # type: ignore[no-untyped-def]
    assert shown(panel, "file") == [
        "f_covid.png",
        "d_pneumonia.png",
        "b_unsure.png",
        "c_refused.png",
        "e_error.dcm",
        "a_normal.png",
    ]
    header = panel.table.horizontalHeader()
    assert header.sortIndicatorSection() == panel.model.column("reading")


def test_reading_column_gives_both_steps_capped(panel) -> None:  # type: ignore[no-untyped-def]
    readings = dict(zip(shown(panel, "file"), shown(panel, "reading"), strict=True))
    assert readings["f_covid.png"] == ">99 %".join(("Pneumonia ", " · COVID-19"))
    assert readings["d_pneumonia.png"] == "Pneumonia 97.0 % · bacterial"
    assert readings["b_unsure.png"] == "No pneumonia 55.0 % (low confidence)"
    assert readings["a_normal.png"] == "No pneumonia >99 %" and readings["c_refused.png"] == ""
    covid = dict(zip(shown(panel, "file"), shown(panel, "p_covid19"), strict=True))
    assert covid["f_covid.png"] == ">99 %" and covid["a_normal.png"] == "<1 %"
    assert panel.model.headers()[panel.model.column("p_bacterial_pneumonia")] == "P(bacterial)"


def test_flags_never_empty_for_a_film_with_unknown_context(panel) -> None:  # type: ignore[no-untyped-def]
    flags = dict(zip(shown(panel, "file"), shown(panel, "flags"), strict=True))
    for name in ("a_normal.png", "d_pneumonia.png", "f_covid.png"):  # confident rows included
        assert flags[name] == "age unknown, unvalidated source, view unknown"


def test_file_column_is_frozen_and_text_is_cut_on_the_right(panel, qtbot) -> None:  # type: ignore[no-untyped-def]
    table = panel.table
    frozen = table.frozen_view
    assert not frozen.isHidden() and frozen.model() is panel.proxy
    visible = [c for c in range(panel.model.columnCount()) if not frozen.isColumnHidden(c)]
    assert visible == [0] and frozen.columnWidth(0) == table.columnWidth(0)
    table.horizontalScrollBar().setValue(table.horizontalScrollBar().maximum())
    assert table.horizontalScrollBar().value() > 0  # the table did scroll right…
    assert frozen.geometry().width() == table.columnWidth(0)  # …and the names stay in view
    assert frozen.geometry().left() <= table.frameWidth() + table.verticalHeader().width()
    assert table.textElideMode() == Qt.TextElideMode.ElideRight
    assert frozen.textElideMode() == Qt.TextElideMode.ElideRight and not frozen.wordWrap()
    # One selection: a row picked in the frozen column is the row of the whole table.
    frozen.selectRow(0)
    assert table.selectionModel().isRowSelected(0)


def test_clicking_the_frozen_file_header_sorts_by_name(panel) -> None:  # type: ignore[no-untyped-def]
    panel.table.frozen_view.horizontalHeader().sectionClicked.emit(0)
    names = shown(panel, "file")
    assert names == sorted(names)


def test_export_dialog_says_when_identifiers_are_stripped(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from PySide6.QtWidgets import QFileDialog

    from radiview.gui.export import STRIPPED_NOTE

    captions: list[str] = []
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda _p, caption, *_a: (captions.append(caption), ("", ""))[1]
    )
    window.batch.choose_export("csv")
    window._store_settings(replace(window.settings, strip_identifiers=False))
    window.batch.choose_export("pdf")
    assert captions[0] == "Export screening report as CSV — " + STRIPPED_NOTE  # the default
    assert captions[1].endswith("patient identifiers included")
