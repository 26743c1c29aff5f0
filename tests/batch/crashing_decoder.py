"""A decoder that kills its worker process on files named ``crash*`` (a segfaulting codec's effect).

A module of its own, so worker processes can import it by name.
"""

from __future__ import annotations

import os
from pathlib import Path

from radiview.batch.decode import PreparedFilm, prepare_film
from radiview.inference.preprocess import PreprocessConfig


def prepare_or_crash(path: Path, config: PreprocessConfig) -> PreparedFilm:
    if Path(path).name.startswith("crash"):
        os._exit(11)
    return prepare_film(path, config)
