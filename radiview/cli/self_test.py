"""``radiview self-test`` (also ``radiview --self-test``): load the model (hash checked),
predict and explain a synthetic film.

Checks an installed or frozen build end to end without any real film; exit 0 if all is sane.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from radiview import RESEARCH_NOTICE, __version__
from radiview.cli.exit_codes import EXIT_FAILED, EXIT_OK
from radiview.cli.options import add_model_options
from radiview.errors import RadiviewError
from radiview.inference.loader import load_classifier

if TYPE_CHECKING:
    from radiview.inference.bundle import ModelCard
    from radiview.inference.prediction import Explanation, Prediction
    from radiview.io import Radiograph

log = logging.getLogger("radiview.selftest")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "self-test",
        help="check this build: load the model, read a synthetic film",
        description="Load the model (SHA-256 checked), run predict and explain on a built-in "
        "synthetic film, report timings. Same as 'radiview --self-test'.",
    )
    add_model_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    return run_self_test(args.device, args.model)


def run_self_test(device: str = "auto", model: str | None = None, stream: TextIO | None = None) -> int:
    """Load the model (hash checked), predict and explain a synthetic film; 0 if all is sane."""
    out = stream or sys.stdout
    print(f"RadiView {__version__} self-test", file=out)
    try:
        problems = _exercise(device, model, out)
    except RadiviewError as exc:
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


def _exercise(device: str, model: str | None, out: TextIO) -> list[str]:
    """Load, predict, explain (printing what happened and the timings); the problems found."""
    from radiview.selftest import build_synthetic_chest

    start = time.perf_counter()
    classifier = load_classifier(model, device)
    t_load = time.perf_counter() - start
    card = classifier.card
    print(f"device: {getattr(classifier, 'device', '?')}", file=out)
    print(f"model: {card.display_name} (weights SHA-256 verified)", file=out)
    film = build_synthetic_chest()
    start = time.perf_counter()
    prediction = classifier.predict(film)
    t_predict = time.perf_counter() - start
    start = time.perf_counter()
    explanation = classifier.explain(film)
    t_explain = time.perf_counter() - start
    verdict = (
        f"read as {prediction.top_label}"
        if prediction.accepted
        else f"refused by the input gate ({prediction.gate.reason})"
    )
    # The film is a drawing, not a radiograph: either verdict is fine, the checks are below.
    print(
        f"synthetic film (a drawing; either verdict passes): {verdict}; Grad-CAM for {explanation.label}",
        file=out,
    )
    print(
        f"timings: load {t_load * 1000:.0f} ms, predict {t_predict * 1000:.0f} ms, "
        f"explain {t_explain * 1000:.0f} ms",
        file=out,
    )
    return find_problems(card, film, prediction, explanation)


def find_problems(
    card: ModelCard, film: Radiograph, prediction: Prediction, explanation: Explanation
) -> list[str]:
    """What is wrong with a reading of ``film``: labels, probabilities, heatmap shape and range."""
    import numpy as np

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
    return problems
