"""View export (PNG/PDF, identifiers stripped) and the application entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from radiview import RESEARCH_NOTICE
from radiview.gui.export import view_report_lines
from radiview.settings import load_settings
from tests.gui.conftest import PATIENT_ID, open_and_wait


def pdf_text(path: Path) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) not installed")
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_report_lines_strip_identifiers(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    prediction = open_and_wait(qtbot, window, films["dicom_m2"])
    radiograph = window.session.radiograph
    assert radiograph.metadata.get("patient_name")  # io read it, so stripping is meaningful
    kept = "\n".join(
        view_report_lines(radiograph, prediction, radiograph.default_window, False, "normal", False)
    )
    stripped = "\n".join(
        view_report_lines(radiograph, prediction, radiograph.default_window, False, "normal", True)
    )
    for text in (kept, stripped):
        assert RESEARCH_NOTICE in text and "not a finding" in text and prediction.model in text
    assert "Doe" in kept and PATIENT_ID in kept and "m2.dcm" in kept
    for secret in ("Doe", "Jane", PATIENT_ID, "1970", "2024-01-02", "m2.dcm"):
        assert secret not in stripped
    assert "Patient identifiers removed" in stripped


@pytest.mark.parametrize("strip", [True, False])
def test_export_view_pdf(qtbot, window, films, tmp_path, strip: bool) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["dicom_m2"])
    qtbot.keyClick(window.viewer, "h")
    out = window.export_view(str(tmp_path / "view.pdf"), "pdf", strip_identifiers=strip)
    assert out is not None
    text = pdf_text(Path(out))
    assert "not a medical device" in text.lower() and "AI second reader" in text
    assert "Grad-CAM" in text
    assert ("Doe" in text) is (not strip)
    assert (PATIENT_ID in text) is (not strip)
    assert not list(tmp_path.glob(".view.pdf.*"))  # atomic: no temp file left


def test_export_view_png(qtbot, window, films, tmp_path) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["png8"])
    qtbot.keyClick(window.viewer, "r")
    out = window.export_view(str(tmp_path / "view.png"), "png", strip_identifiers=True)
    image = QImage(out)
    assert not image.isNull()
    film = window.viewer.render_film()
    assert film.width() == 120 and film.height() == 100  # rotated 100×120 film
    assert image.height() > film.height()  # film + text block
    assert not list(tmp_path.glob(".view.png.*"))  # atomic: no temp file left


def test_export_view_never_replaces_another_kind_of_file(qtbot, window, films, tmp_path) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["png8"], analysed=False)
    film = tmp_path / "film.png"
    film.write_bytes(Path(films["jpeg"]).read_bytes())  # a JPEG film that happens to end in .png
    notes = tmp_path / "notes.pdf"
    notes.write_text("my notes")
    for target, fmt in ((film, "png"), (notes, "pdf")):
        before = target.read_bytes()
        with qtbot.waitSignal(window.error_shown, timeout=5000) as blocker:
            assert window.export_view(str(target), fmt) is None
        assert "refusing to replace" in blocker.args[0].message
        assert target.read_bytes() == before


def test_export_to_missing_folder_shows_error(qtbot, window, films, tmp_path) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["png8"], analysed=False)
    with qtbot.waitSignal(window.error_shown, timeout=5000) as blocker:
        assert window.export_view(str(tmp_path / "missing" / "v.png"), "png") is None
    assert "missing" in blocker.args[0].message


def test_recent_files_persist(qtbot, window, films) -> None:  # type: ignore[no-untyped-def]
    open_and_wait(qtbot, window, films["png8"], analysed=False)
    open_and_wait(qtbot, window, films["jpeg"], analysed=False)
    recent = load_settings().recent_files
    assert [Path(p).name for p in recent[:2]] == ["film.jpg", "film8.png"]
    window._fill_recent_menu()
    assert [a.text() for a in window.recent_menu.actions()][:2] == list(recent[:2])


_RUN_APP_SCRIPT = """
import json, sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from radiview.gui.app import ensure_application, run_app
from radiview.gui.main_window import MainWindow

seen = {}
def poll():
    windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
    if windows and windows[0].session.prediction is not None:
        window = windows[0]
        seen["file"] = Path(window.session.radiograph.source).name
        seen["title"] = window.windowTitle()
        seen["threads"] = window.worker_threads()
        window.close()
        QApplication.quit()
    else:
        QTimer.singleShot(50, poll)

ensure_application()
QTimer.singleShot(50, poll)
code = run_app([sys.argv[1]], bundle_dir=sys.argv[2])
seen["finished"] = all(t.isFinished() for t in seen.pop("threads"))
print(json.dumps({"code": code, **seen}))
"""


@pytest.mark.slow
def test_run_app_opens_the_command_line_file(films, tiny_bundle, isolated_config) -> None:  # type: ignore[no-untyped-def]
    # A QApplication's exec() can run only once per process, so this runs in a fresh one.
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "RADIVIEW_CONFIG_DIR": str(isolated_config)}
    done = subprocess.run(
        [sys.executable, "-c", _RUN_APP_SCRIPT, str(films["png8"]), str(tiny_bundle)],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0 and seen["file"] == "film8.png" and seen["finished"]
    assert "not for diagnosis" in seen["title"]
    assert (isolated_config / "radiview.log").is_file()  # the app's log file
