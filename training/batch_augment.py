"""Augmentation of whole batches as torch ops on the training device (GPU or CPU).

The film-by-film pipeline (``training.augment``) runs in Python per film and keeps a GPU idle. Here the
same kinds of jitter act on a (B, 1, H, W) batch in a handful of kernels: flips, one affine_grid /
grid_sample for rotation, zoom (also zoom-out: random border pads), shift and shear, brightness,
contrast and gamma, down-and-up scaling, blur or noise (the source-style erasers; JPEG re-compression
has no batched form and is left to the film-by-film pipeline) and burned-in text from a pre-drawn
bank of marker layers. All randomness comes from one ``torch.Generator``, so a seeded run on the CPU
is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _uniform(n: int, low: float, high: float, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=g, device=device) * (high - low) + low


def _chance(n: int, p: float, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=g, device=device) < p


def affine_thetas(
    n: int,
    g: torch.Generator,
    device: torch.device,
    degrees: float = 10.0,
    translate: float = 0.06,
    scale: tuple[float, float] = (0.85, 1.12),
    shear_degrees: float = 5.0,
) -> torch.Tensor:
    """(n, 2, 3) sampling matrices (output → input, normalised coordinates) for ``affine_grid``."""
    angle = torch.deg2rad(_uniform(n, -degrees, degrees, g, device))
    shear = torch.deg2rad(_uniform(n, -shear_degrees, shear_degrees, g, device))
    zoom = _uniform(n, *scale, g, device)
    tx = _uniform(n, -translate, translate, g, device) * 2
    ty = _uniform(n, -translate, translate, g, device) * 2
    a, b = torch.cos(angle) / zoom, -torch.sin(angle + shear) / zoom
    c, d = torch.sin(angle) / zoom, torch.cos(angle + shear) / zoom
    return torch.stack((torch.stack((a, b, tx), 1), torch.stack((c, d, ty), 1)), 1)


def apply_gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype) / sigma) ** 2)
    kernel = taps / taps.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))


@dataclass
class BatchAugment:
    """``__call__(x, g)``: x (B, 1, H, W) float in [0, 1] → augmented batch in [0, 1].

    ``markers``: uint8 (M, H, W) alpha layers from ``training.burned_text.marker_bank`` (on x's device),
    pasted on a ``text_p`` share of the films.
    """

    markers: torch.Tensor | None = None
    text_p: float = 0.5
    flip_p: float = 0.5
    degrees: float = 10.0
    translate: float = 0.06
    scale: tuple[float, float] = (0.85, 1.12)  # below 1: zoomed out, i.e. a random black border
    shear_degrees: float = 5.0
    brightness: float = 0.1
    contrast: float = 0.15
    gamma_p: float = 0.5
    downup_p: float = 0.3
    blur_p: float = 0.15
    noise_p: float = 0.15

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, dev = x.shape[0], x.device
        flip = _chance(n, self.flip_p, g, dev).view(-1, 1, 1, 1)
        x = torch.where(flip, x.flip(-1), x)
        thetas = affine_thetas(n, g, dev, self.degrees, self.translate, self.scale, self.shear_degrees)
        grid = F.affine_grid(thetas.to(x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        x = self._intensity(x, g)
        x = self._erasers(x, g)
        if self.markers is not None and self.text_p > 0:
            x = self._burned_text(x, g)
        return x.clamp_(0.0, 1.0)

    def _intensity(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, dev = x.shape[0], x.device
        gain = (1 + _uniform(n, -self.contrast, self.contrast, g, dev)).view(-1, 1, 1, 1)
        shift = _uniform(n, -self.brightness, self.brightness, g, dev).view(-1, 1, 1, 1)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * gain + mean + shift
        gamma = torch.exp(_uniform(n, math.log(0.8), math.log(1.25), g, dev)).view(-1, 1, 1, 1)
        use = _chance(n, self.gamma_p, g, dev).view(-1, 1, 1, 1)
        return torch.where(use, x.clamp(0, 1).pow(gamma), x)

    def _erasers(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, dev = x.shape[0], x.device
        h, w = x.shape[-2:]
        fraction = float(_uniform(1, 0.45, 0.9, g, dev))  # one size per batch, applied to a random share
        small = F.interpolate(
            x,
            size=(max(8, round(h * fraction)), max(8, round(w * fraction))),
            mode="bilinear",
            align_corners=False,
            antialias=x.device.type == "cpu",
        )
        downup = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
        x = torch.where(_chance(n, self.downup_p, g, dev).view(-1, 1, 1, 1), downup, x)
        sigma = float(_uniform(1, 0.3, 1.2, g, dev))
        blurred = apply_gaussian_blur(x, sigma)
        x = torch.where(_chance(n, self.blur_p, g, dev).view(-1, 1, 1, 1), blurred, x)
        noise_sigma = _uniform(n, 0.0, 0.03, g, dev).view(-1, 1, 1, 1)
        noise = torch.randn(x.shape, generator=g, device=dev, dtype=x.dtype) * noise_sigma
        return torch.where(_chance(n, self.noise_p, g, dev).view(-1, 1, 1, 1), x + noise, x)

    def _burned_text(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        assert self.markers is not None
        n, dev = x.shape[0], x.device
        pick = torch.randint(0, self.markers.shape[0], (n,), generator=g, device=dev)
        alpha = self.markers[pick].unsqueeze(1).to(x.dtype) / 255.0
        mirror = _chance(n, 0.5, g, dev).view(-1, 1, 1, 1)  # a mirrored layer is a new layout, not new text
        alpha = torch.where(mirror, alpha.flip(-2), alpha)
        bright = _chance(n, 0.8, g, dev)
        value = torch.where(bright, _uniform(n, 0.85, 1.0, g, dev), _uniform(n, 0.0, 0.15, g, dev))
        use = _chance(n, self.text_p, g, dev).view(-1, 1, 1, 1)
        alpha = alpha * use
        return x * (1 - alpha) + alpha * value.view(-1, 1, 1, 1)
