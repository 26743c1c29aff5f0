"""Bad files give a specific dialog; unexpected exceptions the traceback; threads end on close."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from radiview.gui.app import install_excepthook
from radiview.gui.dialogs.errors import ErrorDialog
from tests.gui.conftest import open_and_wait


@pytest.mark.parametrize(("kind", "words"), [("empty", "empty"), ("garbage", "")])
def test_bad_file_shows_a_non_modal_banner(qtbot, window, films, kind: str, words: str) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.error_shown, timeout=30000) as blocker:
        window.open_file(films[kind])
    error = blocker.args[0]
    assert error.expected and error.title == "Cannot open film"
    assert films[kind].name in error.message and words in error.message.lower()
    # Issue 21: a modal dialog per broken file stalled PageDown; a banner over the film says it.
    assert window.last_error_dialog is None and QApplication.activeModalWidget() is None
    banner = window.reading.file_banner
    assert banner.isVisible() and films[kind].name in banner.text()
    assert str(films[kind].parent) not in banner.text()  # the name, not the whole path
    assert not window.session.busy
    # The app carries on: a good film opens next.
    assert open_and_wait(qtbot, window, films["png8"]).accepted
    assert not banner.isVisible()


def test_missing_file(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.error_shown, timeout=30000) as blocker:
        window.open_file(tmp_path / "gone.dcm")
    assert "gone.dcm" in blocker.args[0].message


def test_injected_error_presenter(qtbot, make_window, films) -> None:  # type: ignore[no-untyped-def]
    shown = []
    window = make_window(
        error_presenter=lambda parent, title, message, details: shown.append((title, message))
    )
    with qtbot.waitSignal(window.error_shown, timeout=30000):
        window.open_file(films["empty"])
    assert shown == []  # a bad film is a banner, not the presenter's dialog
    window._present_error(window.last_error)
    assert shown == [("Cannot open film", window.last_error.message)]


def test_stale_results_are_dropped(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    loaded = []
    window.film_loaded.connect(lambda r: loaded.append(Path(r.source).name))
    first = window.open_file(films["dicom_m2"])
    second = window.open_file(films["png8"])
    assert second > first
    qtbot.waitUntil(lambda: window.session.prediction is not None, timeout=30000)
    qtbot.wait(300)  # give any answer about the first film time to arrive (and be dropped)
    assert loaded == ["film8.png"]
    assert Path(window.session.radiograph.source).name == "film8.png"
    assert Path(window.viewer.radiograph.source).name == "film8.png"


def test_bad_bundle_keeps_the_viewer_working(qtbot, make_window, films, tmp_path) -> None:  # type: ignore[no-untyped-def]
    window = make_window(bundle_dir=tmp_path / "no-model", wait_model=False)
    qtbot.waitUntil(lambda: window.model_error is not None, timeout=30000)
    assert "no-model" in window.model_error.message
    window.last_error_dialog.accept()
    open_and_wait(qtbot, window, films["png8"], analysed=False)
    assert "No model loaded" in window.prediction_panel.status_label.text()
    with qtbot.waitSignal(window.error_shown, timeout=10000):
        window.start_screening(str(films["png8"].parent))


@pytest.mark.qt_no_exception_capture
def test_excepthook_shows_traceback_and_app_survives(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    uninstall = install_excepthook(lambda: window)
    try:

        def boom() -> None:
            raise RuntimeError("deliberate test failure")

        QTimer.singleShot(0, boom)
        qtbot.waitUntil(
            lambda: any(
                isinstance(w, ErrorDialog) and w.isVisible()
                for w in QApplication.topLevelWidgets() + window.findChildren(ErrorDialog)
            ),
            timeout=5000,
        )
        dialog = next(w for w in window.findChildren(ErrorDialog) if w.isVisible())
        assert "RuntimeError: deliberate test failure" in dialog.informativeText()
        assert "Traceback" in dialog.detailedText() and "boom" in dialog.detailedText()
        dialog.accept()
    finally:
        uninstall()
    assert sys.excepthook is not None and window.isVisible()


def test_threads_finish_on_close(qtbot, make_window, films) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    window.open_file(films["dicom_m2"])  # close while work may still be queued
    threads = window.worker_threads()
    assert all(t.isRunning() for t in threads)
    window.close()
    assert all(t.isFinished() for t in threads)


def test_close_during_screening_cancels_it(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.gui.test_batch import make_folder

    window = make_window()
    worker = window.start_screening(str(make_folder(tmp_path / "f", 30)), True)
    assert worker is not None
    window.close()
    assert worker.is_done()
    assert all(t.isFinished() for t in window.worker_threads())
