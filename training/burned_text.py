"""Burned-in text and markers pasted on training films, so that letters carry no class.

Real films carry side markers ("L", "R"), technologist letters, "PORTABLE", dates, arrows and rulers,
and the publication figures of the COVID-19 sources carry panel letters and arrows. A model trained
without this learns "letters → COVID-19". Here every training film may get such marks at random,
whatever its label, in the places real films have them (mostly the corners and edges).

``draw_markers`` draws one random layer (an alpha mask); ``RandBurnedText`` pastes one on a single
film (the film-by-film pipeline); ``marker_bank`` pre-draws many layers for the batched pipeline.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WORDS = (
    "L",
    "R",
    "L",
    "R",
    "PORTABLE",
    "AP",
    "PA",
    "SUPINE",
    "ERECT",
    "UPRIGHT",
    "SEMI-ERECT",
    "LEFT",
    "RIGHT",
    "A",
    "B",
    "C",
    "D",
    "DAY 3",
    "DAY 8",
    "ICU",
    "BEDSIDE",
    "STAT",
    "120 cm",
    "INSP",
)


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow's embedded scalable font
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _random_text(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.6:
        return str(WORDS[int(rng.integers(len(WORDS)))])
    if r < 0.8:  # technologist initials, IDs
        n = int(rng.integers(1, 5))
        return "".join(rng.choice(list(string.ascii_uppercase + string.digits), size=n))
    day, month, year = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(1995, 2025))
    return f"{day:02d}/{month:02d}/{year}"


def _anchor(rng: np.random.Generator, h: int, w: int, bw: int, bh: int) -> tuple[int, int]:
    """Top-left corner of a bw×bh box: mostly in a corner or along an edge, sometimes anywhere."""
    r = rng.random()
    margin_x, margin_y = max(1, w - bw), max(1, h - bh)
    if r < 0.6:  # a corner band
        x = (
            int(rng.integers(0, max(1, int(0.2 * w))))
            if rng.random() < 0.5
            else int(margin_x - rng.integers(0, max(1, int(0.2 * w))))
        )
        y = (
            int(rng.integers(0, max(1, int(0.2 * h))))
            if rng.random() < 0.5
            else int(margin_y - rng.integers(0, max(1, int(0.2 * h))))
        )
    elif r < 0.85:  # along the top or bottom edge
        x = int(rng.integers(0, margin_x))
        y = (
            int(rng.integers(0, max(1, int(0.12 * h))))
            if rng.random() < 0.5
            else int(margin_y - rng.integers(0, max(1, int(0.12 * h))))
        )
    else:
        x, y = int(rng.integers(0, margin_x)), int(rng.integers(0, margin_y))
    return max(0, min(x, margin_x)), max(0, min(y, margin_y))


def _draw_text(draw: ImageDraw.ImageDraw, rng: np.random.Generator, h: int, w: int) -> None:
    text = _random_text(rng)
    size = int(rng.integers(max(6, h // 28), max(8, h // 7)))
    font = _font(size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    bw, bh = int(right - left) + 4, int(bottom - top) + 4
    x, y = _anchor(rng, h, w, bw, bh)
    if rng.random() < 0.25:  # a marker in a box (lead markers often are)
        draw.rectangle((x - 2, y - 2, x + bw, y + bh), outline=255, width=max(1, size // 10))
    draw.text((x - left + 1, y - top + 1), text, fill=255, font=font)


def _draw_arrow(draw: ImageDraw.ImageDraw, rng: np.random.Generator, h: int, w: int) -> None:
    length = rng.uniform(0.08, 0.25) * w
    angle = rng.uniform(0, 2 * math.pi)
    x0, y0 = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
    x1, y1 = x0 + length * math.cos(angle), y0 + length * math.sin(angle)
    width = int(rng.integers(1, max(2, w // 60)))
    draw.line((x0, y0, x1, y1), fill=255, width=width)
    head = length * 0.3
    for side in (-0.5, 0.5):
        a = angle + math.pi + side
        draw.line((x1, y1, x1 + head * math.cos(a), y1 + head * math.sin(a)), fill=255, width=width)


def _draw_ruler(draw: ImageDraw.ImageDraw, rng: np.random.Generator, h: int, w: int) -> None:
    vertical = rng.random() < 0.5
    span = rng.uniform(0.2, 0.6) * (h if vertical else w)
    pos = rng.uniform(0.02, 0.1) if rng.random() < 0.5 else rng.uniform(0.9, 0.98)
    ticks = int(rng.integers(5, 15))
    if vertical:
        x, y0 = pos * w, rng.uniform(0.05, 0.95 - span / h) * h
        draw.line((x, y0, x, y0 + span), fill=255, width=1)
        for k in range(ticks + 1):
            y = y0 + span * k / ticks
            draw.line((x, y, x + (4 if k % 5 else 8), y), fill=255, width=1)
    else:
        y, x0 = pos * h, rng.uniform(0.05, 0.95 - span / w) * w
        draw.line((x0, y, x0 + span, y), fill=255, width=1)
        for k in range(ticks + 1):
            x = x0 + span * k / ticks
            draw.line((x, y, x, y + (4 if k % 5 else 8)), fill=255, width=1)


def draw_markers(rng: np.random.Generator, height: int, width: int, max_items: int = 3) -> np.ndarray:
    """One random layer of marks: float32 alpha (H, W) in [0, 1] (1 = fully covered)."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(1, max_items + 1))):
        r = rng.random()
        if r < 0.7:
            _draw_text(draw, rng, height, width)
        elif r < 0.88:
            _draw_arrow(draw, rng, height, width)
        else:
            _draw_ruler(draw, rng, height, width)
    return np.asarray(canvas, dtype=np.float32) / 255.0


def marker_bank(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """``count`` pre-drawn layers, uint8 (count, H, W) alpha, for the batched pipeline."""
    rng = np.random.default_rng((seed, 0xB0A7))
    return np.stack([np.rint(draw_markers(rng, height, width) * 255).astype(np.uint8) for _ in range(count)])


def paste(image: np.ndarray, alpha: np.ndarray, value: float) -> np.ndarray:
    """Composite marks of brightness ``value`` over the film (burned-in text is opaque)."""
    return image * (1.0 - alpha) + alpha * value


@dataclass(frozen=True)
class RandBurnedText:
    """With probability ``p``, paste a random layer of letters/markers/arrows/rulers, bright (as burned-in
    annotations are) or, less often, dark."""

    p: float = 0.5

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.p:
            return image
        alpha = draw_markers(rng, *image.shape)
        value = rng.uniform(0.85, 1.0) if rng.random() < 0.8 else rng.uniform(0.0, 0.15)
        return paste(image, alpha, value).astype(np.float32)
