"""CSV contract, crash-safe resume and the PDF report (pure parts: no model needed)."""

from __future__ import annotations

import csv
import re
import zlib
from pathlib import Path

import pytest

from radiview import RESEARCH_NOTICE
from radiview.batch.report import (
    CsvReportWriter,
    csv_columns,
    format_csv_row,
    read_csv_report,
    results_from_rows,
    write_pdf_report,
)
from radiview.batch.screening import ScreeningResult
from radiview.errors import ReportError
from radiview.inference.prediction import GateVerdict, Prediction

LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")
HEADER = "file,status,prediction,p_normal,p_bacterial_pneumonia,p_viral_pneumonia,p_covid19,message"


def ok(file: str, probs: tuple[float, ...] = (0.1, 0.6, 0.2, 0.1)) -> ScreeningResult:
    return ScreeningResult(file, "ok", Prediction(LABELS, probs, GateVerdict(True, "", 3.0), "m@1"), "")


def refused(file: str) -> ScreeningResult:
    reason = "colour photograph, not a radiograph"
    pred = Prediction(LABELS, (0.25, 0.25, 0.25, 0.25), GateVerdict(False, reason, 9.0), "m@1")
    return ScreeningResult(file, "refused", pred, reason)


def error(file: str, message: str = "CorruptFileError: truncated\nJPEG, at byte 12") -> ScreeningResult:
    return ScreeningResult(file, "error", None, message)


def test_header_is_the_exact_contract() -> None:
    assert ",".join(csv_columns(LABELS)) == HEADER
    assert csv_columns(("a", "b")) == ["file", "status", "prediction", "p_a", "p_b", "message"]


def test_rows_fill_prediction_and_probabilities_only_when_ok() -> None:
    assert format_csv_row(ok("a/x.png", (0.123456, 0.5, 0.3, 0.076544)), LABELS) == [
        "a/x.png",
        "ok",
        "bacterial_pneumonia",
        "0.1235",
        "0.5000",
        "0.3000",
        "0.0765",
        "",
    ]
    assert format_csv_row(refused("r.png"), LABELS) == [
        "r.png",
        "refused",
        "",
        "",
        "",
        "",
        "",
        "colour photograph, not a radiograph",
    ]
    # Error text lands on one line so the CSV stays line-oriented (resume relies on it).
    assert format_csv_row(error("e.dcm"), LABELS)[-1] == "CorruptFileError: truncated JPEG, at byte 12"


def test_writer_writes_header_and_rows_readable_by_csv(tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    with CsvReportWriter(out, LABELS) as writer:
        assert writer.done == frozenset()
        writer.write(ok("a, with comma.png"))
        writer.write(refused("b.png"))
        writer.write(error("c.dcm"))
        # Each row is on disk as soon as write() returns.
        assert out.read_text().count("\n") == 4
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER
    rows = list(csv.reader(lines))
    assert [r[0] for r in rows[1:]] == ["a, with comma.png", "b.png", "c.dcm"]
    assert [r[1] for r in rows[1:]] == ["ok", "refused", "error"]
    assert read_csv_report(out)[0]["p_bacterial_pneumonia"] == "0.6000"


def test_without_resume_an_existing_report_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    out.write_text("old,stuff\n1,2\n")
    with CsvReportWriter(out, LABELS, resume=False) as writer:
        writer.write(ok("new.png"))
    assert [r["file"] for r in read_csv_report(out)] == ["new.png"]


def test_resume_returns_done_files_and_truncates_a_partial_row(tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    with CsvReportWriter(out, LABELS) as writer:
        writer.write(ok("1.png"))
        writer.write(error("2.png"))
    complete = out.read_bytes()
    with open(out, "ab") as fh:  # a row cut by SIGKILL
        fh.write(b"3.png,ok,normal,0.9")
    with CsvReportWriter(out, LABELS, resume=True) as writer:
        assert writer.done == {"1.png", "2.png"}
        assert out.read_bytes() == complete
        writer.write(ok("3.png"))
    assert [r["file"] for r in read_csv_report(out)] == ["1.png", "2.png", "3.png"]


def test_resume_of_a_missing_or_empty_report_starts_fresh(tmp_path: Path) -> None:
    for name, content in (("missing.csv", None), ("empty.csv", b""), ("cut_header.csv", b"file,sta")):
        out = tmp_path / name
        if content is not None:
            out.write_bytes(content)
        with CsvReportWriter(out, LABELS, resume=True) as writer:
            assert writer.done == frozenset()
        assert out.read_text() == HEADER + "\n"


def test_resume_refuses_a_report_for_other_labels(tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    out.write_text("file,status,prediction,p_a,p_b,message\n")
    with pytest.raises(ReportError, match="do not match"):
        CsvReportWriter(out, LABELS, resume=True).open()


def test_resume_refuses_a_damaged_middle_row(tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    out.write_text(HEADER + "\nonly,three,fields\n")
    with pytest.raises(ReportError, match="line 2"):
        CsvReportWriter(out, LABELS, resume=True).open()


def test_read_csv_report_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"missing\.csv"):
        read_csv_report(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ReportError, match="not a RadiView screening report"):
        read_csv_report(bad)


def test_rows_round_trip_to_results(tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    with CsvReportWriter(out, LABELS) as writer:
        for r in (ok("1.png"), refused("2.png"), error("3.png", "bad")):
            writer.write(r)
    results = results_from_rows(read_csv_report(out), LABELS, "m@1")
    assert [r.status for r in results] == ["ok", "refused", "error"]
    assert results[0].prediction is not None and results[0].prediction.top_label == "bacterial_pneumonia"
    assert results[1].prediction is not None and results[1].prediction.gate.reason.startswith("colour")
    assert results[2].message == "bad"


# --------------------------------------------------------------------------------------- PDF


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


def test_pdf_has_summary_table_pages_and_the_notice_on_every_page(tmp_path: Path, tiny_bundle: Path) -> None:
    from radiview.inference.bundle import read_model_card

    results = [ok(f"scan_{i:03d}.png") for i in range(50)] + [refused("r.png"), error("e.png", "broken")]
    card = read_model_card(tiny_bundle)
    pdf = tmp_path / "report.pdf"
    write_pdf_report(pdf, results, card, tmp_path)
    assert pdf.read_bytes().startswith(b"%PDF")
    pages = pdf_page_texts(pdf)
    # summary + 52 rows at 44 per page = 1 + 2 pages; no thumbnails with a bare card
    assert pdf_page_count(pdf) == 3
    assert len(pages) == 3
    for text in pages:
        assert RESEARCH_NOTICE in text
    assert "tiny-random@0.0.1" in pages[0]
    assert "refused by the input gate: 1" in pages[0]
    assert "scan_000.png" in pages[1] and "scan_049.png" in pages[2]
    assert not list(tmp_path.glob(".report.pdf.*"))  # no temp file left behind
