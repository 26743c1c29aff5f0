"""Fixtures shared by every test package: real-data location and a tiny random model bundle."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Idle OpenMP workers otherwise spin and starve each other on a 2-core CI machine (10-40x slower
# CPU inference); set before any test imports torch. The app does the same in radiview.inference.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]


def find_data_dir() -> Path | None:
    """``RADIVIEW_DATA`` or ``../shared/data`` beside the checkout, if it exists."""
    env = os.environ.get("RADIVIEW_DATA")
    candidate = Path(env) if env else REPO.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real-film folder. Absent, tests that need it skip with the reason; in CI (``CI`` set,
    where ../shared is always there) they fail instead, so a lost mount cannot pass quietly."""
    found = find_data_dir()
    if found is None:
        reason = "real chest films not found: set RADIVIEW_DATA or put shared/data beside the repo"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{reason} (CI is set: real-data tests must run in CI)")
        pytest.skip(reason)
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that reads real films (uses ``data_dir``) carries the ``realdata`` marker, so
    ``-m realdata`` / ``-m "not realdata"`` select exactly them, wherever they live."""
    for item in items:
        if "data_dir" in getattr(item, "fixturenames", ()) and item.get_closest_marker("realdata") is None:
            item.add_marker(pytest.mark.realdata)


def build_tiny_bundle(out_dir: Path, seed: int = 0) -> Path:
    """A random-weights bundle in the real format; its gate accepts any grayscale film."""
    import torch

    from radiview.inference.bundle import GATE_PREFIX, write_bundle
    from radiview.inference.network import SMALL_FEATURE_DIM, build_network
    from radiview.inference.preprocess import PreprocessConfig

    torch.manual_seed(seed)
    architecture = {"backbone": "mobilenet_v3_small", "num_classes": 4, "hidden": 32, "dropout": 0.5}
    net = build_network(architecture)
    # One train-mode pass (cumulative averages) gives every BatchNorm real running statistics;
    # with the initial ones the random network maps every film to the same probabilities.
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.reset_running_stats()
                module.momentum = None
        net.train()(torch.randn(16, 3, 64, 64))
    net.eval()
    state = dict(net.state_dict())
    state[GATE_PREFIX + "class_means"] = torch.zeros(4, SMALL_FEATURE_DIM)
    state[GATE_PREFIX + "precision"] = torch.eye(SMALL_FEATURE_DIM)
    # The layout check (bundles >= 1.2.0): 2×2 cells, the first 8 channels, identity precision.
    state[GATE_PREFIX + "spatial_projection"] = torch.eye(SMALL_FEATURE_DIM)[:, :8].contiguous()
    state[GATE_PREFIX + "spatial_class_means"] = torch.zeros(4, 32)
    state[GATE_PREFIX + "spatial_precision"] = torch.eye(32)
    labels = ["normal", "bacterial_pneumonia", "viral_pneumonia", "covid19"]
    fields = {
        "name": "tiny-random",
        "version": "0.0.1",
        "architecture": architecture,
        "labels": labels,
        "preprocessing": PreprocessConfig(input_size=(64, 64)).to_dict(),
        "temperature": 1.5,
        "thresholds": {label: 0.5 for label in labels},
        "gate": {
            "method": "mahalanobis",
            "threshold": 1.0e9,
            "min_std": 0.02,
            "max_colorfulness": 0.08,
            "spatial": {"method": "mahalanobis", "grid": [2, 2], "channels": 8, "threshold": 1.0e9},
        },
        "gradcam_target_layer": "features.12",
        "intended_use": "tests only",
        # Random weights: show every class's map so viewer tests see one (the real card's
        # policy is tested with the real bundle).
        "reading_flags": {"no_heatmap_labels": [], "heatmap_min_probability": 0.0},
        "limitations": ["random weights"],
    }
    write_bundle(out_dir, fields, state, half=False)
    return out_dir


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bundle(tmp_path_factory.mktemp("tiny_bundle"))
