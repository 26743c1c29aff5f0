"""Site bundles: a hospital's adaptation of a base bundle, loaded as one classifier.

Layout of a site folder (``radiview site adapt`` writes it; the base bundle is never modified)::

    site_card.json   {"kind": "radiview-site", "format_version": 1,
                      "base": {"name", "version", "weights_sha256"},   which base it adapts
                      "site": {"name", "date", "counts", "split", "adapted", "check", ...},
                      "temperature", "operating_points", "gate" (a card gate section),
                      "dicom_sources": [{"institution", "manufacturer", "model"}, ...],
                      "weights_file": "site.pt", "weights_sha256"}
    site.pt          the site's tensors only: ``gate.*`` (the refitted gate) and, when a head
                     refit was kept, ``head.*``; loaded with weights_only=True after its SHA-256

The base is looked up as the bundled model (or ``base_dir``); a base whose name, version or
weights SHA-256 differ from the site card's refuses to load.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from radiview.assets import default_model_dir
from radiview.atomic import atomic_write
from radiview.errors import BundleIntegrityError, ModelBundleError
from radiview.inference.bundle import GATE_PREFIX, ModelCard, load_bundle, load_checked_state, sha256_file

if TYPE_CHECKING:
    from radiview.inference.classifier import Classifier

SITE_KIND = "radiview-site"
SITE_FORMAT_VERSION = 1
SITE_CARD_FILE = "site_card.json"
SITE_WEIGHTS_FILE = "site.pt"
HEAD_PREFIX = "head."

__all__ = [
    "SITE_CARD_FILE",
    "is_site_bundle",
    "load_ood_bank",
    "load_site_classifier",
    "read_site_card",
    "read_site_reference",
    "site_model_name",
    "write_site_bundle",
]


def is_site_bundle(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / SITE_CARD_FILE).is_file()


def read_site_card(site_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The site card, checked for the keys loading needs; ModelBundleError naming the file otherwise."""
    path = Path(site_dir) / SITE_CARD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelBundleError(f"site card is not readable JSON: {exc}", path) from exc
    if not isinstance(data, dict) or data.get("kind") != SITE_KIND:
        raise ModelBundleError(f"not a site card (kind must be {SITE_KIND!r})", path)
    if data.get("format_version") != SITE_FORMAT_VERSION:
        raise ModelBundleError(
            f"site card format_version {data.get('format_version')} is not supported "
            f"(expected {SITE_FORMAT_VERSION})",
            path,
        )
    for key in ("base", "site", "temperature", "gate", "weights_file", "weights_sha256"):
        if key not in data:
            raise ModelBundleError(f"site card lacks {key!r}", path)
    base = data["base"]
    if not isinstance(base, Mapping) or not all(k in base for k in ("name", "version", "weights_sha256")):
        raise ModelBundleError("site card's base must name name, version and weights_sha256", path)
    return data


def site_model_name(base_version: str, site_name: str) -> str:
    """How predictions and reports name a site model: "2.0.0 · site NAME"."""
    return f"{base_version} · site {site_name}"


def _check_base(site: Mapping[str, Any], card: ModelCard, base_dir: Path, site_dir: Path) -> None:
    want = site["base"]
    have = {"name": card.name, "version": card.version, "weights_sha256": card.weights_sha256}
    wrong = [k for k in ("name", "version", "weights_sha256") if str(want[k]).lower() != str(have[k]).lower()]
    if wrong:
        raise ModelBundleError(
            f"this site bundle was adapted from {want['name']} {want['version']} (weights "
            f"{str(want['weights_sha256'])[:12]}…), but the base bundle at {base_dir} is {card.name} "
            f"{card.version} (weights {card.weights_sha256[:12]}…): its {', '.join(wrong)} differ. "
            "Adapt the site again on this base, or load the base it was made for",
            site_dir,
        )


