"""Settings, About, Shortcuts and first-run acknowledgement dialogs."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from radiview import RESEARCH_NOTICE, __version__
from radiview.gui.app import acknowledge_notice
from radiview.gui.dialogs.about import AboutDialog, card_html, render_value_html
from radiview.gui.dialogs.acknowledge import AcknowledgeDialog
from radiview.gui.dialogs.settings import SettingsDialog
from radiview.settings import DEFAULTS, load_settings


def test_settings_dialog_edits_and_persists(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    dialog = window.show_settings()
    devices = [dialog.device_combo.itemData(i) for i in range(dialog.device_combo.count())]
    assert devices[:2] == ["auto", "cpu"]
    dialog.device_combo.setCurrentIndex(devices.index("cpu"))
    dialog.opacity_spin.setValue(0.8)
    dialog.colormap_combo.setCurrentText("inferno")
    dialog.report_edit.setText("/tmp/reports")
    dialog.strip_check.setChecked(False)
    with qtbot.waitSignal(window.model_ready, timeout=60000) as blocker:  # device change reloads
        dialog.accept()
    assert blocker.args[0].device == "cpu"
    saved = load_settings()
    assert (
        saved.device,
        saved.overlay_opacity,
        saved.colormap,
        saved.report_dir,
        saved.strip_identifiers,
    ) == (
        "cpu",
        0.8,
        "inferno",
        "/tmp/reports",
        False,
    )
    assert window.viewer.overlay_opacity == 0.8 and window.viewer.colormap == "inferno"
    assert window.prediction_panel.opacity_slider.value() == 80


def test_settings_dialog_keeps_an_unavailable_saved_device(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(replace(DEFAULTS, device="cuda"), devices=["auto", "cpu"])
    qtbot.addWidget(dialog)
    assert dialog.device_combo.currentData() == "cuda"
    dialog.reject()
    assert dialog.settings.device == "cuda"


def test_about_dialog_shows_version_card_and_licences(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    dialog = window.show_about()
    about = dialog.about_view.toPlainText()
    assert __version__ in about and RESEARCH_NOTICE in about and "tiny-random" in about
    card = dialog.card_view.toPlainText()
    assert "Intended use" in card and "tests only" in card and "random weights" in card
    assert "Input gate" in card and "mahalanobis" in card
    licences = dialog.licence_view.toPlainText()
    for text in ("Apache-2.0", "LGPL", "pydicom", "grad-cam", "python-gdcm", "BSD", "© Google"):
        assert text in licences
    dialog.reject()


def test_card_rendering_is_readable(qtbot) -> None:  # type: ignore[no-untyped-def]
    html = render_value_html({"test": {"accuracy": 0.912345, "per_class": {"normal": {"recall": 0.9}}}})
    assert "0.9123" in html and "Per class" in html and "{" not in html
    assert "No model" in card_html(None)
    assert AboutDialog(None).windowTitle() == "About RadiView"


def test_shortcuts_dialog_lists_the_keys(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    dialog = window.show_shortcuts()
    rows = {
        dialog.table.item(r, 1).text(): dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())
    }
    assert rows["Invert"] == "I" and rows["Show heatmap"] == "H" and rows["Fit to window"] == "="
    assert rows["Reset to file window"] == "Space" and rows["Preset: Lung"] == "4"
    assert rows["Flip horizontally"] == "F" and rows["Flip vertically"] == "V"
    assert "Window (horizontal) / level (vertical)" in rows
    dialog.reject()


def test_acknowledge_dialog_needs_the_checkbox(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = AcknowledgeDialog()
    qtbot.addWidget(dialog)
    assert not dialog.ok_button.isEnabled()
    dialog.check.setChecked(True)
    assert dialog.ok_button.isEnabled()
    dialog.ok_button.click()
    assert dialog.acknowledged


def _answer_modal(accept: bool) -> None:
    def act() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, AcknowledgeDialog):
            QTimer.singleShot(20, act)
            return
        if accept:
            dialog.check.setChecked(True)
            dialog.ok_button.click()
        else:
            dialog.reject()

    QTimer.singleShot(20, act)


def test_first_run_acknowledgement_is_persisted(qtbot) -> None:  # type: ignore[no-untyped-def]
    fresh = replace(DEFAULTS, notice_acknowledged=False)
    _answer_modal(accept=False)
    assert acknowledge_notice(fresh) is None
    assert load_settings().notice_acknowledged  # the fixture's file is untouched
    _answer_modal(accept=True)
    result = acknowledge_notice(fresh)
    assert result is not None and result.notice_acknowledged
    assert load_settings().notice_acknowledged
    assert acknowledge_notice(result) is result  # no dialog once acknowledged


def test_data_licences_from_the_card() -> None:
    from types import SimpleNamespace

    from radiview.gui.dialogs.about import licences_html

    with_licences = SimpleNamespace(
        training_data={"sources": {"kermany": {"images": 10, "license": "CC BY 4.0"}}}
    )
    assert "CC BY 4.0" in licences_html(with_licences)
    named_only = SimpleNamespace(training_data={"by_source": {"ieee8023": 412, "figure1": 28}})
    text = licences_html(named_only)
    assert "CC BY-NC-SA 4.0" in text and "research purposes only" in text
    assert "<b>ieee8023</b>" in text and "kermany224" not in text  # names as the manifest spells them
    both = licences_html(SimpleNamespace(training_data={"by_source": {"kermany": 1, "kermany224": 2}}))
    assert both.count("CC BY 4.0") == 2
    assert "no data-source licences" in licences_html(SimpleNamespace(training_data={}))
