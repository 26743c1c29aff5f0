"""What the film area shows when no film is open: how to open one, or why the last one failed."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

HINT_TITLE = "No film open"
HINT_TEXT = (
    "Open a chest radiograph (DICOM, PNG or JPEG), or drag and drop a file here. "
    "Drop a folder to screen every film in it."
)


class EmptyFilmHint(QWidget):
    """An overlay that covers its parent (the viewer) whenever no film is shown."""

    open_requested = Signal()
    sample_requested = Signal(str)  # path of a sample film

    def __init__(self, parent: QWidget, samples: list[Path] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyFilmHint")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            "QWidget#emptyFilmHint { background: #101010; }"
            " QFrame#hintCard { background: #1c1c1c; border: 1px dashed #666; border-radius: 10px; }"
            " QLabel { color: #e0e0e0; }"
        )
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        card = QFrame()
        card.setObjectName("hintCard")
        card.setMaximumWidth(520)
        inner = QVBoxLayout(card)
        inner.setContentsMargins(24, 20, 24, 20)
        self.title_label = QLabel(HINT_TITLE)
        self.title_label.setStyleSheet("font-size: 16pt; font-weight: bold;")
        self.title_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        inner.addWidget(self.title_label)
        self.text_label = QLabel(HINT_TEXT)
        self.text_label.setWordWrap(True)
        self.text_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        inner.addWidget(self.text_label)
        self.problem_label = QLabel("")
        self.problem_label.setWordWrap(True)
        self.problem_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.problem_label.setStyleSheet("color: #ffb0a0;")
        self.problem_label.hide()
        inner.addWidget(self.problem_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open a film (Ctrl+O)")
        self.open_button.clicked.connect(self.open_requested)
        buttons.addWidget(self.open_button)
        self.sample_button = QPushButton("Open a sample film")
        self.sample_menu = QMenu(self.sample_button)
        self.sample_button.setMenu(self.sample_menu)
        buttons.addWidget(self.sample_button)
        buttons.addStretch(1)
        inner.addLayout(buttons)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
        self.set_samples(samples or [])
        parent.installEventFilter(self)
        self.setGeometry(parent.rect())

    def set_samples(self, samples: list[Path]) -> None:
        """One menu entry per sample film; the button hides when there are none."""
        self.sample_menu.clear()
        for path in samples:
            action = self.sample_menu.addAction(path.name)
            action.triggered.connect(lambda _=False, p=str(path): self.sample_requested.emit(p))
        self.sample_button.setVisible(bool(samples))
        where = f"{len(samples)} demo films from {samples[0].parent}" if samples else ""
        self.sample_button.setToolTip(where)

    def sample_names(self) -> list[str]:
        return [a.text() for a in self.sample_menu.actions()]

    def show_state(self, title: str = HINT_TITLE, problem: str = "") -> None:
        """The headline ("No film open", "Loading x…", "Could not open x") and, after a failed
        open, the problem, shown where the film would have been."""
        self.title_label.setText(title)
        self.problem_label.setText(problem)
        self.problem_label.setVisible(bool(problem))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        parent = self.parentWidget()
        if parent is not None and watched is parent and event.type() == QEvent.Type.Resize:
            self.setGeometry(parent.rect())
        return False
