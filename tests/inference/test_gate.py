"""Gate arithmetic: Mahalanobis scores, the shrinkage fit, the threshold quantile and the verdicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radiview.inference.gate import (
    REASON_COLOR,
    REASON_UNIFORM,
    colorfulness,
    fit_gate,
    gate_verdict,
    ledoit_wolf_covariance,
    mahalanobis_scores,
    threshold_for,
)

GATE = {"method": "mahalanobis", "threshold": 30.0, "min_std": 0.02, "max_colorfulness": 0.08}


def gaussian_clusters(
    n_per_class: int, dim: int, seed: int, noise_seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Three clusters sharing one correlated covariance; ``noise_seed`` draws new samples
    from the same clusters."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 6, (3, dim))
    a = rng.normal(0, 1, (dim, dim)) / np.sqrt(dim)
    cov = a @ a.T + 0.5 * np.eye(dim)  # shared, correlated
    chol = np.linalg.cholesky(cov)
    labels = np.repeat(np.arange(3), n_per_class)
    noise = np.random.default_rng([seed, noise_seed]).normal(0, 1, (len(labels), dim))
    feats = means[labels] + noise @ chol.T
    return feats, labels, means, cov


def test_scores_match_an_explicit_loop() -> None:
    rng = np.random.default_rng(1)
    feats, means = rng.normal(size=(5, 6)), rng.normal(size=(3, 6))
    a = rng.normal(size=(6, 6))
    precision = a @ a.T + np.eye(6)
    expected = [
        min(float(np.sqrt((f - m) @ precision @ (f - m))) for m in means) for f in feats
    ]
    np.testing.assert_allclose(mahalanobis_scores(feats, means, precision), expected, rtol=1e-10)
    # torch float32 input gives the same answer (computed in float64 inside).
    torch_scores = mahalanobis_scores(torch.from_numpy(feats).float(), torch.from_numpy(means), precision)
    np.testing.assert_allclose(torch_scores, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="do not match"):
        mahalanobis_scores(feats[:, :4], means, precision)


def test_fit_gate_on_gaussian_clusters() -> None:
    dim = 8
    feats, labels, true_means, true_cov = gaussian_clusters(2000, dim, seed=2)
    means, precision, threshold = fit_gate(feats, labels, acceptance_rate=0.95)
    assert means.shape == (3, dim) and precision.shape == (dim, dim)
    assert means.dtype == precision.dtype == torch.float32
    np.testing.assert_allclose(means.numpy(), true_means, atol=0.1)
    # Shrinkage is small with 6000 samples in 8-D: close to the true inverse covariance.
    true_precision = np.linalg.inv(true_cov)
    rel = np.linalg.norm(precision.numpy() - true_precision) / np.linalg.norm(true_precision)
    assert rel < 0.1

    fitted = mahalanobis_scores(feats, means, precision)
    assert np.mean(fitted <= threshold) == pytest.approx(0.95, abs=1.0 / len(feats))
    # Chi distribution with 8 d.o.f.: its 95 % quantile is sqrt(15.51) = 3.94.
    assert threshold == pytest.approx(3.94, abs=0.25)

    fresh, _, _, _ = gaussian_clusters(1000, dim, seed=2, noise_seed=1)
    accepted = np.mean(mahalanobis_scores(fresh, means, precision) <= threshold)
    assert accepted == pytest.approx(0.95, abs=0.03)

    far = true_means[0] + 50.0 * np.sqrt(np.diag(true_cov))
    assert mahalanobis_scores(far, means, precision)[0] > 10 * threshold


def test_fit_gate_with_fewer_samples_than_features() -> None:
    rng = np.random.default_rng(4)
    feats = rng.normal(size=(40, 576))
    labels = np.arange(40) % 4
    means, precision, threshold = fit_gate(feats, labels, acceptance_rate=1.0)
    assert np.all(np.isfinite(precision.numpy()))
    np.testing.assert_allclose(precision.numpy(), precision.numpy().T, atol=1e-6)
    assert np.linalg.eigvalsh(precision.double().numpy()).min() > 0  # positive definite
    assert np.all(mahalanobis_scores(feats, means, precision) <= threshold + 1e-6)


def test_ledoit_wolf_shrinks_towards_scaled_identity() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(10, 50))
    x -= x.mean(axis=0)
    cov = ledoit_wolf_covariance(x)
    sample = x.T @ x / 10
    mu = np.trace(sample) / 50
    # A convex combination: the same trace, eigenvalues pulled towards mu.
    assert np.trace(cov) == pytest.approx(np.trace(sample))
    eig = np.linalg.eigvalsh(cov)
    assert eig.min() > 0.05 * mu  # the sample covariance (rank 9) is singular
    assert eig.max() < np.linalg.eigvalsh(sample).max()


def test_fit_gate_rejects_an_empty_class() -> None:
    with pytest.raises(ValueError, match="class 1 has no samples"):
        fit_gate(np.zeros((4, 3)), np.array([0, 0, 2, 2]))


def test_threshold_for_is_the_quantile() -> None:
    scores = np.arange(1, 101, dtype=float)
    assert threshold_for(scores, 0.9) == pytest.approx(90.1)
    with pytest.raises(ValueError):
        threshold_for(scores, 0.0)


def test_verdict_order_and_reasons() -> None:
    assert gate_verdict(5.0, 0.2, GATE).accepted
    uniform = gate_verdict(500.0, 0.001, GATE, was_color=True, color_score=0.9)
    assert (uniform.accepted, uniform.reason) == (False, REASON_UNIFORM)  # cheapest check first
    color = gate_verdict(500.0, 0.2, GATE, was_color=True, color_score=0.3)
    assert (color.accepted, color.reason) == (False, REASON_COLOR)
    assert gate_verdict(5.0, 0.2, GATE, was_color=True, color_score=0.05).accepted
    assert gate_verdict(5.0, 0.2, GATE, was_color=False, color_score=0.9).accepted
    far = gate_verdict(41.24, 0.2, GATE)
    assert not far.accepted and far.score == 41.24
    assert far.reason == (
        "unlike the training films (distance 41.2 > 30.0): lateral view, CT or another kind of image?"
    )
    assert not gate_verdict(float("nan"), 0.2, GATE).accepted
    assert gate_verdict(30.0, 0.2, GATE).accepted  # accepted iff score <= threshold


def test_colorfulness_separates_gray_from_colour() -> None:
    rng = np.random.default_rng(6)
    gray = np.repeat(rng.integers(0, 256, (50, 60, 1), dtype=np.uint8), 3, axis=2)
    assert colorfulness(gray) == 0.0
    photo = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    assert colorfulness(photo) > GATE["max_colorfulness"]
    assert colorfulness(photo.astype(np.float32) / 255.0) == pytest.approx(colorfulness(photo), rel=1e-5)


def test_ledoit_wolf_matches_scikit_learn() -> None:
    covariance = pytest.importorskip("sklearn.covariance")  # installed with grad-cam
    rng = np.random.default_rng(7)
    x = rng.normal(size=(30, 50)) @ rng.normal(size=(50, 50))
    x -= x.mean(axis=0)
    expected, _ = covariance.ledoit_wolf(x, assume_centered=True)
    np.testing.assert_allclose(ledoit_wolf_covariance(x), expected, rtol=1e-10, atol=1e-12)
