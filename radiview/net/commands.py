"""The PACS subcommands of ``radiview`` (cli.py hands over to ``run_net_command``).

    radiview screen --pacs NODE --study-date 20260101-20260131 [--modality CR,DX] --out REPORT.csv
                    [--resume | --overwrite] [--send-results-to NODE] [--protocol auto|dicomweb|dimse]
    radiview listen --ae RADIVIEW --port 11112 --out DIR --allow MODALITY_AE[,PACS_AE]

Exit codes as the rest of the CLI: 0 success, 1 a film could not be read, 2 usage,
configuration or network errors, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from radiview import RESEARCH_NOTICE
from radiview.errors import RadiviewError

log = logging.getLogger("radiview.net.commands")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    parser.add_argument("--model", metavar="DIR", help="model bundle folder (default: the bundled model)")
    parser.add_argument(
        "--nodes", metavar="FILE", help="PACS nodes file (default: pacs-nodes.json in the config dir)"
    )
    parser.add_argument("-v", "--verbose", action="store_true")


def screen_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radiview screen --pacs",
        description=f"Screen the chest films of a PACS study list into a CSV report. {RESEARCH_NOTICE}",
    )
    parser.add_argument("--pacs", required=True, metavar="NODE", help="a configured PACS node")
    parser.add_argument("--study-date", required=True, metavar="FROM-TO", help="e.g. 20260101-20260131")
    parser.add_argument("--modality", default="CR,DX", help="modalities in the study (default CR,DX)")
    parser.add_argument("--patient-id", default="")
    parser.add_argument("--patient-name", default="", help="DICOM matching, e.g. DOE^*")
    parser.add_argument("--accession", default="")
    parser.add_argument("--out", required=True, metavar="REPORT.csv")
    parser.add_argument("--resume", action="store_true", help="keep the report and skip films already in it")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing report (only a screening report)"
    )
    parser.add_argument("--send-results-to", metavar="NODE", help="store a DICOM SC + SR per film there")
    parser.add_argument("--protocol", choices=("auto", "dicomweb", "dimse"), default="auto")
    _common(parser)
    return parser


def listen_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radiview listen",
        description=f"A DICOM C-STORE listener that screens every chest film pushed to it. {RESEARCH_NOTICE}",
    )
    parser.add_argument("--ae", default="RADIVIEW", help="our AE title (default RADIVIEW)")
    parser.add_argument("--port", type=int, default=11112)
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    parser.add_argument("--out", required=True, metavar="DIR", help="films/ and report.csv go here")
    parser.add_argument("--allow", required=True, metavar="AE[,AE]", help="calling AE titles accepted")
    _common(parser)
    return parser


def _load_classifier(model: str | None, device: str) -> Any:
    from radiview.inference.loader import load_classifier  # the one loader, as every command

    return load_classifier(model, device)


def run_net_command(argv: list[str]) -> int:
    """``argv`` starts with ``screen`` or ``listen``."""
    command, rest = argv[0], argv[1:]
    parser = listen_parser() if command == "listen" else screen_parser()
    return run_parsed_net_command(command, parser.parse_args(rest))


def run_parsed_net_command(command: str, args: argparse.Namespace) -> int:
    """Run ``screen`` (--pacs) or ``listen`` with parsed arguments (logging set up by the CLI)."""
    try:
        if command == "listen":
            return _cmd_listen(args)
        return _cmd_screen(args)
    except RadiviewError as exc:
        print(f"radiview: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("radiview: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _cmd_screen(args: argparse.Namespace) -> int:
    from radiview.batch.csv_report import Mode
    from radiview.net.connection import open_connection
    from radiview.net.nodes import get_node
    from radiview.net.query import StudyQuery, parse_date_range, parse_modalities
    from radiview.net.screen_study import pacs_report, screen_pacs

    node = get_node(args.pacs, args.nodes)
    date_from, date_to = parse_date_range(args.study_date)
    query = StudyQuery(
        patient_name=args.patient_name,
        patient_id=args.patient_id,
        accession_number=args.accession,
        date_from=date_from,
        date_to=date_to,
        modalities=parse_modalities(args.modality),
    )
    out = Path(args.out)
    if not out.parent.is_dir():
        print(f"radiview: error: {out}: its folder does not exist", file=sys.stderr)
        return EXIT_USAGE
    connection = open_connection(node, protocol=args.protocol)
    connection.ping()  # fail fast, with the reason, before the model loads
    sender = _results_sender(args) if args.send_results_to else None
    classifier = _load_classifier(args.model, args.device)
    counts: Counter[str] = Counter()
    cancel = threading.Event()

    def on_result(record: Any, study_uid: str, path: Path) -> None:
        counts[record.status] += 1
        if sender is not None:
            sender(record, path, classifier)

    mode: Mode = "resume" if args.resume else "overwrite" if args.overwrite else "create"
    with (
        pacs_report(out, classifier, mode) as report,
        tempfile.TemporaryDirectory(prefix="radiview-pacs-") as work,
    ):
        if report.previous:
            print(f"resuming: {len(report.previous)} films already in {out}", file=sys.stderr)
        try:
            summary = screen_pacs(
                connection, query, classifier, report, work, on_result=on_result, cancel=cancel
            )
        except KeyboardInterrupt:
            cancel.set()
            print(
                f"\ninterrupted: {report.rows_written} rows written to {out}; run again with --resume",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
    print(
        f"{summary.studies} studies, {summary.films_found} films: {summary.screened} screened this run "
        f"({counts['ok']} ok, {counts['refused']} refused, {counts['error']} error), "
        f"{summary.already_reported} already reported, {summary.refused_non_images} not images -> {out}",
        file=sys.stderr,
    )
    print(RESEARCH_NOTICE, file=sys.stderr)
    return EXIT_FAILED if counts["error"] else EXIT_OK


def _results_sender(args: argparse.Namespace) -> Any:
    from radiview.net.connection import open_connection
    from radiview.net.nodes import get_node
    from radiview.net.results import send_results

    target = open_connection(get_node(args.send_results_to, args.nodes), protocol="auto")

    def send(result: Any, path: Path, classifier: Any) -> None:
        if result.status == "error":
            return
        try:
            send_results(target, path, classifier)
        except RadiviewError as exc:  # the screening result stands even if the upload fails
            log.error("results for a film not sent: %s", exc)

    return send


def _cmd_listen(args: argparse.Namespace) -> int:
    from radiview.net.listener import FilmListener

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from radiview.net.nodes import validate_ae_title

    # Check the AE titles before the model loads: a typo should fail in a second, not ten.
    validate_ae_title(args.ae, "--ae")
    allowed = [validate_ae_title(a, "--allow AE title") for a in args.allow.split(",") if a.strip()]
    if not allowed:
        print("radiview: error: --allow needs at least one calling AE title", file=sys.stderr)
        return EXIT_USAGE
    if not 0 < args.port < 65536:
        print(f"radiview: error: --port {args.port} is not in 1-65535", file=sys.stderr)
        return EXIT_USAGE
    classifier = _load_classifier(args.model, args.device)
    listener = FilmListener(
        ae_title=args.ae,
        port=args.port,
        out_dir=out,
        allowed_aets=allowed,
        classifier=classifier,
        host=args.host,
    )

    def on_signal(signum: int, _frame: Any) -> None:
        log.warning("signal %d: stopping after the films already received", signum)
        listener.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        listener.start()
    except OSError as exc:
        print(
            f"radiview: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(
        f"listening as {listener.ae_title} on {args.host}:{args.port} -> {listener.report_path}",
        file=sys.stderr,
        flush=True,
    )
    listener.serve_forever()
    print(f"stopped: {listener.stored} films stored, {listener.refused} refused this run", file=sys.stderr)
    return EXIT_OK
