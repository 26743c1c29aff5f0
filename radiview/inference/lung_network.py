"""The lung segmenter's network: MobileNetV3-Small features (up to stride 32, without the
576-channel head) and a light U-Net-like decoder over the stride 4/8/16/32 stages.

Training builds it here too, so the app and the trainer can never disagree on its shape.
The output is one logit map (lung vs not) at a quarter of the input size; callers upsample.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torchvision
from torch import nn
from torch.nn import functional as F

#: Indices (into torchvision's ``mobilenet_v3_small().features``) whose outputs feed the decoder,
#: with their channels: stride 4, 8, 16 and 32.
ENCODER_TAPS: tuple[tuple[int, int], ...] = ((1, 16), (3, 24), (8, 48), (11, 96))

#: Architecture name written in the card's ``lung_segmenter`` section.
LUNG_ARCHITECTURE = "mobilenet_v3_small_unet4"


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class LungNet(nn.Module):
    """Encoder ``features`` (MobileNetV3-Small blocks 0–11) → decoder → (N, 1, H/4, W/4) logits."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        backbone = torchvision.models.mobilenet_v3_small(weights=None)
        last = ENCODER_TAPS[-1][0]
        self.features = nn.Sequential(*list(backbone.features.children())[: last + 1])
        chans = [c for _, c in ENCODER_TAPS]
        widths = [width // 4, width // 2, width * 3 // 4, width]  # decoder width per stride 4..32
        self.head = _conv_bn_relu(chans[3], widths[3], kernel=1)
        # LR-ASPP's global gate: image-level context re-weights the stride-32 channels
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(chans[3], widths[3], 1), nn.Sigmoid())
        self.lateral = nn.ModuleList(
            _conv_bn_relu(c, w, kernel=1) for c, w in zip(chans[:3], widths[:3], strict=True)
        )
        self.reduce = nn.ModuleList(_conv_bn_relu(widths[i + 1], widths[i], kernel=1) for i in range(3))
        self.fuse = nn.ModuleList(_conv_bn_relu(w, w) for w in widths[:3])
        self.classifier = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        taps = {i for i, _ in ENCODER_TAPS}
        skips: list[torch.Tensor] = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in taps:
                skips.append(x)
        y = self.head(skips[3]) * self.gate(skips[3])
        for level in (2, 1, 0):
            y = self.reduce[level](y)
            y = F.interpolate(y, size=skips[level].shape[-2:], mode="bilinear", align_corners=False)
            y = self.fuse[level](y + self.lateral[level](skips[level]))
        return self.classifier(y)


def resize_lung_input(batch: torch.Tensor, size: int) -> torch.Tensor:
    """The classifier's preprocessed input (N, 3, 224, 224) → the segmenter's (N, 3, size, size).

    Training and the app both call this, after THE preprocessing, so the segmenter sees in use
    exactly what it saw in training, and the film is decoded and resized from full size once."""
    if batch.shape[-2:] == (size, size):
        return batch
    return F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def build_lung_network(width: int = 64) -> LungNet:
    """The (untrained) lung segmenter described by the card's ``lung_segmenter.width``."""
    return LungNet(width=width)


def load_lung_encoder_weights(net: LungNet, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy an ImageNet ``mobilenet_v3_small`` state_dict's ``features.0``–``features.11`` into ``net``."""
    keep = len(net.features)
    feats: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not key.startswith("features."):
            continue
        rest = key[len("features.") :]
        if int(rest.split(".", 1)[0]) < keep:
            feats[rest] = value
    if not feats:
        raise ValueError("state_dict has no 'features.*' keys: not a mobilenet_v3_small checkpoint")
    net.features.load_state_dict(feats, strict=True)
