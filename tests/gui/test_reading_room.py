"""Issue 14's smaller items: the tag browser, the model card in About, identifiers stripped
from exports (age, sex and study date too), and a quick quit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from radiview.assets import default_model_dir
from radiview.gui.export import view_report_lines
from radiview.inference.bundle import read_model_card
from radiview.inference.flags import reading_flags
from radiview.inference.prediction import GateVerdict, Prediction
from tests.gui.conftest import open_and_wait

LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")


@pytest.mark.realdata
def test_tag_browser_sorts_ascending_and_keeps_the_value_visible(qtbot, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from radiview.gui.panels.metadata import MetadataPanel
    from radiview.gui.workers import _read_dicom_tag_rows

    panel = MetadataPanel()
    qtbot.addWidget(panel)
    panel.resize(360, 500)  # the dock's width
    panel.show()
    rows = _read_dicom_tag_rows(str(next((data_dir / "dicom").glob("siim-acr_1.2.276*.dcm"))))
    panel.show_tags(tuple(reversed(rows)))  # whatever order they come in ...
    qtbot.wait(20)
    shown = [panel.tag_proxy.index(r, 0).data() for r in range(panel.tag_proxy.rowCount())]
    assert shown == sorted(shown) and len(shown) == len(rows)  # ... they read A→Z
    view = panel.tag_view
    value_left = view.columnViewportPosition(3)
    assert value_left >= 0 and value_left + 60 <= view.viewport().width()  # Value is on screen
    assert view.columnWidth(3) >= 60
    long_value = next(
        r for r in range(panel.tag_model.rowCount()) if len(panel.tag_model.item(r, 3).text()) > 30
    )
    assert panel.tag_model.item(long_value, 3).toolTip() == panel.tag_model.item(long_value, 3).text()


def test_model_card_is_rendered_for_people(qtbot) -> None:  # type: ignore[no-untyped-def]
    from radiview.gui.dialogs.about import AboutDialog

    dialog = AboutDialog(read_model_card(default_model_dir()), "cpu")
    qtbot.addWidget(dialog)
    text = dialog.card_view.toPlainText()
    assert "None" not in text and "Macro auc" not in text and "{" not in text
    assert "Macro AUC" in text and "n/a" in text  # a one-class source has no macro AUC
    assert "Sensitivity" in text and "No pneumonia" in text and "COVID-19" in text
    assert "95.0 %" in text  # normal sensitivity 0.9497 as a percentage
    assert "What the app warns about beside a reading" in text and "Adult film (age ≥ 18)" in text
    assert "['" not in text  # no Python reprs


@pytest.mark.realdata
def test_strip_identifiers_removes_age_sex_and_study_date(data_dir: Path) -> None:
    from radiview.io import load_radiograph

    film = load_radiograph(next((data_dir / "dicom").glob("siim-acr_1.2.276*.dcm")))
    assert film.metadata["age"] == "62" and film.metadata["sex"] == "M"
    card = read_model_card(default_model_dir())
    prediction = Prediction(LABELS, (0.6237, 0.006, 0.0084, 0.3619), GateVerdict(True), "m@1")
    flags = reading_flags(prediction, film.metadata, card, film.view_position)

    def lines(strip: bool) -> str:
        return "\n".join(
            view_report_lines(film, prediction, film.default_window, False, None, strip, flags=flags)
        )

    kept, stripped = lines(False), lines(True)
    assert "Age: 62" in kept and "Sex: M" in kept and "1901-01-01" in kept
    for secret in ("Age", "Sex", "1901", film.metadata["patient_id"], "siim-acr"):
        assert secret not in stripped
    for text in (kept, stripped):
        assert "AI second reader: No pneumonia pattern 62.4 %." in text
        assert "Warning: adult film: the model cannot tell COVID-19 from other adult pneumonia." in text
        assert "COVID-19 36.2 %" in text


def test_quit_is_quick_with_a_film_open(qtbot, make_window, films) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    open_and_wait(qtbot, window, films["dicom_m2"])
    started = time.perf_counter()
    window.close()
    elapsed = time.perf_counter() - started
    assert all(t.isFinished() for t in window.worker_threads())
    assert elapsed < 1.0, f"closing took {elapsed:.2f} s"
