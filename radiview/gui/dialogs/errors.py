"""Error dialogs: a specific one per expected failure, and one for unexpected exceptions.

Dialogs are opened with ``open()`` (window-modal, non-blocking) so a worker's error never
stalls the event loop, and tests can inspect and close them.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


class ErrorDialog(QMessageBox):
    """Title + one-line problem ("file: problem"); a traceback goes in the details."""

    def __init__(self, parent: QWidget | None, title: str, message: str, details: str = "") -> None:
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Critical if details else QMessageBox.Icon.Warning)
        self.setWindowTitle(title)
        self.setText(f"<b>{title}</b>")
        self.setInformativeText(message)
        if details:
            self.setDetailedText(details)
        self.setStandardButtons(QMessageBox.StandardButton.Ok)
        self.title = title
        self.message = message
        self.details = details


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> ErrorDialog:
    """Open an ErrorDialog without blocking; returns it (it deletes itself when closed)."""
    dialog = ErrorDialog(parent, title, message, details)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog
