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
from radiview.inference.headline import build_headline, display_probability
from radiview.inference.wording import (
    FOUR_CLASS_NOTE,
    NOT_ASSESSED_LINE,
    class_title,
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
#: Over this share of the heatmap outside the lung fields, the panel warns.
OUTSIDE_LUNG_WARNING_ABOVE = 0.5
OUTSIDE_LUNG_TEXT = "model attention mostly outside the lungs: treat with caution"
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
        self.cause_label = _wrapping_label()  # step two: which cause the pattern is most like
        self.cause_label.setObjectName("readingCause")
        self.cause_label.setStyleSheet("font-size: 11pt;")
        layout.addWidget(self.cause_label)
        self.status_label = _wrapping_label("No film open.")
        layout.addWidget(self.status_label)

        self.warnings_box = _wrapping_label()
        self.warnings_box.setObjectName("readingWarnings")
        self.warnings_box.setStyleSheet(_WARNING_STYLE)
        self.warnings_box.hide()
        layout.addWidget(self.warnings_box)
        self.flags: tuple[Any, ...] = ()
        self.outside_lung_share: float | None = None
        self.card: Any = None

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
        self.card = card
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
        """The two-step headline, bars and warnings for an accepted film; the refusal and its
        reason otherwise (radiview.inference.headline words both steps)."""
        self.finding_label.setText("")
        self.finding_label.setVisible(False)
        self.cause_label.setText("")
        self.cause_label.setVisible(False)
        self.heatmap_note.setText("")
        self.outside_lung_share = None
        headline = build_headline(prediction, self.card)
        self._show_flags(flags if headline is not None else (), reading=headline is not None)
        if prediction is None:
            self.refusal_box.hide()
            self._reset_bars()
            return
        if headline is None:
            self._show_refusal(prediction.gate.reason)
            return
        self.refusal_box.hide()
        self.bars_box.setEnabled(True)
        top = prediction.top_label
        for label, bar in self.bars.items():
            p = prediction.probability(label) if label in prediction.labels else 0.0
            bar.setValue(round(p * 1000))
            bar.setFormat(display_probability(p))
            is_top = label == top
            bar.setStyleSheet(_BAR_STYLE.format(color=_TOP_COLOR if is_top else _OTHER_COLOR))
            self._set_bold(label, is_top)
        lines = [line.replace(" %", "\u00a0%") for line in headline.lines()]
        self.finding_label.setText(lines[0])
        self.finding_label.setVisible(True)
        if len(lines) > 1:
            self.cause_label.setText(lines[1])
            self.cause_label.setVisible(True)
        self.status_label.setText("Of the model's four classes only; it cannot see other disease.")

    def show_outside_lung_share(self, share: float | None) -> None:
        """The lung-field estimate's share of the heatmap outside the lungs: over half is a
        warning line in the box (the attention is then mostly not on the lungs)."""
        self.outside_lung_share = share
        self._show_flags(self.flags, reading=not self.warnings_box.isHidden())

    def _show_refusal(self, raw_reason: str) -> None:
        reason, detail = human_gate_reason(raw_reason or "the film is unlike the training data")
        self.refusal_box.setText(
            "<b>Not analysed: the input gate refused this image.</b><br>"
            f"Reason: {reason}<br>"
            "The model gives no answer for a film unlike those it was trained on; a refusal is "
            "not a judgement of the film's quality."
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

    def _show_flags(self, flags: tuple[Any, ...], reading: bool = True) -> None:
        """The warning box of a reading: its flags, the attention warning, and the fixed line
        of what the model does not assess. No reading, no box."""
        self.flags = tuple(flags)
        if not reading:
            self.warnings_box.setText("")
            self.warnings_box.setToolTip("")
            self.warnings_box.hide()
            return
        texts = [flag.text for flag in flags]
        details = [f"{flag.text}: {flag.detail}" for flag in flags]
        share = self.outside_lung_share
        if share is not None and share > OUTSIDE_LUNG_WARNING_ABOVE:
            texts.append(OUTSIDE_LUNG_TEXT)
            details.append(
                f"{OUTSIDE_LUNG_TEXT}: {share * 100:.0f} % of the map lies outside the lung fields."
            )
        lines = "".join(f"<br>⚠ {text}" for text in texts)
        title = "<b>Read with care:</b>" if texts else "<b>Limits:</b>"
        self.warnings_box.setText(f"{title}{lines}<br><i>{NOT_ASSESSED_LINE}</i>")
        self.warnings_box.setToolTip("\n".join([*details, NOT_ASSESSED_LINE]))
        self.warnings_box.show()

    def _set_bold(self, label: str, bold: bool) -> None:
        widget = self.bar_labels.get(label)
        if widget is not None:
            font = widget.font()
            font.setBold(bold)
            widget.setFont(font)
