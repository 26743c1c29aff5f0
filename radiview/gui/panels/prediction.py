"""The AI finding: the top class in a clinician's words, the warnings that qualify it, the
probabilities in one format, the gate's refusal, and the heatmap controls with their scale."""

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
from radiview.gui.panels.colorbar import ColorBar
from radiview.gui.viewer import ATTENTION_LABEL
from radiview.inference.wording import (
    FOUR_CLASS_NOTE,
    class_title,
    finding_title,
    format_probability,
    human_gate_reason,
)
from radiview.render import fade_text
from radiview.settings import COLORMAPS

PANEL_TITLE = "AI finding"
TOP_CLASS = "Top class"
DEFAULT_LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")
#: The panel never gets narrower than this, so a restored or dragged dock cannot clip it.
MIN_PANEL_WIDTH = 300

_BAR_STYLE = (
    "QProgressBar {{ border: 1px solid #555; border-radius: 3px; background: #262626;"
    " text-align: center; color: #f0f0f0; min-height: 18px; }}"
    " QProgressBar::chunk {{ background: {color}; border-radius: 2px; }}"
)
_TOP_COLOR = "#d9822b"
_OTHER_COLOR = "#4a6d8c"
_WARNING_STYLE = (
    "QLabel { background: #4a3a12; border: 1px solid #e0b040; border-radius: 4px;"
    " padding: 6px; color: #ffe8b0; }"
)


def label_title(label: str) -> str:
    """Kept for callers of the old name: the human class title."""
    return class_title(label)


def _wrapping_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


