"""The ``radiview`` command (also ``python -m radiview``).

    radiview [FILE ...]                      start the viewer (GUI)
    radiview predict FILE [--json] [--heatmap OUT.png]
    radiview screen FOLDER --out REPORT.csv [--pdf REPORT.pdf] [--resume]
    radiview screen --pacs NODE --study-date FROM-TO --out REPORT.csv   (radiview/net/commands.py)
    radiview listen --ae RADIVIEW --port 11112 --out DIR --allow AE     (DICOM C-STORE listener)
    radiview --self-test                     check an installed or frozen build
    radiview --version

Exit codes: 0 success (films read or refused by the input gate); 1 a film could not be read
(or the self-test failed); 2 usage, model-bundle or report errors; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from radiview import RESEARCH_NOTICE, __version__
from radiview.atomic import atomic_write
from radiview.errors import InputError, RadiviewError, ReportError

log = logging.getLogger("radiview.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEVICES = ("auto", "cpu", "cuda", "mps")
_handler: logging.Handler | None = None


class _UsageError(Exception):
    """Bad arguments, a missing folder, an unusable model bundle or report: exit 2."""


def _setup_logging(verbose: bool) -> None:
    global _handler
    logger = logging.getLogger("radiview")
    if _handler is not None:
        logger.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where the model runs (default: auto = CUDA, else MPS, else CPU)",
    )
    parser.add_argument("--model", metavar="DIR", help="model bundle folder (default: the bundled model)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details (INFO)")


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radiview",
        description=f"RadiView chest X-ray viewer with an AI second reader. {RESEARCH_NOTICE}",
        epilog="Subcommands: 'radiview predict FILE' (one film) and 'radiview screen FOLDER "
        "--out REPORT.csv' (a folder); add -h to either for its options.",
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="DICOM or image files to open in the viewer")
    parser.add_argument("--version", action="version", version=f"RadiView {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="load the model, run predict and explain on a built-in synthetic film, report timings",
    )
    _add_model_options(parser)
    return parser


def _predict_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="radiview predict", description=f"Read one film. {RESEARCH_NOTICE}")
    parser.add_argument("file", metavar="FILE", help="a DICOM, PNG or JPEG chest film")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument(
        "--heatmap", metavar="OUT.png", help="write the film with its Grad-CAM overlay as PNG"
    )
    _add_model_options(parser)
    return parser


def _screen_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radiview screen",
        description=f"Screen every film of a folder into a CSV (and PDF) report. {RESEARCH_NOTICE}",
    )
    parser.add_argument("folder", metavar="FOLDER")
    parser.add_argument(
        "--out", required=True, metavar="REPORT.csv", help="CSV report (rows appended as they finish)"
    )
    parser.add_argument(
        "--pdf", metavar="REPORT.pdf", help="also write a PDF summary with Grad-CAM thumbnails"
    )
    parser.add_argument("--recursive", action="store_true", help="include subfolders")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep an existing report and skip the files already in it (default: overwrite)",
    )
    parser.add_argument(
        "--batch-size", type=_positive_int, default=16, metavar="N", help="films per forward pass"
    )
    parser.add_argument("--workers", type=_positive_int, default=None, metavar="N", help="decoding threads")
    _add_model_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # `radiview -v screen ...` as well as `radiview screen -v ...`
    lead: list[str] = []
    rest = args
    while rest and rest[0] in ("-v", "--verbose"):
        lead, rest = [*lead, rest[0]], rest[1:]
    command = rest[0] if rest else ""
    try:
        if command == "listen" or (command == "screen" and any(a.split("=")[0] == "--pacs" for a in rest)):
            from radiview.net.commands import run_net_command  # PACS: radiview/net/commands.py

            return run_net_command(rest + lead)
        if command == "predict":
            return _cmd_predict(_predict_parser().parse_args(rest[1:] + lead))
        if command == "screen":
            return _cmd_screen(_screen_parser().parse_args(rest[1:] + lead))
        top = _top_parser().parse_args(args)
        _setup_logging(top.verbose)
        if top.self_test:
            return run_self_test(top.device, top.model)
        return _cmd_gui(top.files, top.model)
    except _UsageError as exc:
        print(f"radiview: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # e.g. while the model loads; screening handles its own
        print("radiview: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


# --------------------------------------------------------------------------------------- GUI


def _cmd_gui(files: list[str], model: str | None = None) -> int:
    try:
        from radiview.gui.app import run_app
    except ImportError as exc:
        print(
            f"radiview: the viewer cannot start: {exc}.\n"
            "Install PySide6-Essentials (pip install PySide6-Essentials), or use the headless "
            "commands 'radiview predict' and 'radiview screen'.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return int(run_app(files, bundle_dir=model) if model else run_app(files))


# -------------------------------------------------------------------------------- the model


def _load_classifier(model: str | None, device: str) -> Any:
    """Load the bundle on the requested device; any failure is a usage error (exit 2)."""
    from radiview.inference.classifier import Classifier
    from radiview.inference.device import resolve_device

    try:
        # An explicit --device the machine lacks is an error here, not a silent CPU fallback.
        resolved = resolve_device(device, strict=device != "auto")
        return Classifier.from_bundle(model, device=str(resolved))
    except RadiviewError as exc:
        raise _UsageError(str(exc)) from exc


def _device_of(classifier: Any) -> str:
    return str(getattr(classifier, "device", "?"))


# ----------------------------------------------------------------------------------- predict


def _prediction_json(file: str, prediction: Any) -> dict[str, Any]:
    ok = prediction.accepted
    return {
        "file": file,
        "status": "ok" if ok else "refused",
        "prediction": prediction.top_label if ok else None,
        "probabilities": dict(zip(prediction.labels, map(float, prediction.probabilities), strict=True))
        if ok
        else None,
        "gate": {"accepted": ok, "reason": prediction.gate.reason, "score": float(prediction.gate.score)},
        "model": prediction.model,
        "notice": RESEARCH_NOTICE,
    }


def _cmd_predict(args: argparse.Namespace) -> int:
    _setup_logging(args.verbose)
    from radiview.io import load_radiograph

    heatmap_path = Path(args.heatmap) if args.heatmap else None
    if heatmap_path is not None and not heatmap_path.parent.is_dir():
        raise _UsageError(f"{heatmap_path}: the folder for the heatmap does not exist")
    classifier = _load_classifier(args.model, args.device)
    try:
        radiograph = load_radiograph(args.file)
        if heatmap_path is not None:
            prediction, explanation = classifier.analyze(radiograph)
        else:
            prediction, explanation = classifier.predict(radiograph), None
    except RadiviewError as exc:
        if args.json:
            print(
                json.dumps(
                    {"file": args.file, "status": "error", "message": str(exc), "notice": RESEARCH_NOTICE}
                )
            )
        else:
            print(f"radiview: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if heatmap_path is not None:
        try:
            write_heatmap_png(heatmap_path, radiograph, prediction, explanation)
        except OSError as exc:
            print(
                f"radiview: {heatmap_path}: cannot write the heatmap: {exc.strerror or exc}", file=sys.stderr
            )
            return EXIT_FAILED
    if args.json:
        print(json.dumps(_prediction_json(args.file, prediction), indent=2))
        return EXIT_OK
    if prediction.accepted:
        print(f"{args.file}: {prediction.top_label}")
        width = max(len(label) for label in prediction.labels)
        for label, p in zip(prediction.labels, prediction.probabilities, strict=True):
            print(f"  {label:<{width}}  {p:.4f}")
    else:
        print(f"{args.file}: refused by the input gate: {prediction.gate.reason}")
    print(f"model: {prediction.model}")
    if heatmap_path is not None:
        note = "" if explanation is not None else " (film only: no heatmap for a refused film)"
        print(f"heatmap: {heatmap_path}{note}")
    print(RESEARCH_NOTICE)
    return EXIT_OK


def write_heatmap_png(
    path: Path, radiograph: Any, prediction: Any, explanation: Any, opacity: float = 0.45
) -> None:
    """The windowed film with the Grad-CAM overlay, at the film's own size, written atomically.

    The notice and the reading go into PNG tEXt chunks; the notice is also burned into the
    bottom edge when the film is wide enough to hold it legibly.
    """
    import numpy as np
    from PIL import Image, ImageDraw, PngImagePlugin

    from radiview.io.windowing import apply_window

    gray = apply_window(radiograph.pixels, radiograph.default_window)
    if explanation is not None:
        from radiview.render import composite_heatmap

        image = Image.fromarray(
            np.asarray(composite_heatmap(gray, explanation.heatmap, opacity, "jet"))
        ).convert("RGB")
    else:
        image = Image.fromarray(gray).convert("RGB")
    draw = ImageDraw.Draw(image)
    if draw.textlength(RESEARCH_NOTICE) + 8 <= image.width:
        bbox = draw.textbbox((4, image.height - 4), RESEARCH_NOTICE, anchor="ls")
        draw.rectangle((bbox[0] - 2, bbox[1] - 2, bbox[2] + 2, bbox[3] + 2), fill=(0, 0, 0))
        draw.text((4, image.height - 4), RESEARCH_NOTICE, fill=(255, 255, 255), anchor="ls")
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"RadiView {__version__}")
    info.add_text("Disclaimer", RESEARCH_NOTICE)
    info.add_text("Source", radiograph.name)
    reading = prediction.top_label if prediction.accepted else f"refused: {prediction.gate.reason}"
    info.add_text(
        "Description",
        f"{prediction.model}: {reading}; Grad-CAM shows model attention, not lesion localisation",
    )
    with atomic_write(path) as fh:
        image.save(fh, format="PNG", pnginfo=info)


# ------------------------------------------------------------------------------------ screen


class _Progress:
    """count/total, films/s and ETA on one stderr line (a line every few seconds if not a TTY)."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.count = 0
        self._shown = 0.0
        self._first: tuple[float, int] | None = None

    def update(self, count: int) -> None:
        self.count = count
        now = time.perf_counter()
        if self._first is None:
            # The first batch carries the model's warm-up; rates count from its end.
            self._first = (now, count)
        if count < self.total and now - self._shown < (0.1 if self.tty else 5.0):
            return
        self._shown = now
        t0, c0 = self._first
        rate = (count - c0) / (now - t0) if count > c0 and now > t0 else 0.0
        if rate > 0:
            eta = (self.total - count) / rate
            speed = f"{rate:.1f} films/s  ETA {int(eta // 60)}:{int(eta % 60):02d}"
        else:
            speed = "warming up"
        width = 24
        filled = int(width * count / self.total) if self.total else width
        bar = "#" * filled + "." * (width - filled)
        line = f"[{bar}] {count}/{self.total}  {speed}"
        if self.tty:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _cmd_screen(args: argparse.Namespace) -> int:
    _setup_logging(args.verbose)
    from radiview.batch.report import CsvReportWriter, read_csv_report, results_from_rows, write_pdf_report
    from radiview.batch.screening import iter_screening, list_screening_files

    folder, out = Path(args.folder), Path(args.out)
    pdf = Path(args.pdf) if args.pdf else None
    if not folder.is_dir():
        raise _UsageError(f"{folder}: not a folder (or it does not exist)")
    for target in (out, pdf):
        if target is not None and not target.parent.is_dir():
            raise _UsageError(f"{target}: its folder does not exist")
    classifier = _load_classifier(args.model, args.device)
    labels = tuple(classifier.card.labels)
    counts: Counter[str] = Counter()
    cancel = threading.Event()
    try:
        with CsvReportWriter(out, labels, resume=args.resume) as report:
            files = list_screening_files(folder, args.recursive, skip=report.done)
            if report.done:
                print(
                    f"resuming: {len(report.done)} files already in {out}, {len(files)} to go",
                    file=sys.stderr,
                )
            progress = _Progress(len(files))
            results = iter_screening(
                folder,
                classifier,
                recursive=args.recursive,
                skip=report.done,
                batch_size=args.batch_size,
                workers=args.workers,
                cancel=cancel,
            )
            try:
                for result in results:
                    report.write(result)
                    counts[result.status] += 1
                    progress.update(sum(counts.values()))
            except KeyboardInterrupt:
                cancel.set()
                results.close()
                progress.finish()
                print(
                    f"\ninterrupted: {report.rows_written} rows written to {out}; "
                    "run again with --resume to finish",
                    file=sys.stderr,
                )
                return EXIT_INTERRUPTED
            progress.finish()
    except (ReportError, InputError) as exc:
        raise _UsageError(str(exc)) from exc
    rows = read_csv_report(out)
    total = Counter(row["status"] for row in rows)
    print(
        f"screened {sum(counts.values())} files this run; report holds {len(rows)}: "
        f"{total['ok']} ok, {total['refused']} refused, {total['error']} error -> {out}",
        file=sys.stderr,
    )
    if pdf is not None:
        try:
            write_pdf_report(
                pdf, results_from_rows(rows, labels, classifier.card.display_name), classifier, folder
            )
        except RadiviewError as exc:
            raise _UsageError(str(exc)) from exc
        print(f"PDF report: {pdf}", file=sys.stderr)
    print(RESEARCH_NOTICE, file=sys.stderr)
    return EXIT_FAILED if total["error"] else EXIT_OK


