"""The "Open from PACS" dialog and the node settings, live against the real Orthanc."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt

from radiview.gui.dialogs.pacs import PacsDialog
from radiview.gui.dialogs.pacs_nodes import PacsNodesDialog
from radiview.net.nodes import PacsNode, SecretStore, save_nodes
from tests.qt_cleanup import collect_qt_garbage  # noqa: F401  (autouse)

pytestmark = pytest.mark.orthanc


@pytest.fixture()
def config(
    orthanc: Any, web_node: Any, dimse_node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("RADIVIEW_CONFIG_DIR", str(tmp_path / "config"))
    dead = PacsNode(
        name="dead", url="http://127.0.0.1:9/dicom-web", http_timeout_s=2, association_timeout_s=2
    )
    path = save_nodes([web_node, dimse_node, dead])
    SecretStore().set(web_node.name, orthanc.password)
    return path


@pytest.mark.parametrize("node", ["test-web", "test-dimse"])
def test_search_browse_and_open_a_film(
    node: str, qtbot: Any, config: Path, pacs_data: Any, tmp_path: Path
) -> None:
    from radiview.io import load_radiograph

    dialog = PacsDialog()
    qtbot.addWidget(dialog)
    dialog.node_combo.setCurrentText(node)
    dialog.patient_name.setText("DOE^*")
    dialog.dates.setText("20260101-20260131")
    dialog.search()
    qtbot.waitUntil(lambda: dialog.studies.topLevelItemCount() == 1, timeout=20000)
    study_item = dialog.studies.topLevelItem(0)
    assert study_item.text(0) == "DOE, JANE" and study_item.text(3) == "ACC1001"
    dialog.studies.setCurrentItem(study_item)
    # Only the CR series is listed (its SR series is not a chest modality); it loads by itself.
    qtbot.waitUntil(lambda: dialog.thumbs.count() == 2, timeout=30000)
    assert dialog.series.topLevelItemCount() == 1 and dialog.series.topLevelItem(0).text(1) == "CR"
    item = dialog.thumbs.item(0)
    assert not item.icon().isNull()
    qtbot.waitUntil(lambda: not dialog.progress.isVisible(), timeout=10000)
    if node == "test-web":
        dialog.resize(1100, 640)
        dialog.grab().save(str(Path(os.environ.get("RADIVIEW_SCREENSHOT_DIR", tmp_path)) / "pacs_dialog.png"))
    with qtbot.waitSignal(dialog.film_chosen, timeout=2000) as signal:
        dialog.thumbs.itemDoubleClicked.emit(item)
    path = signal.args[0]
    assert Path(path).name in {f"{sop}.dcm" for sop in pacs_data.jane_films}
    assert load_radiograph(path).shape == (320, 288)


def test_a_dead_server_never_freezes_the_dialog(qtbot: Any, config: Path) -> None:
    dialog = PacsDialog()
    qtbot.addWidget(dialog)
    dialog.node_combo.setCurrentText("dead")
    start = time.monotonic()
    dialog.search()
    assert time.monotonic() - start < 0.5  # the search runs in the background
    assert dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: "cannot connect" in dialog.status.text(), timeout=15000)
    assert not dialog.progress.isVisible()


def test_node_settings_test_connection(qtbot: Any, config: Path, orthanc: Any) -> None:
    dialog = PacsNodesDialog()
    qtbot.addWidget(dialog)
    names = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    assert names == ["dead", "test-dimse", "test-web"]
    dialog.list.setCurrentRow(2)
    assert dialog.secret.text() == ""  # a stored secret is never shown back
    dialog.start_test()
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Connection"), timeout=20000)
    assert dialog.status.text().startswith("Connection OK: DICOMweb QIDO answered")
    dialog.list.setCurrentRow(1)
    dialog.start_test()
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Connection"), timeout=20000)
    assert "C-ECHO answered" in dialog.status.text()
    dialog.called_ae.setText("WRONG_AE")
    dialog.start_test()
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Connection"), timeout=20000)
    assert (
        "Connection failed" in dialog.status.text()
        and "Called AE title not recognised" in dialog.status.text()
    )
    dialog.called_ae.setText("A" * 16)
    dialog.calling_ae.setText("")
    assert not dialog.apply_form() and "calling AE title is empty" in dialog.status.text()
    assert dialog.list.currentItem().data(Qt.ItemDataRole.DisplayRole) == "test-dimse"


def test_settings_dialog_opens_the_pacs_nodes(qtbot: Any, config: Path) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from radiview.gui.dialogs.settings import SettingsDialog
    from radiview.settings import Settings

    dialog = SettingsDialog(Settings(), devices=["auto", "cpu"])
    qtbot.addWidget(dialog)
    seen: list[str] = []

    def close_nodes_dialog() -> None:
        modal = QApplication.activeModalWidget()
        if isinstance(modal, PacsNodesDialog):
            seen.append(modal.windowTitle())
            modal.reject()

    QTimer.singleShot(200, close_nodes_dialog)
    dialog.pacs_button.click()
    assert seen == ["PACS nodes"]


def test_screen_selected_studies_and_send_results_from_the_dialog(
    qtbot: Any, config: Path, pacs_data: Any, tiny_bundle: Path, tmp_path: Path, orthanc: Any, web_node: Any
) -> None:
    from radiview.batch.csv_report import read_csv_report
    from radiview.net.dicomweb import DicomWebConnection

    dialog = PacsDialog(model=str(tiny_bundle))
    qtbot.addWidget(dialog)
    dialog.node_combo.setCurrentText("test-web")
    dialog.patient_id.setText("RV002")
    dialog.search()
    qtbot.waitUntil(lambda: dialog.studies.topLevelItemCount() == 1, timeout=20000)
    dialog.studies.topLevelItem(0).setSelected(True)
    dialog.send_results_check.setChecked(True)
    out = tmp_path / "gui-report.csv"
    dialog.screen_selected(out)
    qtbot.waitUntil(lambda: "films screened" in dialog.status.text(), timeout=60000)
    assert "1 films screened" in dialog.status.text() and "1 results sent" in dialog.status.text()
    [row] = read_csv_report(out)
    assert (row["file"], row["study_uid"]) == (pacs_data.richard_film, pacs_data.richard_study)
    modalities = {
        s.modality
        for s in DicomWebConnection(web_node, orthanc.password).find_series(pacs_data.richard_study)
    }
    assert modalities == {"DX", "OT", "SR"}  # the film, its Secondary Capture, its SR
