"""THE preprocessing function: Radiograph → model input tensor.

Training, the app and the CLI all call this module, so what the model saw in training is
exactly what it sees in use. The model card's ``preprocessing`` entry drives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from radiview.io.radiograph import Radiograph
from radiview.io.windowing import apply_window_unit

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PreprocessConfig:
    """How a radiograph becomes a tensor. Serialised verbatim into the model card."""

    input_size: tuple[int, int] = (224, 224)  # (height, width)
    resize: str = "stretch"  # the whole film fills the input; no crop, so heatmaps map back 1:1
    intensity: str = "default_window"  # the film's default window (DICOM tags or percentiles)
    channels: int = 3
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreprocessConfig:
        cfg = cls(
            input_size=tuple(int(v) for v in data.get("input_size", (224, 224))),  # type: ignore[arg-type]
            resize=str(data.get("resize", "stretch")),
            intensity=str(data.get("intensity", "default_window")),
            channels=int(data.get("channels", 3)),
            mean=tuple(float(v) for v in data.get("mean", IMAGENET_MEAN)),
            std=tuple(float(v) for v in data.get("std", IMAGENET_STD)),
        )
        if cfg.resize != "stretch" or cfg.intensity != "default_window":
            raise ValueError(f"unsupported preprocessing {cfg.resize!r}/{cfg.intensity!r}")
        if len(cfg.mean) != cfg.channels or len(cfg.std) != cfg.channels:
            raise ValueError("mean/std must have one value per channel")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_size"] = list(self.input_size)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        return data


def prepare_image(radiograph: Radiograph, config: PreprocessConfig) -> np.ndarray:
    """Resize (anti-aliased) to the input size, then window to float32 [0, 1], shape (H, W).

    Resizing first keeps this cheap on 3000-px films; windowing is then a per-pixel op.
    """
    height, width = config.input_size
    pixels = radiograph.pixels
    if pixels.shape != (height, width):
        pixels = np.asarray(
            Image.fromarray(np.ascontiguousarray(pixels), mode="F").resize(
                (width, height), Image.Resampling.BILINEAR
            ),
            dtype=np.float32,
        )
    return apply_window_unit(pixels, radiograph.default_window)


def to_input_tensor(image: np.ndarray, config: PreprocessConfig) -> torch.Tensor:
    """A [0, 1] (H, W) image → normalised (C, H, W) float32 tensor."""
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
    x = x.unsqueeze(0).expand(config.channels, -1, -1)
    mean = torch.tensor(config.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(config.std, dtype=torch.float32).view(-1, 1, 1)
    return (x - mean) / std


def preprocess(radiograph: Radiograph, config: PreprocessConfig | None = None) -> torch.Tensor:
    """Radiograph → (C, H, W) model input. The one function training and the app share."""
    config = config or PreprocessConfig()
    return to_input_tensor(prepare_image(radiograph, config), config)
