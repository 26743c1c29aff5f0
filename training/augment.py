"""Augmentations on the prepared [0, 1] float32 (H, W) film (after ``prepare_image``, before
``to_input_tensor``), so they never see anything the app's preprocessing would not produce.

Every random transform is a ``Rand*`` callable ``(image, rng) -> image`` that takes its randomness
from the numpy Generator it is given (reproducible, resumable, identical across DDP ranks).
Besides the usual geometric and intensity jitter there are *source-style erasers*: down-and-up
scaling, JPEG re-compression, blur and noise, which blur the differences between the 224-px
re-encoded sources and full-resolution ones that a model could otherwise use as a shortcut.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _to_pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(image, dtype=np.float32), mode="F")


@dataclass(frozen=True)
class RandHorizontalFlip:
    p: float = 0.5

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return image[:, ::-1].copy() if rng.random() < self.p else image


@dataclass(frozen=True)
class RandAffine:
    """Small rotation, zoom, shift and shear about the centre (bilinear, black fill like film borders)."""

    degrees: float = 10.0
    translate: float = 0.06
    scale: tuple[float, float] = (0.9, 1.1)
    shear_degrees: float = 5.0

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape
        angle = math.radians(rng.uniform(-self.degrees, self.degrees))
        shear = math.radians(rng.uniform(-self.shear_degrees, self.shear_degrees))
        zoom = rng.uniform(*self.scale)
        tx, ty = rng.uniform(-self.translate, self.translate, size=2) * (w, h)
        # forward map: centre → rotate/shear/zoom → shift; PIL wants the inverse (output → input)
        a, b = math.cos(angle) * zoom, -math.sin(angle + shear) * zoom
        c, d = math.sin(angle) * zoom, math.cos(angle + shear) * zoom
        det = a * d - b * c
        ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
        cx, cy = w / 2.0, h / 2.0
        ox, oy = cx + tx, cy + ty
        coeffs = (ia, ib, cx - ia * ox - ib * oy, ic, id_, cy - ic * ox - id_ * oy)
        out = _to_pil(image).transform(
            (w, h), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR, fillcolor=0.0
        )
        return np.asarray(out, dtype=np.float32)


@dataclass(frozen=True)
class RandElastic:
    """Smooth local warp: a coarse random displacement grid, upsampled (magnitude as a fraction of size)."""

    magnitude: float = 0.015
    grid: int = 5

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape
        coarse = torch.from_numpy(
            rng.normal(0.0, self.magnitude * 2, size=(1, 2, self.grid, self.grid)).astype(np.float32)
        )
        flow = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        base = torch.stack((xs, ys), dim=-1).unsqueeze(0)
        src = torch.from_numpy(np.array(image, dtype=np.float32)).view(1, 1, h, w)
        out = F.grid_sample(src, base + flow, mode="bilinear", padding_mode="border", align_corners=True)
        return out[0, 0].numpy()


@dataclass(frozen=True)
class RandBrightnessContrast:
    brightness: float = 0.1
    contrast: float = 0.15

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        gain = 1.0 + rng.uniform(-self.contrast, self.contrast)
        shift = rng.uniform(-self.brightness, self.brightness)
        mean = float(image.mean())
        return (image - mean) * gain + mean + shift


@dataclass(frozen=True)
class RandGamma:
    low: float = 0.8
    high: float = 1.25

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        gamma = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return np.power(np.clip(image, 0.0, 1.0), gamma, dtype=np.float32)


@dataclass(frozen=True)
class RandDownUpScale:
    """Shrink to a random smaller size and back (mimics films that passed through 224 px or less)."""

    min_fraction: float = 0.45
    max_fraction: float = 0.9

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape
        f = rng.uniform(self.min_fraction, self.max_fraction)
        small = _to_pil(image).resize((max(8, round(w * f)), max(8, round(h * f))), Image.Resampling.BILINEAR)
        return np.asarray(small.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)


@dataclass(frozen=True)
class RandJpeg:
    """Re-encode as 8-bit JPEG at a random quality (publication figures and web copies are lossy)."""

    min_quality: int = 30
    max_quality: int = 90

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        quality = int(rng.integers(self.min_quality, self.max_quality + 1))
        u8 = Image.fromarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8), mode="L")
        buf = io.BytesIO()
        u8.save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        return np.asarray(Image.open(buf), dtype=np.float32) / 255.0


@dataclass(frozen=True)
class RandBlur:
    max_sigma: float = 1.2

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        sigma = rng.uniform(0.3, self.max_sigma)
        radius = max(1, math.ceil(3 * sigma))
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        kernel = torch.from_numpy((taps / taps.sum()).astype(np.float32))
        x = torch.from_numpy(np.array(image, dtype=np.float32))[None, None]
        x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
        x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
        return x[0, 0].numpy()


@dataclass(frozen=True)
class RandNoise:
    max_sigma: float = 0.03

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        sigma = rng.uniform(0.0, self.max_sigma)
        return image + rng.normal(0.0, sigma, size=image.shape).astype(np.float32)


@dataclass(frozen=True)
class RandApply:
    """Apply ``transform`` with probability ``p``."""

    transform: Transform
    p: float = 0.5

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.transform(image, rng) if rng.random() < self.p else image


@dataclass(frozen=True)
class RandOneOf:
    transforms: tuple[Transform, ...]

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.transforms[int(rng.integers(len(self.transforms)))](image, rng)


@dataclass(frozen=True)
class Compose:
    transforms: tuple[Transform, ...]

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for t in self.transforms:
            image = t(image, rng)
        return np.clip(image, 0.0, 1.0).astype(np.float32, copy=False)


#: Named recipes for ``--augment``.
AUGMENTATIONS = ("none", "paper", "full", "source")


def build_augment(name: str) -> Compose | None:
    """``paper``: flip, rotation/zoom/shift, brightness; ``full``: + shear, elastic, contrast, gamma;
    ``source``: ``full`` + the source-style erasers (down-up scaling, JPEG, blur, noise)."""
    if name == "none":
        return None
    geometric: Sequence[Transform]
    if name == "paper":
        return Compose(
            (
                RandHorizontalFlip(),
                RandAffine(degrees=10, translate=0.05, scale=(0.9, 1.1), shear_degrees=0),
                RandBrightnessContrast(brightness=0.1, contrast=0.0),
            )
        )
    geometric = (
        RandHorizontalFlip(),
        RandAffine(),
        RandApply(RandElastic(), p=0.3),
        RandBrightnessContrast(),
        RandApply(RandGamma(), p=0.5),
    )
    if name == "full":
        return Compose(tuple(geometric))
    if name == "source":
        erasers = (
            RandApply(RandDownUpScale(), p=0.3),
            RandApply(RandOneOf((RandBlur(), RandNoise())), p=0.3),
            RandApply(RandJpeg(), p=0.3),
        )
        return Compose((*geometric, *erasers))
    raise ValueError(f"unknown augmentation {name!r}; choose from {AUGMENTATIONS}")
