"""First-run dialog: the user acknowledges that RadiView is research software."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from radiview import RESEARCH_NOTICE

NOTICE_DETAILS = (
    "RadiView shows a machine-learning model's reading of chest X-rays as a second opinion for "
    "research and teaching. It is not a medical device, has not been cleared or approved by any "
    "regulator, and has not been validated outside its training sources. Its probabilities can be "
    "confidently wrong, especially on films unlike its training data, and its heatmaps show where "
    "the model looked, not where a finding is. Do not use it to diagnose, treat or triage patients."
)


class AcknowledgeDialog(QDialog):
    """OK is enabled only once the checkbox is ticked; ``exec()`` returns Accepted then."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("RadiView: research software")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        title = QLabel(f"<h3>{RESEARCH_NOTICE}</h3>")
        title.setWordWrap(True)
        layout.addWidget(title)
        body = QLabel(NOTICE_DETAILS)
        body.setWordWrap(True)
        layout.addWidget(body)
        self.check = QCheckBox("I understand that RadiView is not for diagnosis or clinical decisions.")
        layout.addWidget(self.check)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Continue")
        self.ok_button.setEnabled(False)
        self.check.toggled.connect(self.ok_button.setEnabled)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    @property
    def acknowledged(self) -> bool:
        return self.check.isChecked() and self.result() == QDialog.DialogCode.Accepted