def _site_tensors(site_dir: Path, site: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    name = str(site["weights_file"])
    if Path(name).name != name or name in ("", ".", ".."):
        raise ModelBundleError(f"site weights_file {name!r} must be a plain file name", site_dir)
    path = site_dir / name
    state = load_checked_state(path, str(site["weights_sha256"]), "site weights", "the site card")
    if not all(k.startswith((GATE_PREFIX, HEAD_PREFIX)) for k in state):
        raise ModelBundleError("site weights must be a flat dict of gate.* / head.* tensors", path)
    return {k: v.float() for k, v in state.items()}


def _site_card_dict(card: ModelCard, site: Mapping[str, Any]) -> dict[str, Any]:
    data = card.to_dict()
    # A site model's own name (report stamps, resume checks): "<base name> · site NAME"
    data["name"] = f"{card.name} · site {site['site'].get('name', 'site')}"
    data["temperature"] = float(site["temperature"])
    data["gate"] = dict(site["gate"])
    flags = dict(data.get("reading_flags") or {})
    flags["site_dicom_sources"] = list(site.get("dicom_sources") or [])
    data["reading_flags"] = flags
    # what the model card dialog shows (the monitor's reference stays in the site card)
    data["site"] = {k: v for k, v in dict(site["site"]).items() if k != "monitor_reference"}
    data["site"].update(
        operating_points=dict(site.get("operating_points") or {}), dicom_sources=flags["site_dicom_sources"]
    )
    return data


def load_site_classifier(
    site_dir: str | os.PathLike[str], device: str | torch.device = "auto", base_dir: str | None = None
) -> Classifier:
    """The base bundle with the site's gate, temperature, operating points and (if kept) head."""
    from radiview.inference.classifier import Classifier, build_bundle_network, build_spatial_gate
    from radiview.inference.device import configure_cpu_threads, resolve_device

    site_path = Path(site_dir)
    site = read_site_card(site_path)
    base_path = Path(base_dir) if base_dir is not None else default_model_dir()
    card, state = load_bundle(base_path)
    _check_base(site, card, base_path, site_path)
    state.update(_site_tensors(site_path, site))
    site_card = ModelCard.from_dict(_site_card_dict(card, site), str(site_path / SITE_CARD_FILE))
    source = site_path / str(site["weights_file"])
    net, means, precision = build_bundle_network(site_card, state, source)
    spatial_gate = build_spatial_gate(site_card, state, source)
    target = device if isinstance(device, torch.device) else resolve_device(device)
    if target.type == "cpu":
        configure_cpu_threads()
    clf = Classifier(site_card, net, means, precision, target, spatial_gate=spatial_gate)
    clf.model_name = site_model_name(card.version, str(site["site"].get("name", "site")))
    clf.operating_points = tuple(
        (str(k), float(v)) for k, v in dict(site.get("operating_points") or {}).items()
    )
    clf.site = site
    clf.bundle_dir = base_path
    return clf


def read_site_reference(bundle_dir: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The base card's ``site_reference`` (OOD feature bank, val gate-distance quantiles); {} if none."""
    path = Path(bundle_dir if bundle_dir is not None else default_model_dir()) / "model_card.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return dict(data.get("site_reference") or {}) if isinstance(data, dict) else {}


def load_ood_bank(bundle_dir: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """The base bundle's OOD feature bank (float32), after its SHA-256 matched the card; None if absent."""
    import numpy as np

    root = Path(bundle_dir if bundle_dir is not None else default_model_dir())
    entry = read_site_reference(root).get("ood_feature_bank")
    if not entry:
        return None
    path = root / str(entry["file"])
    if not path.is_file() or sha256_file(path) != str(entry["sha256"]).lower():
        raise BundleIntegrityError("OOD feature bank is missing or does not match the card's SHA-256", path)
    with np.load(path, allow_pickle=False) as data:
        return {
            "features": data["features"].astype(np.float32),
            "cells": data["cells"].astype(np.float32),
            "input_std": data["input_std"].astype(np.float32),
            "kinds": [str(k) for k in data["kinds"]],
        }


def write_site_bundle(
    site_dir: str | os.PathLike[str], site_card: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]
) -> dict[str, Any]:
    """Write site.pt then site_card.json atomically (float32 tensors); returns the card as written."""
    out = Path(site_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / SITE_WEIGHTS_FILE
    with atomic_write(weights) as fh:
        torch.save({k: v.detach().cpu().float().contiguous() for k, v in tensors.items()}, fh)
    card = dict(site_card)
    card.update(
        kind=SITE_KIND,
        format_version=SITE_FORMAT_VERSION,
        weights_file=SITE_WEIGHTS_FILE,
        weights_sha256=sha256_file(weights),
    )
    with atomic_write(out / SITE_CARD_FILE, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(card, indent=2) + "\n")
    return card
