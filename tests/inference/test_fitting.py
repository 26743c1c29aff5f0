"""The fitting and metric arithmetic the app and training share, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from radiview.inference.fitting_calibration import (
    fit_temperature,
    nll,
    softmax,
    threshold_for_specificity,
)
from radiview.inference.metrics import binary_rates, bootstrap_interval, set_membership
from radiview.inference.prediction import GateVerdict, Prediction, decide_index
from radiview.site.fit import tail_thresholds
from radiview.site.labels import split_patients
from radiview.site.measure import calibration_view

LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")


def test_binary_rates_by_hand() -> None:
    called = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    truth = np.array([1, 0, 1, 0, 1, 0], dtype=bool)
    # TP 2, FP 1, FN 1, TN 2
    assert binary_rates(called, truth) == pytest.approx(
        {"sensitivity": 2 / 3, "specificity": 2 / 3, "ppv": 2 / 3, "npv": 2 / 3}
    )


def test_set_valued_truth_is_positive_inside_negative_outside_and_left_out_otherwise() -> None:
    truth = [frozenset([1, 2]), frozenset([1]), frozenset([0]), frozenset([3])]
    pos, neg = set_membership(truth, frozenset([1]))  # "bacterial": a "pneumonia" film says nothing
    assert pos.tolist() == [False, True, False, False] and neg.tolist() == [False, False, True, True]
    pos, neg = set_membership(truth, frozenset([1, 2]))  # "pneumonia" as a set
    assert pos.tolist() == [True, True, False, False] and neg.tolist() == [False, False, True, True]


def test_calibration_view_merges_a_set_valued_label_into_one_class() -> None:
    probs = np.array([[0.2, 0.5, 0.3, 0.0], [0.7, 0.1, 0.1, 0.1]])
    grouped, mask = calibration_view(probs, [frozenset([1, 2]), frozenset([0])], 4)
    np.testing.assert_allclose(grouped, [[0.8, 0.2, 0.0], [0.2, 0.7, 0.1]])
    assert mask.tolist() == [[True, False, False], [False, True, False]]


def test_operating_points_decide_covid_then_pneumonia_then_what_is_left() -> None:
    points = {"covid19": 0.3, "pneumonia": 0.6}
    assert decide_index([0.5, 0.1, 0.05, 0.35], LABELS, points) == 3  # covid at 0.35 >= 0.3
    assert decide_index([0.35, 0.4, 0.25, 0.0], LABELS, points) == 1  # pneumonia 0.65: the likelier
    assert decide_index([0.3, 0.35, 0.2, 0.15], LABELS, points) == 0  # pneumonia 0.55 < 0.6: normal
    assert decide_index([0.3, 0.35, 0.2, 0.15], LABELS, {}) == 1  # no points: argmax
    assert decide_index([0.3, 0.25, 0.2, 0.25], LABELS, {"covid19": 0.3}) == 0
    prediction = Prediction(LABELS, (0.5, 0.1, 0.05, 0.35), GateVerdict(True), "m", tuple(points.items()))
    assert prediction.top_label == "covid19"
    refused = Prediction(LABELS, (0.5, 0.1, 0.05, 0.35), GateVerdict(False, "x"), "m", tuple(points.items()))
    assert refused.top_label is None


def test_threshold_for_specificity_keeps_the_target_share_of_negatives_below() -> None:
    negatives = np.arange(1, 21) / 100.0  # 0.01 … 0.20
    scores = np.r_[negatives, [0.5, 0.9]]
    t = threshold_for_specificity(scores, negatives, 0.95)
    assert (negatives < t).mean() >= 0.95 and t == pytest.approx(0.20)
    assert (negatives < threshold_for_specificity(scores, negatives, 1.0)).all()


def test_set_valued_temperature_fit_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 4))
    probs = softmax(logits, 2.0)
    drawn = np.array([rng.choice(4, p=p) for p in probs])
    mask = np.zeros((4000, 4), dtype=bool)
    mask[np.arange(4000), drawn] = True
    mask[drawn == 1, 2] = True  # bacterial and viral films reported as "pneumonia"
    mask[drawn == 2, 1] = True
    t = fit_temperature(logits, mask)
    assert t == pytest.approx(2.0, rel=0.08)
    assert nll(logits, mask, t) < nll(logits, mask, 1.0)


def test_tail_thresholds_lie_beyond_the_sample_and_grow_with_the_quantile() -> None:
    rng = np.random.default_rng(1)
    d = np.sqrt(rng.chisquare(50, (300, 2)))
    t999, t9999 = tail_thresholds(d, 0.999), tail_thresholds(d, 0.9999)
    assert (t999 >= d.max(axis=0)).all() and (t9999 >= t999).all() and (t9999 > t999).any()
    # a chi-square(50) distance's 99.9th percentile is sqrt(86.66) = 9.31 (400 films: beyond their max)
    assert tail_thresholds(np.sqrt(rng.chisquare(50, (400, 1))), 0.999)[0] == pytest.approx(9.31, rel=0.05)


def test_patient_split_keeps_patients_whole_and_strata_on_both_sides() -> None:
    labels = ["normal"] * 40 + ["covid19"] * 20
    patients = [f"p{i // 2}" for i in range(60)]
    check = split_patients(labels, patients, 0.5, seed=3)
    for p in set(patients):
        sides = {bool(check[i]) for i in range(60) if patients[i] == p}
        assert len(sides) == 1
    for label in ("normal", "covid19"):
        share = np.mean([check[i] for i in range(60) if labels[i] == label])
        assert 0.3 <= share <= 0.7


def test_bootstrap_interval_resamples_patients_not_films() -> None:
    # two patients, each with many identical films: a film-level bootstrap would give a narrow CI
    values = np.array([1.0] * 50 + [0.0] * 50)
    groups = ["a"] * 50 + ["b"] * 50
    ((lo, hi),) = bootstrap_interval(lambda idx: [values[idx].mean()], groups, n_boot=400)
    assert lo == 0.0 and hi == 1.0
