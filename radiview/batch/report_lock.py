"""An advisory lock beside a report (``REPORT.csv.lock``) for the life of one run.

Two runs on one report would interleave or replace each other's rows; the second one fails at
once instead. ``flock`` is released by the kernel when the process dies, so a killed run never
leaves a stale lock behind (the empty lock file may stay; it is harmless and reused).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from radiview.errors import ReportError


class ReportLockedError(ReportError):
    """Another run holds the report's lock."""


def lock_path_for(report: str | os.PathLike[str]) -> Path:
    path = Path(report)
    return path.with_name(path.name + ".lock")


class ReportLock:
    """``with ReportLock(report):`` holds an exclusive, non-blocking flock on ``report.lock``."""

    def __init__(self, report: str | os.PathLike[str]) -> None:
        self.report = Path(report)
        self.path = lock_path_for(report)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        try:
            import fcntl
        except ImportError:  # Windows: no flock; runs there are not guarded
            return
        for _ in range(5):  # a racing release may unlink the file we opened; then retry
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ReportError(
                    f"cannot create the lock file {self.path.name}: {exc.strerror}", self.report
                ) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise ReportLockedError(
                    "another RadiView run is writing this report (lock "
                    f"{self.path.name} is held); wait for it to finish or choose another report",
                    self.report,
                ) from None
            if self._same_file(fd):
                self._fd = fd
                return
            os.close(fd)
        raise ReportLockedError(f"could not take the lock {self.path.name}", self.report)

    def _same_file(self, fd: int) -> bool:
        try:
            mine, current = os.fstat(fd), os.stat(self.path)
        except OSError:
            return False
        return (mine.st_dev, mine.st_ino) == (current.st_dev, current.st_ino)

    def release(self) -> None:
        if self._fd is None:
            return
        # Unlink while still holding the lock: a run that opened it now sees a stale inode and retries.
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> ReportLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
