"""A film's annotations as a DICOM Grayscale Softcopy Presentation State (highdicom).

A PACS viewer shows a GSPS over the original image, so a reader's marks travel with the study
without touching its pixels. Every RadiView annotation becomes graphic objects in PIXEL units
(film column, row) on one layer, with its measured value as a text object; the displayed
window goes in as the VOI transformation. Only for a DICOM film (the GSPS references it).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from radiview import __version__
from radiview.atomic import atomic_path
from radiview.errors import ReportError
from radiview.gui.tools import Annotation, describe
from radiview.io.radiograph import Radiograph, Window

log = logging.getLogger("radiview.gui")

LAYER = "RADIVIEW"


def _objects(annotation: Annotation, radiograph: Radiograph) -> tuple[list[Any], list[Any]]:
    from highdicom.pr import GraphicObject, TextObject

    points = [(float(p[0]), float(p[1])) for p in annotation.points]
    kind, graphics = annotation.kind, []

    def line(*pts: tuple[float, float]) -> None:
        graphics.append(GraphicObject("POLYLINE", np.array(pts, dtype=np.float64), "PIXEL"))

    if kind in ("length", "arrow"):
        line(points[0], points[1])
    elif kind == "angle":
        line(points[0], points[1], points[2])
    elif kind == "ctr":
        line(points[0], points[1])
        line(points[2], points[3])
    elif kind == "roi_rect":
        (x0, y0), (x1, y1) = points
        line((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))
    elif kind == "roi_ellipse":
        (x0, y0), (x1, y1) = points
        cx, cy, a, b = (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2
        horizontal = [(cx - a, cy), (cx + a, cy)]
        vertical = [(cx, cy - b), (cx, cy + b)]
        axes = horizontal + vertical if a >= b else vertical + horizontal  # major axis first
        graphics.append(GraphicObject("ELLIPSE", np.array(axes, dtype=np.float64), "PIXEL"))
    label = " ".join(describe(annotation, radiograph).split())
    anchor = points[-1] if kind != "text" else points[0]
    texts = [TextObject(label[:1024], "PIXEL", anchor_point=anchor)] if label else []
    return graphics, texts


def build_gsps(
    source: str | os.PathLike[str],
    annotations: Sequence[Annotation],
    radiograph: Radiograph,
    window: Window | None,
) -> Any:
    """The GSPS data set for ``annotations`` on the DICOM film at ``source``."""
    import pydicom
    from highdicom import UID
    from highdicom.pr import (
        GraphicAnnotation,
        GraphicLayer,
        GrayscaleSoftcopyPresentationState,
        SoftcopyVOILUTTransformation,
    )

    image = pydicom.dcmread(source, stop_before_pixels=True)
    layer = GraphicLayer(LAYER, order=1, description="RadiView annotations")
    graphics: list[Any] = []
    texts: list[Any] = []
    for annotation in annotations:
        more_graphics, more_texts = _objects(annotation, radiograph)
        graphics += more_graphics
        texts += more_texts
    group = GraphicAnnotation([image], layer, graphic_objects=graphics or None, text_objects=texts or None)
    voi = (
        [SoftcopyVOILUTTransformation(window_center=window.center, window_width=window.width)]
        if window
        else None
    )
    return GrayscaleSoftcopyPresentationState(
        referenced_images=[image],
        series_instance_uid=UID(),
        series_number=9901,
        sop_instance_uid=UID(),
        instance_number=1,
        manufacturer="RadiView",
        manufacturer_model_name="RadiView",
        software_versions=__version__,
        device_serial_number="0",
        content_label="RADIVIEW",
        content_description="Reader annotations (research software, not for diagnosis)",
        graphic_layers=[layer],
        graphic_annotations=[group],
        voi_lut_transformations=voi,
    )


def write_gsps(
    source: str | os.PathLike[str],
    annotations: Sequence[Annotation],
    radiograph: Radiograph,
    out: str | os.PathLike[str],
    window: Window | None = None,
) -> Path:
    """Write the GSPS atomically; ReportError names the film when it cannot be built."""
    out = Path(out)
    if radiograph.kind != "dicom":
        raise ReportError("a presentation state needs a DICOM film (this one is an image file)", source)
    if not annotations:
        raise ReportError("the film has no annotations to export", source)
    try:
        with warnings.catch_warnings(record=True) as caught:  # highdicom's notes go to our log
            warnings.simplefilter("always")
            gsps = build_gsps(source, annotations, radiograph, window)
    except (AttributeError, KeyError, ValueError, TypeError) as exc:
        raise ReportError(f"cannot build a presentation state for this film: {exc}", source) from None
    for warning in caught:
        log.info("GSPS for %s: %s", Path(source).name, warning.message)
    with atomic_path(out) as tmp:
        gsps.save_as(tmp, enforce_file_format=True)
    return out
