"""Issue 14's reading flags through the screening engine: CSV ``flags`` cell and PDF, real films."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from radiview.batch.csv_report import read_csv_report
from radiview.cli import main

KERMANY = "normal__kermany__IM-0656-0001-0002.jpeg"


@pytest.mark.realdata
def test_cli_flags_an_adult_dicom_and_not_a_kermany_jpeg(data_dir: Path, tmp_path: Path) -> None:
    [nih] = sorted((data_dir / "dicom").glob("nih-cxr14_*.dcm"))  # PatientAge 081Y
    folder = tmp_path / "films"
    folder.mkdir()
    shutil.copy(nih, folder / nih.name)
    shutil.copy(data_dir / "samples" / KERMANY, folder / KERMANY)
    out, pdf = tmp_path / "report.csv", tmp_path / "report.pdf"
    argv = ["screen", str(folder), "--out", str(out), "--pdf", str(pdf), "--device", "cpu", "--workers", "2"]
    assert main(argv) == 0
    rows = {row["file"]: row for row in read_csv_report(out)}
    assert rows[nih.name]["status"] == rows[KERMANY]["status"] == "ok"
    dicom_flags = rows[nih.name]["flags"].split(";")
    assert {"adult", "unvalidated_source"} <= set(dicom_flags)
    # A JPEG says no age, view or source: each unknown is a warning (issue 21), never a guess.
    assert rows[KERMANY]["flags"] == "age_unknown;unvalidated_source;view_unknown"
    assert rows[KERMANY]["headline"].startswith(("No pneumonia pattern", "Pneumonia pattern (any cause)"))

    # A resumed run reads the flags back from the CSV and the PDF still shows them.
    resume = ["screen", str(folder), "--out", str(out), "--resume", "--pdf", str(pdf), "--device", "cpu"]
    assert main(resume) == 0
    assert read_csv_report(out) == list(rows.values())
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: PDF text not checked")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "Reading flags" in text and "adult [adult]: 1" in text and "unvalidated source [src]: 2" in text
    assert "age unknown [age?]: 1" in text
    table = text.split("Results 1-2 of 2")[1]
    assert "adult src" in table
