"""Augmentations: shape, range, determinism from the generator, and that each one does something."""

from __future__ import annotations

from dataclasses import dataclass

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

ALL = [
    RandHorizontalFlip(p=1.0),
    RandAffine(),
    RandElastic(),
    RandBrightnessContrast(),
    RandGamma(),
    RandDownUpScale(),
    RandJpeg(),
    RandBlur(),
    RandNoise(),
]


@pytest.mark.parametrize("transform", ALL, ids=lambda t: type(t).__name__)
def test_each_transform_changes_the_film_reproducibly(transform) -> None:  # type: ignore[no-untyped-def]
    a = transform(FILM, np.random.default_rng(5))
    b = transform(FILM, np.random.default_rng(5))
    assert a.shape == FILM.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - FILM).mean() > 1e-4


# --------------------------------------------------------------------------- what each transform says it does
# Each check takes a transform and fails unless it does what its name says; the last test feeds
# every check a fixed perturbation (the film plus a constant or a fixed pattern) to prove they can fail.
# The expected values replay the transform's own draws from a generator with the same seed.

SIZE = FILM.shape[0]


def _dot(y: int, x: int) -> np.ndarray:
    img = np.zeros_like(FILM)
    img[y - 1 : y + 2, x - 1 : x + 2] = 1.0
    return img


def _centroid(img: np.ndarray) -> tuple[float, float]:
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    total = float(img.sum())
    return float((yy * img).sum()) / total, float((xx * img).sum()) / total


def check_flip(t) -> None:  # type: ignore[no-untyped-def]
    np.testing.assert_array_equal(t(FILM, np.random.default_rng(0)), FILM[:, ::-1])


def check_affine(t) -> None:  # type: ignore[no-untyped-def]
    """A dot moves where the drawn rotation, shear, zoom and shift send it (forward map about the centre)."""
    y0, x0 = 30, 62
    out = t(_dot(y0, x0), np.random.default_rng(3))
    rng = np.random.default_rng(3)
    angle = np.radians(rng.uniform(-t.degrees, t.degrees))
    shear = np.radians(rng.uniform(-t.shear_degrees, t.shear_degrees))
    zoom = rng.uniform(*t.scale)
    tx, ty = rng.uniform(-t.translate, t.translate, size=2) * (SIZE, SIZE)
    a, b = np.cos(angle) * zoom, -np.sin(angle + shear) * zoom
    c, d = np.sin(angle) * zoom, np.cos(angle + shear) * zoom
    cx = cy = SIZE / 2.0
    # pixel centres sit at +0.5 in PIL's continuous coordinates
    px, py = x0 + 0.5 - cx, y0 + 0.5 - cy
    expected = (cy + ty + c * px + d * py - 0.5, cx + tx + a * px + b * py - 0.5)
    assert np.allclose(_centroid(out), expected, atol=0.75), (_centroid(out), expected)
    assert abs(out.sum() / 9.0 - zoom**2) < 0.25  # area scales with zoom², intensity is kept


def check_elastic(t) -> None:  # type: ignore[no-untyped-def]
    """A warp: a flat film stays flat; a ramp moves by a smooth field of a few pixels at most."""
    flat = np.full_like(FILM, 0.4)
    np.testing.assert_allclose(t(flat, np.random.default_rng(4)), flat, atol=1e-6)
    ramp = np.tile(np.linspace(0.0, 1.0, SIZE, dtype=np.float32), (SIZE, 1))
    shift_px = (t(ramp, np.random.default_rng(4)) - ramp)[4:-4, 4:-4] * (SIZE - 1)
    assert 0.05 < np.abs(shift_px).max() < 8 * t.magnitude * SIZE
    assert np.abs(np.diff(shift_px, axis=1)).max() < 0.25 * np.abs(shift_px).max() + 0.05  # smooth


def check_brightness_contrast(t) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    gain = 1.0 + rng.uniform(-t.contrast, t.contrast)
    shift = rng.uniform(-t.brightness, t.brightness)
    expected = (FILM - FILM.mean()) * gain + FILM.mean() + shift
    np.testing.assert_allclose(t(FILM, np.random.default_rng(5)), expected, atol=1e-5)


