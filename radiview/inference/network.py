"""The network: MobileNetV3-Small features + the paper's head (Dense 2500 → BN → ReLU → Dropout → 4).

Training builds it here too, so the app and the trainer can never disagree on its shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torchvision
from torch import nn

#: Channels of MobileNetV3-Small's last feature block (``features[12]``).
SMALL_FEATURE_DIM = 576


class RadiviewNet(nn.Module):
    """``features`` (torchvision MobileNetV3-Small) → global average pool → head → logits."""

    def __init__(self, num_classes: int = 4, hidden: int = 2500, dropout: float = 0.5) -> None:
        super().__init__()
        backbone = torchvision.models.mobilenet_v3_small(weights=None)
        self.features = backbone.features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Linear(SMALL_FEATURE_DIM, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features, shape (N, 576): the gate and frozen training use them."""
        return torch.flatten(self.pool(self.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def build_network(architecture: Mapping[str, Any] | None = None) -> RadiviewNet:
    """Build the (untrained) network described by a model card's ``architecture`` entry."""
    arch = dict(architecture or {})
    backbone = arch.get("backbone", "mobilenet_v3_small")
    if backbone != "mobilenet_v3_small":
        raise ValueError(f"unsupported backbone {backbone!r}")
    return RadiviewNet(
        num_classes=int(arch.get("num_classes", 4)),
        hidden=int(arch.get("hidden", 2500)),
        dropout=float(arch.get("dropout", 0.5)),
    )


def load_backbone_weights(net: RadiviewNet, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy an ImageNet ``mobilenet_v3_small`` state_dict's ``features.*`` into ``net``.

    The classifier part of an ImageNet checkpoint is ignored; every feature key must match.
    """
    feats = {k[len("features.") :]: v for k, v in state_dict.items() if k.startswith("features.")}
    if not feats:
        raise ValueError("state_dict has no 'features.*' keys: not a mobilenet_v3_small checkpoint")
    net.features.load_state_dict(feats, strict=True)
