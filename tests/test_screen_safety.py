"""`radiview screen` / `predict` never destroy a user's file (issue 13), end to end through main()."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from radiview.batch.csv_report import read_csv_report
from radiview.cli import main
from tests.conftest import build_tiny_bundle
from tests.test_cli import _cli, _env, _wait_for_rows, chest_like, make_folder, make_slow_folder


def screen(folder: Path, out: Path, bundle: Path, *extra: str) -> int:
    return main(["screen", str(folder), "--out", str(out), "--model", str(bundle), "--device", "cpu", *extra])


@pytest.fixture()
def other_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bundle(tmp_path_factory.mktemp("other_bundle"), seed=1)


def test_outputs_never_replace_inputs_or_other_files(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_folder(tmp_path / "films", n=2, broken=False)
    film = folder / "film_00.png"
    jpeg = folder / "scan.jpeg"
    Image.fromarray(chest_like(64, 64, 5)).save(jpeg)
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes, no final newline")
    before = {p: p.read_bytes() for p in (film, jpeg, notes)}
    cases = [
        ([], jpeg, "is a film"),
        (["--overwrite"], jpeg, "is a film"),
        (["--resume"], jpeg, "is a film"),
        (["--overwrite"], notes, "not a screening report"),
        (["--resume"], notes, "not a screening report"),
        ([], notes, "not a screening report"),
        (["--pdf", str(notes)], tmp_path / "r.csv", "not a PDF"),
        (["--pdf", str(film)], tmp_path / "r.csv", "film"),
        (["--pdf", str(tmp_path / "same")], tmp_path / "same", "both the CSV"),
    ]
    for extra, out, problem in cases:
        assert screen(folder, out, tiny_bundle, *extra) == 2, (extra, out)
        assert problem in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "same").exists()
    # predict --heatmap: never over the input film, never over a non-PNG.
    for target, problem in ((film, "is the input film"), (notes, "not a PNG")):
        args = ["predict", str(film), "--heatmap", str(target), "--model", str(tiny_bundle)]
        assert main(args) == 2
        assert problem in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before


def test_a_dicom_input_is_never_replaced_by_its_heatmap(tiny_bundle: Path, tmp_path: Path) -> None:
    from tests.gui.conftest import film_pixels, write_dicom

    dcm = write_dicom(tmp_path / "x.dcm", film_pixels())
    before = dcm.read_bytes()
    assert main(["predict", str(dcm), "--heatmap", str(dcm), "--model", str(tiny_bundle)]) == 2
    assert dcm.read_bytes() == before


def test_model_stamp_and_model_change_on_resume(
    tiny_bundle: Path, other_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_folder(tmp_path / "films", n=2, broken=False)
    out = tmp_path / "r.csv"
    assert screen(folder, out, tiny_bundle) == 0
    first = out.read_bytes()
    card = json.loads((tiny_bundle / "model_card.json").read_text())
    assert {r["model"] for r in read_csv_report(out)} == {f"tiny-random@0.0.1 {card['weights_sha256'][:12]}"}
    Image.fromarray(chest_like(80, 70, 9)).save(folder / "film_new.png")
    assert screen(folder, out, other_bundle, "--resume") == 2
    assert "--allow-model-change" in capsys.readouterr().err
    assert out.read_bytes() == first
    assert screen(folder, out, other_bundle, "--resume", "--allow-model-change") == 0
    rows = read_csv_report(out)
    assert rows[-1]["file"] == "film_new.png" and len({r["model"] for r in rows}) == 2


def test_resume_validates_the_whole_report_before_screening(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_folder(tmp_path / "films", n=2, broken=False)
    out = tmp_path / "r.csv"
    assert screen(folder, out, tiny_bundle) == 0
    rows = out.read_text().splitlines()
    row = next(i for i, line in enumerate(rows) if ",ok," in line)
    rows[row] = rows[row].replace(",ok,", ",okay,", 1)
    out.write_text("\n".join(rows) + "\n")
    before = out.read_bytes()
    started = time.perf_counter()
    assert screen(folder, out, tiny_bundle, "--resume", "--pdf", str(tmp_path / "r.pdf")) == 2
    assert f"row {row + 1} has an unknown status 'okay'" in capsys.readouterr().err
    assert out.read_bytes() == before and not (tmp_path / "r.pdf").exists()
    assert time.perf_counter() - started < 60


def test_no_film_found_exits_1_and_says_why(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "study"
    make_folder(folder / "day1", n=2, broken=False)
    out = tmp_path / "r.csv"
    assert screen(folder, out, tiny_bundle) == 1
    assert "no films at the top level" in (err := capsys.readouterr().err)
    assert "3 films in sub-folders: add --recursive" in err
    assert not out.exists()
    assert screen(folder, out, tiny_bundle, "--recursive") == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert screen(empty, tmp_path / "e.csv", tiny_bundle, "--recursive") == 1
    assert "no films (DICOM, PNG or JPEG files)" in capsys.readouterr().err


def test_formula_file_names_are_escaped(tiny_bundle: Path, tmp_path: Path) -> None:
    folder = tmp_path / "films"
    folder.mkdir()
    names = ["=HYPERLINK(evil).png", "+1.png", "-2.png", "@sum.png", "plain.png"]
    for i, name in enumerate(names):
        Image.fromarray(chest_like(64, 60, i)).save(folder / name)
    out = tmp_path / "r.csv"
    assert screen(folder, out, tiny_bundle) == 0
    with open(out, encoding="utf-8", newline="") as fh:
        cells = [row[0] for row in list(csv.reader(fh))[1:]]
    assert sorted(cells) == sorted(("'" + n if n[0] in "=+-@" else n) for n in names)
    assert sorted(r["file"] for r in read_csv_report(out)) == sorted(names)
    assert screen(folder, out, tiny_bundle, "--resume") == 0  # keys round-trip: nothing re-screened
    assert len(read_csv_report(out)) == len(names)


def test_model_file_instead_of_folder_says_so(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_folder(tmp_path / "films", n=1, broken=False)
    assert screen(folder, tmp_path / "r.csv", tiny_bundle / "model.pt") == 2
    err = capsys.readouterr().err
    assert "is a file, but --model wants the model bundle folder" in err and "not found" not in err


def test_a_clean_run_prints_no_warnings_and_library_warnings_become_log_lines(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    folder = make_folder(tmp_path / "films", n=2, broken=False)
    cmd = _cli("screen", str(folder), "--out", str(tmp_path / "r.csv"), "--pdf", str(tmp_path / "r.pdf"))
    done = subprocess.run([*cmd, "--model", str(tiny_bundle)], env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert not [line for line in lines if "warn" in line.lower()], lines
    code = (
        "import warnings, sys\n"
        "from radiview.cli.options import setup_logging\n"
        "setup_logging(False)\n"
        "warnings.warn_explicit('Invalid value for VR DS', UserWarning, "
        "'/x/site-packages/pydicom/valuerep.py', 7)\n"
    )
    shown = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True)
    assert shown.stderr.splitlines() == [
        "WARNING radiview.warnings: pydicom (UserWarning): Invalid value for VR DS"
    ]


@pytest.mark.slow
def test_a_second_run_on_a_locked_report_fails_at_once(tiny_bundle: Path, tmp_path: Path) -> None:
    folder = make_slow_folder(tmp_path / "films", 80)
    out = tmp_path / "r.csv"
    args = ("screen", str(folder), "--out", str(out), "--model", str(tiny_bundle), "--device", "cpu")
    cmd = _cli(*args, "--batch-size", "2", "--workers", "1")
    first = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_rows(first, out, 2)
        # Freeze the first run while it holds the lock: a fast machine would otherwise finish all
        # 80 films before the second command has imported torch (the test then proved nothing).
        os.kill(first.pid, signal.SIGSTOP)
        for extra in (("--resume",), ("--overwrite",), ()):
            started = time.perf_counter()
            second = subprocess.run(
                [*_cli(*args), *extra], env=_env(), capture_output=True, text=True, timeout=120
            )
            assert second.returncode == 2, second.stderr
            assert (
                "another RadiView run is writing this report" in second.stderr
                or "already exists" in second.stderr
            )
            assert time.perf_counter() - started < 30
        os.kill(first.pid, signal.SIGCONT)
        _, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err.decode()
    rows = read_csv_report(out)
    assert sorted(r["file"] for r in rows) == [f"film_{i:02d}.jpg" for i in range(80)]  # all, once
    assert not os.path.exists(str(out) + ".lock")


@pytest.mark.realdata
def test_a_decoder_warning_in_a_worker_process_never_reaches_stderr_raw(
    tiny_bundle: Path, tmp_path: Path, data_dir: Path
) -> None:
    """pydicom warns about a cut encapsulated DICOM inside the decoding worker process."""
    folder = make_folder(tmp_path / "films", n=1, broken=False)
    source = next((data_dir / "dicom").glob("siim-acr_1.2.276*.dcm"))
    (folder / "cut.dcm").write_bytes(source.read_bytes()[:60000])
    cmd = _cli("screen", str(folder), "--out", str(tmp_path / "r.csv"), "--model", str(tiny_bundle))
    env = {**_env(), "RADIVIEW_DECODE_PROCESSES": "1"}  # worker processes even on a 2-core machine
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1  # the cut film is an error row
    assert "UserWarning" not in done.stderr and "warn_and_log" not in done.stderr, done.stderr
    rows = {r["file"]: r for r in read_csv_report(tmp_path / "r.csv")}
    assert rows["cut.dcm"]["status"] == "error" and "truncated" in rows["cut.dcm"]["message"]
