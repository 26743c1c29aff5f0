"""The ``radiview`` command (also ``python -m radiview``).

    radiview [FILE ...]                      start the viewer (GUI)
    radiview predict FILE [--json] [--heatmap OUT.png]
    radiview screen FOLDER --out REPORT.csv [--pdf REPORT.pdf] [--resume | --overwrite]
    radiview screen --pacs NODE --study-date FROM-TO --out REPORT.csv   (radiview/net/commands.py)
    radiview listen --ae RADIVIEW --port 11112 --out DIR --allow AE     (DICOM C-STORE listener)
    radiview --self-test                     check an installed or frozen build
    radiview --version

Exit codes: 0 success (films read or refused by the input gate); 1 a film could not be read,
a screen found no film, or the self-test failed; 2 usage, model-bundle or report errors (an
output that would replace a user's file, a report locked by another run); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

from radiview import RESEARCH_NOTICE, __version__
from radiview.atomic import atomic_write
from radiview.cli.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from radiview.errors import RadiviewError

log = logging.getLogger("radiview.cli")

DEVICES = ("auto", "cpu", "cuda", "mps")
_handler: logging.Handler | None = None

# Sub-commands that live in their own module radiview/cli/<module>.py, which defines
# ``add_parser(subparsers) -> ArgumentParser`` (registering the command) and ``run(args) -> int``.
SUBCOMMAND_MODULES: dict[str, str] = {}


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
    # Library warnings (pydicom, matplotlib, ...) become our own log lines, never raw stderr.
    from radiview.batch.decode import showwarning_into

    log = logging.getLogger("radiview.warnings")
    warnings.showwarning = showwarning_into(lambda text: log.warning("%s", text))


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
    from radiview.screen_command import add_screen_arguments

    parser = argparse.ArgumentParser(
        prog="radiview screen",
        description=f"Screen every film of a folder into a CSV (and PDF) report. {RESEARCH_NOTICE}",
    )
    add_screen_arguments(parser)
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
        if command in SUBCOMMAND_MODULES:
            return _run_subcommand(command, rest + lead)
        if command == "listen" or (command == "screen" and any(a.split("=")[0] == "--pacs" for a in rest)):
            from radiview.net.commands import run_net_command  # PACS: radiview/net/commands.py

            return run_net_command(rest + lead)
        if command == "predict":
            return _cmd_predict(_predict_parser().parse_args(rest[1:] + lead))
        if command == "screen":
            screen_args = _screen_parser().parse_args(rest[1:] + lead)
            _setup_logging(screen_args.verbose)
            from radiview.screen_command import run_screen

            return run_screen(screen_args)
        top = _top_parser().parse_args(args)
        _setup_logging(top.verbose)
        if top.self_test:
            from radiview.selftest import run_self_test

            return run_self_test(top.device, top.model)
        return _cmd_gui(top.files, top.model)
    except _UsageError as exc:
        print(f"radiview: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # e.g. while the model loads; screening handles its own
        print("radiview: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run_subcommand(command: str, args: list[str]) -> int:
    module = importlib.import_module(f"radiview.cli.{SUBCOMMAND_MODULES[command]}")
    parser = argparse.ArgumentParser(prog="radiview")
    module.add_parser(parser.add_subparsers(dest="command"))
    parsed = parser.parse_args(args)
    _setup_logging(bool(getattr(parsed, "verbose", False)))
    return int(module.run(parsed))


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
    return int(run_app(files, bundle_dir=model, exit_when_done=True))


# -------------------------------------------------------------------------------- the model


def _load_classifier(model: str | None, device: str) -> Any:
    """Load the bundle on the requested device; any failure is a usage error (exit 2)."""
    from radiview.inference.loader import load_classifier

    try:
        return load_classifier(model, device)
    except RadiviewError as exc:
        raise _UsageError(str(exc)) from exc


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
    if heatmap_path is not None:
        from radiview.batch.outputs import check_png_output

        try:  # before the model loads, and long before any byte is written
            check_png_output(heatmap_path, (Path(args.file),))
        except RadiviewError as exc:
            raise _UsageError(str(exc)) from exc
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
        from radiview.inference.headline import headline_text

        print(f"{args.file}: {prediction.top_label}")
        print(f"reading: {headline_text(prediction, classifier.card)}")
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
