"""About RadiView: version, the research-use notice, the model card and the licences."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTabWidget, QTextBrowser, QVBoxLayout, QWidget

from radiview import RESEARCH_NOTICE, __version__
from radiview.gui.dialogs.model_card import (
    NOT_AVAILABLE,
    cell,
    flags_policy_html,
    key_title,
    metrics_html,
    site_html,
    table,
    training_data_html,
)
from radiview.inference.wording import class_title

LICENCES: tuple[tuple[str, str, str], ...] = (
    ("RadiView", "Apache-2.0", "This application."),
    (
        "MobileNetV3-Small ImageNet checkpoint",
        "Apache-2.0",
        "© Google (TensorFlow-Slim models); backbone initialisation.",
    ),
    ("Qt 6 / PySide6", "LGPL-3.0", "The Qt Company; used as a dynamically linked library."),
    ("PyTorch / torchvision", "BSD-3-Clause", "Meta Platforms and contributors."),
    ("pydicom", "MIT", "DICOM parsing."),
    ("pylibjpeg, pylibjpeg-openjpeg, pylibjpeg-rle", "MIT", "DICOM JPEG 2000 / RLE decoding."),
    ("python-gdcm", "BSD-3-Clause", "DICOM JPEG Lossless / JPEG-LS decoding."),
    ("pyjpegls (CharLS)", "MIT / BSD-3-Clause", "DICOM JPEG-LS decoding."),
    ("grad-cam (pytorch-grad-cam)", "MIT", "Grad-CAM heatmaps."),
    ("NumPy", "BSD-3-Clause", ""),
    ("Pillow", "MIT-CMU (HPND)", "PNG/JPEG reading."),
    ("Matplotlib", "PSF-based (Matplotlib licence)", "PDF reports."),
    ("OpenCV (opencv-python-headless)", "Apache-2.0", "Image operations inside grad-cam."),
    ("SciPy, scikit-learn", "BSD-3-Clause", "Pulled in by grad-cam."),
    (
        "NVIDIA CUDA / cuDNN runtime libraries",
        "NVIDIA software licence (redistributable)",
        "Shipped with PyPI's CUDA torch wheel, in the Linux installer; used only on an NVIDIA GPU.",
    ),
)

#: Licences of the data sources RadiView's models are trained on (from shared/data/README.md);
#: shown for each source the model card's training data names, when the card has no licences.
KNOWN_DATA_LICENCES: dict[str, str] = {
    "kermany": "CC BY 4.0 (Kermany, Zhang, Goldbaum; Mendeley Data 2018)",
    "kermany224": "CC BY 4.0 (224-px copies of the Kermany data set)",
    "ieee8023": "per-image licences (Apache-2.0, CC BY-NC-SA 4.0, CC BY 4.0, …); metadata CC BY-NC-SA 4.0",
    "actualmed": "no licence file; the README says research purposes only",
    "figure1": "no licence file; the README says research purposes only",
    "cxr_radiography": "no licence stated (Kaggle COVID-19 Radiography Database copy; RSNA/NIH films)",
}

_SKIP_CARD_KEYS = {"format_version", "weights_file", "site_reference"}


def _title(key: str) -> str:
    return html.escape(key_title(key))


def render_value_html(value: Any, depth: int = 0) -> str:
    """Nested dicts/lists → readable HTML (tables for flat number maps, lists otherwise)."""
    if isinstance(value, Mapping):
        if not value:
            return "<i>none</i>"
        if all(not isinstance(v, Mapping | list | tuple) for v in value.values()):
            rows = "".join(
                f"<tr><td style='padding-right:12px'>{_title(k)}</td><td>{_scalar(v)}</td></tr>"
                for k, v in value.items()
            )
            return f"<table cellspacing='0' cellpadding='2'>{rows}</table>"
        items = "".join(
            f"<li><b>{_title(k)}</b>: {render_value_html(v, depth + 1)}</li>" for k, v in value.items()
        )
        return f"<ul>{items}</ul>"
    if isinstance(value, list | tuple):
        if not value:
            return "<i>none</i>"
        if all(not isinstance(v, Mapping | list | tuple) for v in value) and len(value) <= 6:
            return ", ".join(_scalar(v) for v in value)
        return "<ul>" + "".join(f"<li>{render_value_html(v, depth + 1)}</li>" for v in value) + "</ul>"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return NOT_AVAILABLE  # e.g. a macro AUC over a one-class source: it cannot exist
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def card_html(card: Any) -> str:
    """The model card as HTML: headline facts, intended use, metrics, data, limitations."""
    if card is None:
        return "<p><i>No model is loaded, so there is no model card to show.</i></p>"
    data = card.to_dict() if hasattr(card, "to_dict") else dict(card)
    parts = [
        f"<h2>{html.escape(str(data.get('name', '')))} v{html.escape(str(data.get('version', '')))}</h2>"
    ]
    parts.append(f"<p style='color:#ffb060'><b>{html.escape(RESEARCH_NOTICE)}</b></p>")
    if data.get("created") or data.get("weights_sha256"):
        sha = str(data.get("weights_sha256", ""))[:16]
        parts.append(f"<p>Created {html.escape(str(data.get('created', '?')))} · weights SHA-256 {sha}…</p>")
    special = {
        "intended_use": lambda v: f"<p>{html.escape(str(v))}</p>",
        "limitations": lambda v: "<ul>" + "".join(f"<li>{html.escape(str(x))}</li>" for x in v) + "</ul>",
        "reading_flags": lambda _v: flags_policy_html(card),
        "metrics": metrics_html,
        "site": site_html,
        "training_data": training_data_html,
        "thresholds": lambda v: table(
            ("Class", "Threshold"), ([html.escape(class_title(k)), cell(x)] for k, x in v.items())
        ),
    }
    sections: Sequence[tuple[str, str]] = (
        ("site", "Site adaptation"),
        ("intended_use", "Intended use"),
        ("limitations", "Limitations"),
        ("reading_flags", "What the app warns about beside a reading"),
        ("metrics", "Metrics (held-out test split)"),
        ("training_data", "Training data"),
        ("thresholds", "Operating thresholds"),
        ("gate", "Input gate"),
        ("architecture", "Architecture"),
        ("preprocessing", "Preprocessing"),
        ("recipe", "Training recipe"),
    )
    shown = {"created", "weights_sha256"}
    for key, title in sections:
        if key == "site" and not data.get("site"):
            shown.add(key)  # a base model: no site section
        elif key in data or key == "reading_flags":
            shown.add(key)
            value = data.get(key)
            body = special[key](value) if key in special else render_value_html(value)
            parts.append(f"<h3>{title}</h3>{body}")
    other = {
        k: v for k, v in data.items() if k not in shown and k not in _SKIP_CARD_KEYS | {"name", "version"}
    }
    if other:
        parts.append(f"<h3>Other</h3>{render_value_html(other)}")
    return "".join(parts)


def licences_html(card: Any) -> str:
    rows = "".join(
        f"<tr><td><b>{html.escape(n)}</b></td><td>{html.escape(lic)}</td><td>{html.escape(note)}</td></tr>"
        for n, lic, note in LICENCES
    )
    parts = [
        "<h3>Software</h3><table cellspacing='0' cellpadding='3'>"
        "<tr><th align='left'>Component</th><th align='left'>Licence</th><th align='left'></th></tr>"
        f"{rows}</table>"
    ]
    sources = _data_licences(card)
    parts.append("<h3>Training data</h3>")
    if isinstance(sources, Mapping) and sources:
        # Source names stay as the manifest spells them (kermany224, cxr_radiography).
        rows = "".join(
            f"<tr><td style='padding-right:12px'><b>{html.escape(str(name))}</b></td>"
            f"<td>{html.escape(str(lic))}</td></tr>"
            for name, lic in sources.items()
        )
        parts.append(f"<table cellspacing='0' cellpadding='2'>{rows}</table>")
    elif sources:
        parts.append(render_value_html(sources))
    else:
        parts.append("<p><i>The model card lists no data-source licences.</i></p>")
    return "".join(parts)


def _data_licences(card: Any) -> Any:
    """The data sources' licences as the model card records them (any of a few shapes)."""
    if card is None:
        return None
    training = getattr(card, "training_data", {}) or {}
    for key in ("licenses", "licences", "license", "licence"):
        if key in training:
            return training[key]
    named = {k: v for k, v in KNOWN_DATA_LICENCES.items() if k in json.dumps(training, default=str)}
    sources = training.get("sources")
    if isinstance(sources, Mapping):
        found = {
            name: info.get("license") or info.get("licence")
            for name, info in sources.items()
            if isinstance(info, Mapping) and (info.get("license") or info.get("licence"))
        }
        return found or named or None
    if isinstance(sources, list):
        found = [s for s in sources if isinstance(s, Mapping) and ("license" in s or "licence" in s)]
        return found or named or None
    return named or None


