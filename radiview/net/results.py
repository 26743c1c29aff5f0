"""The AI result as DICOM, for the PACS: a Secondary Capture and a Comprehensive SR (highdicom).

Both go into the source film's study, each in a new series with new UIDs, so any viewer
shows them next to the film. The SC carries the film, the Grad-CAM heatmap and the research
notice burned into the pixels; the SR carries the four calibrated probabilities, the top
class or the input gate's refusal reason, the model's name and version, and a reference to
the source image. Every object is checked by reading it back with pydicom before it is sent.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radiview import RESEARCH_NOTICE, __version__
from radiview.net.errors import PacsError

log = logging.getLogger("radiview.net.results")

SCHEME = "99RADIVIEW"  # private coding scheme for RadiView's own concepts
MANUFACTURER = "RadiView"
SC_SERIES_NUMBER = 9901
SR_SERIES_NUMBER = 9902
MAX_SC_SIDE = 2048  # keep the SC a viewer-friendly size
_SERIES_NOTE = "RadiView AI (research, not for diagnosis)"


@dataclass(frozen=True)
class ResultObjects:
    secondary_capture: Any
    structured_report: Any


@contextmanager
def _quiet_person_names() -> Iterator[None]:
    """highdicom warns about odd PatientName values and quotes them: patient data in a log."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The string .* person name", category=UserWarning)
        yield


def _code(value: str, meaning: str, scheme: str = SCHEME) -> Any:
    import highdicom as hd

    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _reading(prediction: Any) -> str:
    if prediction.accepted:
        top = prediction.top_label
        return f"{top} p={prediction.probability(top):.2f}"
    return f"refused by the input gate: {prediction.gate.reason}"


def render_result_rgb(
    radiograph: Any, prediction: Any, explanation: Any, opacity: float = 0.45
) -> np.ndarray:
    """The windowed film, its heatmap and two burned-in lines: the reading and the notice."""
    from PIL import Image, ImageDraw, ImageFont

    from radiview.io.windowing import apply_window
    from radiview.render import composite_heatmap

    gray = apply_window(radiograph.pixels, radiograph.default_window)
    if explanation is not None:
        rgba = np.asarray(composite_heatmap(gray, explanation.heatmap, opacity, "jet"))
        image = Image.fromarray(rgba).convert("RGB")
    else:
        image = Image.fromarray(gray).convert("RGB")
    image.thumbnail((MAX_SC_SIDE, MAX_SC_SIDE), Image.Resampling.BILINEAR)
    size = max(10, image.width // 45)
    font = ImageFont.load_default(size=size)
    draw = ImageDraw.Draw(image)
    lines = [f"RadiView {prediction.model}: {_reading(prediction)}", RESEARCH_NOTICE]
    y: float = image.height - 4
    for text in reversed(lines):
        bbox = draw.textbbox((4, y), text, font=font, anchor="ls")
        draw.rectangle((0, bbox[1] - 3, image.width, bbox[3] + 3), fill=(0, 0, 0))
        draw.text((4, y), text, font=font, fill=(255, 255, 255), anchor="ls")
        y = bbox[1] - 6
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def build_secondary_capture(source: Any, rgb: np.ndarray, prediction: Any) -> Any:
    import highdicom as hd

    orientation = tuple(source.get("PatientOrientation") or ("L", "F"))
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source,
        pixel_array=rgb,
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        series_instance_uid=hd.UID(),
        series_number=SC_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        patient_orientation=orientation[:2] if len(orientation) >= 2 else ("L", "F"),
    )
    sc.SeriesDescription = f"Heatmap - {_SERIES_NOTE}"
    sc.ImageComments = f"{_reading(prediction)}. {RESEARCH_NOTICE}"
    sc.BurnedInAnnotation = "YES"
    sc.SoftwareVersions = __version__
    sc.DerivationDescription = "Grad-CAM model attention over the source film (not lesion localisation)"
    return sc


