"""The `radiview` command: predict, screen (resume after SIGKILL / Ctrl-C), PDF, self-test."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radiview import RESEARCH_NOTICE, __version__
from radiview.batch.csv_report import read_csv_report
from radiview.cli import main
from radiview.inference.classifier import Classifier
from radiview.io import load_radiograph
from radiview.selftest import build_synthetic_chest

REPO = Path(__file__).resolve().parents[1]
HEADER = [
    "file",
    "status",
    "prediction",
    "p_normal",
    "p_bacterial_pneumonia",
    "p_viral_pneumonia",
    "p_covid19",
    "message",
    "model",
    "patient_id",
    "accession",
    "study_date",
    "flags",
    "headline",
]


def chest_like(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.full((h, w), 40.0)
    img[((yy - h / 2) / (0.5 * h)) ** 2 + ((xx - w / 2) / (0.45 * w)) ** 2 <= 1] = 190
    for side in (-1, 1):
        img[((yy - h / 2) / (0.35 * h)) ** 2 + ((xx - w / 2 - side * 0.2 * w) / (0.14 * w)) ** 2 <= 1] = 80
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_slow_folder(folder: Path, n: int) -> Path:
    """``n`` large JPEGs (1400×1200): a run over them takes seconds with one decoding thread."""
    folder.mkdir(parents=True, exist_ok=True)
    base = chest_like(1400, 1200, 0)
    for i in range(n):
        Image.fromarray(np.roll(base, i * 7, axis=1)).save(folder / f"film_{i:02d}.jpg", quality=95)
    return folder


def make_folder(folder: Path, n: int = 4, broken: bool = True, size: int = 96) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(chest_like(size, size - 8, i)).save(folder / f"film_{i:02d}.png")
    Image.fromarray(np.full((48, 48), 100, np.uint8)).save(folder / "blank.png")
    if broken:
        data = (folder / "film_00.png").read_bytes()
        (folder / "broken.png").write_bytes(data[:60])
    return folder


def tiny_bundle_sha(bundle: Path) -> str:
    return json.loads((bundle / "model_card.json").read_text())["weights_sha256"]


def csv_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


# -------------------------------------------------------------------------------- basics


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_usage_errors_exit_2(tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "screen",
                str(tmp_path / "missing"),
                "--out",
                str(tmp_path / "r.csv"),
                "--model",
                str(tiny_bundle),
            ]
        )
        == 2
    )
    assert "missing: not a folder" in capsys.readouterr().err
    folder = make_folder(tmp_path / "films", n=1, broken=False)
    empty_bundle = tmp_path / "empty_bundle"
    empty_bundle.mkdir()
    assert main(["screen", str(folder), "--out", str(tmp_path / "r.csv"), "--model", str(empty_bundle)]) == 2
    assert "model_card.json" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()  # nothing is written before the model loads
    with pytest.raises(SystemExit) as exc:  # argparse: missing --out
        main(["screen", str(folder)])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["screen", str(folder), "--out", "r.csv", "--batch-size", "0"])
    assert exc.value.code == 2
    assert main(["predict", str(folder / "film_00.png"), "--model", str(empty_bundle)]) == 2


# ------------------------------------------------------------------------------- predict


def test_predict_json_matches_classifier(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    film = make_folder(tmp_path / "films", n=1, broken=False) / "film_00.png"
    assert main(["predict", str(film), "--json", "--model", str(tiny_bundle), "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = Classifier.from_bundle(tiny_bundle, device="cpu").predict(load_radiograph(film))
    assert out["status"] == "ok" and out["prediction"] == expected.top_label
    assert out["model"] == "tiny-random@0.0.1" and out["notice"] == RESEARCH_NOTICE
    assert list(out["probabilities"]) == list(expected.labels)
    np.testing.assert_allclose(list(out["probabilities"].values()), expected.probabilities, atol=1e-6)
    assert out["gate"]["accepted"] is True
    assert out["gate"]["score"] == pytest.approx(expected.gate.score)


def test_predict_text_refused_and_unreadable(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_folder(tmp_path / "films", n=1)
    assert main(["predict", str(folder / "film_00.png"), "--model", str(tiny_bundle)]) == 0
    text = capsys.readouterr().out
    assert "p_" not in text and "normal" in text and RESEARCH_NOTICE in text
    assert re.search(r"covid19\s+0\.\d{4}", text)
    assert re.search(r"\nreading: (Pneumonia pattern \(any cause\)|No pneumonia pattern) [<>\d]", text)
    assert main(["predict", str(folder / "blank.png"), "--model", str(tiny_bundle)]) == 0
    text = capsys.readouterr().out
    assert "refused by the input gate" in text and RESEARCH_NOTICE in text
    assert main(["predict", str(folder / "broken.png"), "--model", str(tiny_bundle)]) == 1
    assert "broken.png" in capsys.readouterr().err
    assert main(["predict", str(folder / "nope.png"), "--json", "--model", str(tiny_bundle)]) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "error"


def test_predict_heatmap_png(tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_folder(tmp_path / "films", n=1, broken=False, size=300)
    out = tmp_path / "heat.png"
    assert (
        main(["predict", str(folder / "film_00.png"), "--heatmap", str(out), "--model", str(tiny_bundle)])
        == 0
    )
    assert str(out) in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.size == (292, 300) and im.mode == "RGB"
        assert im.text["Disclaimer"] == RESEARCH_NOTICE  # type: ignore[attr-defined]
        rgb = np.asarray(im)
    # The overlay is in colour, the film itself is gray.
    assert np.abs(rgb[..., 0].astype(int) - rgb[..., 2].astype(int)).max() > 50
    assert main(["predict", str(folder / "film_00.png"), "--heatmap", str(tmp_path / "no" / "h.png")]) == 2
    # A refused film gets no map: the PNG is the film alone, in gray.
    refused = tmp_path / "refused.png"
    assert (
        main(["predict", str(folder / "blank.png"), "--heatmap", str(refused), "--model", str(tiny_bundle)])
        == 0
    )
    assert "no heatmap for a refused film" in capsys.readouterr().out
    with Image.open(refused) as im:
        gray = np.asarray(im)
    assert gray.shape == (48, 48, 3) and (gray[..., 0] == gray[..., 2]).all()


# -------------------------------------------------------------------------------- screen


def test_screen_writes_the_csv_contract(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_folder(tmp_path / "films", n=3)
    out = tmp_path / "report.csv"
    args = ["screen", str(folder), "--out", str(out), "--model", str(tiny_bundle), "--batch-size", "2"]
    assert main(args) == 1  # broken.png errored
    lines = csv_lines(out)
    assert lines[0].split(",") == HEADER
    rows = read_csv_report(out)
    assert [r["file"] for r in rows] == [
        "blank.png",
        "broken.png",
        "film_00.png",
        "film_01.png",
        "film_02.png",
    ]
    assert [r["status"] for r in rows] == ["refused", "error", "ok", "ok", "ok"]
    for row in rows:
        probs = [row[c] for c in HEADER[3:7]]
        if row["status"] == "ok":
            assert row["prediction"] in ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")
            assert all(re.fullmatch(r"[01]\.\d{4}", p) for p in probs)
            assert sum(map(float, probs)) == pytest.approx(1.0, abs=2e-4)
            assert row["message"] == ""
        else:
            assert row["prediction"] == "" and probs == ["", "", "", ""] and row["message"]
        assert row["patient_id"] == row["accession"] == row["study_date"] == ""
        # A PNG says no age, view or source: each is a warning on an ok row (issue 21).
        ok = row["status"] == "ok"
        assert row["flags"] == ("age_unknown;unvalidated_source;view_unknown" if ok else "")
        assert row["headline"].startswith(("Pneumonia pattern (any cause) ", "No pneumonia pattern ")) is ok
    err = capsys.readouterr().err
    assert "1 error" in err and RESEARCH_NOTICE in err
    assert {r["model"] for r in rows} == {f"tiny-random@0.0.1 {tiny_bundle_sha(tiny_bundle)[:12]}"}
    # An existing report is never replaced silently: --overwrite (or --resume) is required.
    before = out.read_bytes()
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == before
    # With no broken file every film is fine: exit 0.
    (folder / "broken.png").unlink()
    assert main([*args, "--overwrite"]) == 0
    assert [r["file"] for r in read_csv_report(out)] == [
        "blank.png",
        "film_00.png",
        "film_01.png",
        "film_02.png",
    ]


def test_screen_pdf(tiny_bundle: Path, tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "films", n=6)
    out, pdf = tmp_path / "report.csv", tmp_path / "report.pdf"
    assert (
        main(["screen", str(folder), "--out", str(out), "--pdf", str(pdf), "--model", str(tiny_bundle)]) == 1
    )
    rows = read_csv_report(out)
    flagged = [r for r in rows if r["status"] == "ok" and r["prediction"] != "normal"]
    pages = pdf_page_texts(pdf)
    thumb_pages = 1 if flagged else 0
    message_pages = 1 if any(len(r["message"]) > 40 for r in rows) else 0  # long messages in full
    # summary, table, messages, thumbnails
    assert len(pages) == pdf_page_count(pdf) == 2 + message_pages + thumb_pages
    for text in pages:
        assert RESEARCH_NOTICE in text
    assert "tiny-random@0.0.1" in pages[0]
    if flagged:
        assert "Grad-CAM" in pages[-1]
        assert flagged[0]["file"].replace("_", "") in pages[-1].replace("_", "")


def pdf_page_count(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", path.read_bytes()))


def pdf_page_texts(path: Path) -> list[str]:
    """Text of each page of a matplotlib PDF: strings of the content streams, TJ pieces joined."""
    pages = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", path.read_bytes(), re.S):
        try:
            content = zlib.decompress(match.group(1))
        except zlib.error:
            content = match.group(1)
        if b"BT" not in content:
            continue
        blocks = re.findall(rb"BT(.*?)ET", content, re.S)
        pieces = [b"".join(re.findall(rb"\((.*?)(?<!\\)\)", block, re.S)) for block in blocks]
        pages.append(b"\n".join(pieces).decode("latin-1"))
    return pages


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "radiview", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["RADIVIEW_NUM_THREADS"] = "1"
    return env


def _wait_for_rows(proc: subprocess.Popen[bytes], out: Path, rows: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists():
            count = out.read_bytes().count(b"\n") - 1
            if count >= rows:
                return count
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            pytest.fail(f"screen exited early ({proc.returncode}): {err}")
        time.sleep(0.005)
    pytest.fail("no rows appeared in time")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_killed_run_resumes_without_duplicates(tiny_bundle: Path, tmp_path: Path, how: str) -> None:
    folder = make_slow_folder(tmp_path / "films", 40)
    out = tmp_path / "report.csv"
    cmd = _cli(
        "screen",
        str(folder),
        "--out",
        str(out),
        "--model",
        str(tiny_bundle),
        "--batch-size",
        "2",
        "--workers",
        "1",
        "--device",
        "cpu",
    )
    # Worker processes even on a 2-core machine: a killed run must leave none behind.
    env = {**_env(), "RADIVIEW_DECODE_PROCESSES": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_rows(proc, out, 3)
        proc.send_signal(signal.SIGKILL if how == "SIGKILL" else signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if how == "SIGINT":
        assert proc.returncode == 130, err.decode()
        assert b"--resume" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    before = read_csv_report(out)
    assert 3 <= len(before) < 40, "the run finished before it could be interrupted"
    if how == "SIGKILL":
        with open(out, "ab") as fh:  # and a row cut mid-write
            fh.write(b"film_39.jpg,ok,nor")
    done = subprocess.run([*cmd, "--resume"], env=_env(), capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert b"resuming" in done.stderr
    rows = read_csv_report(out)
    files = [r["file"] for r in rows]
    assert sorted(files) == [f"film_{i:02d}.jpg" for i in range(40)]  # each exactly once
    assert files[: len(before)] == [r["file"] for r in before]  # earlier rows untouched
    assert all(r["status"] == "ok" and re.fullmatch(r"[01]\.\d{4}", r["p_covid19"]) for r in rows)
    assert out.read_bytes().endswith(b"\n")


def test_resume_rejects_a_foreign_report(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_folder(tmp_path / "films", n=1, broken=False)
    out = tmp_path / "report.csv"
    out.write_text("file,status,prediction,p_cat,p_dog,message\n")
    assert main(["screen", str(folder), "--out", str(out), "--model", str(tiny_bundle), "--resume"]) == 2
    assert "do not match" in capsys.readouterr().err
    assert out.read_text() == "file,status,prediction,p_cat,p_dog,message\n"


# ----------------------------------------------------------------------------- self-test


def test_synthetic_chest_is_a_plausible_film() -> None:
    film = build_synthetic_chest()
    assert film.shape == (320, 288)
    assert film.pixels.std() > 100  # structure, not a flat image
    # lungs (left/right of centre, mid-height) are darker than the mediastinum
    mid = film.pixels[150:170]
    assert mid[:, 80:100].mean() < mid[:, 140:148].mean()


def test_self_test_passes_and_reports(tiny_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--self-test", "--model", str(tiny_bundle), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "device: cpu" in out and "tiny-random@0.0.1" in out
    assert re.search(r"load \d+ ms, predict \d+ ms, explain \d+ ms", out)
    assert "self-test passed" in out


def test_self_test_fails_on_a_tampered_bundle(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "tampered"
    shutil.copytree(tiny_bundle, bundle)
    with open(bundle / "model.pt", "r+b") as fh:
        fh.seek(-100, os.SEEK_END)
        byte = fh.read(1)
        fh.seek(-100, os.SEEK_END)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert main(["--self-test", "--model", str(bundle)]) == 1
    out = capsys.readouterr().out
    assert "self-test FAILED" in out and "SHA-256" in out and "does not match" in out


def test_gui_without_pyside6_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    # A PySide6 that fails to import, first on the path: what a broken or missing install looks like.
    fake = tmp_path / "fake" / "PySide6"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named PySide6 (test stand-in)')\n")
    env = _env()
    env["PYTHONPATH"] = f"{fake.parent}{os.pathsep}{env['PYTHONPATH']}"
    done = subprocess.run(_cli("film.png"), env=env, capture_output=True, timeout=120)
    assert done.returncode == 2
    assert b"PySide6" in done.stderr and b"radiview predict" in done.stderr


def test_progress_rate_excludes_the_warm_up_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    import radiview.batch.engine as engine
    import radiview.cli.screen as screen_command

    now = [0.0]
    monkeypatch.setattr(engine.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(screen_command.time, "perf_counter", lambda: now[0])
    tally = engine._Tally(total=300, resumed=0)
    stream = io.StringIO()
    progress = screen_command._Progress(total=300, stream=stream)
    for batch_end, size in ((30.0, 16), (40.0, 100), (50.0, 100)):  # a 30 s warm-up, then 10 s/batch
        now[0] = batch_end
        for _ in range(size):
            counts = tally.add("ok")
        tally.batch_done()
        progress.update(counts.screened, counts.rate)
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("16/300  warming up")
    # 100 films per 10 s once warm: 10 films/s, 84 films left -> 8 s (not the 1.3 films/s of a naive mean)
    assert lines[-1].endswith("216/300  10.0 films/s  ETA 0:08"), lines


def test_help_lists_every_subcommand_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from radiview.cli import SUBCOMMAND_MODULES

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    for command in SUBCOMMAND_MODULES:
        line = next((line for line in lines if line.split()[:1] == [command]), "")
        assert len(line.split()) > 3, f"{command!r} has no one-line help: {line!r}"


@pytest.mark.parametrize(
    ("argv", "normalized"),
    [
        (["film.png", "b.dcm"], ["open", "film.png", "b.dcm"]),
        (["--model", "DIR", "film.png"], ["open", "--model", "DIR", "film.png"]),
        ([], ["open"]),
        (["-v", "screen", "F", "--out", "r.csv"], ["screen", "F", "--out", "r.csv", "-v"]),
        (["--self-test", "--model", "DIR"], ["self-test", "--model", "DIR"]),
        (["--model", "DIR", "--self-test"], ["self-test", "--model", "DIR"]),
        (["--version"], ["--version"]),
    ],
)
def test_argv_shortcuts_name_their_command(argv: list[str], normalized: list[str]) -> None:
    from radiview.cli import normalize_argv

    assert normalize_argv(argv) == normalized
