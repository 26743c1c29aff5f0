"""The Open dialog: every radiograph in a folder, DICOM files without an extension included.

Qt's name filters match extensions only, so a PACS export named ``IM0001`` stayed hidden under
the default filter. Here the default filter shows every file and a proxy keeps the ones
``radiview.io.discovery.is_candidate_file`` accepts: a known extension, or the DICOM preamble
("DICM" at byte 128, one 132-byte read per unknown file). Qt's own dialog is used: a native
one ignores proxy models.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel
from PySide6.QtWidgets import QFileDialog, QFileSystemModel, QWidget

from radiview.io.discovery import is_candidate_file

RADIOGRAPHS_FILTER = "Radiographs: DICOM (with or without extension), PNG, JPEG, TIFF, BMP (*)"
ALL_FILES_FILTER = "All files (*)"


class RadiographFilterProxy(QSortFilterProxyModel):
    """Folders, and files that are radiographs (by extension or by DICOM preamble)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.show_all = False
        self._verdicts: dict[str, bool] = {}  # path -> candidate (a folder is sniffed once)

    def set_show_all(self, show_all: bool) -> None:
        self.show_all = show_all
        self.invalidate()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        if self.show_all or not isinstance(model, QFileSystemModel):
            return True
        index = model.index(source_row, 0, source_parent)
        if model.isDir(index):
            return True
        path = model.filePath(index)
        if path not in self._verdicts:
            self._verdicts[path] = is_candidate_file(path)
        return self._verdicts[path]


def build_open_dialog(parent: QWidget | None, title: str, directory: str) -> QFileDialog:
    """A file dialog for one radiograph (not shown yet: ``exec()`` or ``open()`` it)."""
    dialog = QFileDialog(parent, title, directory)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    dialog.setNameFilters([RADIOGRAPHS_FILTER, ALL_FILES_FILTER])
    proxy = RadiographFilterProxy(dialog)
    dialog.setProxyModel(proxy)
    dialog.filterSelected.connect(lambda name: proxy.set_show_all(name == ALL_FILES_FILTER))
    return dialog


def choose_film(parent: QWidget | None, title: str, directory: str) -> str:
    """Ask for one radiograph; "" when cancelled."""
    dialog = build_open_dialog(parent, title, directory)
    try:
        if dialog.exec() != QFileDialog.DialogCode.Accepted:
            return ""
        files = dialog.selectedFiles()
        return files[0] if files else ""
    finally:
        dialog.deleteLater()
