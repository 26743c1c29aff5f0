"""Evaluation arithmetic, temperature scaling and ECE against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibrate import expected_calibration_error, fit_temperature, nll, softmax
from training.data.sources import Record
from training.evaluate import (
    bootstrap_ci,
    confusion_matrix,
    macro_auc,
    per_class_rates,
    roc_auc,
    roc_curve,
    shortcut_check,
    summarize,
)


def test_confusion_and_rates_by_hand() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])
    y_pred = np.array([0, 0, 1, 1, 2, 2, 2, 2, 0, 3])
    cm = confusion_matrix(y_true, y_pred, 4)
    assert cm.tolist() == [[2, 1, 0, 0], [0, 1, 1, 0], [1, 0, 3, 0], [0, 0, 0, 1]]
    rates = per_class_rates(cm)
    # class 0: TP 2, FN 1, FP 1, TN 6
    assert rates["sensitivity"][0] == pytest.approx(2 / 3)
    assert rates["specificity"][0] == pytest.approx(6 / 7)
    assert rates["ppv"][0] == pytest.approx(2 / 3)
    # class 2: TP 3, FN 1, FP 1, TN 5
    assert rates["sensitivity"][2] == pytest.approx(3 / 4)
    assert rates["specificity"][2] == pytest.approx(5 / 6)
    assert rates["ppv"][2] == pytest.approx(3 / 4)


def test_auc_by_hand_with_ties() -> None:
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    positive = np.array([False, False, True, True, True])
    # positive/negative pairs: (0.35 vs 0.1 ✓, 0.35 vs 0.4 ✗), (0.8 ✓ ✓), (0.4 vs 0.1 ✓, 0.4 vs 0.4 tie ½)
    assert roc_auc(scores, positive) == pytest.approx((1 + 0 + 1 + 1 + 1 + 0.5) / 6)
    assert roc_auc(-scores, positive) == pytest.approx(1 - 4.5 / 6)
    assert np.isnan(roc_auc(scores, np.ones(5, dtype=bool)))


def test_auc_matches_brute_force_pair_count() -> None:
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(200), 2)  # many ties
    positive = rng.random(200) < 0.3
    pos, neg = scores[positive], scores[~positive]
    wins = (pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()
    brute = wins / (len(pos) * len(neg))
    assert roc_auc(scores, positive) == pytest.approx(brute)


def test_roc_curve_endpoints_and_area() -> None:
    rng = np.random.default_rng(1)
    scores = rng.random(100)
    positive = rng.random(100) < 0.4
    fpr, tpr = roc_curve(scores, positive)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(scores, positive))


def test_summary_and_macro_auc_on_perfect_predictions() -> None:
    y = np.array([0, 1, 2, 3, 0, 1])
    probs = np.eye(4)[y] * 0.9 + 0.025
    s = summarize(probs, y)
    assert s["accuracy"] == 1.0 and s["macro_auc"] == 1.0
    expected = {"n": 1, "sensitivity": 1.0, "specificity": 1.0, "ppv": 1.0, "auc": 1.0}
    assert s["per_class"]["covid19"] == expected
    assert macro_auc(probs[:, ::-1], y) < 0.5


def test_bootstrap_ci_brackets_the_point_estimate_and_resamples_patients() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 300)
    probs = softmax(np.eye(4)[y] * 2 + rng.normal(0, 1, (300, 4)))
    acc = (probs.argmax(1) == y).mean()
    ci = bootstrap_ci(probs, y, [f"p{i // 3}" for i in range(300)], n_boot=200, seed=0)
    lo, hi = ci["accuracy"]
    assert lo < acc < hi and hi - lo < 0.25
    one_patient = bootstrap_ci(probs, y, ["same"] * 300, n_boot=50)
    assert one_patient["accuracy"][0] == one_patient["accuracy"][1] == pytest.approx(acc, abs=1e-4)


def test_shortcut_check_counts_adult_normals_called_covid() -> None:
    recs = [Record(str(i), "normal", "cxr_radiography", f"c:{i}") for i in range(4)]
    recs += [Record("k", "normal", "kermany", "kermany:1")]
    y = np.zeros(5, dtype=int)
    probs = np.array([[0.1, 0, 0, 0.9], [0.9, 0, 0, 0.1], [0.9, 0, 0, 0.1], [0.9, 0, 0, 0.1], [0, 0, 0, 1.0]])
    out = shortcut_check(probs, y, recs)
    assert out["cxr_radiography_normal_called_covid19"] == {"n": 4, "called_covid19": 0.25}
    assert out["pediatric_called_covid19"] == {"n": 1, "called_covid19": 1.0}


def test_temperature_fit_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2.0, size=(4000, 4))
    y = np.array([rng.choice(4, p=p) for p in softmax(true_logits)])
    overconfident = true_logits * 2.5  # a model whose logits are 2.5× too large
    t = fit_temperature(overconfident, y)
    assert t == pytest.approx(2.5, rel=0.08)
    assert nll(overconfident, y, t) < nll(overconfident, y, 1.0)


def test_ece_by_hand() -> None:
    # two bins used: confidence 0.9 (3 films, 2 right) and 0.6 (2 films, 2 right)
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    y = np.array([0, 0, 1, 0, 1])
    expected = 3 / 5 * abs(2 / 3 - 0.9) + 2 / 5 * abs(1.0 - 0.6)
    assert expected_calibration_error(probs, y, n_bins=15) == pytest.approx(expected)
    assert expected_calibration_error(np.array([[1.0, 0.0]]), np.array([0])) == pytest.approx(0.0)


def test_temperature_scaling_lowers_ece_of_an_overconfident_model() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 1.5, size=(3000, 4))
    y = np.array([rng.choice(4, p=p) for p in softmax(logits)])
    sharp = logits * 3
    t = fit_temperature(sharp, y)
    before = expected_calibration_error(softmax(sharp), y)
    assert expected_calibration_error(softmax(sharp, t), y) < before / 2
