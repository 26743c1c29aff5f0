"""User settings: one defaults table, a JSON file in the user config dir, written atomically.

Qt-free on purpose (the CLI and tests read it too). Window geometry and dock layout are
Qt-only state and live in QSettings inside ``radiview.gui``. Nothing about the model
(labels, thresholds, input size) belongs here: that comes from the model card.

``RADIVIEW_CONFIG_DIR`` overrides the folder (tests, portable installs). A damaged file or a
bad value never stops the app: it is logged (naming the file and key) and the default used.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from radiview.atomic import atomic_write
from radiview.render import COLORMAPS  # the heatmap colour maps offered (numpy-only module)

log = logging.getLogger("radiview.settings")

SETTINGS_FILE = "settings.json"
MAX_RECENT_FILES = 10
#: The viewer's four-corner annotation fields (radiview.gui.annotations titles them).
CORNER_FIELDS = ("patient", "age_sex", "study", "institution", "view", "markers", "window", "zoom", "file")


@dataclass(frozen=True)
class Settings:
    """Every user preference, with its default. Frozen: change with ``dataclasses.replace``."""

    device: str = "auto"  # "auto", "cpu" or a torch device string such as "cuda:0"
    model_dir: str = ""  # a model bundle or site bundle folder ("" = the bundled model)
    overlay_opacity: float = 0.45  # heatmap opacity in [0, 1]
    colormap: str = "jet"
    report_dir: str = ""  # default folder for CSV/PDF/PNG exports ("" = home)
    last_dir: str = ""  # where the last open dialog was
    recent_files: tuple[str, ...] = ()
    strip_identifiers: bool = True  # exports leave out patient name/ID/birth date
    batch_recursive: bool = True
    notice_acknowledged: bool = False  # the research-use notice, accepted on first run
    corners_visible: bool = True  # four-corner annotations on the film (key A toggles)
    corner_fields: tuple[str, ...] = CORNER_FIELDS

    def with_recent(self, path: str) -> Settings:
        """This settings with ``path`` first in the recent files (no duplicates, capped)."""
        recent = (path, *(p for p in self.recent_files if p != path))
        return replace(self, recent_files=recent[:MAX_RECENT_FILES])


DEFAULTS = Settings()


def config_dir() -> Path:
    """The platform's user config folder for RadiView (or ``RADIVIEW_CONFIG_DIR``)."""
    env = os.environ.get("RADIVIEW_CONFIG_DIR")
    if env:
        return Path(env)
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
        return base / "RadiView"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "RadiView"
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "radiview"


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def _coerce(name: str, value: Any, default: Any) -> Any:
    """``value`` converted to the type of ``default``; ValueError when it cannot be."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected true/false, got {value!r}")
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        value = float(value)
        if name == "overlay_opacity" and not 0.0 <= value <= 1.0:
            raise ValueError(f"expected a value in [0, 1], got {value}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"expected a list of strings, got {value!r}")
        return tuple(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {value!r}")
        if name == "colormap" and value not in COLORMAPS:
            raise ValueError(f"unknown colormap {value!r} (known: {', '.join(COLORMAPS)})")
        return value
    raise ValueError(f"unsupported setting type for {name}")


def settings_from_dict(data: dict[str, Any], source: str = "settings") -> Settings:
    """Settings from a JSON object; unknown keys and bad values are logged and skipped."""
    known = {f.name: getattr(DEFAULTS, f.name) for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            log.warning("%s: unknown setting %r ignored", source, key)
            continue
        try:
            values[key] = _coerce(key, value, known[key])
        except ValueError as exc:
            log.warning("%s: setting %r: %s; using the default", source, key, exc)
    return replace(DEFAULTS, **values)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read the settings file; defaults when it is absent or unreadable (logged)."""
    target = Path(path) if path is not None else settings_path()
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DEFAULTS
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("%s: settings file unreadable (%s); using defaults", target, exc)
        return DEFAULTS
    if not isinstance(data, dict):
        log.warning("%s: settings file is not a JSON object; using defaults", target)
        return DEFAULTS
    return settings_from_dict(data, str(target))


def save_settings(settings: Settings, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the settings as JSON atomically (temp file, fsync, rename); returns the path."""
    target = Path(path) if path is not None else settings_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    data = asdict(settings)
    data["recent_files"] = list(settings.recent_files)
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    with atomic_write(target, "w", encoding="utf-8") as fh:
        fh.write(text)
    return target


__all__ = [
    "COLORMAPS",
    "CORNER_FIELDS",
    "DEFAULTS",
    "MAX_RECENT_FILES",
    "Settings",
    "config_dir",
    "load_settings",
    "save_settings",
    "settings_from_dict",
    "settings_path",
]
