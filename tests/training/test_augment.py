"""Augmentations: shape, range, determinism from the generator, and that each one does something."""

from __future__ import annotations

import numpy as np
import pytest

from training.augment import (
    AUGMENTATIONS,
    RandAffine,
    RandBlur,
    RandBrightnessContrast,
    RandDownUpScale,
    RandElastic,
    RandGamma,
    RandHorizontalFlip,
    RandJpeg,
    RandNoise,
    build_augment,
)

from .conftest import make_film

FILM = make_film(np.random.default_rng(0), 1, 96).astype(np.float32) / 255.0

ALL = [RandHorizontalFlip(p=1.0), RandAffine(), RandElastic(), RandBrightnessContrast(), RandGamma(),
       RandDownUpScale(), RandJpeg(), RandBlur(), RandNoise()]


@pytest.mark.parametrize("transform", ALL, ids=lambda t: type(t).__name__)
def test_each_transform_changes_the_film_reproducibly(transform) -> None:  # type: ignore[no-untyped-def]
    a = transform(FILM, np.random.default_rng(5))
    b = transform(FILM, np.random.default_rng(5))
    assert a.shape == FILM.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - FILM).mean() > 1e-4


def test_flip_mirrors_columns() -> None:
    np.testing.assert_array_equal(RandHorizontalFlip(p=1.0)(FILM, np.random.default_rng(0)), FILM[:, ::-1])


def test_blur_keeps_mean_and_lowers_detail() -> None:
    out = RandBlur(max_sigma=1.5)(FILM, np.random.default_rng(1))
    assert out.mean() == pytest.approx(FILM.mean(), abs=0.01)
    assert np.abs(np.diff(out, axis=1)).mean() < np.abs(np.diff(FILM, axis=1)).mean()


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_recipes_stay_in_unit_range(name: str) -> None:
    augment = build_augment(name)
    if name == "none":
        assert augment is None
        return
    before = FILM.copy()
    for seed in range(5):
        out = augment(FILM, np.random.default_rng(seed))
        assert out.shape == FILM.shape and out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(FILM, before)  # the cached film is never modified in place


def test_unknown_recipe() -> None:
    with pytest.raises(ValueError, match="unknown augmentation"):
        build_augment("mixup")
