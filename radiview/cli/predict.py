"""``radiview predict FILE [--json] [--heatmap OUT.png]``: read one film."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radiview import RESEARCH_NOTICE, __version__
from radiview.atomic import atomic_write
from radiview.cli.exit_codes import EXIT_FAILED, EXIT_OK, UsageError
from radiview.cli.options import add_model_options, load_model
from radiview.errors import RadiviewError

if TYPE_CHECKING:
    from radiview.inference.prediction import Explanation, Prediction
    from radiview.io import Radiograph


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "predict",
        help="read one film (--json; --heatmap OUT.png for its Grad-CAM)",
        description=f"Read one film. {RESEARCH_NOTICE}",
    )
    parser.add_argument("file", metavar="FILE", help="a DICOM, PNG or JPEG chest film")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument(
        "--heatmap", metavar="OUT.png", help="write the film with its Grad-CAM overlay as PNG"
    )
    add_model_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from radiview.io import load_radiograph

    heatmap_path = Path(args.heatmap) if args.heatmap else None
    if heatmap_path is not None:
        from radiview.batch.outputs import check_png_output

        try:  # before the model loads, and long before any byte is written
            check_png_output(heatmap_path, (Path(args.file),))
        except RadiviewError as exc:
            raise UsageError(str(exc)) from exc
    classifier = load_model(args.model, args.device)
    explanation: Explanation | None = None
    try:
        radiograph = load_radiograph(args.file)
        if heatmap_path is not None:
            prediction, explanation = classifier.analyze(radiograph)
        else:
            prediction = classifier.predict(radiograph)
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
        print(json.dumps(prediction_json(args.file, prediction), indent=2))
        return EXIT_OK
    _print_prediction(args.file, prediction, classifier.card)
    if heatmap_path is not None:
        note = "" if explanation is not None else " (film only: no heatmap for a refused film)"
        print(f"heatmap: {heatmap_path}{note}")
    print(RESEARCH_NOTICE)
    return EXIT_OK


def prediction_json(file: str, prediction: Prediction) -> dict[str, Any]:
    """The ``--json`` object of one film."""
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


def _print_prediction(file: str, prediction: Prediction, card: object) -> None:
    if prediction.accepted:
        from radiview.inference.headline import headline_text

        print(f"{file}: {prediction.top_label}")
        print(f"reading: {headline_text(prediction, card)}")
        width = max(len(label) for label in prediction.labels)
        for label, p in zip(prediction.labels, prediction.probabilities, strict=True):
            print(f"  {label:<{width}}  {p:.4f}")
    else:
        print(f"{file}: refused by the input gate: {prediction.gate.reason}")
    print(f"model: {prediction.model}")


def write_heatmap_png(
    path: Path,
    radiograph: Radiograph,
    prediction: Prediction,
    explanation: Explanation | None,
    opacity: float = 0.45,
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
