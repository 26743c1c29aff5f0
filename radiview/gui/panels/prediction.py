"""The AI second reader's answer: class probabilities, the gate's verdict, overlay controls."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QProgressBar,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from radiview import RESEARCH_NOTICE
from radiview.gui.viewer import ATTENTION_LABEL
from radiview.settings import COLORMAPS

TOP_CLASS = "Top class"
DEFAULT_LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")
LABEL_TITLES = {
    "normal": "Normal",
    "bacterial_pneumonia": "Bacterial pneumonia",
    "viral_pneumonia": "Viral pneumonia",
    "covid19": "COVID-19",
}

_BAR_STYLE = (
    "QProgressBar {{ border: 1px solid #555; border-radius: 3px; background: #262626;"
    " text-align: center; color: #f0f0f0; min-height: 18px; }}"
    " QProgressBar::chunk {{ background: {color}; border-radius: 2px; }}"
)
_TOP_COLOR = "#d9822b"
_OTHER_COLOR = "#4a6d8c"


def label_title(label: str) -> str:
    return LABEL_TITLES.get(label, label.replace("_", " ").capitalize())


class PredictionPanel(QWidget):
    """Probabilities as bars (top class highlighted), or the gate's refusal and its reason."""

    overlay_toggled = Signal(bool)
    opacity_changed = Signal(float)
    colormap_changed = Signal(str)
    explain_label_changed = Signal(str)  # "" = top class

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)

        self.status_label = QLabel("No film open.")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)

        self.refusal_box = QLabel()
        self.refusal_box.setWordWrap(True)
        self.refusal_box.setStyleSheet(
            "QLabel { background: #4a2a12; border: 1px solid #d9822b; border-radius: 4px;"
            " padding: 6px; color: #ffe0c0; }"
        )
        self.refusal_box.hide()
        layout.addWidget(self.refusal_box)

        self.bars_box = QGroupBox("Calibrated probabilities")
        self._bars_layout = QGridLayout(self.bars_box)
        self._bars_layout.setColumnStretch(1, 1)
        self.bars: dict[str, QProgressBar] = {}
        self.bar_labels: dict[str, QLabel] = {}
        self.set_labels(DEFAULT_LABELS)
        layout.addWidget(self.bars_box)

        overlay = QGroupBox("Heatmap overlay")
        form = QFormLayout(overlay)
        self.overlay_check = QCheckBox("Show heatmap (H)")
        self.overlay_check.toggled.connect(self.overlay_toggled)
        form.addRow(self.overlay_check)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(45)
        self.opacity_slider.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100.0))
        form.addRow("Opacity", self.opacity_slider)
        self.colormap_combo = QComboBox()
        self.colormap_combo.addItems(COLORMAPS)
        self.colormap_combo.currentTextChanged.connect(self.colormap_changed)
        form.addRow("Colormap", self.colormap_combo)
        self.class_combo = QComboBox()
        self.class_combo.currentIndexChanged.connect(self._on_class_combo_changed)
        form.addRow("Class", self.class_combo)
        attention = QLabel(f"<i>{ATTENTION_LABEL}.</i>")
        attention.setWordWrap(True)
        form.addRow(attention)
        layout.addWidget(overlay)

        self.model_label = QLabel("Model: not loaded")
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.model_label)
        notice = QLabel(f"<b>{RESEARCH_NOTICE}</b>")
        notice.setWordWrap(True)
        notice.setStyleSheet("color: #ffb060;")
        layout.addWidget(notice)
        layout.addStretch(1)
        self._fill_class_combo(DEFAULT_LABELS)
        self.show_prediction(None)

    # ----- configuration ----------------------------------------------------------------------
    def set_labels(self, labels: tuple[str, ...]) -> None:
        """One bar per model label (from the model card)."""
        for widget in (*self.bars.values(), *self.bar_labels.values()):
            widget.deleteLater()
        self.bars.clear()
        self.bar_labels.clear()
        for row, label in enumerate(labels):
            name = QLabel(label_title(label))
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setFormat("–")
            bar.setStyleSheet(_BAR_STYLE.format(color=_OTHER_COLOR))
            self._bars_layout.addWidget(name, row, 0)
            self._bars_layout.addWidget(bar, row, 1)
            self.bars[label] = bar
            self.bar_labels[label] = name
        if hasattr(self, "class_combo"):
            self._fill_class_combo(labels)

    def _fill_class_combo(self, labels: tuple[str, ...]) -> None:
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem(TOP_CLASS, "")
        for label in labels:
            self.class_combo.addItem(label_title(label), label)
        self.class_combo.blockSignals(False)

    def set_model(self, card: Any, device: str) -> None:
        self.set_labels(tuple(card.labels))
        self.model_label.setText(f"Model: <b>{card.name}</b> v{card.version} on {device}")

    def set_model_error(self, message: str) -> None:
        self.model_label.setText(f"<span style='color:#ff8080'>Model unavailable: {message}</span>")

    def set_overlay_defaults(self, opacity: float, colormap: str) -> None:
        self.opacity_slider.setValue(round(opacity * 100))
        index = self.colormap_combo.findText(colormap)
        if index >= 0:
            self.colormap_combo.setCurrentIndex(index)

    def chosen_label(self) -> str:
        return str(self.class_combo.currentData() or "")

    def _on_class_combo_changed(self, _index: int) -> None:
        self.explain_label_changed.emit(self.chosen_label())

    # ----- state ------------------------------------------------------------------------------
    def show_status(self, text: str) -> None:
        self.status_label.setText(text)

    def show_prediction(self, prediction: Any) -> None:
        """Bars for an accepted film; the refusal and its reason (no class answer) otherwise."""
        if prediction is None:
            self.refusal_box.hide()
            for label, bar in self.bars.items():
                bar.setValue(0)
                bar.setFormat("–")
                bar.setStyleSheet(_BAR_STYLE.format(color=_OTHER_COLOR))
                self._set_bold(label, False)
            self.bars_box.setEnabled(False)
            return
        if not prediction.accepted:
            reason = prediction.gate.reason or "the film is unlike the training data"
            self.refusal_box.setText(
                "<b>Not analysed: the input gate refused this image.</b><br>"
                f"Reason: {reason}<br>"
                "The model gives no class answer for images outside what it was trained on "
                "(frontal chest X-rays)."
            )
            self.refusal_box.show()
            self.status_label.setText("Refused by the input gate.")
            for label, bar in self.bars.items():
                bar.setValue(0)
                bar.setFormat("–")
                self._set_bold(label, False)
            self.bars_box.setEnabled(False)
            return
        self.refusal_box.hide()
        self.bars_box.setEnabled(True)
        top = prediction.top_label
        for label, bar in self.bars.items():
            p = prediction.probability(label) if label in prediction.labels else 0.0
            bar.setValue(round(p * 1000))
            bar.setFormat(f"{p * 100:.1f} %")
            is_top = label == top
            bar.setStyleSheet(_BAR_STYLE.format(color=_TOP_COLOR if is_top else _OTHER_COLOR))
            self._set_bold(label, is_top)
        self.status_label.setText(
            f"Most likely: <b>{label_title(top or '')}</b> ({prediction.probability(top) * 100:.1f} %)"
        )

    def _set_bold(self, label: str, bold: bool) -> None:
        widget = self.bar_labels.get(label)
        if widget is not None:
            font = widget.font()
            font.setBold(bold)
            widget.setFont(font)
