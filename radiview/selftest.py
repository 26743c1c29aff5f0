"""``radiview --self-test``: load the model (hash checked), predict and explain a synthetic film.

Checks an installed or frozen build end to end without any real film; exit 0 if all is sane.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

from radiview import RESEARCH_NOTICE, __version__
from radiview.errors import RadiviewError
from radiview.inference.loader import load_classifier

log = logging.getLogger("radiview.selftest")

EXIT_OK, EXIT_FAILED = 0, 1


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
