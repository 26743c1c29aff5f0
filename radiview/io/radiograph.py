"""The in-memory radiograph: pixels in MONOCHROME2 orientation plus display metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np

Kind = Literal["dicom", "image"]


@dataclass(frozen=True)
class Window:
    """A linear VOI window (DICOM C.11.2.1.2 semantics simplified to center ± width/2)."""

    center: float
    width: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.center) and np.isfinite(self.width)) or self.width <= 0:
            raise ValueError(f"invalid window center={self.center} width={self.width}")

    @property
    def lower(self) -> float:
        return self.center - self.width / 2.0

    @property
    def upper(self) -> float:
        return self.center + self.width / 2.0

    @classmethod
    def from_bounds(cls, lower: float, upper: float) -> Window:
        if upper <= lower:
            upper = lower + 1.0
        return cls(center=(lower + upper) / 2.0, width=upper - lower)


@dataclass(frozen=True)
class Radiograph:
    """One 2-D grayscale radiograph, ready for display and for the model.

    ``pixels`` is a read-only 2-D float32 array in MONOCHROME2 orientation (higher is
    brighter) with the modality LUT applied (and, for files with a VOI LUT Sequence, that
    LUT applied too). ``default_window`` is expressed in the same space: the DICOM window,
    or else one derived from the pixel percentiles. ``colorfulness`` is recorded for every file
    stored in colour (``was_color`` is set when it is above ``io.color.COLOR_TOLERANCE``), so
    the input gate can refuse a photograph. ``metadata`` holds display strings only
    (patient name/ID etc.) and must never be logged.
    """

    pixels: np.ndarray
    source: str
    kind: Kind
    bits_stored: int
    default_window: Window
    pixel_spacing_mm: tuple[float, float] | None = None  # (row, column) spacing
    #: Where the spacing came from: "PixelSpacing calibrated" (PixelSpacingCalibrationType set:
    #: sizes in the patient plane), "PixelSpacing" (no calibration stated), "ImagerPixelSpacing"
    #: (at the detector: magnified by the beam's divergence), or "" (no spacing).
    pixel_spacing_source: str = ""
    view_position: str | None = None
    photometric: str = "MONOCHROME2"  # as stored in the file, before any conversion
    was_color: bool = False  # colour input converted to luminance
    colorfulness: float | None = None  # Hasler-Süsstrunk score of a colour file; None if stored gray
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        pixels = np.asarray(self.pixels)
        if pixels.ndim != 2 or pixels.dtype != np.float32:
            raise ValueError("Radiograph.pixels must be a 2-D float32 array")
        if pixels.flags.writeable:
            pixels = pixels.copy() if not pixels.flags.owndata else pixels
            pixels.flags.writeable = False
        object.__setattr__(self, "pixels", pixels)
        if self.colorfulness is not None and not np.isfinite(self.colorfulness):
            raise ValueError(f"Radiograph.colorfulness must be finite, got {self.colorfulness}")
        if not isinstance(self.metadata, MappingProxyType):
            object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.pixels.shape[0]), int(self.pixels.shape[1]))

    @property
    def spacing_calibrated(self) -> bool:
        """True only when the file states a calibration (lengths in mm are then trustworthy)."""
        return self.pixel_spacing_source == "PixelSpacing calibrated"

    @property
    def name(self) -> str:
        """The file name, for messages (never the patient's name)."""
        return self.source.replace("\\", "/").rsplit("/", 1)[-1]
