"""Finding candidate films in a folder (for batch screening and the GUI's folder view)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from radiview.errors import InputError
from radiview.io.formats import DICOM_EXTENSIONS, IMAGE_EXTENSIONS, SNIFF_BYTES, sniff_format

logger = logging.getLogger("radiview.io")


def is_candidate_file(path: str | os.PathLike[str]) -> bool:
    """True for a known image/DICOM extension, or any other file whose first bytes are DICOM.

    Extension-less (or oddly named) DICOM exports are common from PACS; sniffing costs one
    132-byte read per unknown file. Hidden files (".name") never count.
    """
    p = Path(path)
    if p.name.startswith("."):
        return False
    suffix = p.suffix.lower()
    if suffix in IMAGE_EXTENSIONS or suffix in DICOM_EXTENSIONS:
        return True
    try:
        with open(p, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return False
    return sniff_format(head) == "dicom"


def iter_image_files(folder: str | os.PathLike[str], recursive: bool = False) -> Iterator[Path]:
    """Candidate films under ``folder``, sorted by path (deterministic), hidden entries skipped.

    With ``recursive`` sub-folders are walked too (hidden folders skipped, symlinked folders
    not followed, so a link loop cannot recurse forever). Raises InputError if ``folder``
    is not a folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError("not a folder (or it does not exist)", root)
    yield from _walk(root, recursive)


def _walk(folder: Path, recursive: bool) -> Iterator[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        logger.warning("%s: folder skipped (%s)", folder.name, exc.strerror or exc)
        return
    subfolders: list[Path] = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_file():
                if is_candidate_file(entry.path):
                    yield Path(entry.path)
            elif recursive and entry.is_dir(follow_symlinks=False):
                subfolders.append(Path(entry.path))
        except OSError:
            continue
    for sub in subfolders:
        yield from _walk(sub, recursive)
