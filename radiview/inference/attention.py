"""Where an attention map may honestly be shown: inside the body, off burned-in text.

Grad-CAM lights up whatever moved the logit, including the air outside the patient and the
"L"/"R" markers and text that sites burn into films (the SIIM film's corner "L" did). A map
drawn there reads as a finding. ``build_attention_mask`` finds those areas on the film at
the model's input size (cheap: 224 × 224), and the viewer, the CLI and the PDF hide the map
there and say how much of the attention they hid.

Display side only: the model and its Grad-CAM are untouched. No Qt, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from radiview.io.radiograph import Radiograph
from radiview.io.windowing import apply_window_unit

WORK_SIZE = 224
#: Outside the body: film darker than this (in the file window, 0..1) and touching the border.
AIR_LEVEL = 0.08
#: Text/markers: brighter than their 9-px neighbourhood by this much (white top-hat) ...
TEXT_CONTRAST = 0.3
#: ... somewhere by at least this much: burned-in letters are drawn near white (top-hat 0.6-1.0 on
#: the shared films), while rib ends and clavicle heads at the chest wall stay below 0.6 (0.3-0.58).
TEXT_SEED_CONTRAST = 0.6
#: Fainter strokes within this many pixels of a near-white one belong to the same marker.
TEXT_REACH = 8
#: ... small (share of the film), and within this share of the width/height of a border.
TEXT_MAX_AREA = 0.004
BORDER_BAND = 0.2


@dataclass(frozen=True)
class AttentionMask:
    """``weights`` (H, W) float32 in [0, 1] at the film's size: 1 shows the map, 0 hides it
    (soft edges, so a masked map has no hard outline)."""

    weights: np.ndarray
    outside_body_fraction: float
    text_areas: int

    def apply(self, heatmap: np.ndarray) -> np.ndarray:
        """The map with hidden areas faded out (same shape and dtype)."""
        if heatmap.shape != self.weights.shape:
            raise ValueError(f"heatmap {heatmap.shape} does not match the mask {self.weights.shape}")
        return (np.asarray(heatmap, dtype=np.float32) * self.weights).astype(np.float32)

    def hidden_share(self, heatmap: np.ndarray) -> float:
        """Share of the map's total attention that falls where the mask hides it."""
        heat = np.asarray(heatmap, dtype=np.float64)
        total = float(heat.sum())
        return float((heat * (1.0 - self.weights)).sum() / total) if total > 0 else 0.0

    def describe(self, heatmap: np.ndarray | None = None) -> str:
        """E.g. "Hidden: outside the body (9 % of the film), 2 text/marker areas (4 % of the attention)"."""
        parts = []
        if self.outside_body_fraction >= 0.005:
            parts.append(f"outside the body ({self.outside_body_fraction * 100:.0f} % of the film)")
        if self.text_areas:
            parts.append(f"{self.text_areas} burned-in text/marker area{'s' if self.text_areas > 1 else ''}")
        if not parts:
            return "Nothing hidden: no air outside the body or burned-in text found."
        share = f" ({self.hidden_share(heatmap) * 100:.0f} % of the attention)" if heatmap is not None else ""
        return "Hidden: " + ", ".join(parts) + share + "."


def _ndimage() -> Any:
    """SciPy's ndimage, imported on first use (SciPy comes with grad-cam; it has no stubs)."""
    from scipy import ndimage  # type: ignore[import-untyped]

    return ndimage


def _small_film(radiograph: Radiograph) -> np.ndarray:
    unit = apply_window_unit(radiograph.pixels, radiograph.default_window).astype(np.float32)
    image = Image.fromarray(np.ascontiguousarray(unit), mode="F")
    return np.asarray(image.resize((WORK_SIZE, WORK_SIZE), Image.Resampling.BOX), dtype=np.float32)


def _outside_body(film: np.ndarray) -> np.ndarray:
    """Dark regions that touch the border (air around the patient, collimator bands)."""
    ndimage = _ndimage()

    labels, count = ndimage.label(film <= AIR_LEVEL)
    if count == 0:
        return np.zeros(film.shape, bool)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    sizes = ndimage.sum_labels(np.ones_like(film), labels, index=np.arange(count + 1))
    keep = [int(i) for i in edge if i and sizes[i] >= 0.002 * film.size]
    return np.isin(labels, keep)


