"""Fixtures for the inference tests: synthetic radiographs and bundles written in the real format."""

from __future__ import annotations

import os

# As radiview.inference does, but this file imports torch first (see radiview/inference/__init__.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from radiview.inference.bundle import GATE_PREFIX, write_bundle
from radiview.inference.classifier import Classifier
from radiview.inference.network import SMALL_FEATURE_DIM, RadiviewNet
from radiview.io.radiograph import Radiograph, Window

LABELS = ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")
TINY_ARCH = {"backbone": "mobilenet_v3_small", "num_classes": 4, "hidden": 32, "dropout": 0.5}


def _radiograph(
    pixels: np.ndarray | None = None,
    shape: tuple[int, int] = (200, 300),
    seed: int = 0,
    was_color: bool = False,
    colorfulness: float | None = None,
    metadata: Mapping[str, str] | None = None,
    source: str = "synthetic.png",
) -> Radiograph:
    if pixels is None:
        rng = np.random.default_rng(seed)
        # A gradient in a seed-dependent direction, a few bright blobs and noise: films that
        # differ from seed to seed even after resizing to the model input.
        rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
        y, x = rows / shape[0], cols / shape[1]
        angle = rng.uniform(0, 2 * np.pi)
        pixels = (np.cos(angle) * y + np.sin(angle) * x) * 400.0
        for _ in range(3):
            cy, cx, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.25)
            pixels += 600.0 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))
        pixels = pixels + rng.normal(0, 30, shape)
    pixels = np.asarray(pixels, dtype=np.float32)
    lo, hi = float(pixels.min()), float(pixels.max())
    window = Window.from_bounds(lo, hi if hi > lo else lo + 1.0)
    return Radiograph(
        pixels=pixels,
        source=source,
        kind="image",
        bits_stored=16,
        default_window=window,
        was_color=was_color,
        colorfulness=colorfulness,
        metadata=dict(metadata or {}),
    )


@pytest.fixture
def make_radiograph() -> Callable[..., Radiograph]:
    return _radiograph


def _write_test_bundle(
    out_dir: Path,
    net: RadiviewNet,
    architecture: Mapping[str, Any] = TINY_ARCH,
    input_size: tuple[int, int] = (64, 64),
    temperature: float = 1.5,
    gate: Mapping[str, Any] | None = None,
    class_means: torch.Tensor | None = None,
    precision: torch.Tensor | None = None,
    spatial: Mapping[str, torch.Tensor] | None = None,
    **card_overrides: Any,
) -> Path:
    """``spatial``: the layout check's tensors (``spatial_projection``, ``spatial_class_means``,
    ``spatial_precision``) stored under ``gate.``; give the card entry in ``gate["spatial"]``."""
    state = dict(net.state_dict())
    for name, value in (spatial or {}).items():
        state[GATE_PREFIX + name] = value
    k = int(architecture["num_classes"])
    state[GATE_PREFIX + "class_means"] = (
        class_means if class_means is not None else torch.zeros(k, SMALL_FEATURE_DIM)
    )
    state[GATE_PREFIX + "precision"] = precision if precision is not None else torch.eye(SMALL_FEATURE_DIM)
    fields: dict[str, Any] = {
        "name": "test-bundle",
        "version": "0.0.1",
        "architecture": dict(architecture),
        "labels": list(LABELS[:k]),
        "preprocessing": {"input_size": list(input_size)},
        "temperature": temperature,
        "thresholds": {},
        "gate": dict(
            gate or {"method": "mahalanobis", "threshold": 1.0e9, "min_std": 0.02, "max_colorfulness": 0.08}
        ),
        "gradcam_target_layer": "features.12",
    }
    fields.update(card_overrides)
    write_bundle(out_dir, fields, state, half=False)
    return out_dir


def _spatial_gate_tensors(
    k: int = 4, channels: int = 8, grid: tuple[int, int] = (2, 2)
) -> dict[str, torch.Tensor]:
    """Layout-check tensors of the right shapes: the first ``channels`` feature channels, zero means,
    identity precision (the spatial distance is then the norm of those channels' cell averages)."""
    dim = grid[0] * grid[1] * channels
    return {
        "spatial_projection": torch.eye(SMALL_FEATURE_DIM)[:, :channels].contiguous(),
        "spatial_class_means": torch.zeros(k, dim),
        "spatial_precision": torch.eye(dim),
    }


@pytest.fixture(scope="session")
def spatial_gate_tensors() -> Callable[..., dict[str, torch.Tensor]]:
    """``spatial_gate_tensors(k=4, channels=8, grid=(2, 2))`` → layout-check tensors for a test bundle."""
    return _spatial_gate_tensors


@pytest.fixture(scope="session")
def write_test_bundle() -> Callable[..., Path]:
    """``write_test_bundle(out_dir, net, **options)`` → a bundle folder for ``net``."""
    return _write_test_bundle


@pytest.fixture(scope="session")
def tiny_net() -> RadiviewNet:
    """A small random net whose BatchNorm statistics were set on synthetic films.

    Freshly initialised BatchNorm layers (mean 0, var 1) shrink the pooled features to
    ~1e-8, so every input gives the same logits; a few train-mode passes fix the scale
    and make the outputs depend on the film, which the batching tests need.
    """
    from radiview.inference.network import build_network
    from radiview.inference.preprocess import PreprocessConfig, preprocess

    torch.manual_seed(0)
    net = build_network(TINY_ARCH)
    config = PreprocessConfig(input_size=(64, 64))
    films = torch.stack([preprocess(_radiograph(shape=(96, 80), seed=s), config) for s in range(16)])
    batch_norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in batch_norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one pass gives the exact batch statistics
    net.train()
    with torch.no_grad():
        net(films)
    for bn in batch_norms:
        bn.momentum = 0.1
    return net.eval()


@pytest.fixture(scope="session")
def tiny_classifier_bundle(tiny_net: RadiviewNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_test_bundle(tmp_path_factory.mktemp("tiny_classifier"), tiny_net, name="tiny-random")


@pytest.fixture
def classifier(tiny_classifier_bundle: Path) -> Classifier:
    return Classifier.from_bundle(tiny_classifier_bundle, device="cpu")
