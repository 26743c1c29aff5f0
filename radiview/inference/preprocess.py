"""THE preprocessing function: Radiograph → model input tensor.

Training, the app and the CLI all call this module, so what the model saw in training is
exactly what it sees in use. The model card's ``preprocessing`` entry drives it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from radiview.inference.card import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from radiview.io.radiograph import Radiograph, Window
from radiview.io.windowing import apply_window_unit, window_from_percentiles

#: The card's ``preprocessing`` section is THE config; this name stays for callers.
PreprocessConfig = Preprocessing

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PreprocessConfig",
    "model_window",
    "prepare_image",
    "preprocess",
    "to_input_batch",
    "to_input_tensor",
]


def model_window(radiograph: Radiograph) -> Window:
    """The model's intensity mapping: the 0.5-99.5 percentile window of the film's own pixels.

    Never a window stored in the file for display: the same pixels under two stored VOI
    windows gave two readings (issue 21). Every training and test film was a JPEG/PNG, whose
    default window io computes exactly so (``window_from_percentiles``), so what the model saw
    in training is unchanged; a DICOM film now gets the same mapping. (A VOI LUT *Sequence*
    is applied into the pixels by io and still shapes them.)
    """
    return window_from_percentiles(radiograph.pixels)


def prepare_image(radiograph: Radiograph, config: Preprocessing) -> np.ndarray:
    """Resize (anti-aliased) to the input size, then window to float32 [0, 1], shape (H, W).

    The window is ``model_window`` (from the full-resolution pixels); resizing first keeps the
    per-pixel op cheap on 3000-px films.
    """
    window = model_window(radiograph)
    height, width = config.input_size
    pixels = radiograph.pixels
    if pixels.shape != (height, width):
        pixels = np.asarray(
            Image.fromarray(np.ascontiguousarray(pixels), mode="F").resize(
                (width, height), Image.Resampling.BILINEAR
            ),
            dtype=np.float32,
        )
    return apply_window_unit(pixels, window)


def to_input_tensor(image: np.ndarray, config: Preprocessing) -> torch.Tensor:
    """A [0, 1] (H, W) image → normalised (C, H, W) float32 tensor (a batch of one)."""
    return to_input_batch([image], config)[0]


def to_input_batch(images: Sequence[np.ndarray], config: Preprocessing) -> torch.Tensor:
    """[0, 1] (H, W) images → a normalised (N, C, H, W) float32 batch, the grey channel repeated.

    One torch op for the whole batch: per film, the small ops cost 0.7 ms on 2 cores, as much
    as a tenth of the model's own forward pass."""
    x = torch.from_numpy(np.stack([np.asarray(im, dtype=np.float32) for im in images]))
    mean = torch.tensor(config.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(config.std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x.unsqueeze(1) - mean) / std


def preprocess(radiograph: Radiograph, config: Preprocessing | None = None) -> torch.Tensor:
    """Radiograph → (C, H, W) model input. The one function training and the app share."""
    config = config or Preprocessing()
    return to_input_tensor(prepare_image(radiograph, config), config)
