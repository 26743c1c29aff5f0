"""Atomic replacement: whole files or none, and the permissions a plain open() would give."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from radiview.atomic import atomic_path, atomic_write
from radiview.batch.csv_report import CsvReportWriter


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_027():  # type: ignore[no-untyped-def]
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def test_new_file_gets_the_umask_permissions(tmp_path: Path, umask_027: int) -> None:
    target = tmp_path / "report.csv"
    with atomic_write(target, "w", encoding="utf-8") as fh:
        fh.write("a,b\n")
    assert target.read_text(encoding="utf-8") == "a,b\n"
    assert mode_of(target) == 0o640  # 0666 & ~027, not mkstemp's 0600


def test_existing_file_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    target.write_text("old")
    target.chmod(0o600)
    with atomic_write(target, "w") as fh:
        fh.write("new")
    assert target.read_text() == "new" and mode_of(target) == 0o600


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "view.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write(b"half a fi")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["view.png"]


def test_atomic_path_for_writers_that_take_a_name(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with atomic_path(target) as tmp:
        assert Path(tmp).parent == tmp_path and not target.exists()
        Path(tmp).write_bytes(b"xyz")
    assert target.read_bytes() == b"xyz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_append_modes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a 'w' mode"), atomic_write(tmp_path / "x", "ab"):
        pass


def test_screening_report_is_readable_by_colleagues(tmp_path: Path) -> None:
    # A report on a shared folder must follow the umask like any other file (was 0600).
    old = os.umask(0o022)
    try:
        with CsvReportWriter(tmp_path / "report.csv"):
            pass
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "report.csv") == 0o644
