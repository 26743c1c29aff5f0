"""Reading a screening CSV back: parsing, and the checks a report must pass before a resume.

Every row is validated (status, probabilities in [0, 1] summing to 1, the prediction being the
most probable label, unique file names, a model stamp) before anything is appended, so a file
that is not a report, or a damaged one, is refused before a byte of it changes.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from radiview.batch.records import STATUSES, Identifiers, ScreeningRecord
from radiview.errors import ReportError

_SUM_TOLERANCE = 0.01  # four rounded probabilities sum to 1 within 2e-4; this leaves slack


def unescape_cell(text: str) -> str:
    """Undo ``csv_report.escape_cell`` (a leading ' added against formula injection)."""
    return text[1:] if text.startswith("'") else text


@dataclass(frozen=True)
class ParsedReport:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    partial_tail: int  # bytes after the last newline (a row cut by a kill)


def parse_report(data: bytes, path: Path) -> ParsedReport:
    """Split a report's bytes into header and rows; a trailing partial row is only measured."""
    complete = data.rfind(b"\n") + 1
    try:
        text = data[:complete].decode("utf-8")
    except UnicodeDecodeError:
        raise ReportError("is not a screening report (not UTF-8 text)", path) from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ReportError("is not a screening report (no complete header line)", path)
    width = len(rows[0])
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            raise ReportError(f"row {number} has {len(row)} fields, expected {width}", path)
    return ParsedReport(tuple(rows[0]), tuple(tuple(r) for r in rows[1:]), len(data) - complete)


def looks_like_report(path: Path) -> bool:
    """True for an empty file or one whose first line is a screening report header."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return not head or head.startswith(b"file,status,prediction,")


def read_csv_report(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The report's rows as dicts keyed by column (raw strings, formula escaping undone).

    A trailing partial row (an interrupted run) is ignored, not returned.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReportError(f"cannot read the report: {exc.strerror}", path) from exc
    parsed = parse_report(data, path)
    header = list(parsed.header)
    if header[:3] != ["file", "status", "prediction"] or "message" not in header:
        raise ReportError("is not a RadiView screening report (unexpected header)", path)
    numeric = {
        i for i, name in enumerate(header) if name.startswith("p_") or name in ("status", "prediction")
    }
    return [
        {
            name: (cell if i in numeric else unescape_cell(cell))
            for i, (name, cell) in enumerate(zip(header, row, strict=True))
        }
        for row in parsed.rows
    ]


def _row_problem(row: dict[str, str], labels: Sequence[str]) -> str | None:
    """Why a report row is not one this program wrote, or None."""
    status, top = row["status"], row["prediction"]
    probs = [row[f"p_{label}"] for label in labels]
    if not row["file"]:
        return "has no file name"
    if status not in STATUSES:
        return f"has an unknown status {status!r}"
    if not row["model"]:
        return "has no model stamp"
    if status != "ok":
        return None if not top and not any(probs) else f"is {status} but carries a prediction"
    try:
        values = [float(p) for p in probs]
    except ValueError:
        return "has a probability that is not a number"
    if any(not 0.0 <= v <= 1.0 for v in values):
        return "has a probability outside [0, 1]"
    if abs(sum(values) - 1.0) > _SUM_TOLERANCE:
        return f"has probabilities summing to {sum(values):.4f}, not 1"
    if top not in labels:
        return f"has a prediction {top!r} that is not one of the model's labels"
    # a site model calls by its operating points (radiview.inference.prediction.decide_index)
    if " · site " not in row["model"] and values[list(labels).index(top)] < max(values) - 1e-4:
        return f"has a prediction {top!r} that is not its most probable label"
    return None


def validate_rows(
    rows: Iterable[dict[str, str]], labels: Sequence[str], path: Path, model: str, allow_model_change: bool
) -> None:
    """Check every row before a resumed run screens anything (ReportError names the row)."""
    seen: set[str] = set()
    other_models: set[str] = set()
    for number, row in enumerate(rows, start=2):
        problem = _row_problem(row, labels)
        if problem is None and row["file"] in seen:
            problem = f"repeats the file {row['file']!r}"
        if problem is not None:
            raise ReportError(f"row {number} {problem}; not a report this program can resume", path)
        seen.add(row["file"])
        if row["model"] != model:
            other_models.add(row["model"])
    if other_models and not allow_model_change:
        raise ReportError(
            f"was made by model {', '.join(sorted(other_models))}, but this run uses {model}: "
            "write a new report, or pass --allow-model-change to mix models in one report",
            path,
        )


def records_from_rows(
    rows: Iterable[dict[str, str]], labels: Sequence[str], extra_columns: Sequence[str] = ()
) -> list[ScreeningRecord]:
    """Records for validated report rows (probabilities as rounded in the CSV); the
    ``extra_columns`` a caller appended (PACS: ``study_uid``) come back in ``record.extra``."""
    from radiview.inference.prediction import GateVerdict, Prediction

    labels = tuple(labels)
    out = []
    for row in rows:
        status = row["status"]
        prediction = None
        if status == "ok":
            probs = tuple(float(row[f"p_{label}"]) for label in labels)
            prediction = Prediction(labels, probs, GateVerdict(True), row["model"].split(" ")[0])
        out.append(
            ScreeningRecord(
                key=row["file"],
                status=status,  # type: ignore[arg-type]
                prediction=prediction,
                message=row["message"],
                identifiers=Identifiers(row["patient_id"], row["accession"], row["study_date"]),
                flags=tuple(f for f in row["flags"].split(";") if f),
                model=row["model"],
                extra={name: row[name] for name in extra_columns},
                resumed=True,
            )
        )
    return out
