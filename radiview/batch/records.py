"""What flows through the screening engine: items in, records out (frozen, thread-safe).

``ScreeningItem.key`` is what the report's ``file`` column holds: a POSIX path relative to the
screened folder for a folder run; the PACS path passes a SOP Instance UID and puts
``study_uid`` in ``extra``. The engine never assumes the items came from a folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from radiview.inference.prediction import Prediction

Status = Literal["ok", "refused", "error"]
STATUSES: tuple[Status, ...] = ("ok", "refused", "error")


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return mapping if isinstance(mapping, MappingProxyType) else MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class ScreeningItem:
    """One film to screen: its report key, where to read it, and pass-through columns."""

    key: str
    path: Path
    extra: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "extra", _frozen(self.extra))


@dataclass(frozen=True)
class Identifiers:
    """The film's own identifiers, when its header has them (DICOM); empty for PNG/JPEG."""

    patient_id: str = ""
    accession: str = ""
    study_date: str = ""

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> Identifiers:
        accession = metadata.get("accession_number", "") or metadata.get("accession", "")
        return cls(metadata.get("patient_id", ""), accession, metadata.get("study_date", ""))


NO_IDENTIFIERS = Identifiers()


@dataclass(frozen=True)
class Thumbnail:
    """A small RGB (h, w, 3) uint8 film with its Grad-CAM overlay, made during the run."""

    image: np.ndarray
    label: str
    probability: float

    def __post_init__(self) -> None:
        image = np.asarray(self.image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError("Thumbnail.image must be an (h, w, 3) uint8 array")
        if image.flags.writeable:
            image = image.copy()
            image.flags.writeable = False
        object.__setattr__(self, "image", image)


@dataclass(frozen=True)
class ScreeningRecord:
    """The outcome for one item.

    ``prediction`` is set for ok and refused films read in this run and for ok rows resumed
    from a report (probabilities as rounded there); it is None for errors and for refused
    rows resumed from a report (the CSV keeps no probabilities for them). ``model`` is the
    stamp of the model that made the row (``name@version sha256-prefix``). ``flags`` holds
    the codes of issue 14's ``reading_flags`` for ok films (``adult``, ``unvalidated_source``,
    ``ap_portable``, ``low_confidence``).
    """

    key: str
    status: Status
    prediction: Prediction | None = None
    message: str = ""
    identifiers: Identifiers = NO_IDENTIFIERS
    flags: tuple[str, ...] = ()
    thumbnail: Thumbnail | None = None
    model: str = ""
    extra: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    resumed: bool = False  # read back from an earlier run's report, not screened now

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra", _frozen(self.extra))

    @property
    def file(self) -> str:
        """The report's ``file`` column (the key); the GUI table and old callers use this name."""
        return self.key

    @property
    def top_label(self) -> str | None:
        if self.status != "ok" or self.prediction is None:
            return None
        return self.prediction.top_label

    @property
    def flagged(self) -> bool:
        """Read as anything but normal (these films get a Grad-CAM thumbnail)."""
        return self.top_label not in (None, "normal")