def _sr_items(source: Any, prediction: Any, model_name: str, model_version: str) -> list[Any]:
    import highdicom as hd

    contains = hd.sr.RelationshipTypeValues.CONTAINS
    items: list[Any] = [
        hd.sr.TextContentItem(
            name=_code("RV-NOTICE", "Research notice"), value=RESEARCH_NOTICE, relationship_type=contains
        ),
        hd.sr.TextContentItem(
            name=_code("111001", "Algorithm Name", "DCM"), value=model_name, relationship_type=contains
        ),
        hd.sr.TextContentItem(
            name=_code("111003", "Algorithm Version", "DCM"), value=model_version, relationship_type=contains
        ),
    ]
    for label, probability in zip(prediction.labels, prediction.probabilities, strict=True):
        items.append(
            hd.sr.NumContentItem(
                name=_code(f"RV-P-{label}", f"Calibrated probability of {label}"),
                value=round(float(probability), 4),
                unit=_code("1", "no units", "UCUM"),
                relationship_type=contains,
            )
        )
    if prediction.accepted:
        top = str(prediction.top_label)
        items.append(
            hd.sr.CodeContentItem(
                name=_code("RV-TOP", "Top class"), value=_code(top, top), relationship_type=contains
            )
        )
    else:
        items.append(
            hd.sr.TextContentItem(
                name=_code("RV-REFUSED", "Input gate refusal reason"),
                value=prediction.gate.reason or "refused",
                relationship_type=contains,
            )
        )
    items.append(
        hd.sr.ImageContentItem(
            name=_code("121112", "Source of Measurement", "DCM"),
            referenced_sop_class_uid=source.SOPClassUID,
            referenced_sop_instance_uid=source.SOPInstanceUID,
            relationship_type=contains,
        )
    )
    return items


def build_structured_report(source: Any, prediction: Any, model_name: str, model_version: str) -> Any:
    import highdicom as hd

    container = hd.sr.ContainerContentItem(name=_code("RV-RESULT", "RadiView AI second reading"))
    container.ContentSequence = hd.sr.ContentSequence(
        _sr_items(source, prediction, model_name, model_version)
    )
    sr = hd.sr.ComprehensiveSR(
        evidence=[source],
        content=container,
        series_instance_uid=hd.UID(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
    )
    sr.SeriesDescription = f"Result - {_SERIES_NOTE}"
    return sr


def read_back(dataset: Any) -> Any:
    """Write to bytes and parse again with pydicom; PacsError if the object does not survive."""
    import pydicom

    buffer = io.BytesIO()
    try:
        dataset.save_as(buffer, enforce_file_format=True)
        parsed = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
        if parsed.SOPInstanceUID != dataset.SOPInstanceUID:
            raise ValueError("SOP Instance UID changed")
        if "PixelData" in dataset:
            parsed.pixel_array  # noqa: B018  (decodes: the pixels must be readable)
    except Exception as exc:
        raise PacsError(f"the result object does not read back with pydicom: {exc}") from exc
    return parsed


def build_results(film_path: str | os.PathLike[str], classifier: Any) -> ResultObjects:
    """Read the film, run the model with Grad-CAM, build and check the SC and the SR."""
    import pydicom

    from radiview.io import load_radiograph

    path = Path(film_path)
    source = pydicom.dcmread(path, stop_before_pixels=True)
    radiograph = load_radiograph(path)
    prediction, explanation = classifier.analyze(radiograph)
    card = classifier.card
    rgb = render_result_rgb(radiograph, prediction, explanation)
    with _quiet_person_names():
        sc = build_secondary_capture(source, rgb, prediction)
        sr = build_structured_report(source, prediction, card.name, card.version)
    read_back(sc)
    read_back(sr)
    return ResultObjects(sc, sr)


def send_results(connection: Any, film_path: str | os.PathLike[str], classifier: Any) -> ResultObjects:
    """Build the SC + SR for one film and store both (C-STORE or STOW-RS)."""
    objects = build_results(film_path, classifier)
    connection.store([objects.secondary_capture, objects.structured_report])
    log.info("results stored: SC and SR in the source study")
    return objects
