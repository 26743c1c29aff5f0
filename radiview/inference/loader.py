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
    # A site folder (radiview site adapt) loads on top of its base bundle: Classifier.from_bundle
    # sees its site_card.json (radiview.inference.site_bundle).
    return Classifier.from_bundle(model, device=str(resolved))