# --------------------------------------------------------------------------------- self-test


def build_synthetic_chest(height: int = 320, width: int = 288, seed: int = 0) -> Any:
    """A chest-like test film made in numpy: a bright body, two dark lung fields, a spine.

    Not a radiograph of anything; it only exercises decoding-free inference end to end.
    """
    import numpy as np

    from radiview.io.radiograph import Radiograph
    from radiview.io.windowing import window_from_percentiles

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx = height / 2, width / 2

    def ellipse(y0: float, x0: float, ry: float, rx: float) -> Any:
        return ((yy - y0) / ry) ** 2 + ((xx - x0) / rx) ** 2 <= 1.0

    img = np.full((height, width), 0.08, np.float32)  # air around the patient
    img[ellipse(cy + 0.05 * height, cx, 0.55 * height, 0.46 * width)] = 0.75  # body
    for side in (-1, 1):  # lungs, darker towards the top
        lung = ellipse(cy - 0.02 * height, cx + side * 0.2 * width, 0.36 * height, 0.15 * width)
        img[lung] = 0.25 + 0.15 * (yy[lung] / height)
    img[np.abs(xx - cx) < 0.04 * width] = 0.85  # spine / mediastinum
    img[ellipse(cy + 0.12 * height, cx + 0.05 * width, 0.12 * height, 0.1 * width)] = 0.8  # heart
    for rib in range(8):  # faint ribs
        y = cy - 0.3 * height + rib * 0.075 * height
        img[(np.abs(yy - y - 0.05 * np.abs(xx - cx)) < 2) & (img < 0.6)] += 0.08
    img += rng.normal(0, 0.015, img.shape).astype(np.float32)
    pixels = np.clip(img * 4095, 0, 4095).astype(np.float32)
    return Radiograph(
        pixels=pixels,
        source="<self-test>",
        kind="image",
        bits_stored=12,
        default_window=window_from_percentiles(pixels),
    )


