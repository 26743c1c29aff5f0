"""Help > Keyboard shortcuts: lists every action that has a key, taken from the actions."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

MOUSE_HELP: tuple[tuple[str, str], ...] = (
    ("Wheel", "Zoom under the cursor"),
    ("Left-drag / middle-drag", "Pan"),
    ("Right-drag", "Window (horizontal) / level (vertical)"),
    ("Left-drag with a tool", "Length, ROI, arrow; CTR: heart span, then thoracic span"),
    ("Angle tool", "Drag the first arm to the vertex, then click the end of the second arm"),
)


class ShortcutsDialog(QDialog):
    def __init__(self, rows: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(520, 640)
        layout = QVBoxLayout(self)
        all_rows = [*rows, *MOUSE_HELP]
        self.table = QTableWidget(len(all_rows), 2)
        self.table.setHorizontalHeaderLabels(["Key", "Action"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i, (key, text) in enumerate(all_rows):
            self.table.setItem(i, 0, QTableWidgetItem(key))
            self.table.setItem(i, 1, QTableWidgetItem(text))
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