class PredictionPanel(QWidget):
    """The reading (or refusal) of the film on screen; empty when no film is open."""

    overlay_toggled = Signal(bool)
    opacity_changed = Signal(float)
    colormap_changed = Signal(str)
    explain_label_changed = Signal(str)  # "" = top class

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(MIN_PANEL_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)

        self.finding_label = _wrapping_label()
        self.finding_label.setStyleSheet("font-size: 15pt; font-weight: bold;")
        self.finding_label.setToolTip(FOUR_CLASS_NOTE)
        layout.addWidget(self.finding_label)
        self.status_label = _wrapping_label("No film open.")
        layout.addWidget(self.status_label)

        self.warnings_box = _wrapping_label()
        self.warnings_box.setObjectName("readingWarnings")
        self.warnings_box.setStyleSheet(_WARNING_STYLE)
        self.warnings_box.hide()
        layout.addWidget(self.warnings_box)
        self.flags: tuple[Any, ...] = ()

        self.refusal_box = _wrapping_label()
        self.refusal_box.setStyleSheet(
            "QLabel { background: #4a2a12; border: 1px solid #d9822b; border-radius: 4px;"
            " padding: 6px; color: #ffe0c0; }"
        )
        self.refusal_box.hide()
        layout.addWidget(self.refusal_box)

        self.bars_box = QGroupBox("Probabilities (calibrated)")
        self.bars_box.setToolTip(FOUR_CLASS_NOTE)
        self._bars_layout = QGridLayout(self.bars_box)
        self._bars_layout.setColumnStretch(1, 1)
        self.bars: dict[str, QProgressBar] = {}
        self.bar_labels: dict[str, QLabel] = {}
        self.set_labels(DEFAULT_LABELS)
        layout.addWidget(self.bars_box)
        layout.addWidget(self._build_overlay_box())

        self.model_label = _wrapping_label("Model: not loaded")
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.model_label)
        notice = _wrapping_label(f"<b>{RESEARCH_NOTICE}</b>")
        notice.setStyleSheet("color: #ffb060;")
        layout.addWidget(notice)
        layout.addStretch(1)
        self._fill_class_combo(DEFAULT_LABELS)
        self.show_prediction(None)

    def _build_overlay_box(self) -> QGroupBox:
        overlay = QGroupBox("Heatmap (model attention)")
        form = QFormLayout(overlay)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.overlay_check = QCheckBox("Show heatmap (H)")
        self.overlay_check.setToolTip("Off on every new film unless pinned below")
        self.overlay_check.toggled.connect(self.overlay_toggled)
        form.addRow(self.overlay_check)
        self.pin_check = QCheckBox("Keep on for the next films")
        self.pin_check.setToolTip("Pin: a new film opens with the heatmap shown")
        form.addRow(self.pin_check)
        self.class_combo = QComboBox()
        self.class_combo.currentIndexChanged.connect(self._on_class_combo_changed)
        form.addRow("Class", self.class_combo)
        self.heatmap_note = _wrapping_label()
        self.heatmap_note.setStyleSheet("color: #d0d0d0;")
        form.addRow(self.heatmap_note)
        self.color_bar = ColorBar()
        form.addRow(self.color_bar)
        self.fade_label = _wrapping_label(f"<small>{fade_text()}</small>")
        form.addRow(self.fade_label)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(45)
        self.opacity_slider.valueChanged.connect(self._on_opacity_changed)
        form.addRow("Opacity", self.opacity_slider)
        self.colormap_combo = QComboBox()
        self.colormap_combo.addItems(COLORMAPS)
        self.colormap_combo.currentTextChanged.connect(self._on_colormap_changed)
        form.addRow("Colours", self.colormap_combo)
        form.addRow(_wrapping_label(f"<i>{ATTENTION_LABEL}.</i>"))
        return overlay

    # ----- configuration ----------------------------------------------------------------------
    def set_labels(self, labels: tuple[str, ...]) -> None:
        """One bar per model label (from the model card)."""
        for widget in (*self.bars.values(), *self.bar_labels.values()):
            widget.deleteLater()
        self.bars.clear()
        self.bar_labels.clear()
        for row, label in enumerate(labels):
            name = QLabel(class_title(label))
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
            self.class_combo.addItem(class_title(label), label)
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

    @property
    def pinned(self) -> bool:
        return self.pin_check.isChecked()

    def _on_class_combo_changed(self, _index: int) -> None:
        self.explain_label_changed.emit(self.chosen_label())

    def _on_opacity_changed(self, value: int) -> None:
        self.color_bar.set_opacity(value / 100.0)
        self.opacity_changed.emit(value / 100.0)

    def _on_colormap_changed(self, name: str) -> None:
        self.color_bar.set_colormap(name)
        self.colormap_changed.emit(name)

    # ----- state ------------------------------------------------------------------------------
    def show_status(self, text: str) -> None:
        self.status_label.setText(text)

    def show_heatmap_note(self, text: str) -> None:
        """Why no map is shown, or what the shown map hides (outside the body, markers)."""
        self.heatmap_note.setText(text)

    def clear(self, status: str = "No film open.") -> None:
        """Nothing of any film: no finding, warnings, bars, refusal or heatmap note."""
        self.show_prediction(None)
        self.show_status(status)

    def show_prediction(self, prediction: Any, flags: tuple[Any, ...] = ()) -> None:
        """Bars and warnings for an accepted film; the refusal and its reason otherwise."""
        self._show_flags(flags if prediction is not None else ())
        self.finding_label.setText("")
        self.finding_label.setVisible(False)
        self.heatmap_note.setText("")
        if prediction is None:
            self.refusal_box.hide()
            self._reset_bars()
            return
        if not prediction.accepted:
            self._show_refusal(prediction.gate.reason)
            return
        self.refusal_box.hide()
        self.bars_box.setEnabled(True)
        top = prediction.top_label
        for label, bar in self.bars.items():
            p = prediction.probability(label) if label in prediction.labels else 0.0
            bar.setValue(round(p * 1000))
            bar.setFormat(format_probability(p))
            is_top = label == top
            bar.setStyleSheet(_BAR_STYLE.format(color=_TOP_COLOR if is_top else _OTHER_COLOR))
            self._set_bold(label, is_top)
        probability = format_probability(prediction.probability(top)).replace(" ", "\u00a0")
        self.finding_label.setText(f"{finding_title(top or '')} · {probability}")
        self.finding_label.setVisible(True)
        self.status_label.setText("Most likely of the model's four classes; it cannot see other disease.")

    def _show_refusal(self, raw_reason: str) -> None:
        reason, detail = human_gate_reason(raw_reason or "the film is unlike the training data")
        self.refusal_box.setText(
            "<b>Not analysed: the input gate refused this image.</b><br>"
            f"Reason: {reason}<br>"
            "The model gives no class answer for images outside what it was trained on "
            "(frontal chest X-rays)."
        )
        self.refusal_box.setToolTip(detail or raw_reason)
        self.refusal_box.show()
        self.status_label.setText("Refused by the input gate.")
        self._reset_bars()

    def _reset_bars(self) -> None:
        for label, bar in self.bars.items():
            bar.setValue(0)
            bar.setFormat("–")
            bar.setStyleSheet(_BAR_STYLE.format(color=_OTHER_COLOR))
            self._set_bold(label, False)
        self.bars_box.setEnabled(False)

    def _show_flags(self, flags: tuple[Any, ...]) -> None:
        self.flags = tuple(flags)
        if not flags:
            self.warnings_box.setText("")
            self.warnings_box.setToolTip("")
            self.warnings_box.hide()
            return
        lines = "".join(f"<br>⚠ {flag.text}" for flag in flags)
        self.warnings_box.setText(f"<b>Read with care:</b>{lines}")
        self.warnings_box.setToolTip("\n".join(f"{flag.text}: {flag.detail}" for flag in flags))
        self.warnings_box.show()

    def _set_bold(self, label: str, bold: bool) -> None:
        widget = self.bar_labels.get(label)
        if widget is not None:
            font = widget.font()
            font.setBold(bold)
            widget.setFont(font)
