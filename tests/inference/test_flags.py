"""Context warnings beside a reading (pure, card-driven) and the wording shared by GUI/CSV/PDF."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from radiview.assets import default_model_dir
from radiview.inference.bundle import read_model_card
from radiview.inference.flags import (
    ADULT,
    AGE_UNKNOWN,
    AP_PORTABLE,
    LOW_CONFIDENCE,
    UNVALIDATED_SOURCE,
    VIEW_UNKNOWN,
    age_years,
    flags_cell,
    heatmap_withheld_reason,
    reading_flags,
)
from radiview.inference.prediction import GateVerdict, Prediction
from radiview.inference.wording import (
    class_title,
    finding_title,
    format_probability,
    human_gate_reason,
)

LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")
DICOM_META = {"transfer_syntax": "Explicit VR Little Endian", "modality": "DX"}
PA = {"view_position": "PA"}


def prediction(*probabilities: float, accepted: bool = True) -> Prediction:
    return Prediction(LABELS, probabilities, GateVerdict(accepted, "" if accepted else "no"), "m@1")


def card(**policy: object) -> SimpleNamespace:
    return SimpleNamespace(
        reading_flags=policy, training_data={"counts": {"test": {"kermany": {}, "ieee8023": {}}}}
    )


def codes(flags: tuple) -> list[str]:  # type: ignore[type-arg]
    return [f.code for f in flags]


def test_one_probability_format() -> None:
    assert format_probability(0.9745) == "97.5 %"
    assert format_probability(0.0) == "0.0 %" and format_probability(1.0) == "100.0 %"
    assert format_probability(1.2) == "100.0 %" and format_probability(float("nan")) == "–"


def test_clinician_words() -> None:
    assert finding_title("normal") == "No pneumonia pattern"
    assert finding_title("covid19") == "COVID-19 pattern"
    assert finding_title("bacterial_pneumonia") == "Bacterial pneumonia pattern"
    assert class_title("viral_pneumonia") == "Viral pneumonia"
    assert class_title("new_label") == "New label"  # unknown labels are tidied, not internal names


def test_gate_distances_become_words_with_the_number_kept() -> None:
    # Issue 21: "does not look like a frontal chest film" was false for 44 refused ICU films.
    honest = (
        "unlike the films the model was trained on "
        "(ICU/portable, unusual exposure, or not a frontal chest film)"
    )
    for raw in (
        "unlike the training films (distance 86.4 > 52.3): lateral view, CT or another kind of image?",
        "unlike the films the model was trained on (distance 86.4 > 52.3): ICU/portable, unusual exposure, "
        "or not a frontal chest film?",
    ):
        text, detail = human_gate_reason(raw)
        assert text == honest and "86.4" not in text
        assert detail == "feature distance 86.4, limit 52.3"
    text, detail = human_gate_reason("layout unlike the training films (spatial distance 50.1 > 44.6): x?")
    assert text == honest and detail == "layout distance 50.1, limit 44.6"
    plain = "colour photograph, not a radiograph"
    assert human_gate_reason(plain) == (plain, "")


@pytest.mark.parametrize(
    ("metadata", "years"),
    [
        ({"age": "081Y"}, 81.0),
        ({"age": "81"}, 81.0),
        ({"PatientAge": "006M"}, 0.5),
        ({"age": "010W"}, 70 / 365.25),
        ({"birth_date": "19500615", "study_date": "2020-06-14"}, 69.9986),
        ({"study_date": "1901-01-01"}, None),  # no age, no birth date: say nothing
        ({"age": "abc"}, None),
        ({"age": "200Y"}, None),
        ({}, None),
    ],
)
def test_age(metadata: dict[str, str], years: float | None) -> None:
    found = age_years(metadata)
    assert found == pytest.approx(years, abs=1e-3) if years is not None else found is None


def test_adult_dicom_gets_adult_and_source_flags() -> None:
    flags = reading_flags(prediction(0.02, 0.0, 0.0, 0.98), {**DICOM_META, **PA, "age": "081Y"}, card())
    assert codes(flags) == [ADULT, UNVALIDATED_SOURCE]
    assert flags[0].text.startswith("adult film: the model calls some normal adults COVID-19")
    assert flags[0].text.endswith("and cannot tell adult pneumonia causes apart")
    assert flags[1].text == "source not validated" and "ieee8023, kermany" in flags[1].detail
    assert flags_cell(flags) == "adult;unvalidated_source"


def test_a_jpeg_says_nothing_so_every_unknown_is_a_warning() -> None:
    # Issue 21: warnings fired only for DICOM, so every JPEG/PNG read as if validated.
    flags = reading_flags(prediction(0.9, 0.05, 0.03, 0.02), {"format": "JPEG"}, card())
    assert codes(flags) == [AGE_UNKNOWN, UNVALIDATED_SOURCE, VIEW_UNKNOWN]
    assert [f.text for f in flags] == [
        "age unknown: the model is unreliable on adults' films",
        "source not validated",
        "view unknown",
    ]
    assert "does not say where it was taken" in flags[1].detail
    # A file name is not evidence: the same film under a telling name gets the same flags.
    named = {"format": "JPEG", "file": "child_PA_age4_kermany.jpeg"}
    assert codes(reading_flags(prediction(0.9, 0.05, 0.03, 0.02), named, card())) == codes(flags)


def test_a_validated_site_model_answers_the_unknowns() -> None:
    jpeg = reading_flags(prediction(0.9, 0.05, 0.03, 0.02), {"format": "JPEG"}, card(), source_validated=True)
    assert jpeg == ()
    adult = {**DICOM_META, "age": "050Y"}
    assert codes(reading_flags(prediction(0.9, 0, 0, 0.1), adult, card(), source_validated=True)) == [ADULT]


def test_child_pa_dicom_from_a_validated_source_gets_nothing() -> None:
    meta = {**DICOM_META, **PA, "age": "004Y", "institution": "Acme General"}
    assert reading_flags(prediction(0.9, 0.05, 0.03, 0.02), meta, card()) != ()
    validated = card(validated_dicom_sources=["Acme General"])
    assert reading_flags(prediction(0.9, 0.05, 0.03, 0.02), meta, validated) == ()


def test_validated_site_and_lifted_codes_come_from_the_card() -> None:
    meta = {**DICOM_META, **PA, "age": "050Y", "institution": "Acme General"}
    assert codes(reading_flags(prediction(0.9, 0, 0, 0.1), meta, card())) == [ADULT, UNVALIDATED_SOURCE]
    lifted = card(validated_dicom_sources=["acme general"], lifted=["adult"])
    assert reading_flags(prediction(0.9, 0, 0, 0.1), meta, lifted) == ()


@pytest.mark.parametrize(
    ("extra", "view"),
    [
        ({"view_position": "AP"}, None),
        ({"series_description": "CHEST PORTABLE"}, None),
        ({"study_description": "xr chest supine"}, None),
        ({}, "AP"),
    ],
)
def test_ap_or_portable(extra: dict[str, str], view: str | None) -> None:
    meta = {"format": "PNG", "age": "6", **extra}
    flags = reading_flags(
        prediction(0.9, 0, 0, 0.1), meta, card(), view_position=view, source_validated=False
    )
    assert codes(flags) == [UNVALIDATED_SOURCE, AP_PORTABLE] and flags[1].text == "view AP/portable"


def test_pa_is_not_flagged_portable() -> None:
    meta = {
        "format": "PNG",
        "view_position": "PA",
        "age": "6",
        "series_description": "view: PA",
        "study_description": "Report",
    }
    assert codes(reading_flags(prediction(0.9, 0, 0, 0.1), meta, card())) == [UNVALIDATED_SOURCE]


def test_low_confidence_uses_the_card_threshold() -> None:
    weak = prediction(0.55, 0.25, 0.1, 0.1)
    flags = reading_flags(weak, {}, card(), source_validated=True)
    assert codes(flags) == [LOW_CONFIDENCE] and "55.0 %" in flags[0].detail and "60.0 %" in flags[0].detail
    assert reading_flags(weak, {}, card(low_confidence_below=0.5), source_validated=True) == ()
    # Judged on step one: a 45 % top class inside a 97 % pneumonia pattern is not low confidence.
    assert reading_flags(prediction(0.03, 0.45, 0.42, 0.10), {}, card(), source_validated=True) == ()


def test_refused_or_missing_reading_has_no_flags() -> None:
    meta = {**DICOM_META, "age": "081Y"}
    assert reading_flags(prediction(0.1, 0.1, 0.1, 0.7, accepted=False), meta, card()) == ()
    assert reading_flags(None, meta, card()) == ()


def test_heatmap_withheld_for_normal_unlikely_and_refused() -> None:
    reading = prediction(0.62, 0.006, 0.008, 0.366)
    assert "No pneumonia" in heatmap_withheld_reason(reading, "normal", card())  # type: ignore[operator]
    reason = heatmap_withheld_reason(reading, "bacterial_pneumonia", card())
    assert reason is not None and "0.6 %" in reason and "10.0 %" in reason
    assert heatmap_withheld_reason(reading, "covid19", card()) is None
    assert heatmap_withheld_reason(prediction(0.1, 0.1, 0.1, 0.7, accepted=False), "covid19", card())


@pytest.mark.realdata
def test_real_card_and_real_dicoms(data_dir: Path) -> None:
    """The bundled card's policy on the shared films: the NIH film of an 81-year-old is adult."""
    from radiview.io import load_radiograph

    real = read_model_card(default_model_dir())
    assert real.reading_flags["lifted"] == []  # nothing lifted until validation says so
    reading = prediction(0.0238, 0.0017, 0.0001, 0.9745)
    nih = load_radiograph(next((data_dir / "dicom").glob("nih-cxr14_*.dcm")))
    flags = reading_flags(reading, nih.metadata, real, nih.view_position)
    assert codes(flags) == [ADULT, UNVALIDATED_SOURCE, VIEW_UNKNOWN]  # the NIH header has no ViewPosition
    assert "Age 81" in flags[0].detail and "cxr_radiography" in flags[1].detail
    # The adult warning in the card's figures: 11 % (nih held out) to 54 % (ieee8023 held out).
    assert "(11–54 % of non-COVID adult films from a hospital it never saw)" in flags[0].text
    assert "54 % with ieee8023 held out" in flags[0].detail
    sample = load_radiograph(next((data_dir / "samples").glob("normal__kermany__*.jpeg")))
    sample_flags = reading_flags(
        prediction(0.9, 0.05, 0.03, 0.02), sample.metadata, real, sample.view_position
    )
    assert codes(sample_flags) == [AGE_UNKNOWN, UNVALIDATED_SOURCE, VIEW_UNKNOWN]


def test_flags_from_a_dicom_header_read_by_io(tmp_path: Path) -> None:
    """io keeps what the flags need: birth date (no PatientAge) and the series description."""
    import numpy as np

    from radiview.io import load_radiograph
    from tests.io.dicom_factory import make_dataset, write_dicom

    pixels = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 7) % 4096
    ds = make_dataset(
        pixels,
        bits_stored=12,
        tags={
            "PatientBirthDate": "19400310",
            "StudyDate": "20200115",
            "SeriesDescription": "CHEST AP PORTABLE",
            "StudyDescription": "XR CHEST 1 VIEW",
            "InstitutionName": "Elsewhere Hospital",
        },
    )
    del ds.PatientAge
    film = load_radiograph(write_dicom(tmp_path / "portable.dcm", ds))
    assert film.metadata["birth_date"] == "1940-03-10"
    assert film.metadata["series_description"] == "CHEST AP PORTABLE"
    flags = reading_flags(prediction(0.1, 0.1, 0.1, 0.7), film.metadata, card(), film.view_position)
    assert codes(flags) == [ADULT, UNVALIDATED_SOURCE, AP_PORTABLE]
    assert "Age 80" in flags[0].detail and "Elsewhere Hospital" in flags[1].detail
