"""The main window's "Open from PACS…" action: opens the dialog; a chosen film opens in the viewer."""

from __future__ import annotations

from pathlib import Path


def test_open_from_pacs_opens_the_dialog_and_the_chosen_film(qtbot, window, films: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    from radiview.gui.dialogs.pacs import PacsDialog

    assert window.open_pacs_action in window.menuBar().actions()[0].menu().actions()
    window.open_pacs_action.trigger()
    dialog = window._pacs_dialog
    assert isinstance(dialog, PacsDialog) and dialog.isVisible()
    assert dialog.node_combo.count() == 0 and "Choose a node" in dialog.status.text()
    with qtbot.waitSignal(window.film_loaded, timeout=60000):
        dialog.film_chosen.emit(str(films["dicom_m2"]))
    assert window.session.path == str(films["dicom_m2"])
    dialog.close()


def test_open_from_pacs_again_shows_the_same_dialog(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.open_pacs_action.trigger()
    first = window._pacs_dialog
    first.close()
    window.open_pacs_action.trigger()
    assert window._pacs_dialog is first and first.isVisible()  # not a second hidden child per use
    from radiview.gui.dialogs.pacs import PacsDialog

    assert len(window.findChildren(PacsDialog)) == 1
