"""Issue 21's broken files: a non-modal banner in plain words, PageDown goes on, and the Open
dialog lists DICOM files without an extension (sniffed by their preamble)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from radiview.gui.open_dialog import ALL_FILES_FILTER, build_open_dialog
from tests.gui.conftest import film_pixels, open_and_wait, write_dicom


def broken_folder(root: Path) -> Path:
    root.mkdir()
    Image.fromarray(film_pixels(80, 70, 255).astype(np.uint8)).save(root / "a_good.png")
    big = write_dicom(root / "full.dcm", film_pixels(1200, 1000))
    data = big.read_bytes()
    (root / "b_cut.dcm").write_bytes(data[: int(len(data) * 0.34)])
    ds = pydicom.dcmread(big)
    del ds.PixelData
    ds.save_as(root / "c_nopix.dcm")
    big.unlink()
    Image.fromarray(film_pixels(80, 70, 255, seed=1).astype(np.uint8)).save(root / "d_good.png")
    return root


def page_down(qtbot, window):  # type: ignore[no-untyped-def]
    qtbot.keyClick(window.viewer, Qt.Key.Key_PageDown)


def test_page_down_through_broken_files_without_a_dialog(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    shown: list[tuple[str, str]] = []
    window = make_window(error_presenter=lambda _p, title, message, _d: shown.append((title, message)))
    folder = broken_folder(tmp_path / "films")
    open_and_wait(qtbot, window, folder / "a_good.png", analysed=False)
    banner = window.reading.file_banner
    assert not banner.isVisible()

    with qtbot.waitSignal(window.error_shown, timeout=30000):
        page_down(qtbot, window)
    assert banner.isVisible() and QApplication.activeModalWidget() is None and shown == []
    text = banner.text()
    assert "b_cut.dcm" in text and re.search(r"file incomplete: [\d.]+ of [\d.]+ MB", text), text
    assert "ValueError" not in text and "PageDown" in text

    with qtbot.waitSignal(window.error_shown, timeout=30000):
        page_down(qtbot, window)  # the keys still reach the film area
    assert "c_nopix.dcm" in banner.text() and "DICOM without pixel data" in banner.text()
    assert "truncated" not in banner.text()

    with qtbot.waitSignal(window.film_loaded, timeout=30000):
        page_down(qtbot, window)
    assert Path(window.session.radiograph.source).name == "d_good.png"
    assert not banner.isVisible() and shown == []


def test_open_dialog_lists_dicom_without_an_extension(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "export"
    folder.mkdir()
    write_dicom(folder / "IM0001", film_pixels(40, 30))  # a PACS export: no extension
    write_dicom(folder / "study.dcm", film_pixels(40, 30))
    Image.fromarray(film_pixels(40, 30, 255).astype(np.uint8)).save(folder / "film.png")
    (folder / "README").write_text("not a film")
    (folder / "notes.txt").write_text("not a film either")
    dialog = build_open_dialog(None, "Open", str(folder))
    qtbot.addWidget(dialog)
    dialog.show()
    proxy = dialog.proxyModel()
    source = proxy.sourceModel()

    def names() -> set[str]:
        parent = proxy.mapFromSource(source.index(str(folder)))
        return {proxy.index(r, 0, parent).data() for r in range(proxy.rowCount(parent))}

    qtbot.waitUntil(lambda: len(names()) >= 3, timeout=10000)
    assert names() == {"IM0001", "study.dcm", "film.png"}
    dialog.selectNameFilter(ALL_FILES_FILTER)
    dialog.filterSelected.emit(ALL_FILES_FILTER)
    qtbot.waitUntil(lambda: "README" in names(), timeout=10000)
    assert names() == {"IM0001", "study.dcm", "film.png", "README", "notes.txt"}