def check_gamma(t) -> None:  # type: ignore[no-untyped-def]
    gamma = np.exp(np.random.default_rng(6).uniform(np.log(t.low), np.log(t.high)))
    np.testing.assert_allclose(t(FILM, np.random.default_rng(6)), FILM**gamma, atol=1e-5)


def _detail(img: np.ndarray) -> float:
    return float(np.abs(np.diff(img, axis=1)).mean() + np.abs(np.diff(img, axis=0)).mean())


def check_down_up_scale(t) -> None:  # type: ignore[no-untyped-def]
    """Loses fine detail (a 1-px checkerboard averages out), keeps the mean and a smooth film."""
    checker = (np.indices(FILM.shape).sum(axis=0) % 2).astype(np.float32)
    out = t(checker, np.random.default_rng(7))
    assert _detail(out) < 0.5 * _detail(checker) and abs(out.mean() - 0.5) < 0.02
    smooth = np.tile(np.linspace(0.2, 0.8, SIZE, dtype=np.float32), (SIZE, 1))
    np.testing.assert_allclose(t(smooth, np.random.default_rng(7)), smooth, atol=0.01)


def check_jpeg(t) -> None:  # type: ignore[no-untyped-def]
    """Exactly an 8-bit JPEG round trip at a quality in the transform's range."""
    import io

    from PIL import Image

    out = t(FILM, np.random.default_rng(8))
    u8 = Image.fromarray(np.rint(FILM * 255).astype(np.uint8), mode="L")
    for quality in range(t.min_quality, t.max_quality + 1):
        buf = io.BytesIO()
        u8.save(buf, format="JPEG", quality=quality)
        if np.array_equal(out, np.asarray(Image.open(buf), dtype=np.float32) / 255.0):
            return
    raise AssertionError("output is no JPEG round trip at any quality in range")


def check_blur(t) -> None:  # type: ignore[no-untyped-def]
    out = t(FILM, np.random.default_rng(1))
    assert out.mean() == pytest.approx(FILM.mean(), abs=0.01)
    assert _detail(out) < 0.8 * _detail(FILM)
    flat = np.full_like(FILM, 0.3)
    np.testing.assert_allclose(t(flat, np.random.default_rng(1)), flat, atol=1e-6)


def check_noise(t) -> None:  # type: ignore[no-untyped-def]
    """Zero-mean white noise no stronger than max_sigma."""
    sigma = np.random.default_rng(9).uniform(0.0, t.max_sigma)
    residual = t(FILM, np.random.default_rng(9)) - FILM
    assert abs(residual.mean()) < 3 * sigma / SIZE + 1e-6
    assert residual.std() == pytest.approx(sigma, rel=0.05)
    neighbours = np.corrcoef(residual[:, :-1].ravel(), residual[:, 1:].ravel())[0, 1]
    assert abs(neighbours) < 0.05


def _name(value: object) -> str:
    return str(getattr(value, "__name__", type(value).__name__))


CHECKS = [
    (RandHorizontalFlip(p=1.0), check_flip),
    (RandAffine(), check_affine),
    (RandAffine(degrees=0.0, translate=0.1, scale=(1.0, 1.0), shear_degrees=0.0), check_affine),
    (RandElastic(), check_elastic),
    (RandBrightnessContrast(), check_brightness_contrast),
    (RandGamma(), check_gamma),
    (RandDownUpScale(), check_down_up_scale),
    (RandJpeg(), check_jpeg),
    (RandBlur(), check_blur),
    (RandNoise(), check_noise),
]


@pytest.mark.parametrize(("transform", "check"), CHECKS, ids=_name)
def test_each_transform_does_what_it_says(transform, check) -> None:  # type: ignore[no-untyped-def]
    check(transform)


@dataclass(frozen=True)
class _FixedPerturbation:
    """Keeps a transform's parameters but ignores them: the film plus a fixed pattern."""

    inner: object
    pattern: str

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.pattern == "constant":
            return (image + 0.01).astype(np.float32)
        stripes = np.where(np.arange(image.shape[1]) % 2 == 0, 0.01, -0.01).astype(np.float32)
        return (image + stripes).astype(np.float32)


@pytest.mark.parametrize("pattern", ["constant", "stripes"])
@pytest.mark.parametrize(("transform", "check"), CHECKS, ids=_name)
def test_the_checks_refuse_a_fixed_perturbation(transform, check, pattern: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AssertionError):
        check(_FixedPerturbation(transform, pattern))


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
