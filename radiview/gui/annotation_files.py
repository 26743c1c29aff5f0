"""A film's annotations saved beside it (``film.dcm.radiview-annotations.json``) and read back.

Written atomically after every change, so a crash loses at most the change being made; an
unreadable or foreign sidecar is ignored (logged), never a reason not to show the film.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from radiview.atomic import atomic_write
from radiview.gui.tools import TOOL_POINTS, Annotation

log = logging.getLogger("radiview.gui")

SIDECAR_SUFFIX = ".radiview-annotations.json"
FORMAT = "radiview-annotations/1"


def sidecar_path(film: str | os.PathLike[str]) -> Path:
    path = Path(film)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def write_annotations(film: str | os.PathLike[str], annotations: Sequence[Annotation]) -> Path:
    """Save (or, for none, remove) the sidecar; OSError when the folder is not writable."""
    path = sidecar_path(film)
    if not annotations:
        path.unlink(missing_ok=True)
        return path
    data = {
        "format": FORMAT,
        "film": Path(film).name,
        "annotations": [
            {"kind": a.kind, "points": [list(p) for p in a.points], "text": a.text} for a in annotations
        ],
    }
    with atomic_write(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    return path


def read_annotations(film: str | os.PathLike[str]) -> list[Annotation]:
    """The saved annotations of ``film`` ([] when there is no readable sidecar)."""
    path = sidecar_path(film)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        out = []
        for item in data["annotations"]:
            kind = str(item["kind"])
            points = tuple((float(x), float(y)) for x, y in item["points"])
            if kind not in TOOL_POINTS or len(points) != TOOL_POINTS[kind]:
                raise ValueError(f"a {kind!r} with {len(points)} points")
            out.append(Annotation(kind, points, str(item.get("text", ""))))
        return out
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the annotation file %s: %s", path.name, exc)
        return []
