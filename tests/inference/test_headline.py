"""The two-step headline: pneumonia pattern or not (COVID-19 counts), then which cause."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from radiview.assets import default_model_dir
from radiview.inference.bundle import read_model_card
from radiview.inference.headline import (
    build_headline,
    display_probability,
    headline_text,
)
from radiview.inference.prediction import GateVerdict, Prediction

LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")


def prediction(*probabilities: float, accepted: bool = True) -> Prediction:
    return Prediction(LABELS, probabilities, GateVerdict(accepted, "" if accepted else "no"), "m@1")


def test_nih_normal_dicom_reads_as_a_pneumonia_pattern_not_a_bacterial_one() -> None:
    # The figures for the NIH normal DICOM: bacterial 55.7 + viral 40.8 = 96.5 % pneumonia.
    headline = build_headline(prediction(0.035, 0.557, 0.408, 0.0))
    assert headline is not None
    assert headline.pneumonia and not headline.low_confidence
    assert headline.step_one == "Pneumonia pattern (any cause) 96.5 %"
    assert headline.step_two == "most like: bacterial 58 % · viral 42 % · COVID-19 <1 %"
    assert headline.most_like == "bacterial_pneumonia"
    assert headline.one_line() == (
        "Pneumonia pattern (any cause) 96.5 %; most like: bacterial 58 % · viral 42 % · COVID-19 <1 %"
    )


def test_covid19_counts_as_a_pneumonia_cause_in_step_one() -> None:
    # normal is the top class (0.40), yet 60 % of the mass is some pneumonia, COVID-19 most of it.
    headline = build_headline(prediction(0.40, 0.05, 0.10, 0.45))
    assert headline is not None and headline.pneumonia
    assert headline.pneumonia_probability == pytest.approx(0.60)
    assert headline.step_one == "Pneumonia pattern (any cause) 60.0 %"
    assert headline.step_two.startswith("most like: COVID-19 75 % · viral 17 % · bacterial 8 %")


def test_low_confidence_is_judged_on_step_one() -> None:
    # Top class 0.45 (< 0.6) but step one is 0.97: confident pneumonia, unsure cause.
    confident = build_headline(prediction(0.03, 0.45, 0.42, 0.10))
    assert confident is not None and not confident.low_confidence
    unsure = build_headline(prediction(0.55, 0.20, 0.15, 0.10))
    assert unsure is not None and not unsure.pneumonia and unsure.low_confidence
    assert unsure.lines() == (
        "No pneumonia pattern 55.0 % · low confidence",
        "if pneumonia, most like: bacterial 44 % · viral 33 % · COVID-19 22 %",
    )
    strict = build_headline(
        prediction(0.03, 0.45, 0.42, 0.10), SimpleNamespace(reading_flags={"low_confidence_below": 0.98})
    )
    assert strict is not None and strict.low_confidence


def test_confident_no_pneumonia_has_no_step_two_and_is_capped() -> None:
    headline = build_headline(prediction(0.997, 0.001, 0.001, 0.001))
    assert headline is not None
    assert headline.lines() == ("No pneumonia pattern >99 %",)


def test_refused_or_missing_films_have_no_headline() -> None:
    assert build_headline(prediction(0.7, 0.1, 0.1, 0.1, accepted=False)) is None
    assert build_headline(None) is None
    assert headline_text(None) == ""


def test_display_probability_caps_at_99_percent() -> None:
    assert display_probability(0.9968) == ">99 %"
    assert display_probability(0.99) == "99.0 %"
    assert display_probability(0.0049) == "<1 %"
    assert display_probability(0.5) == "50.0 %" and display_probability(0.5, 0) == "50 %"
    assert display_probability(float("nan")) == "–"


def test_the_bundled_card_sets_the_low_confidence_limit() -> None:
    card = read_model_card(default_model_dir())
    headline = build_headline(prediction(0.41, 0.30, 0.20, 0.09), card)
    limit = float(card.reading_flags.get("low_confidence_below", 0.6))
    assert headline is not None and headline.low_confidence_below == limit
    assert headline.low_confidence == (limit > 0.59)


def test_risk_order_covid_then_pneumonia_then_unsure_then_unread_then_normal() -> None:
    from radiview.inference.headline import risk_key

    films = {
        "normal": risk_key("ok", prediction(0.97, 0.01, 0.01, 0.01)),
        "unsure": risk_key("ok", prediction(0.55, 0.2, 0.15, 0.1)),
        "covid": risk_key("ok", prediction(0.1, 0.1, 0.1, 0.7)),
        "weak_pneumonia": risk_key("ok", prediction(0.4, 0.3, 0.2, 0.1)),
        "pneumonia": risk_key("ok", prediction(0.05, 0.6, 0.3, 0.05)),
        "refused": risk_key("refused", prediction(0.25, 0.25, 0.25, 0.25, accepted=False)),
        "error": risk_key("error", None),
    }
    order = sorted(films, key=films.__getitem__)
    assert order == ["covid", "pneumonia", "weak_pneumonia", "unsure", "refused", "error", "normal"]
    # The row's own flag wins over the default limit (the engine judged it with the card's).
    assert risk_key("ok", prediction(0.7, 0.1, 0.1, 0.1), low_confidence=True) < films["refused"]
