"""``radiview screen FOLDER --out REPORT.csv``: the CLI's side of the one screening engine.

``radiview screen --pacs NODE ...`` screens a PACS study list instead; radiview/net/commands.py
parses and runs it (``is_pacs_screen`` tells the two apart before parsing).

Order matters here: every check on the outputs, the folder and the model runs before any byte
is written; then the report is locked, resumed (every row validated) or created; then the
engine screens. Exit codes: 0 every film read or refused; 1 a film could not be read, or no
film was found; 2 usage, model-bundle or report problems (also: another run holds the
report); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from radiview import RESEARCH_NOTICE
from radiview.cli.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from radiview.cli.options import add_model_options, positive_int, setup_logging
from radiview.errors import RadiviewError

if TYPE_CHECKING:
    from radiview.batch.csv_report import CsvReportWriter, Mode
    from radiview.batch.engine import ScreeningCounts, ScreeningSettings
    from radiview.batch.folder import FolderListing
    from radiview.batch.records import ScreeningRecord
    from radiview.batch.report_lock import ReportLock
    from radiview.inference.classifier import Classifier


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "screen",
        help="screen a folder (or --pacs NODE) into a CSV report",
        description=f"Screen every film of a folder into a CSV (and PDF) report. {RESEARCH_NOTICE}",
        epilog="With --pacs NODE instead of FOLDER it screens a PACS study list: "
        "'radiview screen --pacs NODE -h' lists those options.",
    )
    add_screen_arguments(parser)
    add_model_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    return run_screen(args)


def is_pacs_screen(argv: list[str]) -> bool:
    """``argv`` (the command first) asks for ``screen --pacs``: a different set of options."""
    return bool(argv) and argv[0] == "screen" and any(a.split("=")[0] == "--pacs" for a in argv)


def run_pacs_screen(argv: list[str]) -> int:
    """``radiview screen --pacs ...``: parsed and run by radiview/net/commands.py."""
    from radiview.net.commands import run_parsed_net_command, screen_parser

    args = screen_parser().parse_args(argv[1:])
    setup_logging(args.verbose)
    return run_parsed_net_command("screen", args)


class _Progress:
    """count/total, films/s and ETA on one stderr line (a line every few seconds if not a TTY)."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._shown = 0.0

    def update(self, count: int, rate: float) -> None:
        """``rate`` in films/s, 0 while the first batch (the model's warm-up) is not done."""
        now = time.perf_counter()
        if count < self.total and now - self._shown < (0.1 if self.tty else 5.0):
            return
        self._shown = now
        if rate > 0:
            eta = (self.total - count) / rate
            speed = f"{rate:.1f} films/s  ETA {int(eta // 60)}:{int(eta % 60):02d}"
        else:
            speed = "warming up"
        width = 24
        filled = int(width * count / self.total) if self.total else width
        line = f"[{'#' * filled}{'.' * (width - filled)}] {count}/{self.total}  {speed}"
        self.stream.write("\r" + line if self.tty else line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _fail(message: str, code: int) -> int:
    print(f"radiview: error: {message}", file=sys.stderr)
    return code


def run_screen(args: argparse.Namespace) -> int:
    """Run ``radiview screen`` with parsed arguments; returns the exit code."""
    from radiview.batch.folder import list_folder
    from radiview.batch.outputs import check_screen_outputs
    from radiview.batch.report_lock import ReportLock
    from radiview.inference.loader import load_classifier

    folder, out = Path(args.folder), Path(args.out)
    pdf = Path(args.pdf) if args.pdf else None
    if not folder.is_dir():
        return _fail(f"{folder}: not a folder (or it does not exist)", EXIT_USAGE)
    try:
        check_screen_outputs(folder, out, pdf, args.overwrite, args.resume)
    except RadiviewError as exc:
        return _fail(str(exc), EXIT_USAGE)
    listing = list_folder(folder, args.recursive)
    if not listing.items:
        return _fail(listing.empty_reason(), EXIT_FAILED)
    # The lock comes first: a second run on this report fails at once, not after the model loads.
    lock = ReportLock(out)
    try:
        lock.acquire()
    except RadiviewError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        try:
            classifier = load_classifier(args.model, args.device)
        except RadiviewError as exc:
            return _fail(str(exc), EXIT_USAGE)
        return _screen(args, listing, classifier, out, pdf, lock)
    finally:
        lock.release()


def _screen(
    args: argparse.Namespace,
    listing: FolderListing,
    classifier: Classifier,
    out: Path,
    pdf: Path | None,
    lock: ReportLock,
) -> int:
    from radiview.batch.csv_report import CsvReportWriter, model_stamp
    from radiview.batch.engine import MAX_THUMBNAILS, ScreeningSettings
    from radiview.batch.pdf_report import write_pdf_report

    card = classifier.card
    mode: Mode = "resume" if args.resume else "overwrite" if args.overwrite else "create"
    report = CsvReportWriter(
        out, card.labels, model_stamp(card), mode, args.allow_model_change, args.strip_identifiers, lock
    )
    defaults = ScreeningSettings()
    settings = ScreeningSettings(
        batch_size=args.batch_size or defaults.batch_size,
        workers=args.workers or defaults.workers,
        thumbnails=MAX_THUMBNAILS if pdf is not None else 0,
    )
    try:
        report.open()  # lock, then validate a resumed report: all before screening
    except RadiviewError as exc:
        return _fail(str(exc), EXIT_USAGE)
    with report:
        code, records, counts = _run(listing, classifier, report, settings)
        if code is not None:
            return code
        print(
            f"screened {counts.screened} files this run; report holds {len(records)}: "
            f"{counts.ok} ok, {counts.refused} refused, {counts.error} error -> {out}",
            file=sys.stderr,
        )
        if pdf is not None:
            try:
                write_pdf_report(pdf, records, card.display_name, card.labels, str(listing.folder))
            except RadiviewError as exc:
                return _fail(str(exc), EXIT_USAGE)
            print(f"PDF report: {pdf}", file=sys.stderr)
    print(RESEARCH_NOTICE, file=sys.stderr)
    return EXIT_FAILED if counts.error else EXIT_OK


def _run(
    listing: FolderListing, classifier: Classifier, report: CsvReportWriter, settings: ScreeningSettings
) -> tuple[int | None, list[ScreeningRecord], ScreeningCounts]:
    """Screen with a progress line; (exit code if the run stopped early, records, counts)."""
    from radiview.batch.engine import ScreeningCounts, iter_screening

    todo = sum(1 for item in listing.items if item.key not in report.done)
    if report.previous:
        print(
            f"resuming: {len(report.previous)} files already in {report.path}, {todo} to go", file=sys.stderr
        )
    progress = _Progress(todo)
    final = [ScreeningCounts(total=todo)]

    def on_progress(counts: ScreeningCounts) -> None:
        final[0] = counts
        if counts.done > counts.resumed:
            progress.update(counts.screened, counts.rate)

    cancel = threading.Event()
    records = iter_screening(
        listing.items, classifier, journal=report, settings=settings, cancel=cancel, on_progress=on_progress
    )
    kept: list[ScreeningRecord] = []
    try:
        for record in records:
            kept.append(record)
    except KeyboardInterrupt:
        cancel.set()
        records.close()
        progress.finish()
        print(
            f"\ninterrupted: {report.rows_written} rows written to {report.path}; "
            "run again with --resume to finish",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED, kept, final[0]
    except RadiviewError as exc:  # the report became unwritable (disk full, ...)
        progress.finish()
        return _fail(str(exc), EXIT_USAGE), kept, final[0]
    progress.finish()
    return None, kept, final[0]


def add_screen_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``radiview screen`` (besides the model options all commands share)."""
    parser.add_argument("folder", metavar="FOLDER")
    parser.add_argument(
        "--out", required=True, metavar="REPORT.csv", help="CSV report (rows appended as they finish)"
    )
    parser.add_argument(
        "--pdf", metavar="REPORT.pdf", help="also write a PDF summary with Grad-CAM thumbnails"
    )
    parser.add_argument("--recursive", action="store_true", help="include subfolders")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing report (only a screening report)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue an existing report, skipping the files already in it"
    )
    parser.add_argument(
        "--allow-model-change",
        action="store_true",
        help="with --resume: accept a report that another model (or version) started",
    )
    parser.add_argument(
        "--strip-identifiers",
        action="store_true",
        help="leave the patient_id, accession and study_date columns empty",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        metavar="N",
        help="films per forward pass (default 16)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="decoding workers (default: by CPU count)",
    )
