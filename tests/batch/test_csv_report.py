"""The CSV contract, escaping, the lock, the model stamp and resume validation (no model needed)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from radiview.batch.csv_report import (
    CsvReportWriter,
    csv_columns,
    escape_cell,
    format_csv_row,
    read_csv_report,
    unescape_cell,
    write_csv_report,
)
from radiview.batch.records import Identifiers, ScreeningRecord
from radiview.batch.report_lock import ReportLock, ReportLockedError
from radiview.errors import ReportError
from radiview.inference.prediction import GateVerdict, Prediction

LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")
BASE = "file,status,prediction,p_normal,p_bacterial_pneumonia,p_viral_pneumonia,p_covid19,message"
HEADER = BASE + ",model,patient_id,accession,study_date,flags,headline"
MODEL = "m@1 0123456789ab"


def ok(file: str, probs: tuple[float, ...] = (0.1, 0.6, 0.2, 0.1), **fields) -> ScreeningRecord:  # type: ignore[no-untyped-def]
    pred = Prediction(LABELS, probs, GateVerdict(True, "", 3.0), "m@1")
    return ScreeningRecord(file, "ok", pred, "", model=fields.pop("model", MODEL), **fields)


def refused(file: str) -> ScreeningRecord:
    reason = "colour photograph, not a radiograph"
    pred = Prediction(LABELS, (0.25, 0.25, 0.25, 0.25), GateVerdict(False, reason, 9.0), "m@1")
    return ScreeningRecord(file, "refused", pred, reason, model=MODEL)


def error(file: str, message: str = "CorruptFileError: truncated\nJPEG, at byte 12") -> ScreeningRecord:
    return ScreeningRecord(file, "error", None, message, model=MODEL)


def report(path: Path, *records: ScreeningRecord) -> Path:
    with CsvReportWriter(path, LABELS, MODEL) as writer:
        for record in records:
            writer.write(record)
    return path


def test_header_keeps_the_old_columns_and_appends_the_new_ones() -> None:
    assert ",".join(csv_columns(LABELS)) == HEADER
    assert csv_columns(("a", "b"))[:6] == ["file", "status", "prediction", "p_a", "p_b", "message"]


def test_rows_fill_prediction_and_probabilities_only_when_ok() -> None:
    ids = Identifiers("MRN-1", "ACC-9", "2024-01-02")
    row = format_csv_row(
        ok("a/x.png", (0.123456, 0.5, 0.3, 0.076544), identifiers=ids, flags=("AP", "adult")), LABELS
    )
    assert row == [
        "a/x.png",
        "ok",
        "bacterial_pneumonia",
        "0.1235",
        "0.5000",
        "0.3000",
        "0.0765",
        "",
        MODEL,
        "MRN-1",
        "ACC-9",
        "2024-01-02",
        "AP;adult",
        "Pneumonia pattern (any cause) 87.7 %; most like: bacterial 57 % · viral 34 % · COVID-19 9 %",
    ]
    stripped = format_csv_row(ok("a.png", identifiers=ids), LABELS, strip_identifiers=True)
    assert stripped[-5:-2] == ["", "", ""]


def test_headline_column_is_appended_and_follows_the_rows_low_confidence_flag() -> None:
    unsure = format_csv_row(ok("u.png", (0.45, 0.3, 0.2, 0.05), flags=("low_confidence",)), LABELS)
    assert unsure[-1] == (
        "Pneumonia pattern (any cause) 55.0 % · low confidence; "
        "most like: bacterial 55 % · viral 36 % · COVID-19 9 %"
    )
    sure = format_csv_row(ok("s.png", (0.998, 0.001, 0.0005, 0.0005)), LABELS)
    assert sure[-1] == "No pneumonia pattern >99 %"  # capped at 99 %
    assert format_csv_row(refused("r.png"), LABELS)[-1] == "" == format_csv_row(error("e.png"), LABELS)[-1]
    assert format_csv_row(refused("r.png"), LABELS)[:8] == [
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
    assert format_csv_row(error("e.dcm"), LABELS)[7] == "CorruptFileError: truncated JPEG, at byte 12"


@pytest.mark.parametrize(
    "name", ["=HYPERLINK(1).png", "+1.png", "-2.png", "@SUM.png", "\tx.png", "\rx.png", "'q.png"]
)
def test_formula_cells_are_escaped_and_read_back(tmp_path: Path, name: str) -> None:
    assert escape_cell(name) == "'" + name and unescape_cell(escape_cell(name)) == name
    out = report(tmp_path / "r.csv", error(name, "=cmd|' /C calc'!A0"))
    with open(out, encoding="utf-8", newline="") as fh:
        raw = list(csv.reader(fh))[1]
    assert raw[0] == "'" + name and raw[7] == "'=cmd|' /C calc'!A0"
    row = read_csv_report(out)[0]
    assert row["file"] == name and row["message"] == "=cmd|' /C calc'!A0"
    with CsvReportWriter(out, LABELS, MODEL, mode="resume") as writer:
        assert writer.done == {name}


def test_writer_appends_rows_readable_by_csv(tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    with CsvReportWriter(out, LABELS, MODEL) as writer:
        assert writer.done == frozenset()
        writer.write(ok("a, with comma.png"))
        writer.write(refused("b.png"))
        writer.write(error("c.dcm"))
        assert out.read_text().count("\n") == 4  # each row is on disk as soon as write() returns
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER
    rows = list(csv.reader(lines))
    assert [r[0] for r in rows[1:]] == ["a, with comma.png", "b.png", "c.dcm"]
    assert [r[1] for r in rows[1:]] == ["ok", "refused", "error"]
    assert {r[8] for r in rows[1:]} == {MODEL}
    assert read_csv_report(out)[0]["p_bacterial_pneumonia"] == "0.6000"


def test_existing_files_are_replaced_only_with_overwrite_and_only_if_a_report(tmp_path: Path) -> None:
    out = report(tmp_path / "report.csv", ok("old.png"))
    before = out.read_bytes()
    with pytest.raises(ReportError, match="--overwrite"):
        CsvReportWriter(out, LABELS, MODEL).open()
    assert out.read_bytes() == before
    with CsvReportWriter(out, LABELS, MODEL, mode="overwrite") as writer:
        writer.write(ok("new.png"))
    assert [r["file"] for r in read_csv_report(out)] == ["new.png"]
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    for mode in ("overwrite", "create"):
        with pytest.raises(ReportError):
            CsvReportWriter(notes, LABELS, MODEL, mode=mode).open()  # type: ignore[arg-type]
    with pytest.raises(ReportError, match="not a screening report"):
        write_csv_report(notes, [ok("x.png")], LABELS)
    assert notes.read_text() == "my notes\n"


def test_resume_returns_done_files_and_truncates_a_partial_row(tmp_path: Path) -> None:
    out = report(tmp_path / "report.csv", ok("1.png"), error("2.png"))
    complete = out.read_bytes()
    with open(out, "ab") as fh:  # a row cut by SIGKILL
        fh.write(b"3.png,ok,normal,0.9")
    with CsvReportWriter(out, LABELS, MODEL, mode="resume") as writer:
        assert writer.done == {"1.png", "2.png"}
        assert [r.status for r in writer.previous] == ["ok", "error"]
        assert writer.previous[0].prediction is not None and writer.previous[0].resumed
        assert out.read_bytes() == complete
        writer.write(ok("3.png"))
    assert [r["file"] for r in read_csv_report(out)] == ["1.png", "2.png", "3.png"]


def test_resume_of_a_missing_or_empty_report_starts_fresh(tmp_path: Path) -> None:
    for name, content in (("missing.csv", None), ("empty.csv", b"")):
        out = tmp_path / name
        if content is not None:
            out.write_bytes(content)
        with CsvReportWriter(out, LABELS, MODEL, mode="resume") as writer:
            assert writer.done == frozenset()
        assert out.read_text() == HEADER + "\n"


def _row(
    file: str = "a.png",
    status: str = "ok",
    top: str = "normal",
    probs: str = "0.7000,0.1000,0.1000,0.1000",
    message: str = "",
    model: str = MODEL,
) -> str:
    return f"{file},{status},{top},{probs},{message},{model},,,,,\n"


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (_row(status="maybe"), "unknown status"),
        (_row(probs="1.7000,0.1000,0.1000,0.1000"), r"outside \[0, 1\]"),
        (_row(probs="0.2000,0.1000,0.1000,0.1000"), "summing to 0.5000"),
        (_row(probs="0.7000,x,0.1000,0.1000"), "not a number"),
        (_row(top="covid19"), "not its most probable"),
        (_row(file=""), "no file name"),
        (_row() + _row(), "repeats the file"),
        (_row(status="error", probs=",,,", top="normal"), "carries a prediction"),
        (_row(model=""), "no model stamp"),
        ("only,three,fields\n", "row 3 has 3 fields"),
    ],
)
def test_resume_validates_every_row_before_writing(tmp_path: Path, rows: str, problem: str) -> None:
    out = tmp_path / "report.csv"
    content = (HEADER + "\n" + _row("first.png") + rows + "partial,ok").encode()
    out.write_bytes(content)
    with pytest.raises(ReportError, match=problem):
        CsvReportWriter(out, LABELS, MODEL, mode="resume").open()
    assert out.read_bytes() == content  # not even the partial row was dropped


def test_resume_never_truncates_a_file_that_is_not_a_report(tmp_path: Path) -> None:
    jpeg = tmp_path / "film.jpeg"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 2 + b"\n\x00\xff tail")
    text = tmp_path / "notes.txt"
    text.write_bytes(b"line one\nline two without newline")
    for path, problem in ((jpeg, "not UTF-8"), (text, "not a screening report")):
        before = path.read_bytes()
        with pytest.raises(ReportError, match=problem):
            CsvReportWriter(path, LABELS, MODEL, mode="resume").open()
        assert path.read_bytes() == before


def test_resume_refuses_other_labels_old_reports_and_other_models(tmp_path: Path) -> None:
    out = tmp_path / "labels.csv"
    out.write_text("file,status,prediction,p_a,p_b,message,model,patient_id,accession,study_date,flags\n")
    with pytest.raises(ReportError, match="do not match"):
        CsvReportWriter(out, LABELS, MODEL, mode="resume").open()
    no_headline = tmp_path / "no_headline.csv"
    no_headline.write_text(HEADER.removesuffix(",headline") + "\n")
    with pytest.raises(ReportError, match="no headline column"):
        CsvReportWriter(no_headline, LABELS, MODEL, mode="resume").open()
    old = tmp_path / "old.csv"
    old.write_text(BASE + "\na.png,ok,normal,0.7000,0.1000,0.1000,0.1000,\n")
    with pytest.raises(ReportError, match="older RadiView"):
        CsvReportWriter(old, LABELS, MODEL, mode="resume").open()
    other = report(tmp_path / "other.csv", ok("a.png", model="m@0 ffffffffffff"))
    with pytest.raises(ReportError, match=r"m@0 ffffffffffff.*--allow-model-change"):
        CsvReportWriter(other, LABELS, MODEL, mode="resume").open()
    with CsvReportWriter(other, LABELS, MODEL, mode="resume", allow_model_change=True) as writer:
        writer.write(ok("b.png"))
    assert [r["model"] for r in read_csv_report(other)] == ["m@0 ffffffffffff", MODEL]


def test_a_second_writer_on_a_locked_report_fails_at_once(tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    with CsvReportWriter(out, LABELS, MODEL) as writer:
        writer.write(ok("a.png"))
        with pytest.raises(ReportLockedError, match="another RadiView run"):
            CsvReportWriter(out, LABELS, MODEL, mode="resume").open()
        # Another process too (flock is per open file description, held across processes).
        code = (
            "import sys; from radiview.batch.report_lock import ReportLock, ReportLockedError\n"
            f"try:\n    ReportLock({str(out)!r}).acquire()\nexcept ReportLockedError:\n    sys.exit(3)\n"
        )
        assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 3
    # Released: the next run takes it, and no lock file stays behind.
    with ReportLock(out) as lock:
        assert lock.held
    assert not (tmp_path / "report.csv.lock").exists()


def test_read_csv_report_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"missing\.csv"):
        read_csv_report(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ReportError, match="not a RadiView screening report"):
        read_csv_report(bad)


def test_extra_columns_come_last_and_resume_reads_them_back(tmp_path: Path) -> None:
    """The PACS report: the folder columns, then ``study_uid`` from each record's extra."""
    path = tmp_path / "pacs.csv"
    study = {"study_uid": "1.2.3"}
    with CsvReportWriter(path, LABELS, MODEL, extra_columns=("study_uid",)) as writer:
        writer.write(ok("1.2.3.4", extra=study))
        formula = {"study_uid": "=9.9"}  # escaped on the way out, unescaped on the way back
        writer.write(ScreeningRecord("1.2.3.5", "error", None, "=bad", model=MODEL, extra=formula))
        assert writer.reported == {"1.2.3.4", "1.2.3.5"} and not writer.done  # its own rows count
    assert path.read_text().splitlines()[0] == HEADER + ",study_uid"
    rows = read_csv_report(path)  # the folder reader still reads it, escaping undone
    assert [(r["file"], r["study_uid"]) for r in rows] == [("1.2.3.4", "1.2.3"), ("1.2.3.5", "=9.9")]
    assert "'=9.9" in path.read_text()

    # Kill mid-row, then resume: the partial row goes, the others come back with their extra.
    path.write_bytes(path.read_bytes() + b"1.2.3.6,o")
    with CsvReportWriter(path, LABELS, MODEL, mode="resume", extra_columns=("study_uid",)) as resumed:
        assert [(r.key, dict(r.extra)) for r in resumed.previous] == [
            ("1.2.3.4", study),
            ("1.2.3.5", {"study_uid": "=9.9"}),
        ]
        assert resumed.done == resumed.reported == {"1.2.3.4", "1.2.3.5"}
    assert path.read_text().endswith("'=9.9\n")

    # A resume without the extra column (a folder writer) is refused before anything changes.
    before = path.read_bytes()
    with pytest.raises(ReportError, match="do not match"):
        CsvReportWriter(path, LABELS, MODEL, mode="resume").open()
    assert path.read_bytes() == before
