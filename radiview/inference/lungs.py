"""The lung-field estimate: a small segmenter shipped in the model bundle, and the pure numpy
functions every backend uses with it (clip a heatmap to the lungs, tell a frontal chest film).

``LungSegmenter.segment(radiograph)`` gives a ``LungField``: the lung mask at the film's
resolution, the probability map at the model's input size and a confidence score. A film
whose field is not two lungs side by side, or whose lung pixels are uncertain, is
``confident = False``: the app neither clips nor claims a share outside the lungs there,
and the gate refuses it as "not a frontal chest film".

Limits: trained on 1,081 children's films (Kermany) and 278 adult COVID-19 films (ieee8023);
the masks include the lung behind the heart and below the diaphragm domes, so the field
overlaps most of the heart. Not validated on other sources, on lateral views or on films
with a pneumothorax, large effusion or lobectomy.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from radiview.errors import ModelBundleError
from radiview.inference.card import LungSegmenterSpec, Preprocessing
from radiview.inference.lung_network import LungNet, build_lung_network, resize_lung_input
from radiview.inference.preprocess import preprocess
from radiview.io.radiograph import Radiograph

log = logging.getLogger("radiview.inference")

#: The lung field is widened by this share of the film's width before a heatmap is clipped to it.
DILATE_FRACTION = 0.03


@dataclass(frozen=True)
class LungLayout:
    """What the two-lung check reads from a probability map (at the input size)."""

    confidence: float  # mean probability over the predicted lung pixels (p >= 0.5)
    lung_share: float  # share of the image predicted lung
    smaller_lung_share: float  # the smaller of the two largest components, share of the image
    side_by_side: bool  # the two largest components lie left and right of each other
    components: int


@dataclass(frozen=True)
class LungField:
    """The lung field of one film. ``mask`` (bool, film resolution) and ``probability``
    (float32, input size) are read-only; ``confident`` says whether to use them at all."""

    mask: np.ndarray
    probability: np.ndarray
    layout: LungLayout
    confident: bool

    @property
    def confidence(self) -> float:
        return self.layout.confidence


def apply_lung_clip(
    heatmap: np.ndarray, lung_mask: np.ndarray, dilate_frac: float = DILATE_FRACTION
) -> tuple[np.ndarray, float]:
    """``heatmap`` (H, W) set to 0 outside ``lung_mask`` widened by ``dilate_frac`` of its width,
    and the share of the heatmap's mass that lay outside (0.0 for an empty map).

    ``lung_mask`` may be at any resolution (e.g. the model's 224 × 224): it is widened there
    and stretched to the heatmap's shape, as the preprocessing stretched the film.
    """
    field = _dilate(np.asarray(lung_mask, dtype=bool), dilate_frac)
    field = _stretch_mask(field, heatmap.shape)
    heat = np.asarray(heatmap, dtype=np.float32)
    total = float(heat.sum(dtype=np.float64))
    clipped = np.where(field, heat, np.float32(0.0)).astype(np.float32)
    outside = 0.0 if total <= 0 else 1.0 - float(clipped.sum(dtype=np.float64)) / total
    return clipped, min(max(outside, 0.0), 1.0)


def _dilate(mask: np.ndarray, dilate_frac: float) -> np.ndarray:
    """Widen ``mask`` by ``dilate_frac`` of its width (a disc, by distance transform)."""
    radius = dilate_frac * mask.shape[1]
    if radius <= 0 or not mask.any():
        return mask
    from scipy import ndimage  # type: ignore[import-untyped]

    return np.asarray(ndimage.distance_transform_edt(~mask) <= radius)


def _stretch_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    rows, cols = int(shape[0]), int(shape[1])
    if mask.shape == (rows, cols):
        return mask
    image = Image.fromarray(mask.astype(np.uint8) * 255).resize((cols, rows), Image.Resampling.BILINEAR)
    return np.asarray(image) >= 128


def read_lung_layout(probability: np.ndarray) -> LungLayout:
    """Confidence and two-lung layout of a probability map (pure numpy + scipy)."""
    from scipy import ndimage

    lungs = probability >= 0.5
    confidence = float(probability[lungs].mean()) if lungs.any() else 0.0
    labels, count = ndimage.label(lungs)
    if count < 2:
        return LungLayout(confidence, float(lungs.mean()), 0.0, False, int(count))
    sizes = ndimage.sum_labels(lungs, labels, index=np.arange(1, count + 1))
    first, second = (int(i) + 1 for i in np.argsort(sizes)[::-1][:2])
    cols = np.arange(lungs.shape[1])
    spans = []
    for index in (first, second):
        columns = cols[(labels == index).any(axis=0)]
        spans.append((columns.min(), columns.max(), float(columns.mean())))
    (a0, a1, ac), (b0, b1, bc) = sorted(spans, key=lambda s: s[2])
    overlap = max(0, min(a1, b1) - max(a0, b0))  # columns the two share
    side_by_side = bool(ac < lungs.shape[1] / 2 < bc and overlap <= 0.25 * min(a1 - a0, b1 - b0))
    smaller = float(min(sizes[first - 1], sizes[second - 1]) / lungs.size)
    return LungLayout(confidence, float(lungs.mean()), smaller, side_by_side, int(count))


def is_frontal_layout(layout: LungLayout, spec: LungSegmenterSpec) -> bool:
    """Two lungs side by side, each of plausible size, predicted with confidence (card thresholds)."""
    return (
        layout.side_by_side
        and layout.confidence >= spec.min_confidence
        and layout.smaller_lung_share >= spec.min_lung_share
    )


class LungSegmenter:
    """The bundle's lung segmenter (card section ``lung_segmenter``). Stateless per call, but
    torch modules are not re-entrant: own one instance per thread, like the Classifier."""

    def __init__(self, spec: LungSegmenterSpec, network: LungNet, preprocessing: Preprocessing) -> None:
        self.spec = spec
        self.network = network.eval()
        self.preprocessing = preprocessing

    @classmethod
    def from_bundle(
        cls, bundle_dir: str | os.PathLike[str], spec: LungSegmenterSpec, preprocessing: Preprocessing
    ) -> LungSegmenter:
        """Verify the weights' SHA-256 against the card, then load them with ``weights_only=True``."""
        from radiview.inference.bundle import load_checked_state

        path = Path(bundle_dir) / spec.weights_file
        if Path(spec.weights_file).name != spec.weights_file:
            raise ModelBundleError(
                f"lung segmenter weights {spec.weights_file!r} must be a plain file name inside the bundle",
                path,
            )
        state = load_checked_state(path, spec.weights_sha256, "lung segmenter", "the model card")
        try:
            network = build_lung_network(spec.width)
            network.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        except Exception as exc:  # weights that do not fit the card's width
            raise ModelBundleError(f"lung segmenter weights could not be loaded: {exc}", path) from exc
        return cls(spec, network, preprocessing)

    def probabilities(self, batch: torch.Tensor) -> np.ndarray:
        """Lung probability (N, h, w) float32 at the segmenter's input size, from THE preprocessed
        input batch (the classifier's own input: the two models share the preprocessing)."""
        with torch.inference_mode():
            x = resize_lung_input(batch.to("cpu", torch.float32), self.spec.input_size[0])
            logits = F.interpolate(self.network(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
            return torch.sigmoid(logits)[:, 0].numpy().astype(np.float32)

    def frontal_flags(self, probabilities: np.ndarray) -> list[bool]:
        """Per film: a frontal two-lung layout (False: the gate refuses it as not frontal)."""
        return [is_frontal_layout(read_lung_layout(p), self.spec) for p in probabilities]

    def clip_heatmap(self, heatmap: np.ndarray, probability: np.ndarray) -> tuple[np.ndarray, float | None]:
        """``heatmap`` clipped to this film's lung field, and the share of its mass outside; the
        map unchanged and None where the field is not confident (no lung field to trust)."""
        if not is_frontal_layout(read_lung_layout(probability), self.spec):
            return heatmap, None
        return apply_lung_clip(heatmap, probability >= 0.5, DILATE_FRACTION)

    def field_from_probability(self, probability: np.ndarray, film_shape: tuple[int, int]) -> LungField:
        layout = read_lung_layout(probability)
        mask = _stretch_mask(probability >= 0.5, film_shape)
        mask.flags.writeable = False
        probability = np.array(probability, dtype=np.float32)
        probability.flags.writeable = False
        return LungField(mask, probability, layout, is_frontal_layout(layout, self.spec))

    def segment(self, radiograph: Radiograph) -> LungField:
        """The lung field of one film (mask at the film's resolution)."""
        batch = preprocess(radiograph, self.preprocessing).unsqueeze(0)
        return self.field_from_probability(self.probabilities(batch)[0], radiograph.shape)


def describe_field(field: LungField) -> dict[str, Any]:
    """The figures a report or log line shows for a field."""
    layout = field.layout
    return {
        "confident": field.confident,
        "confidence": round(layout.confidence, 4),
        "lung_share": round(layout.lung_share, 4),
        "smaller_lung_share": round(layout.smaller_lung_share, 4),
        "side_by_side": layout.side_by_side,
    }
