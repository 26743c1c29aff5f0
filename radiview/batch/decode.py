"""The worker side of screening: decode one film and do the numpy half of THE preprocessing.

``prepare_film`` is a pure function of (path, config) that returns only small, picklable
values, so it can run in a thread or a worker process alike. The full-size pixels never
leave it: a queued film costs ~200 kB (the model-size image), not the tens of MB of a
3000-px film.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from radiview.batch.records import Identifiers
from radiview.inference.gate import GateFacts
from radiview.inference.preprocess import PreprocessConfig, prepare_image

_caught: list[str] = []  # library warnings of the film being decoded (worker processes only)


def library_warning_text(message: Warning | str, category: type[Warning], filename: str) -> str:
    """``pydicom (UserWarning): text``: a warning as one line naming the library it came from."""
    parts = Path(filename).parts
    source = parts[parts.index("site-packages") + 1] if "site-packages" in parts[:-1] else Path(filename).stem
    return f"{source} ({category.__name__}): {message}"


def showwarning_into(sink: Callable[[str], None]) -> Callable[..., None]:
    """A ``warnings.showwarning`` that hands each warning, as one line naming its library, to
    ``sink`` instead of printing it raw to stderr (a decoding worker keeps it with the film's
    record; the command line logs it)."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        sink(library_warning_text(message, category, filename))

    return show


#: ``warnings.showwarning`` in a decoding worker process (the main process logs what it kept).
collect_warning = showwarning_into(_caught.append)


@dataclass(frozen=True)
class PreparedFilm:
    """A decoded film reduced to what the model thread needs (picklable: it crosses processes).

    ``image`` is the windowed [0, 1] model-size image; ``shape`` the film's own (rows, cols),
    to restore its aspect in thumbnails; ``gate`` what the input gate reads besides the image;
    ``metadata`` (a plain dict: a MappingProxyType does not pickle) and ``view_position`` what
    the reading flags read (age, DICOM source, AP/portable).
    """

    image: np.ndarray
    shape: tuple[int, int]
    identifiers: Identifiers
    gate: GateFacts
    warnings: tuple[str, ...] = ()  # library warnings while decoding (from worker processes)
    metadata: Mapping[str, str] = field(default_factory=dict)
    view_position: str | None = None


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
        gate=GateFacts.of(radiograph),
        warnings=caught,
        metadata=dict(radiograph.metadata),
        view_position=radiograph.view_position,
    )
