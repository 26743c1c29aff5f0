"""The model bundle: a state_dict file + ``model_card.json``, checked before anything loads.

``ModelCard.from_dict`` is the one place a card is checked; its typed sections live in
``radiview.inference.card`` (re-exported here).

Layout of a bundle directory::

    model_card.json   the ModelCard below, JSON
    model.pt          torch.save'd dict[str, Tensor]: the network's state_dict, plus the
                      input gate's tensors under the ``gate.`` prefix; loaded only with
                      ``torch.load(weights_only=True)`` after its SHA-256 matched the card

Network weights may be stored as float16 to keep the bundle small (the gate's tensors are
always float32); everything is loaded as float32.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import torch
import torchvision

from radiview.atomic import atomic_write
from radiview.errors import BundleIntegrityError, ModelBundleError
from radiview.inference.card import (
    Architecture,
    CardSection,
    ChangelogEntry,
    GateSpec,
    LungSegmenterSpec,
    Metrics,
    Preprocessing,
    SpatialGateSpec,
)

FORMAT_VERSION = 1
CARD_FILE = "model_card.json"
WEIGHTS_FILE = "model.pt"
GATE_PREFIX = "gate."

__all__ = [
    "CARD_FILE",
    "FORMAT_VERSION",
    "GATE_PREFIX",
    "WEIGHTS_FILE",
    "Architecture",
    "ChangelogEntry",
    "GateSpec",
    "LungSegmenterSpec",
    "Metrics",
    "ModelCard",
    "Preprocessing",
    "SpatialGateSpec",
    "load_bundle",
    "read_model_card",
    "sha256_file",
    "write_bundle",
]


@dataclass(frozen=True)
class ModelCard:
    """Everything the app needs to run and describe the model (see ARCHITECTURE.md)."""

    format_version: int
    name: str
    version: str
    architecture: Architecture
    labels: tuple[str, ...]
    preprocessing: Preprocessing
    temperature: float  # softmax temperature fitted on val (1.0 = uncalibrated)
    thresholds: Mapping[str, float]  # per-label operating points, for display/flags
    gate: GateSpec
    gradcam_target_layer: str  # module path inside RadiviewNet, e.g. "features.12"
    weights_file: str
    weights_sha256: str
    metrics: Metrics = field(default_factory=Metrics)
    training_data: Mapping[str, Any] = field(default_factory=dict)
    recipe: Mapping[str, Any] = field(default_factory=dict)  # {"command", "commit", ...}
    intended_use: str = ""
    limitations: tuple[str, ...] = ()
    created: str = ""
    changelog: tuple[ChangelogEntry, ...] = ()
    torch_version: str = ""  # the versions the bundle was exported with ("" on cards <= 1.2.0)
    torchvision_version: str = ""
    reading_flags: Mapping[str, Any] = field(default_factory=dict)  # radiview.inference.flags policy
    # What site adaptation checks against: the OOD feature bank (file, SHA-256) and the val split's
    # gate-distance quantiles (training/site_reference.py; radiview.inference.site_bundle reads it)
    site_reference: Mapping[str, Any] = field(default_factory=dict)
    site: Mapping[str, Any] = field(default_factory=dict)  # a site model's site section ({} for a base)
    lung_segmenter: LungSegmenterSpec | None = None  # the lung-field estimate (bundles >= 2.1.0)

    @property
    def display_name(self) -> str:
        return f"{self.name}@{self.version}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> ModelCard:
        """Parse and check a whole card; ModelBundleError (naming ``source``) on any problem."""
        try:
            version = int(data["format_version"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelBundleError("model card has no valid format_version", source) from exc
        if version != FORMAT_VERSION:
            raise ModelBundleError(
                f"model card format_version {version} is not supported (expected "
                f"{FORMAT_VERSION}); update RadiView or re-export the model",
                source,
            )
        architecture = _section(Architecture, data, "architecture", source)
        card = cls(
            format_version=version,
            architecture=architecture,
            preprocessing=_section(Preprocessing, data, "preprocessing", source),
            gate=_section(GateSpec, data, "gate", source),
            metrics=_section(Metrics, {"metrics": data.get("metrics") or {}}, "metrics", source),
            lung_segmenter=(
                _section(LungSegmenterSpec, data, "lung_segmenter", source)
                if data.get("lung_segmenter")
                else None
            ),
            **_plain_fields(data, source),
        )
        if len(card.labels) != architecture.num_classes:
            raise ModelBundleError(
                f"model card lists {len(card.labels)} labels for a {architecture.num_classes}-class network",
                source,
            )
        return card

    def to_dict(self) -> dict[str, Any]:
        """The card's JSON form (plain dicts and lists, sections in the file's order)."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None and item.name == "lung_segmenter":
                continue  # optional section: older cards never had it
            if isinstance(value, CardSection):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = [v.to_dict() if isinstance(v, CardSection) else v for v in value]
            elif isinstance(value, Mapping):
                value = copy.deepcopy(dict(value))
            out[item.name] = value
        return out


