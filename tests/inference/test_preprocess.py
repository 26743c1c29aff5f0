"""The shared normalisation: (x - mean) / std per channel, the same for a film alone or in a batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radiview.inference.preprocess import PreprocessConfig, to_input_batch, to_input_tensor


@pytest.mark.parametrize("size", [1, 3, 16])
def test_batch_equals_the_stacked_films_exactly(size: int) -> None:
    config = PreprocessConfig()
    rng = np.random.default_rng(size)
    h, w = config.input_size
    images = [rng.random((h, w), dtype=np.float32) for _ in range(size)]
    images[0][0, :4] = (0.0, 1.0, 0.5, 1e-7)  # the window's ends too
    batch = to_input_batch(images, config)
    assert batch.shape == (size, config.channels, h, w) and batch.dtype == torch.float32
    assert torch.equal(batch, torch.stack([to_input_tensor(im, config) for im in images]))
    assert batch.is_contiguous()  # fed to the network as is
    mean = np.asarray(config.mean, np.float32)[:, None, None]
    std = np.asarray(config.std, np.float32)[:, None, None]
    for film, image in zip(batch, images, strict=True):  # the formula, computed in numpy
        np.testing.assert_allclose(film.numpy(), (image[None] - mean) / std, rtol=1e-6, atol=1e-6)


def test_batch_takes_float64_films_like_the_single_path() -> None:
    config = PreprocessConfig()
    h, w = config.input_size
    image = np.linspace(0, 1, h * w).reshape(h, w)  # float64
    assert torch.equal(to_input_batch([image], config)[0], to_input_tensor(image, config))
