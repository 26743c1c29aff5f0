"""Gate arithmetic: Mahalanobis scores, the shrinkage fit, the threshold quantile and the verdicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radiview.inference.gate import (
    REASON_COLOR,
    REASON_UNIFORM,
    GateFacts,
    SpatialGate,
    colorfulness,
    fit_gate,
    fit_spatial_projection,
    gate_verdict,
    joint_thresholds,
    ledoit_wolf_covariance,
    mahalanobis_scores,
    spatial_cells,
    spatial_descriptor,
    threshold_for,
    view_position_reason,
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
    expected = [min(float(np.sqrt((f - m) @ precision @ (f - m))) for m in means) for f in feats]
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
    uniform = gate_verdict(500.0, 0.001, GATE, GateFacts(was_color=True, colorfulness=0.9))
    assert (uniform.accepted, uniform.reason) == (False, REASON_UNIFORM)  # cheapest check first
    color = gate_verdict(500.0, 0.2, GATE, GateFacts(was_color=True, colorfulness=0.3))
    assert (color.accepted, color.reason) == (False, REASON_COLOR)
    assert gate_verdict(5.0, 0.2, GATE, GateFacts(was_color=True, colorfulness=0.05)).accepted
    assert gate_verdict(5.0, 0.2, GATE, GateFacts(was_color=False, colorfulness=0.9)).accepted
    far = gate_verdict(41.24, 0.2, GATE)
    assert not far.accepted and far.score == 41.24
    assert far.reason == (
        "unlike the films the model was trained on (distance 41.2 > 30.0): "
        "ICU/portable, unusual exposure, or not a frontal chest film?"
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


# -- the layout check ----------------------------------------------------------------------------


def layout_maps(n: int, seed: int, mirrored: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(N, 8, 6, 6) activation maps and labels (2 classes). Channels 0-3 fire on the left half and 4-7 on
    the right half (a "frontal" layout); ``mirrored`` swaps the halves. Mirroring moves every activation
    within its row, so the globally pooled features of the two layouts have the same distribution."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    maps = rng.normal(0.0, 0.3, (n, 8, 6, 6))
    maps[:, :4, :, :3] += 2.0
    maps[:, 4:, :, 3:] += 2.0
    maps[labels == 1, 0] += 0.5  # a class difference that is the same in both layouts
    if mirrored:
        maps = maps[..., ::-1].copy()
    return maps, labels


def test_layout_check_refuses_what_global_pooling_cannot_see() -> None:
    train, labels = layout_maps(2000, seed=11)
    val, _ = layout_maps(500, seed=12)
    ood, _ = layout_maps(200, seed=13, mirrored=True)
    pooled = {k: v.mean(axis=(2, 3)) for k, v in (("train", train), ("val", val), ("ood", ood))}
    np.testing.assert_allclose(pooled["ood"].mean(axis=0), pooled["train"].mean(axis=0), atol=0.05)

    means, precision, _ = fit_gate(pooled["train"], labels)
    cells = {
        k: spatial_cells(torch.from_numpy(v), (2, 2))
        for k, v in (("train", train), ("val", val), ("ood", ood))
    }
    projection = fit_spatial_projection(cells["train"], 4)
    s_means, s_precision, _ = fit_gate(spatial_descriptor(cells["train"], projection), labels)
    spatial = SpatialGate((2, 2), projection.double(), s_means.double(), s_precision.double())

    val_global = mahalanobis_scores(pooled["val"], means, precision)
    val_scores = np.stack([val_global, spatial.scores(cells["val"])], axis=1)
    threshold, spatial_threshold = joint_thresholds(val_scores, 0.99)
    old_gate = {"method": "mahalanobis", "threshold": threshold_for(val_scores[:, 0], 0.99), "min_std": 0.0}
    new_gate = {
        "method": "mahalanobis",
        "threshold": threshold,
        "min_std": 0.0,
        "spatial": {"grid": [2, 2], "channels": 4, "threshold": spatial_threshold},
    }

    ood_global = mahalanobis_scores(pooled["ood"], means, precision)
    ood_spatial = spatial.scores(cells["ood"])
    old = [gate_verdict(g, 0.2, old_gate).accepted for g in ood_global]
    new = [
        gate_verdict(g, 0.2, new_gate, spatial_score=s) for g, s in zip(ood_global, ood_spatial, strict=True)
    ]
    assert np.mean(old) > 0.9  # pooled features: the mirrored films look typical
    assert not any(v.accepted for v in new)
    assert new[0].reason.startswith("layout unlike the films the model was trained on (spatial distance")
    assert new[0].score == pytest.approx(ood_global[0])  # the verdict's score stays the global distance
    # The same films in the trained layout pass both checks.
    fresh, _ = layout_maps(500, seed=14)
    fresh_cells = spatial_cells(torch.from_numpy(fresh), (2, 2))
    fresh_ok = [
        gate_verdict(g, 0.2, new_gate, spatial_score=s).accepted
        for g, s in zip(
            mahalanobis_scores(fresh.mean(axis=(2, 3)), means, precision),
            spatial.scores(fresh_cells),
            strict=True,
        )
    ]
    assert np.mean(fresh_ok) == pytest.approx(0.99, abs=0.02)


def test_spatial_cells_and_descriptor_layout() -> None:
    fmap = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    cells = spatial_cells(fmap, (2, 2))
    assert cells.shape == (2, 3, 2, 2)
    assert cells[1, 2, 0, 1] == fmap[1, 2, :2, 2:].mean()
    projection = torch.eye(3)[:, :2]  # keep channels 0 and 1
    desc = spatial_descriptor(cells, projection)
    assert desc.shape == (2, 8) and desc.dtype == torch.float64
    # row-major cells, each cell's channels contiguous: (cell (0,0): c0, c1), (cell (0,1): c0, c1), ...
    np.testing.assert_allclose(desc[0, 2:4].numpy(), cells[0, :2, 0, 1].double().numpy())
    with pytest.raises(ValueError, match="do not match"):
        spatial_descriptor(cells, torch.eye(4))
    with pytest.raises(ValueError, match="activation map"):
        spatial_cells(fmap[0], (2, 2))


def test_fit_spatial_projection_finds_the_top_axes() -> None:
    rng = np.random.default_rng(15)
    axes = np.linalg.qr(rng.normal(size=(10, 10)))[0]
    scales = np.array([10.0, 5.0, 2.0] + [0.1] * 7)
    samples = (rng.normal(size=(4000, 10)) * scales) @ axes.T  # (N·cells, C)
    cells = samples.reshape(1000, 2, 2, 10).transpose(0, 3, 1, 2)
    projection = fit_spatial_projection(cells, 3).double().numpy()
    assert projection.shape == (10, 3)
    np.testing.assert_allclose(projection.T @ projection, np.eye(3), atol=1e-5)
    np.testing.assert_allclose(np.abs(projection.T @ axes[:, :3]), np.eye(3), atol=0.02)
    assert np.all(projection[np.abs(projection).argmax(axis=0), np.arange(3)] > 0)  # fixed signs
    with pytest.raises(ValueError, match="channels"):
        fit_spatial_projection(cells, 11)


def test_joint_thresholds_accept_the_rate_on_both_checks() -> None:
    rng = np.random.default_rng(16)
    scores = np.stack([rng.normal(10, 2, 2000), rng.exponential(5, 2000)], axis=1)
    thresholds = joint_thresholds(scores, 0.99)
    both = (scores <= thresholds).all(axis=1).mean()
    assert 0.99 <= both <= 0.99 + 2 / len(scores)
    each = (scores <= thresholds).mean(axis=0)
    assert each[0] == pytest.approx(each[1], abs=1 / len(scores))  # the same rate per check
    assert 0.99 < each[0] < 0.9951  # independent checks: about sqrt(0.99) each
    # One column: the (non-interpolated) quantile.
    assert joint_thresholds(np.arange(1, 101, dtype=float), 0.9) == [90.0]
    with pytest.raises(ValueError):
        joint_thresholds(scores, 1.5)


def test_verdict_with_a_spatial_check() -> None:
    gate = {**GATE, "spatial": {"grid": [2, 2], "channels": 4, "threshold": 20.0}}
    assert gate_verdict(5.0, 0.2, gate, spatial_score=20.0).accepted
    refused = gate_verdict(5.0, 0.2, gate, spatial_score=25.04)
    assert not refused.accepted and refused.score == 5.0
    assert refused.reason == (
        "layout unlike the films the model was trained on (spatial distance 25.0 > 20.0): "
        "ICU/portable, unusual positioning, or not a frontal chest film?"
    )
    assert not gate_verdict(5.0, 0.2, gate, spatial_score=float("nan")).accepted
    # The cheaper checks and the global distance come first.
    assert gate_verdict(5.0, 0.001, gate, spatial_score=99.0).reason == REASON_UNIFORM
    assert gate_verdict(41.0, 0.2, gate, spatial_score=99.0).reason.startswith(
        "unlike the films the model was trained on"
    )
    with pytest.raises(ValueError, match="no spatial score"):
        gate_verdict(5.0, 0.2, gate)
    assert gate_verdict(5.0, 0.2, GATE, spatial_score=1e9).accepted  # an old card has no layout check


def test_a_dicom_header_naming_a_non_frontal_view_is_refused_first() -> None:
    lateral = gate_verdict(5.0, 0.2, GATE, GateFacts(view_position="LL"))
    assert not lateral.accepted
    expected = "not a frontal chest radiograph: the DICOM header says view position LL (lateral)"
    assert lateral.reason == expected
    assert "decubitus" in gate_verdict(5.0, 0.2, GATE, GateFacts(view_position=" rld ")).reason
    assert "oblique" in gate_verdict(5.0, 0.2, GATE, GateFacts(view_position="RAO")).reason
    # Before the uniform check: the header is the surest evidence.
    assert "view position" in gate_verdict(5.0, 0.001, GATE, GateFacts(view_position="RL")).reason
    for frontal in ("PA", "AP", "ap", "", None):
        assert gate_verdict(5.0, 0.2, GATE, GateFacts(view_position=frontal)).accepted
        assert view_position_reason(frontal) is None
