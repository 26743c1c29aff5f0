"""Grad-CAM alignment: the map lands where the evidence is, at the film's own resolution.

The network is built so that one class responds to a known pattern: its logit is the
pooled features' projection on a direction fitted (ridge regression, closed form) to say
"a bright square covers this cell" on square films of 160×160. Grad-CAM for that class must
then light up wherever the square is on different, non-square 200×300 films, which checks
the target layer, the hooks through MobileNetV3's in-place Hardswish, and that the map is
stretched back to (H, W) without transposing or flipping it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.ops.misc import SqueezeExcitation

from radiview.inference import Classifier
from radiview.inference.network import RadiviewNet, build_network
from radiview.inference.preprocess import PreprocessConfig, preprocess
from radiview.io.radiograph import Radiograph, Window

TINY_ARCH = {"backbone": "mobilenet_v3_small", "num_classes": 4, "hidden": 32, "dropout": 0.5}
INPUT = (160, 160)  # 5×5 cells at the last feature block
TARGET = "bacterial_pneumonia"


def film(shape: tuple[int, int], box: tuple[int, int, int, int], seed: int = 0) -> Radiograph:
    """Mid-gray textured background with a bright rectangle ``box`` = (top, left, bottom, right)."""
    rng = np.random.default_rng(seed)
    pixels = 1000.0 + rng.normal(0, 40, shape)
    top, left, bottom, right = box
    pixels[top:bottom, left:right] = 3000.0
    return Radiograph(
        pixels=pixels.astype(np.float32),
        source="square.png",
        kind="image",
        bits_stored=12,
        default_window=Window.from_bounds(0.0, 4095.0),
    )


def square_detector() -> RadiviewNet:
    """A real-architecture net whose class 1 logit measures "bright square here".

    Random MobileNetV3 features are made local first: the squeeze-excitation blocks are set
    to a constant scale of 1 (they would spread a global average over every position) and
    BatchNorm statistics are set on square films. The class-1 direction is then fitted as a
    per-cell linear probe (ridge regression of square coverage on the last block's features).
    """
    torch.manual_seed(0)
    net = build_network(TINY_ARCH)
    for module in net.modules():
        if isinstance(module, SqueezeExcitation):
            with torch.no_grad():
                module.fc2.weight.zero_()
                module.fc2.bias.fill_(3.0)  # hardsigmoid(3) = 1
    config = PreprocessConfig(input_size=INPUT)
    rng = np.random.default_rng(0)
    corners = rng.integers(0, 120, (16, 2))
    warmup = torch.stack(
        [preprocess(film(INPUT, (r, c, r + 40, c + 40), seed=i), config) for i, (r, c) in enumerate(corners)]
    )
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative: one pass gives the batch statistics
    net.train()
    with torch.no_grad():
        net(warmup)
    for bn in norms:
        bn.momentum = 0.1
    net.eval()

    # Fit the class-1 direction by ridge regression on the last block's features: per cell,
    # the target is the fraction of the cell the square covers (a per-cell linear probe).
    cells = INPUT[0] // 32
    train_rng = np.random.default_rng(0)
    sizes = train_rng.integers(28, 60, 120)
    corners = train_rng.integers(0, INPUT[0] - 28, (120, 2))
    boxes = [
        (r, c, min(r + s, INPUT[0]), min(c + s, INPUT[1])) for (r, c), s in zip(corners, sizes, strict=True)
    ]
    with torch.no_grad():
        films = torch.stack([preprocess(film(INPUT, b, seed=100 + i), config) for i, b in enumerate(boxes)])
        features = net.features(films)  # (120, 576, cells, cells)
    x = features.permute(0, 2, 3, 1).reshape(-1, features.shape[1]).double()
    cover = torch.zeros(len(boxes), cells, cells, dtype=torch.float64)
    for k, (top, left, bottom, right) in enumerate(boxes):
        mask = torch.zeros(INPUT, dtype=torch.float64)
        mask[top:bottom, left:right] = 1.0
        cover[k] = mask.reshape(cells, 32, cells, 32).mean(dim=(1, 3))
    y = cover.reshape(-1)
    x_mean, y_mean = x.mean(dim=0), y.mean()
    xc = x - x_mean
    ridge = 1e-2 * xc.pow(2).sum(dim=0).mean()
    gram = xc.T @ xc + ridge * torch.eye(x.shape[1], dtype=x.dtype)
    direction = torch.linalg.solve(gram, xc.T @ (y - y_mean)).float()

    first, bn, _, _, last = net.head
    with torch.no_grad():
        first.weight.zero_()
        first.bias.zero_()
        first.weight[0] = direction
        first.bias[0] = 50.0  # keeps the ReLU open so the gradient flows
        bn.reset_running_stats()
        bn.weight.fill_(1.0)
        bn.bias.zero_()
        last.weight.zero_()
        last.bias.zero_()
        last.weight[1, 0] = 1.0  # class 1 = "square detector"
    return net


@pytest.fixture(scope="module")
def detector(write_test_bundle: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    bundle = write_test_bundle(tmp_path_factory.mktemp("detector"), square_detector(), input_size=INPUT)
    return Classifier.from_bundle(bundle, device="cpu")


BOXES = {  # (top, left, bottom, right) on a 200×300 film
    "top-left": (15, 20, 75, 100),
    "bottom-right": (130, 200, 190, 285),
    "top-right": (10, 210, 70, 290),
    "bottom-left": (140, 10, 195, 80),
}


@pytest.mark.slow
@pytest.mark.parametrize("where", list(BOXES))
def test_heatmap_peak_lies_on_the_square(detector: Classifier, where: str) -> None:
    box = BOXES[where]
    radiograph = film((200, 300), box, seed=1)
    prediction, explanation = detector.analyze(radiograph)
    assert prediction.top_label == TARGET
    assert explanation is not None and explanation.label == TARGET
    heat = explanation.heatmap
    assert heat.shape == (200, 300) and heat.dtype == np.float32

    # One cell of the 5×5 map is 40×60 film pixels: random features localise to about a cell.
    peak_row, peak_col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    top, left, bottom, right = box
    assert top - 40 <= peak_row <= bottom + 40, (where, peak_row, peak_col)
    assert left - 60 <= peak_col <= right + 60, (where, peak_row, peak_col)
    mask = np.zeros(heat.shape, dtype=bool)
    mask[top:bottom, left:right] = True
    assert heat[mask].mean() > 1.5 * heat[~mask].mean()


@pytest.mark.slow
def test_heatmap_is_not_transposed_or_flipped(detector: Classifier) -> None:
    def centroid(where: str) -> tuple[float, float]:
        _, explanation = detector.analyze(film((200, 300), BOXES[where], seed=2))
        assert explanation is not None
        rows, cols = np.mgrid[0:200, 0:300]
        heat = explanation.heatmap.astype(np.float64)
        return float((heat * rows).sum() / heat.sum()), float((heat * cols).sum() / heat.sum())

    tl, br, tr, bl = (centroid(w) for w in ("top-left", "bottom-right", "top-right", "bottom-left"))
    assert tl[0] < bl[0] and tr[0] < br[0]  # top above bottom
    assert tl[1] < tr[1] and bl[1] < br[1]  # left of right
