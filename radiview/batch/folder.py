"""Screening items for a folder: listed once, keyed by their POSIX path relative to it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from radiview.batch.records import ScreeningItem
from radiview.errors import InputError


@dataclass(frozen=True)
class FolderListing:
    """The films of a folder. ``nested`` counts films in sub-folders that a non-recursive
    listing left out; it is only counted when the top level has none (to say why)."""

    folder: Path
    items: tuple[ScreeningItem, ...]
    recursive: bool
    nested: int = 0

    def empty_reason(self) -> str:
        """Why nothing was found, as one sentence (for an empty listing)."""
        if self.nested:
            films = "film" if self.nested == 1 else "films"
            top = f"no films at the top level of {self.folder}"
            return f"{top}; {self.nested} {films} in sub-folders: add --recursive"
        where = f"{self.folder} or its sub-folders" if self.recursive else str(self.folder)
        return f"no films (DICOM, PNG or JPEG files) in {where}"


def list_folder(folder: str | os.PathLike[str], recursive: bool = False) -> FolderListing:
    """Every candidate film of ``folder`` in sorted key order (InputError if not a folder)."""
    from radiview.io.discovery import iter_image_files

    root = Path(folder)
    if not root.is_dir():
        raise InputError("not a folder (or it does not exist)", root)
    keys = sorted(Path(p).relative_to(root).as_posix() for p in iter_image_files(root, recursive))
    items = tuple(ScreeningItem(key, root / key) for key in keys)
    nested = 0
    if not items and not recursive:
        nested = sum(1 for _ in iter_image_files(root, recursive=True))
    return FolderListing(root, items, recursive, nested)
