"""`radiview screen --pacs` / `radiview listen` argument and connection errors (exit 2, a clear line)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from radiview.cli import main
from radiview.net.nodes import PacsNode, save_nodes


@pytest.fixture(autouse=True)
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RADIVIEW_CONFIG_DIR", str(tmp_path / "config"))
    return save_nodes(
        [PacsNode(name="down", host="127.0.0.1", port=9, called_ae="ARCHIVE", association_timeout_s=2)]
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["screen", "--pacs", "nope", "--study-date", "20260101-20260131"], "no PACS node named 'nope'"),
        (["screen", "--pacs", "down", "--study-date", "2026-01"], "dates are YYYYMMDD"),
        (
            ["screen", "--pacs", "down", "--study-date", "20260101", "--modality", "C R"],
            "give codes such as CR,DX",
        ),
        (["screen", "--pacs", "down", "--study-date", "20260101"], "cannot connect .*is the server running"),
        (["listen", "--ae", "A" * 17, "--allow", "X"], "17 characters; DICOM allows 16"),
        (["listen", "--allow", " , "], "--allow needs at least one"),
    ],
)
def test_errors_exit_2_with_a_clear_message(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--out", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("radiview: error: ")
    assert re.search(message, err), err


def test_folder_screening_is_unchanged_without_pacs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["screen", str(tmp_path / "missing"), "--out", str(tmp_path / "r.csv")]) == 2
    assert "not a folder" in capsys.readouterr().err