def about_html(card: Any, device: str = "") -> str:
    model = f"{card.name} v{card.version}" if card is not None else "none loaded"
    return (
        f"<h2>RadiView {html.escape(__version__)}</h2>"
        "<p>A chest X-ray viewer with an AI second reader: calibrated probabilities for normal, "
        "bacterial pneumonia, viral pneumonia and COVID-19, an input gate that refuses films unlike "
        "the training data, and Grad-CAM heatmaps of model attention.</p>"
        f"<p style='color:#ffb060'><b>{html.escape(RESEARCH_NOTICE)}</b></p>"
        f"<p>Model: {html.escape(model)}" + (f" on {html.escape(device)}" if device else "") + "</p>"
        "<p>Licensed under the Apache License 2.0.</p>"
    )


class AboutDialog(QDialog):
    def __init__(self, card: Any = None, device: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About RadiView")
        self.resize(760, 620)
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget()
        self.about_view = self._browser(about_html(card, device))
        self.card_view = self._browser(card_html(card))
        self.licence_view = self._browser(licences_html(card))
        self.tabs.addTab(self.about_view, "About")
        self.tabs.addTab(self.card_view, "Model card")
        self.tabs.addTab(self.licence_view, "Licences")
        layout.addWidget(self.tabs)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    @staticmethod
    def _browser(text: str) -> QTextBrowser:
        browser = QTextBrowser()
        browser.setOpenExternalLinks(True)
        browser.setHtml(text)
        return browser
