"""The one model loader: every command, the listener and the GUI load a bundle through it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from radiview.errors import ModelBundleError

if TYPE_CHECKING:
    from radiview.inference.classifier import Classifier


def load_classifier(model: str | None, device: str = "auto") -> Classifier:
    """The bundle at ``model`` (None: the bundled one; a site folder: the bundled base with that
    site's adaptation) on ``device``; ModelBundleError or
    RadiviewError with a complete sentence when that is impossible.

    An explicit device the machine lacks is an error here, not a silent CPU fallback.
    """
    from radiview.inference.classifier import Classifier
    from radiview.inference.device import resolve_device

    if model is not None:
        path = Path(model)
        if path.is_file():
            raise ModelBundleError(
                "is a file, but --model wants the model bundle folder (the one holding "
                "model_card.json and the weights)",
                path,
            )
        if not path.exists():
            raise ModelBundleError("does not exist: --model wants a model bundle folder", path)
    resolved = resolve_device(device, strict=device != "auto")
    if model is not None and _is_site_folder(model):
        from radiview.inference.site_bundle import load_site_classifier

        return load_site_classifier(model, device=str(resolved))
    return Classifier.from_bundle(model, device=str(resolved))


def _is_site_folder(model: str) -> bool:
    """A site bundle (``radiview site adapt``'s output): loaded on top of its base bundle."""
    from radiview.inference.site_bundle import is_site_bundle

    return is_site_bundle(model)
