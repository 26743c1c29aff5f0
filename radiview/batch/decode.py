"""The worker side of screening: decode one film and do the numpy half of THE preprocessing.

``prepare_film`` is a pure function of (path, config) that returns only small, picklable
values, so it can run in a thread or a worker process alike. The full-size pixels never
leave it: a queued film costs ~200 kB (the model-size image), not the tens of MB of a
3000-px film.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from radiview.batch.records import Identifiers
from radiview.inference.preprocess import PreprocessConfig, prepare_image
from radiview.io.radiograph import Radiograph, Window

_PLACEHOLDER = np.zeros((1, 1), np.float32)
_PLACEHOLDER.flags.writeable = False
_caught: list[str] = []  # library warnings of the film being decoded (worker processes only)


def library_warning_text(message: Warning | str, category: type[Warning], filename: str) -> str:
    """``pydicom (UserWarning): text``: a warning as one line naming the library it came from."""
    parts = Path(filename).parts
    source = parts[parts.index("site-packages") + 1] if "site-packages" in parts[:-1] else Path(filename).stem
    return f"{source} ({category.__name__}): {message}"


def collect_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` in a decoding worker process: keep the warning for the film's
    record (the main process logs it) instead of printing it raw to the run's stderr."""
    _caught.append(library_warning_text(message, category, filename))


@dataclass(frozen=True)
class PreparedFilm:
    """A decoded film reduced to what the model thread needs (picklable: it crosses processes).

    ``image`` is the windowed [0, 1] model-size image; ``shape`` the film's own (rows, cols),
    to restore its aspect in thumbnails; ``source``, ``view_position``, ``was_color`` and
    ``metadata`` are what the input gate reads (``gate_view`` rebuilds them as a radiograph).
    """

    image: np.ndarray
    shape: tuple[int, int]
    identifiers: Identifiers
    source: str
    kind: str
    bits_stored: int
    default_window: Window
    view_position: str | None
    was_color: bool
    metadata: dict[str, str]
    warnings: tuple[str, ...] = ()  # library warnings while decoding (from worker processes)

    @property
    def gate_view(self) -> Radiograph:
        """A stand-in radiograph whose pixels are a 1x1 placeholder: the gate reads only its
        colour record and view position, never the pixels."""
        return Radiograph(
            pixels=_PLACEHOLDER,
            source=self.source,
            kind=self.kind,  # type: ignore[arg-type]
            bits_stored=self.bits_stored,
            default_window=self.default_window,
            view_position=self.view_position,
            was_color=self.was_color,
            metadata=self.metadata,
        )


def prepare_film(path: Path, config: PreprocessConfig) -> PreparedFilm:
    """Decode + resize + window (the torch half, ``to_input_tensor``, runs in the model thread:
    torch ops in several workers each start an OpenMP team that spins against the model's own;
    measured 30 ms instead of 1 ms per film on 2 cores)."""
    from radiview.io import load_radiograph

    _caught.clear()  # left over from a film that failed
    radiograph = load_radiograph(path)
    caught = tuple(_caught)
    _caught.clear()
    return PreparedFilm(
        image=prepare_image(radiograph, config),
        shape=radiograph.shape,
        identifiers=Identifiers.from_metadata(radiograph.metadata),
        source=radiograph.source,
        kind=radiograph.kind,
        bits_stored=radiograph.bits_stored,
        default_window=radiograph.default_window,
        view_position=radiograph.view_position,
        was_color=radiograph.was_color,
        metadata=dict(radiograph.metadata),
        warnings=caught,
    )
