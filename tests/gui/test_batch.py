"""Batch screening in the app: progress, cancel mid-run, filter/sort, open a row, export."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from radiview.batch.csv_report import read_csv_report
from radiview.gui.panels.screening_table import SORT_ROLE
from radiview.inference.wording import GATE_DISTANCE_REASON
from tests.gui.conftest import film_pixels


def make_folder(root: Path, n: int, broken: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = (film_pixels(64, 56, 255, seed=i)).astype(np.uint8)
        Image.fromarray(pixels).save(root / f"film{i:03d}.png")
    for i in range(broken):
        (root / f"broken{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    return root


def run_screening(qtbot, window, folder: Path):  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.screening_finished, timeout=120000) as blocker:
        window.start_screening(str(folder), True)
    return blocker.args[0]


def test_screening_fills_a_sortable_filterable_table(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = make_folder(tmp_path / "films", 6, broken=1)
    summary = run_screening(qtbot, window, folder)
    panel = window.batch_panel
    assert not summary.cancelled and summary.done == summary.total == 7
    assert panel.model.rowCount() == 7
    statuses = [r.status for r in panel.model.results]
    assert statuses.count("error") == 1 and statuses.count("ok") == 6
    assert "Finished: 7 / 7 films" in panel.rate_label.text()
    assert panel.progress_bar.value() == 7 and panel.start_button.isEnabled()
    assert not panel.cancel_button.isEnabled()
    # The table starts sorted by risk (issue 21): read films by their reading, unread ones after
    # the pneumonia patterns; a click on File sorts A→Z.
    reading = panel.model.column("reading")
    risks = [panel.proxy.index(r, reading).data(SORT_ROLE) for r in range(panel.proxy.rowCount())]
    assert risks == sorted(risks)
    panel.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    names = [panel.proxy.index(r, 0).data() for r in range(panel.proxy.rowCount())]
    assert names == sorted(names) and names[0] == "broken0.png"

    panel.status_combo.setCurrentText("error")
    assert panel.proxy.rowCount() == 1
    assert panel.proxy.index(0, 0).data() == "broken0.png"
    panel.status_combo.setCurrentText("All statuses")
    panel.filter_edit.setText("film00")
    assert panel.proxy.rowCount() == 6
    panel.filter_edit.setText("")

    # Sort by P(covid19), descending: numeric order, error rows last.
    column = panel.model.column("p_covid19")
    panel.table.sortByColumn(column, Qt.SortOrder.DescendingOrder)
    shown = [panel.proxy.index(r, column).data() for r in range(panel.proxy.rowCount())]
    assert all(v.endswith(" %") for v in shown if v)  # the one probability format
    values = [float(v.removesuffix(" %").lstrip("<>")) for v in shown if v]
    assert values == sorted(values, reverse=True) and shown[-1] == ""

    # Double-clicking a row opens that film in the viewer.
    row = next(r for r in range(panel.proxy.rowCount()) if panel.proxy.index(r, 1).data() == "ok")
    name = panel.proxy.index(row, 0).data()
    with qtbot.waitSignal(window.film_loaded, timeout=30000):
        panel.table.doubleClicked.emit(panel.proxy.index(row, 0))
    assert Path(window.session.radiograph.source).name == name
    assert window.tabs.currentWidget() is window.viewer_area


def test_cancel_in_the_middle(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = make_folder(tmp_path / "many", 40)
    seen = []

    def on_row(progress) -> None:  # type: ignore[no-untyped-def]
        # Runs on the inference thread (direct connection): cancel after the 3rd film, as the
        # Cancel button does (it only sets the worker's thread-safe abort flag).
        seen.append(progress.done)
        if progress.done == 3:
            worker.quit()

    with qtbot.waitSignal(window.screening_finished, timeout=120000) as blocker:
        worker = window.start_screening(str(folder), True)
        worker.yielded.connect(on_row, Qt.ConnectionType.DirectConnection)
        window.batch_panel.cancel_button.isEnabled()
    summary = blocker.args[0]
    panel = window.batch_panel
    assert summary.cancelled
    assert 3 <= panel.model.rowCount() < 40  # partial results stay
    assert panel.model.rowCount() == summary.done == len(seen)
    assert panel.cancelled and not panel.running
    assert "Cancelled" in panel.rate_label.text()
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert panel.export_csv_button.isEnabled()
    assert not window.screening_running
    # The app is still healthy: a second run completes.
    small = make_folder(tmp_path / "small", 2)
    assert run_screening(qtbot, window, small).done == 2


def test_cancel_button(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = make_folder(tmp_path / "many", 40)
    with qtbot.waitSignal(window.screening_finished, timeout=120000) as blocker:
        window.start_screening(str(folder), True)
        assert window.batch_panel.cancel_button.isEnabled()
        qtbot.mouseClick(window.batch_panel.cancel_button, Qt.MouseButton.LeftButton)
        assert window.batch_panel.cancelled
    summary = blocker.args[0]
    # A cancel that did nothing would screen all 40 films and report a finished run.
    assert summary.cancelled and summary.done < 40
    assert window.batch_panel.model.rowCount() == summary.done
    assert "Cancelled" in window.batch_panel.rate_label.text()


def test_export_csv_and_pdf_with_the_cli_writers(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = make_folder(tmp_path / "films", 3, broken=1)
    run_screening(qtbot, window, folder)
    csv_path = tmp_path / "out" / "report.csv"
    csv_path.parent.mkdir()
    with qtbot.waitSignal(window.exported, timeout=30000):
        window.export_screening(str(csv_path), "csv")
    rows = read_csv_report(csv_path)
    assert [r["file"] for r in rows] == [r.file for r in window.batch_panel.model.results]
    assert {r["status"] for r in rows} == {"ok", "error"}
    ok = next(r for r in rows if r["status"] == "ok")
    result = next(r for r in window.batch_panel.model.results if r.file == ok["file"])
    assert float(ok["p_covid19"]) == pytest.approx(result.prediction.probability("covid19"), abs=1e-4)

    pdf_path = tmp_path / "out" / "report.pdf"
    with qtbot.waitSignal(window.exported, timeout=60000):
        window.export_screening(str(pdf_path), "pdf")
    assert pdf_path.read_bytes()[:5] == b"%PDF-"
    assert shutil.which("pdftotext"), "poppler-utils is a test requirement (packaging/apt-packages.txt)"
    pdftotext = subprocess.run(["pdftotext", str(pdf_path), "-"], capture_output=True, text=True, check=True)
    text = pdftotext.stdout
    assert "not a medical device" in text.lower()
    # Thumbnails were made during the run, one per flagged film, with no second decode.
    flagged = [r for r in window.batch_panel.model.results if r.flagged]
    assert flagged and all(r.thumbnail is not None for r in flagged)
    assert f"Grad-CAM thumbnails: {len(flagged)} of {len(flagged)} flagged films." in text
    assert flagged[0].file in text


def test_export_to_a_missing_folder_shows_an_error(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run_screening(qtbot, window, make_folder(tmp_path / "films", 1))
    target = tmp_path / "nope" / "report.csv"
    with qtbot.waitSignal(window.error_shown, timeout=30000) as blocker:
        window.export_screening(str(target), "csv")
    assert "nope" in blocker.args[0].message
    assert blocker.args[0].expected


def test_folder_drop_starts_screening(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    folder = make_folder(tmp_path / "dropped", 2)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.screening_finished, timeout=60000) as blocker:
        window.dropEvent(event)
    assert blocker.args[0].done == 2
    assert window.tabs.currentWidget() is window.batch_panel


def test_progress_text_rate_and_eta() -> None:
    from radiview.gui.panels.batch import format_duration, progress_text

    assert progress_text(0, 10, 0.0) == "0 / 10 films"
    assert progress_text(5, 20, 2.5) == "5 / 20 films · 2.0 films/s · ETA 0:08"
    assert progress_text(20, 20, 4.0) == "20 / 20 films · 5.0 films/s"
    # 10 of the 15 done came from an interrupted run's journal: only 5 were timed.
    assert progress_text(15, 20, 2.5, resumed=10) == "15 / 20 films (10 resumed) · 2.0 films/s · ETA 0:02"
    assert format_duration(3725) == "1:02:05"


def test_film_is_analysed_while_a_batch_runs(qtbot, window, tmp_path, films) -> None:  # type: ignore[no-untyped-def]
    folder = make_folder(tmp_path / "big", 80)
    events = []
    window.prediction_ready.connect(lambda p: events.append(("prediction", window.screening_running)))
    window.screening_finished.connect(lambda s: events.append(("finished", s.done)))
    first_row = []
    with qtbot.waitSignal(window.screening_finished, timeout=180000):
        worker = window.start_screening(str(folder), True)
        worker.yielded.connect(lambda p: first_row.append(p.done))
        qtbot.waitUntil(lambda: bool(first_row), timeout=60000)
        window.open_file(films["png8"])
        qtbot.waitUntil(lambda: any(e[0] == "prediction" for e in events), timeout=60000)
    assert events[0] == ("prediction", True)  # answered mid-run, not queued behind 80 films
    assert events[-1] == ("finished", 80)
    assert window.batch_panel.model.rowCount() == 80


def test_cancelled_run_resumes_from_its_journal(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from radiview.batch.csv_report import model_stamp
    from radiview.gui.workers import screening_journal_path

    folder = make_folder(tmp_path / "journaled", 30)

    def cancel_after_3(progress) -> None:  # type: ignore[no-untyped-def]
        if progress.done == 3:
            first.quit()

    with qtbot.waitSignal(window.screening_finished, timeout=120000) as blocker:
        first = window.start_screening(str(folder), True)
        first.yielded.connect(cancel_after_3, Qt.ConnectionType.DirectConnection)
    assert blocker.args[0].cancelled
    panel = window.batch_panel
    first_rows = {r.file: r for r in panel.model.results}
    assert 3 <= len(first_rows) < 30
    assert "resumes when this folder is screened again" in panel.rate_label.text()

    journal = screening_journal_path(str(folder), True, model_stamp(window.model_info.card))
    assert journal.is_file()
    assert {row["file"] for row in read_csv_report(journal)} == set(first_rows)

    summary = run_screening(qtbot, window, folder)
    assert not summary.cancelled and summary.done == summary.total == 30
    files = [r.file for r in panel.model.results]
    assert sorted(files) == sorted(set(files)) and len(files) == 30  # each film exactly once
    assert panel.resumed == len(first_rows)
    assert f"({len(first_rows)} resumed from an interrupted run)" in panel.rate_label.text()
    for result in panel.model.results:  # resumed rows carry the first run's probabilities (CSV: 4 decimals)
        if result.file in first_rows and result.status == "ok":
            before = first_rows[result.file].prediction.probabilities
            assert result.prediction.probabilities == pytest.approx(before, abs=5e-5)
    assert not journal.exists()  # a completed run leaves nothing to resume

    run_screening(qtbot, window, folder)
    assert panel.resumed == 0 and panel.model.rowCount() == 30


def test_a_folder_screened_by_another_window_is_refused_not_corrupted(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from radiview.batch.csv_report import model_stamp
    from radiview.batch.report_lock import ReportLock
    from radiview.gui.workers import screening_journal_path

    folder = make_folder(tmp_path / "shared", 3)
    journal = screening_journal_path(str(folder), True, model_stamp(window.model_info.card))
    journal.parent.mkdir(parents=True, exist_ok=True)
    with ReportLock(journal), qtbot.waitSignal(window.error_shown, timeout=60000) as blocker:
        window.start_screening(str(folder), True)
    assert "being screened by another RadiView window" in blocker.args[0].message
    qtbot.waitUntil(lambda: not window.screening_running, timeout=30000)
    assert window.batch_panel.model.rowCount() == 0 and not journal.exists()
    assert run_screening(qtbot, window, folder).done == 3  # once the other window is done


def test_table_words_and_stable_resumed_values(qtbot) -> None:  # type: ignore[no-untyped-def]
    """A refusal reads in words (the figures in the tooltip); a resumed row (CSV, 4 decimals)
    shows exactly what the live row showed; the Message column is wide enough to read."""
    from radiview.batch.records import ScreeningRecord as ScreeningResult
    from radiview.gui.panels.batch import MESSAGE_MIN_WIDTH, BatchPanel
    from radiview.inference.prediction import GateVerdict, Prediction

    labels = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")
    panel = BatchPanel()
    qtbot.addWidget(panel)
    panel.begin("/nowhere")
    live = (0.12345, 0.5, 0.2, 0.17655)  # 12.345 % is where a second rounding would slip
    resumed = tuple(float(f"{p:.4f}") for p in live)  # what the journal gives back
    reason = "unlike the training films (distance 86.4 > 52.3): lateral view, CT or another kind of image?"
    for name, probabilities in (("live.png", live), ("resumed.png", resumed)):
        prediction = Prediction(labels, probabilities, GateVerdict(True), "m@1")
        panel.add_progress(
            SimpleNamespace(
                result=ScreeningResult(name, "ok", prediction), done=1, total=3, elapsed_s=1.0, resumed=0
            )
        )
    refused = ScreeningResult("lateral.png", "refused", None, reason)
    panel.add_progress(SimpleNamespace(result=refused, done=3, total=3, elapsed_s=1.0, resumed=0))
    model = panel.model
    for column in range(3, 3 + len(labels)):
        assert model.index(0, column).data() == model.index(1, column).data()
    assert model.index(0, 3).data() in ("12.3 %", "12.4 %")
    message = model.index(2, model.columnCount() - 1)
    assert message.data() == GATE_DISTANCE_REASON
    assert GATE_DISTANCE_REASON.endswith("(ICU/portable, unusual exposure, or not a frontal chest film)")
    assert "feature distance 86.4, limit 52.3" in message.data(Qt.ItemDataRole.ToolTipRole)
    panel.finish(SimpleNamespace(cancelled=False, done=3, total=3, elapsed_s=1.0))
    assert panel.table.columnWidth(model.columnCount() - 1) >= MESSAGE_MIN_WIDTH
    panel.filter_edit.setText("frontal chest")
    assert panel.proxy.rowCount() == 1
