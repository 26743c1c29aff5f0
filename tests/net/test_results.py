"""DICOM results (highdicom SC + SR) built from a film, read back with pydicom (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from radiview.inference.prediction import GateVerdict, Prediction
from radiview.io import load_radiograph
from radiview.net.results import (
    build_secondary_capture,
    build_structured_report,
    read_back,
    render_result_rgb,
)

LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")


@pytest.fixture()
def source(net_helpers: Any, tmp_path: Any) -> Any:
    path = tmp_path / "film.dcm"
    net_helpers.make_film(path, size=(200, 180))
    return path


def _items(sr: Any) -> dict[str, Any]:
    return {item.ConceptNameCodeSequence[0].CodeMeaning: item for item in sr.ContentSequence}


def test_sr_for_a_refused_film_carries_the_gate_reason_and_no_top_class(source: Any) -> None:
    import pydicom

    film = pydicom.dcmread(source, stop_before_pixels=True)
    refused = Prediction(LABELS, (0.25, 0.25, 0.25, 0.25), GateVerdict(False, "lateral view"), "m@1.0")
    sr = read_back(build_structured_report(film, refused, "m", "1.0"))
    items = _items(sr)
    assert items["Input gate refusal reason"].TextValue == "lateral view"
    assert "Top class" not in items
    assert sr.StudyInstanceUID == film.StudyInstanceUID and sr.SeriesInstanceUID != film.SeriesInstanceUID
    assert sr.SOPInstanceUID != film.SOPInstanceUID and sr.PatientID == film.PatientID
    assert sr.CurrentRequestedProcedureEvidenceSequence[0].StudyInstanceUID == film.StudyInstanceUID

    rgb = render_result_rgb(load_radiograph(source), refused, None)
    sc = read_back(build_secondary_capture(film, rgb, refused))
    assert "refused by the input gate: lateral view" in sc.ImageComments
    assert sc.pixel_array.shape == (200, 180, 3)
    # The reading and the notice are burned in: a black band with white text at the bottom.
    band = sc.pixel_array[-12:]
    assert (band == 0).mean() > 0.5 and band.max() > 200


def test_sr_for_an_accepted_film_has_the_four_probabilities_and_the_top_class(source: Any) -> None:
    import pydicom

    film = pydicom.dcmread(source, stop_before_pixels=True)
    accepted = Prediction(LABELS, (0.1, 0.6, 0.2, 0.1), GateVerdict(True), "m@1.0")
    items = _items(read_back(build_structured_report(film, accepted, "m", "1.0")))
    values = [
        float(items[f"Calibrated probability of {label}"].MeasuredValueSequence[0].NumericValue)
        for label in LABELS
    ]
    assert values == [0.1, 0.6, 0.2, 0.1]
    top = items["Top class"].ConceptCodeSequence[0]
    # Codes over 16 characters go to LongCodeValue (CodeValue is SH): highdicom picks the right one.
    assert top.get("CodeValue", top.get("LongCodeValue")) == "bacterial_pneumonia"
    assert items["Algorithm Version"].TextValue == "1.0"
