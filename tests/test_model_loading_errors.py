"""One loader, one message: the same bad ``--model`` gives the same error from every command
(predict, screen, listen) and from the GUI's model-loading worker."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radiview.cli import main


def _bad_bundles(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    a_file = root / "model.pt"
    a_file.write_bytes(b"not a bundle folder")
    corrupt = root / "corrupt"
    corrupt.mkdir()
    (corrupt / "model_card.json").write_text('{"name": ', encoding="utf-8")
    return {"missing": root / "no-such-bundle", "file": a_file, "corrupt card": corrupt}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and lines[-1].startswith("radiview: error: "), lines
    return lines[-1].removeprefix("radiview: error: ")


def _gui_message(model: Path) -> str:
    from radiview.gui.workers import InferenceWorker

    worker = InferenceWorker()
    failures: list[object] = []
    worker.model_failed.connect(failures.append)
    worker.load_model(str(model), "auto")  # the slot, run here instead of on the worker thread
    assert len(failures) == 1
    return str(failures[0].message)  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", ["missing", "file", "corrupt card"])
def test_the_same_bad_model_gives_the_same_error_everywhere(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], qapp: object
) -> None:
    model = _bad_bundles(tmp_path / "bundles")[case]
    films = tmp_path / "films"
    films.mkdir()
    film = films / "film.png"
    Image.fromarray(np.full((64, 56), 128, np.uint8)).save(film)
    model_args = ["--model", str(model)]
    port = str(_free_port())
    messages = {
        "predict": _cli_message(["predict", str(film), *model_args], capsys),
        "screen": _cli_message(["screen", str(films), "--out", str(tmp_path / "r.csv"), *model_args], capsys),
        "listen": _cli_message(
            [
                "listen",
                "--out",
                str(tmp_path / "in"),
                "--allow",
                "MODALITY",
                "--port",
                port,
                "--host",
                "127.0.0.1",
                *model_args,
            ],
            capsys,
        ),
        "gui": _gui_message(model),
    }
    assert len(set(messages.values())) == 1, messages
    message = messages["gui"]
    assert message.startswith(str(model if case != "corrupt card" else model / "model_card.json"))
    expected = {"missing": "does not exist", "file": "is a file", "corrupt card": "not valid JSON"}[case]
    assert expected in message
    assert not (tmp_path / "r.csv").exists()
