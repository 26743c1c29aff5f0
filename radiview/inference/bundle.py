"""The model bundle: a state_dict file + ``model_card.json``, checked before anything loads.

Layout of a bundle directory::

    model_card.json   the ModelCard below, JSON
    model.pt          torch.save'd dict[str, Tensor]: the network's state_dict, plus the
                      input gate's tensors under the ``gate.`` prefix; loaded only with
                      ``torch.load(weights_only=True)`` after its SHA-256 matched the card

Network weights may be stored as float16 to keep the bundle small (the gate's tensors are
always float32); everything is loaded as float32.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from radiview.atomic import atomic_write
from radiview.errors import BundleIntegrityError, ModelBundleError

FORMAT_VERSION = 1
CARD_FILE = "model_card.json"
WEIGHTS_FILE = "model.pt"
GATE_PREFIX = "gate."


@dataclass(frozen=True)
class ModelCard:
    """Everything the app needs to run and describe the model (see ARCHITECTURE.md)."""

    format_version: int
    name: str
    version: str
    architecture: dict[str, Any]  # {"backbone", "num_classes", "hidden", "dropout"}
    labels: tuple[str, ...]
    preprocessing: dict[str, Any]  # PreprocessConfig.to_dict()
    temperature: float  # softmax temperature fitted on val (1.0 = uncalibrated)
    thresholds: dict[str, float]  # per-label operating points, for display/flags
    gate: dict[str, Any]  # {"method", "threshold", "min_std", "max_colorfulness", ...}
    gradcam_target_layer: str  # module path inside RadiviewNet, e.g. "features.12"
    weights_file: str
    weights_sha256: str
    metrics: dict[str, Any] = field(default_factory=dict)
    training_data: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)  # {"command", "commit", ...}
    intended_use: str = ""
    limitations: tuple[str, ...] = ()
    created: str = ""
    reading_flags: dict[str, Any] = field(default_factory=dict)  # radiview.inference.flags policy

    @property
    def display_name(self) -> str:
        return f"{self.name}@{self.version}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> ModelCard:
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
        try:
            return cls(
                format_version=version,
                name=str(data["name"]),
                version=str(data["version"]),
                architecture=dict(data["architecture"]),
                labels=tuple(str(v) for v in data["labels"]),
                preprocessing=dict(data["preprocessing"]),
                temperature=float(data["temperature"]),
                thresholds={str(k): float(v) for k, v in dict(data.get("thresholds", {})).items()},
                gate=dict(data["gate"]),
                gradcam_target_layer=str(data["gradcam_target_layer"]),
                weights_file=str(data.get("weights_file", WEIGHTS_FILE)),
                weights_sha256=str(data["weights_sha256"]).lower(),
                metrics=dict(data.get("metrics", {})),
                training_data=dict(data.get("training_data", {})),
                recipe=dict(data.get("recipe", {})),
                intended_use=str(data.get("intended_use", "")),
                limitations=tuple(str(v) for v in data.get("limitations", ())),
                created=str(data.get("created", "")),
                reading_flags=dict(data.get("reading_flags") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelBundleError(f"model card is missing or has a bad field: {exc}", source) from exc

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["limitations"] = list(self.limitations)
        return data


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
    if not weights_path.is_file():
        raise ModelBundleError("weights file is missing", weights_path)
    actual = sha256_file(weights_path)
    if actual != card.weights_sha256:
        raise BundleIntegrityError(
            f"weights SHA-256 {actual[:16]}… does not match the model card "
            f"({card.weights_sha256[:16]}…): the file is damaged or was replaced",
            weights_path,
        )
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged/unsafe files
        raise ModelBundleError(f"weights could not be loaded safely: {exc}", weights_path) from exc
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelBundleError("weights file is not a flat dict of tensors", weights_path)
    return card, {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}


def write_bundle(
    bundle_dir: str | os.PathLike[str],
    card_fields: Mapping[str, Any],
    state_dict: Mapping[str, torch.Tensor],
    half: bool = True,
) -> ModelCard:
    """Write weights then card atomically; fills in format_version, weights_file and SHA-256.

    ``card_fields`` holds every other ModelCard field. ``half`` stores the network's floating
    tensors as float16 (never the ``gate.`` ones). Existing files are replaced, never
    left half-written (write to a temp file, fsync, rename).
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
    fields = dict(card_fields)
    fields.update(
        format_version=FORMAT_VERSION,
        weights_file=WEIGHTS_FILE,
        weights_sha256=sha256_file(weights_path),
    )
    card = ModelCard.from_dict(fields)
    text = json.dumps(card.to_dict(), indent=2, sort_keys=False) + "\n"
    with atomic_write(out / CARD_FILE, "w", encoding="utf-8") as fh:
        fh.write(text)
    return card


