"""The settings dialog: collects a new Settings value; the main window saves and applies it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from radiview.gui.annotations import CornerFieldsEditor
from radiview.settings import COLORMAPS, Settings

DEVICE_TITLES = {
    "auto": "Automatic (GPU if available)",
    "cpu": "CPU",
    "cuda": "GPU (CUDA)",
    "mps": "GPU (Apple MPS)",
}


def list_devices() -> list[str]:
    """Devices usable here ("auto", "cpu", then any GPU), from radiview.inference."""
    try:
        from radiview.inference.device import available_devices

        return list(available_devices())
    except ImportError:  # a build without torch still lets the user open the dialog
        return ["auto", "cpu"]


class SettingsDialog(QDialog):
    def __init__(
        self, settings: Settings, devices: Sequence[str] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(480)
        self._original = settings
        form = QFormLayout(self)

        self.device_combo = QComboBox()
        names = list(devices) if devices is not None else list_devices()
        if settings.device not in names:
            names.append(settings.device)  # keep a saved GPU choice visible on a CPU-only machine
        for name in names:
            self.device_combo.addItem(DEVICE_TITLES.get(name, name), name)
        self.device_combo.setCurrentIndex(max(0, names.index(settings.device)))
        form.addRow("Run the model on", self.device_combo)

        model_row = QHBoxLayout()
        self.model_edit = QLineEdit(settings.model_dir)
        self.model_edit.setPlaceholderText("The bundled model")
        self.model_edit.setToolTip(
            "A model bundle, or a site bundle made by 'radiview site adapt' (adapted to your hospital)"
        )
        model_row.addWidget(self.model_edit, 1)
        model_browse = QPushButton("Browse…")
        model_browse.clicked.connect(self._browse_model)
        model_row.addWidget(model_browse)
        model_holder = QWidget()
        model_holder.setLayout(model_row)
        model_row.setContentsMargins(0, 0, 0, 0)
        form.addRow("Model", model_holder)

        self.opacity_spin = QDoubleSpinBox()
        self.opacity_spin.setRange(0.0, 1.0)
        self.opacity_spin.setSingleStep(0.05)
        self.opacity_spin.setValue(settings.overlay_opacity)
        form.addRow("Heatmap opacity", self.opacity_spin)

        self.colormap_combo = QComboBox()
        self.colormap_combo.addItems(COLORMAPS)
        self.colormap_combo.setCurrentText(settings.colormap)
        form.addRow("Heatmap colormap", self.colormap_combo)

        row = QHBoxLayout()
        self.report_edit = QLineEdit(settings.report_dir)
        self.report_edit.setPlaceholderText("Home folder")
        row.addWidget(self.report_edit, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(browse)
        holder = QWidget()
        holder.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        form.addRow("Report folder", holder)

        self.strip_check = QCheckBox("Leave patient name, ID and birth date out of exported views")
        self.strip_check.setChecked(settings.strip_identifiers)
        form.addRow(self.strip_check)
        self.recursive_check = QCheckBox("Screen subfolders too")
        self.recursive_check.setChecked(settings.batch_recursive)
        form.addRow(self.recursive_check)
        self.corner_fields_editor = CornerFieldsEditor(settings.corner_fields)
        form.addRow("Corner annotations", self.corner_fields_editor)
        self.pacs_button = QPushButton("PACS nodes…")  # radiview/gui/dialogs/pacs_nodes.py
        self.pacs_button.clicked.connect(self._edit_pacs_nodes)
        form.addRow("PACS", self.pacs_button)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _edit_pacs_nodes(self) -> None:
        from radiview.gui.dialogs.pacs_nodes import PacsNodesDialog

        PacsNodesDialog(self).exec()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Report folder", self.report_edit.text())
        if folder:
            self.report_edit.setText(folder)

    def _browse_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model or site bundle folder", self.model_edit.text())
        if folder:
            self.model_edit.setText(folder)

    @property
    def settings(self) -> Settings:
        """The settings as edited (unchanged fields kept from the original)."""
        return replace(
            self._original,
            device=str(self.device_combo.currentData()),
            model_dir=self.model_edit.text().strip(),
            overlay_opacity=round(self.opacity_spin.value(), 3),
            colormap=self.colormap_combo.currentText(),
            report_dir=self.report_edit.text().strip(),
            strip_identifiers=self.strip_check.isChecked(),
            batch_recursive=self.recursive_check.isChecked(),
            corner_fields=self.corner_fields_editor.fields(),
        )
