"""The one model loader: every command, the listener and the GUI load a bundle through it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from radiview.errors import ModelBundleError

if TYPE_CHECKING:
    from radiview.inference.classifier import Classifier


def load_classifier(model: str | None, device: str = "auto") -> Classifier:
    """The bundle at ``model`` (None: the bundled one) on ``device``; ModelBundleError or
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
    return Classifier.from_bundle(model, device=str(resolved))
