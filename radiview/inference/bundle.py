"""The model bundle: a state_dict file + ``model_card.json``, checked before anything loads.

The card's schema and its validation live in ``radiview.inference.card`` (re-exported here).

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
from pathlib import Path
from typing import Any

import torch
import torchvision

from radiview.atomic import atomic_write
from radiview.errors import BundleIntegrityError, ModelBundleError
from radiview.inference.card import (
    FORMAT_VERSION,
    WEIGHTS_FILE,
    Architecture,
    ChangelogEntry,
    GateSpec,
    Metrics,
    ModelCard,
    Preprocessing,
    SpatialGateSpec,
)

CARD_FILE = "model_card.json"
GATE_PREFIX = "gate."

__all__ = [
    "CARD_FILE",
    "FORMAT_VERSION",
    "GATE_PREFIX",
    "WEIGHTS_FILE",
    "Architecture",
    "ChangelogEntry",
    "GateSpec",
    "Metrics",
    "ModelCard",
    "Preprocessing",
    "SpatialGateSpec",
    "load_bundle",
    "read_model_card",
    "sha256_file",
    "write_bundle",
]


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
    fields = {k: (v.to_dict() if isinstance(v, Mapping) and hasattr(v, "to_dict") else v)
              for k, v in card_fields.items()}
    fields["torch_version"] = fields.get("torch_version") or torch.__version__
    fields["torchvision_version"] = fields.get("torchvision_version") or torchvision.__version__
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


