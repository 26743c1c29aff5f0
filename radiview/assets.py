"""Find the runtime ``resources/`` folder in a checkout, an installed wheel or a frozen build."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    """The folder holding ``model/`` and ``icons/``.

    Order: ``RADIVIEW_RESOURCES`` (tests, custom installs); a PyInstaller build
    (``sys._MEIPASS/resources``); a source checkout (``<repo>/resources``); an installed
    wheel (``radiview/_resources``, mapped there by pyproject.toml).
    """
    env = os.environ.get("RADIVIEW_RESOURCES")
    if env:
        return Path(env)
    frozen = getattr(sys, "_MEIPASS", None)
    candidates = [Path(frozen) / "resources"] if frozen else []
    package = Path(__file__).resolve().parent
    candidates += [package.parent / "resources", package / "_resources"]
    for candidate in candidates:
        if (candidate / "model").is_dir() or (candidate / "icons").is_dir():
            return candidate
    return candidates[0]


def default_model_dir() -> Path:
    """The bundled model's directory."""
    return resources_dir() / "model"


def icon_path(name: str = "radiview.png") -> Path:
    return resources_dir() / "icons" / name


#: The demo films' extensions (the samples folder also holds samples.csv).
SAMPLE_SUFFIXES = (".dcm", ".png", ".jpg", ".jpeg")


def sample_films_dir() -> Path | None:
    """The sample films (``RADIVIEW_DATA/samples``, else ``../shared/data/samples`` beside a
    checkout), or None when neither exists: installs ship no patient films."""
    env = os.environ.get("RADIVIEW_DATA")
    package = Path(__file__).resolve().parent
    candidates = [Path(env) / "samples"] if env else []
    candidates.append(package.parent.parent / "shared" / "data" / "samples")
    return next((c for c in candidates if c.is_dir()), None)


def sample_films() -> list[Path]:
    """The sample films, sorted by name (empty when there is no samples folder)."""
    folder = sample_films_dir()
    if folder is None:
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SAMPLE_SUFFIXES)
