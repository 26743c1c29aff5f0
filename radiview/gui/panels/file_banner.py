"""A non-modal strip over the top of the film: why a file could not be opened, in plain words.

A modal dialog for every broken file stalled PageDown through a folder; this banner leaves the
keyboard with the film area, so the reader steps on, and it goes when the next film opens.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

_STYLE = (
    "QWidget#fileProblemBanner { background: #5a2a10; border-bottom: 1px solid #e08040; }"
    " QLabel { color: #ffe0c8; } QToolButton { color: #ffe0c8; border: none; }"
)


def plain_problem(message: str, path: str | None) -> str:
    """``"/long/path/cut.dcm: file incomplete: …"`` → ``"file incomplete: …"`` (the banner
    names the file once, by its name)."""
    for prefix in filter(None, (path, os.path.abspath(path) if path else None)):
        if message.startswith(f"{prefix}: "):
            return message[len(prefix) + 2 :]
    return message


class FileProblemBanner(QWidget):
    """Overlay across the top of ``parent`` (the viewer); hidden until ``show_problem``."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("fileProblemBanner")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(_STYLE)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.label, 1)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Hide this message")
        self.close_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.close_button.clicked.connect(self.hide)
        row.addWidget(self.close_button)
        parent.installEventFilter(self)
        self.hide()

    def show_problem(self, path: str | None, message: str, hint: str = "") -> None:
        name = os.path.basename(path or "") or "the file"
        words = plain_problem(message, path)
        self.label.setText(
            f"⚠ Could not open <b>{name}</b>: {words}" + (f"<br><small>{hint}</small>" if hint else "")
        )
        self.setToolTip(message)
        self._fit()
        self.show()
        self.raise_()

    def text(self) -> str:
        return self.label.text()

    def _fit(self) -> None:
        parent = self.parentWidget()
        if parent is not None:
            width = parent.width()
            self.setGeometry(
                0,
                0,
                width,
                self.heightForWidth(width) if self.hasHeightForWidth() else self.sizeHint().height(),
            )

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize:
            self._fit()
        return False
