"""The one model loader: every command, the listener and the GUI load a bundle through it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from radiview.errors import ModelBundleError

if TYPE_CHECKING:
    from radiview.inference.classifier import Classifier


def check_bundle_path(model: str | None) -> None:
    """ModelBundleError naming ``model`` when it cannot be a bundle folder (None: the bundled one)."""
    if model is None:
        return
    path = Path(model)
    if path.is_file():
        raise ModelBundleError(
            "is a file, but --model wants the model bundle folder (the one holding "
            "model_card.json and the weights)",
            path,
        )
    if not path.exists():
        raise ModelBundleError("does not exist: --model wants a model bundle folder", path)


def load_classifier(model: str | None, device: str = "auto", fallback_to_cpu: bool = False) -> Classifier:
    """The bundle at ``model`` (None: the bundled one; a site folder: the bundled base with that
    site's adaptation) on ``device``; ModelBundleError or
    RadiviewError with a complete sentence when that is impossible.

    An explicit device the machine lacks is an error (what a user who typed ``--device cuda``
    wants to hear), unless ``fallback_to_cpu``: the GUI's saved setting on a machine that
    has since lost its GPU falls back to the CPU with a warning.
    """
    from radiview.inference.classifier import Classifier
    from radiview.inference.device import resolve_device

    check_bundle_path(model)
    resolved = resolve_device(device, strict=device != "auto" and not fallback_to_cpu)
    # A site folder (radiview site adapt) loads on top of its base bundle: Classifier.from_bundle
    # sees its site_card.json (radiview.inference.site_bundle).
    return Classifier.from_bundle(model, device=str(resolved))
