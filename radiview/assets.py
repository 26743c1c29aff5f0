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
