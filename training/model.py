"""The app's own network (``radiview.inference.network``) plus what training needs around it:
backbone weights, freezing, BatchNorm handling and batched feature extraction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from radiview.inference.network import RadiviewNet, build_network, load_backbone_weights
from radiview.inference.preprocess import PreprocessConfig, to_input_tensor

logger = logging.getLogger("radiview.training")

DEFAULT_BACKBONE_WEIGHTS = "../shared/weights/mobilenet_v3_small_imagenet_tfslim_qat.pth"


def architecture_of(hidden: int = 2500, dropout: float = 0.5, num_classes: int = 4) -> dict[str, Any]:
    return {
        "backbone": "mobilenet_v3_small",
        "num_classes": num_classes,
        "hidden": hidden,
        "dropout": dropout,
    }


def build_model(architecture: dict[str, Any], backbone_weights: str = "none") -> RadiviewNet:
    """The app's network with ImageNet backbone weights from a ``.pth`` file, torchvision's cache
    (``torchvision``), or none (random init, for tests)."""
    net = build_network(architecture)
    if backbone_weights in ("", "none"):
        return net
    if backbone_weights == "torchvision":
        import torchvision

        weights = torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1
        state = weights.get_state_dict(progress=False)  # downloads unless cached in TORCH_HOME
    else:
        path = Path(backbone_weights)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: backbone weights not found")
        state = torch.load(path, map_location="cpu", weights_only=True)
    load_backbone_weights(net, state)
    return net


def freeze_backbone(net: RadiviewNet, trainable_from: int | None = None) -> None:
    """Freeze ``features`` (all of it, or the blocks before ``trainable_from``)."""
    for i, block in enumerate(net.features):
        trainable = trainable_from is not None and i >= trainable_from
        for p in block.parameters():
            p.requires_grad_(trainable)


def set_backbone_bn_eval(net: RadiviewNet) -> None:
    """Keep the backbone's BatchNorm statistics fixed (the TF-slim ones are approximate; batches are small).

    Call after every ``net.train()``: train() flips them back.
    """
    for module in net.features.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()


@torch.no_grad()
def extract_features(
    net: RadiviewNet,
    images_u8: np.ndarray,
    config: PreprocessConfig,
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    seed: int = 0,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = False,
    desc: str = "features",
    upto: int | None = None,
) -> np.ndarray:
    """Pooled backbone features (N, 576) float32 of cached films, optionally augmented (one pass).

    With ``upto`` = K it returns instead the float16 activations after ``features[:K]`` (N, C, h, w): the
    frozen part of a partial fine-tune, computed once and cached.
    """
    from tqdm import tqdm

    net.eval().to(device)
    out: np.ndarray | None = None
    for start in tqdm(range(0, len(images_u8), batch_size), desc=desc, disable=not progress, mininterval=5):
        batch = []
        for i in range(start, min(start + batch_size, len(images_u8))):
            image = images_u8[i].astype(np.float32) / 255.0
            if augment is not None:
                image = augment(image, np.random.default_rng((seed, i)))
            batch.append(to_input_tensor(image, config))
        x = torch.stack(batch).to(device)
        y = net.forward_features(x) if upto is None else net.features[:upto](x).half()
        if out is None:
            out = np.zeros((len(images_u8), *y.shape[1:]), dtype=np.float32 if upto is None else np.float16)
        out[start : start + len(batch)] = y.cpu().numpy()
    if out is None:
        out = np.zeros((0, _feature_width(net)), dtype=np.float32)
    return out


@torch.no_grad()
def extract_gate_inputs(
    net: RadiviewNet,
    images_u8: np.ndarray,
    config: PreprocessConfig,
    grid: tuple[int, int],
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = False,
    desc: str = "gate features",
) -> tuple[np.ndarray, np.ndarray]:
    """What the input gate reads from one clean forward pass, as the app computes it: pooled features
    (N, 576) and the features.12 map pooled to ``grid`` cells (N, 576, rows, cols), float32."""
    from tqdm import tqdm

    from radiview.inference.gate import spatial_cells

    net.eval().to(device)
    pooled: list[np.ndarray] = []
    cells: list[np.ndarray] = []
    for start in tqdm(range(0, len(images_u8), batch_size), desc=desc, disable=not progress, mininterval=5):
        batch = [
            to_input_tensor(images_u8[i].astype(np.float32) / 255.0, config)
            for i in range(start, min(start + batch_size, len(images_u8)))
        ]
        fmap = net.features(torch.stack(batch).to(device))
        pooled.append(torch.flatten(net.pool(fmap), 1).cpu().numpy())
        cells.append(spatial_cells(fmap, grid).cpu().numpy())
    channels = _feature_width(net)
    if not pooled:
        return np.zeros((0, channels), np.float32), np.zeros((0, channels, *grid), np.float32)
    return np.concatenate(pooled), np.concatenate(cells)


class TailNet(nn.Module):
    """``features[K:]`` → pool → head of a RadiviewNet (shares its modules): trains on cached activations."""

    def __init__(self, net: RadiviewNet, start: int) -> None:
        super().__init__()
        self.net, self.start = net, start

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.net.pool(self.feature_map(x)), 1)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The features.12 activation map (N, 576, h, w) of cached ``features[:K]`` activations."""
        return self.net.features[self.start :](x.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.head(self.pooled(x))


def pick_device(name: str = "auto") -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _feature_width(net: RadiviewNet) -> int:
    """Channels of the pooled features (the head's first Linear layer's input)."""
    first = net.head[0]
    assert isinstance(first, nn.Linear)
    return first.in_features
