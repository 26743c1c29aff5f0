"""The PDF is built from the records alone; it replaces only a PDF (no model needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from radiview import RESEARCH_NOTICE
from radiview.batch.outputs import check_png_output, check_report_target, check_screen_outputs
from radiview.batch.pdf_report import thumbnail_note, write_pdf_report
from radiview.batch.records import ScreeningRecord, Thumbnail
from radiview.errors import ReportError
from tests.batch.test_csv_report import LABELS, error, ok, refused


def pdf_page_texts(path: Path) -> list[str]:
    """The text drawn on each page of a matplotlib PDF (no poppler needed).

    Pages are split at each content stream (matplotlib writes one per page); strings inside
    TJ arrays are joined, which undoes kerning splits.
    """
    data = path.read_bytes()
    pages = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        raw = match.group(1)
        try:
            content = zlib.decompress(raw)
        except zlib.error:
            content = raw
        if b"BT" not in content:  # fonts and images, not page content
            continue
        text = []
        for block in re.findall(rb"BT(.*?)ET", content, re.S):
            pieces = re.findall(rb"\((.*?)(?<!\\)\)", block, re.S)
            text.append(b"".join(p.replace(b"\\(", b"(").replace(b"\\)", b")") for p in pieces))
        pages.append(b"\n".join(text).decode("latin-1"))
    return pages


def pdf_page_count(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", path.read_bytes()))


def with_thumb(record: ScreeningRecord) -> ScreeningRecord:
    from dataclasses import replace

    image = np.zeros((40, 30, 3), np.uint8)
    image[..., 0] = 200
    return replace(record, thumbnail=Thumbnail(image, record.top_label or "", 0.6))


def test_pdf_has_summary_table_thumbnails_and_the_notice_on_every_page(tmp_path: Path) -> None:
    records = [with_thumb(ok(f"scan_{i:03d}.png")) for i in range(3)]
    records += [ok(f"scan_{i:03d}.png") for i in range(3, 50)] + [refused("r.png"), error("e.png", "broken")]
    pdf = tmp_path / "report.pdf"
    write_pdf_report(pdf, records, "tiny-random@0.0.1", LABELS, str(tmp_path))
    assert pdf.read_bytes().startswith(b"%PDF")
    pages = pdf_page_texts(pdf)
    # summary + 52 rows at 44 per page + one page of 3 thumbnails
    assert pdf_page_count(pdf) == len(pages) == 4
    for text in pages:
        assert RESEARCH_NOTICE in text
    assert "tiny-random@0.0.1" in pages[0]
    assert "refused by the input gate: 1" in pages[0]
    assert "Grad-CAM thumbnails: 3 of 50 " in pages[0] and "\n47 over the per-run cap." in pages[0]
    assert "scan_000.png" in pages[1] and "scan_049.png" in pages[2]
    assert "scan_002.png" in pages[3] and "Bacterial pneumonia 60.0 %" in pages[3]
    assert not list(tmp_path.glob(".report.pdf.*"))  # no temp file left behind
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "not a medical device" in text.lower()


def test_long_messages_are_given_in_full_after_the_table(tmp_path: Path) -> None:
    long = "the gate refused this film: " + "its layout is far from any chest film in training; " * 4
    pdf = write_pdf_report(tmp_path / "r.pdf", [error("e.png", long.strip())], "m@1", LABELS, "x")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Messages in full" in text
    assert "e.png: " + " ".join(long.split()) in " ".join(text.split())


def test_table_gives_the_two_step_reading_capped_and_cuts_text_on_the_right(tmp_path: Path) -> None:
    from dataclasses import replace

    long_name = "a_very_long_folder_name/with_a_longer_file_name_inside.dcm"
    sure = ok("sure.png", (0.998, 0.001, 0.0005, 0.0005))
    covid = replace(ok("covid.png", (0.0005, 0.0005, 0.0005, 0.9985)), thumbnail=None)
    thumb = Thumbnail(np.zeros((40, 30, 3), np.uint8), "covid19", 0.9985)
    reason = (
        "unlike the films the model was trained on "
        "(ICU/portable, unusual exposure, or not a frontal chest film)"
    )
    records = [
        ok(long_name),
        sure,
        replace(covid, thumbnail=thumb),
        replace(refused("r.png"), message=reason),
    ]
    pdf = write_pdf_report(tmp_path / "r.pdf", records, "m@1", LABELS, "x")
    pages = pdf_page_texts(pdf)
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    table = out.split("\f")[1]
    assert "Pneumonia 90.0 %" in table and "bacterial" in table  # step one, then the likeliest cause
    assert "No pneumonia >99 %" in table and "covid19 1.00" not in "".join(pages)
    assert "a_very_long_folder_name…" in table  # cut on the right, read from its start
    assert "unlike the films the model w" in table and "…eral view" not in table
    assert "Pneumonia pattern (any cause): 2" in pages[0] and "No pneumonia pattern: 1" in pages[0]
    assert "COVID-19 >99 %" in pages[-1]


def test_thumbnail_note_says_why_a_flagged_film_has_none() -> None:
    from dataclasses import replace

    earlier = replace(ok("old.png"), resumed=True)
    assert thumbnail_note([with_thumb(ok("a.png")), earlier], True) == (
        "Grad-CAM thumbnails: 1 of 2 flagged films; 1 were screened in an earlier run (no thumbnail kept)."
    )
    assert thumbnail_note([ok("a.png")], False) == "Grad-CAM thumbnails: not requested."
    assert thumbnail_note([refused("r.png")], True) == "Grad-CAM thumbnails: no flagged films."


def test_pdf_never_replaces_another_kind_of_file(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    with pytest.raises(ReportError, match="not a PDF"):
        write_pdf_report(notes, [ok("a.png")], "m@1", LABELS, "x")
    assert notes.read_text() == "keep me"
    old = tmp_path / "old.pdf"
    write_pdf_report(old, [ok("a.png")], "m@1", LABELS, "x")
    write_pdf_report(old, [ok("b.png")], "m@1", LABELS, "x")  # a PDF may replace a PDF
    assert "b.png" in "".join(pdf_page_texts(old))


def test_output_checks_protect_inputs_and_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "films"
    folder.mkdir()
    film = folder / "film.jpeg"
    film.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    notes = tmp_path / "notes.txt"
    notes.write_text("notes")
    report = tmp_path / "r.csv"
    report.write_text("file,status,prediction,p_a,message\n")
    cases = [
        (lambda: check_report_target(film, True, False), "is a film"),
        (lambda: check_report_target(notes, True, False), "not a screening report"),
        (lambda: check_report_target(report, False, False), "--overwrite"),
        (lambda: check_report_target(tmp_path / "nope" / "r.csv", False, False), "does not exist"),
        (lambda: check_report_target(folder, True, False), "is a folder"),
        (lambda: check_screen_outputs(folder, tmp_path / "x.csv", tmp_path / "x.csv", False, False), "both"),
        (lambda: check_screen_outputs(folder, tmp_path / "y.csv", film, False, False), "film"),
        (lambda: check_screen_outputs(folder, tmp_path / "y.csv", notes, False, False), "not a PDF"),
        (lambda: check_screen_outputs(folder, report, None, True, True), "contradict"),
        (lambda: check_png_output(film, (film,)), "input film"),
        (lambda: check_png_output(notes), "not a PNG"),
    ]
    for check, problem in cases:
        with pytest.raises(ReportError, match=problem):
            check()
    check_report_target(report, True, False)
    check_report_target(report, False, True)
    check_screen_outputs(folder, folder / "new-report.csv", tmp_path / "new.pdf", False, False)
    assert film.read_bytes()[:4] == b"\xff\xd8\xff\xe0" and notes.read_text() == "notes"


def test_poppler_is_installed() -> None:
    """The PDF tests read text with pdftotext: missing poppler-utils is a setup error, not a skip."""
    assert shutil.which("pdftotext"), "install poppler-utils (packaging/apt-packages.txt)"