_Section = TypeVar("_Section", Architecture, Preprocessing, GateSpec, Metrics, LungSegmenterSpec)


def _section(kind: type[_Section], data: Mapping[str, Any], key: str, source: str | None) -> _Section:
    """``data[key]`` parsed as ``kind``; its problem as a ModelBundleError naming ``source``."""
    if key not in data:
        raise ModelBundleError(f"model card is missing or has a bad field: {key!r}", source)
    value = data[key]
    if not isinstance(value, Mapping):
        raise ModelBundleError(f"model card {key} must be a JSON object", source)
    try:
        return kind.from_dict(value)
    except (KeyError, TypeError, ValueError) as exc:
        reason = str(exc).strip("'\"") if isinstance(exc, KeyError) else str(exc)
        if key == "gate":  # its messages already say "gate"
            message = reason if "gate" in reason else f"model card gate: {reason}"
            raise ModelBundleError(message, source) from exc
        verdict = "is not supported" if key in ("architecture", "preprocessing") else "is invalid"
        raise ModelBundleError(f"model card {key} {verdict}: {reason}", source) from exc


def _plain_fields(data: Mapping[str, Any], source: str | None) -> dict[str, Any]:
    """The card's scalar and free-form fields, checked."""
    try:
        labels = tuple(str(v) for v in data["labels"])
        temperature = float(data["temperature"])
        out: dict[str, Any] = {
            "name": str(data["name"]),
            "version": str(data["version"]),
            "labels": labels,
            "temperature": temperature,
            "thresholds": {str(k): float(v) for k, v in dict(data.get("thresholds", {})).items()},
            "gradcam_target_layer": str(data["gradcam_target_layer"]),
            "weights_file": str(data.get("weights_file", WEIGHTS_FILE)),
            "weights_sha256": str(data["weights_sha256"]).lower(),
            "training_data": copy.deepcopy(dict(data.get("training_data", {}))),
            "recipe": copy.deepcopy(dict(data.get("recipe", {}))),
            "intended_use": str(data.get("intended_use", "")),
            "limitations": tuple(str(v) for v in data.get("limitations", ())),
            "created": str(data.get("created", "")),
            "changelog": tuple(ChangelogEntry.from_dict(e) for e in data.get("changelog", ())),
            "torch_version": str(data.get("torch_version", "")),
            "torchvision_version": str(data.get("torchvision_version", "")),
            "reading_flags": copy.deepcopy(dict(data.get("reading_flags") or {})),
            "site_reference": copy.deepcopy(dict(data.get("site_reference") or {})),
            "site": copy.deepcopy(dict(data.get("site") or {})),
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelBundleError(f"model card is missing or has a bad field: {exc}", source) from exc
    if not labels or len(set(labels)) != len(labels):
        raise ModelBundleError(f"model card labels must be distinct and not empty: {list(labels)}", source)
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ModelBundleError(f"model card temperature {temperature} must be > 0", source)
    return out


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_model_card(bundle_dir: str | os.PathLike[str]) -> ModelCard:
    """Parse and validate ``model_card.json`` (no weights are touched)."""
    if not Path(bundle_dir).is_dir():
        raise ModelBundleError("model bundle folder not found", bundle_dir)
    card_path = Path(bundle_dir) / CARD_FILE
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelBundleError("no model card (model_card.json) in the bundle", card_path) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelBundleError(f"model card is not valid JSON: {exc}", card_path) from exc
    if not isinstance(data, dict):
        raise ModelBundleError("model card is not a JSON object", card_path)
    return ModelCard.from_dict(data, str(card_path))


def load_bundle(
    bundle_dir: str | os.PathLike[str],
) -> tuple[ModelCard, dict[str, torch.Tensor]]:
    """Read the card, verify the weights' SHA-256, then load them safely as float32.

    Raises ModelBundleError (or BundleIntegrityError on a hash mismatch); nothing pickled
    is ever executed because ``torch.load`` runs with ``weights_only=True``.
    """
    card = read_model_card(bundle_dir)
    if Path(card.weights_file).name != card.weights_file or card.weights_file in ("", ".", ".."):
        # A card must not point outside its own folder (e.g. "../../home/x/evil.pt").
        raise ModelBundleError(
            f"weights_file {card.weights_file!r} must be a plain file name inside the bundle",
            Path(bundle_dir) / CARD_FILE,
        )
    weights_path = Path(bundle_dir) / card.weights_file
    state = load_checked_state(weights_path, card.weights_sha256, "weights", "the model card")
    return card, {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}


def load_checked_state(path: Path, expected_sha256: str, what: str, card: str) -> dict[str, torch.Tensor]:
    """A flat dict of tensors from ``path``: present, SHA-256 equal to the card's, then
    ``torch.load(weights_only=True)``; every bundle part (weights, lungs, site) loads through it.
    ``what`` names the part in messages ("weights", "site weights"), ``card`` the card checked."""
    if not path.is_file():
        raise ModelBundleError(f"{what} file is missing", path)
    actual = sha256_file(path)
    if actual != str(expected_sha256).lower():
        raise BundleIntegrityError(
            f"{what} SHA-256 {actual[:16]}… does not match {card} "
            f"({str(expected_sha256)[:16]}…): the file is damaged or was replaced",
            path,
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged/unsafe files
        raise ModelBundleError(f"{what} could not be loaded safely: {exc}", path) from exc
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelBundleError(f"{what} file is not a flat dict of tensors", path)
    return state


def write_bundle(
    bundle_dir: str | os.PathLike[str],
    card_fields: Mapping[str, Any],
    state_dict: Mapping[str, torch.Tensor],
    half: bool = True,
) -> ModelCard:
    """Write weights then card atomically; fills in format_version, weights_file and SHA-256,
    and the torch/torchvision versions unless ``card_fields`` names them.

    ``card_fields`` holds every other ModelCard field (sections as dicts or typed). ``half``
    stores the network's floating tensors as float16 (never the ``gate.`` ones). Existing
    files are replaced, never left half-written (write to a temp file, fsync, rename).
    """
    out = Path(bundle_dir)
    out.mkdir(parents=True, exist_ok=True)
    # The gate's precision matrix stays float32: float16 loses the digits its quadratic
    # form needs (and overflows for strongly correlated features).
    tensors = {
        k: (
            v.detach().cpu().half()
            if half and v.is_floating_point() and not k.startswith(GATE_PREFIX)
            else v.detach().cpu()
        )
        for k, v in state_dict.items()
    }
    weights_path = out / WEIGHTS_FILE
    with atomic_write(weights_path) as fh:
        torch.save(tensors, fh)
    card_dict = {
        k: (v.to_dict() if isinstance(v, Mapping) and hasattr(v, "to_dict") else v)
        for k, v in card_fields.items()
    }
    card_dict["torch_version"] = card_dict.get("torch_version") or torch.__version__
    card_dict["torchvision_version"] = card_dict.get("torchvision_version") or torchvision.__version__
    card_dict.update(
        format_version=FORMAT_VERSION,
        weights_file=WEIGHTS_FILE,
        weights_sha256=sha256_file(weights_path),
    )
    card = ModelCard.from_dict(card_dict)
    text = json.dumps(card.to_dict(), indent=2, sort_keys=False) + "\n"
    with atomic_write(out / CARD_FILE, "w", encoding="utf-8") as fh:
        fh.write(text)
    return card