def _text_blobs(film: np.ndarray) -> tuple[np.ndarray, int]:
    """Small, sharply brighter blobs near a border (markers, burned-in text), merged per area.

    Hysteresis: a marker needs one near-white stroke (``TEXT_SEED_CONTRAST``); fainter strokes
    count only within ``TEXT_REACH`` of one (the thin foot of an "L"). Bone edges have no near-white core.
    """
    ndimage = _ndimage()

    tophat = film - ndimage.grey_opening(film, size=(9, 9))
    labels, _ = ndimage.label(tophat > TEXT_CONTRAST)
    peaks = ndimage.maximum(tophat, labels, index=np.arange(labels.max() + 1))
    rows, cols = film.shape
    band_r, band_c = BORDER_BAND * rows, BORDER_BAND * cols
    candidates = np.zeros(film.shape, bool)
    seeds = np.zeros(film.shape, bool)
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        r0, r1, c0, c1 = box[0].start, box[0].stop, box[1].start, box[1].stop
        area = int((labels[box] == index).sum())
        near_border = r1 <= band_r or r0 >= rows - band_r or c1 <= band_c or c0 >= cols - band_c
        if near_border and area <= TEXT_MAX_AREA * film.size:
            candidates[box] |= labels[box] == index
            if peaks[index] >= TEXT_SEED_CONTRAST:
                seeds[box] |= labels[box] == index
    # Letters of one marker become one area; a margin covers their anti-aliased edges.
    parts, _ = ndimage.label(candidates)
    beside = np.unique(parts[ndimage.binary_dilation(seeds, iterations=TEXT_REACH)])
    blobs = ndimage.binary_dilation(seeds | np.isin(parts, beside[beside > 0]), iterations=4)
    # Holes are filled: a hidden ring (an "O") would leave a spot of map inside it.
    blobs = ndimage.binary_fill_holes(blobs)
    return blobs, int(ndimage.label(blobs)[1])


def build_attention_mask(radiograph: Radiograph) -> AttentionMask:
    """The soft mask for ``radiograph`` (at its own resolution); see the module doc."""
    ndimage = _ndimage()

    film = _small_film(radiograph)
    outside = _outside_body(film)
    text, areas = _text_blobs(film)
    hidden = (outside | text).astype(np.float32)
    soft = np.clip(1.0 - ndimage.gaussian_filter(hidden, sigma=2.0) * 1.5, 0.0, 1.0)
    rows, cols = radiograph.shape
    weights = np.asarray(
        Image.fromarray(soft.astype(np.float32), mode="F").resize((cols, rows), Image.Resampling.BILINEAR),
        dtype=np.float32,
    )
    weights = np.clip(weights, 0.0, 1.0)
    weights.flags.writeable = False
    return AttentionMask(weights, float(outside.mean()), areas)


@dataclass(frozen=True)
class HeatmapDisplay:
    """What to draw for one explanation: the masked map (None = withheld), the class's human
    title, and the note that says why nothing is drawn or what was hidden."""

    heatmap: np.ndarray | None
    title: str
    note: str


def heatmap_for_display(
    prediction: Any,
    explanation: Any,
    card: Any,
    mask: AttentionMask | None,
) -> HeatmapDisplay:
    """The card's policy (``flags.heatmap_withheld_reason``), then the body/text mask."""
    from radiview.inference.flags import heatmap_withheld_reason
    from radiview.inference.wording import class_title

    if explanation is None:
        return HeatmapDisplay(None, "", "")
    title = class_title(explanation.label)
    withheld = heatmap_withheld_reason(prediction, explanation.label, card)
    if withheld is not None:
        return HeatmapDisplay(None, title, withheld[0].upper() + withheld[1:] + ".")
    if mask is None:
        return HeatmapDisplay(explanation.heatmap, title, f"Grad-CAM for “{title}”.")
    return HeatmapDisplay(
        mask.apply(explanation.heatmap),
        title,
        f"Grad-CAM for “{title}”. {mask.describe(explanation.heatmap)}",
    )