def run_self_test(device: str = "auto", model: str | None = None, stream: TextIO | None = None) -> int:
    """Load the model (hash checked), predict and explain a synthetic film; 0 if all is sane."""
    import math

    import numpy as np

    out = stream or sys.stdout
    print(f"RadiView {__version__} self-test", file=out)
    try:
        start = time.perf_counter()
        classifier = _load_classifier(model, device)
        t_load = time.perf_counter() - start
        card = classifier.card
        print(f"device: {_device_of(classifier)}", file=out)
        print(f"model: {card.display_name} (weights SHA-256 verified)", file=out)
        film = build_synthetic_chest()
        start = time.perf_counter()
        prediction = classifier.predict(film)
        t_predict = time.perf_counter() - start
        start = time.perf_counter()
        explanation = classifier.explain(film)
        t_explain = time.perf_counter() - start
        probs = np.asarray(prediction.probabilities, dtype=np.float64)
        problems = []
        if prediction.labels != tuple(card.labels) or probs.shape != (len(card.labels),):
            problems.append("prediction labels do not match the model card")
        if not np.all(np.isfinite(probs)) or not math.isclose(float(probs.sum()), 1.0, abs_tol=1e-3):
            problems.append(f"probabilities are not a distribution: {probs.tolist()}")
        heat = np.asarray(explanation.heatmap)
        if heat.shape != film.shape:
            problems.append(f"heatmap shape {heat.shape} != film shape {film.shape}")
        elif not np.all(np.isfinite(heat)) or heat.min() < 0 or heat.max() > 1:
            problems.append("heatmap values are outside [0, 1]")
        verdict = (
            f"read as {prediction.top_label}"
            if prediction.accepted
            else f"refused by the input gate ({prediction.gate.reason})"
        )
        # The film is a drawing, not a radiograph: either verdict is fine, the checks are above.
        print(
            f"synthetic film (a drawing; either verdict passes): {verdict}; Grad-CAM for {explanation.label}",
            file=out,
        )
        print(
            f"timings: load {t_load * 1000:.0f} ms, predict {t_predict * 1000:.0f} ms, "
            f"explain {t_explain * 1000:.0f} ms",
            file=out,
        )
    except (_UsageError, RadiviewError) as exc:
        print(f"self-test FAILED: {exc}", file=out)
        return EXIT_FAILED
    except Exception as exc:  # a frozen build missing a module must report, not crash
        log.exception("self-test crashed")
        print(f"self-test FAILED: {type(exc).__name__}: {exc}", file=out)
        return EXIT_FAILED
    if problems:
        for problem in problems:
            print(f"self-test FAILED: {problem}", file=out)
        return EXIT_FAILED
    print("self-test passed", file=out)
    print(RESEARCH_NOTICE, file=out)
    return EXIT_OK
