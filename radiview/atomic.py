"""Atomic file replacement: readers see the old file or the whole new one, never a part.

Every file RadiView writes (reports, exports, settings, model bundles, training checkpoints)
goes through here: write a temporary file in the target's folder, fsync it, rename it over the
target. A crash or SIGKILL mid-write leaves the previous file intact and at most a hidden
``.<name>.*.tmp`` beside it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_path", "atomic_write"]


def _process_umask() -> int:
    """The umask without changing it (os.umask can only be read by setting it: not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _final_mode(path: Path) -> int:
    """An existing file keeps its permissions; a new one gets what open() would give it."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_process_umask()


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on a clean exit it is fsynced and renamed over ``path``.

    For writers that want a file name rather than a handle (Qt's QImage.save, matplotlib's
    PdfPages). On an exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        # mkstemp creates 0600: a shared report would be unreadable by colleagues.
        os.chmod(tmp, _final_mode(target))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """``open(path, mode)`` that replaces ``path`` atomically when the block ends without error."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_write writes a new file; mode {mode!r} is not a 'w' mode")
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as fh:
        yield fh
