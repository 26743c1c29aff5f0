"""Grad-CAM over ``pytorch_grad_cam`` with the hooks' lifetime bounded by one call.

One forward pass gives the logits, the pooled features (for the gate) and, after one
backward pass of the chosen class, the map. The CAM object and its hooks never outlive
the call (``ActivationsAndGradients`` would otherwise record every later forward pass),
and ``BaseCAM.__exit__`` is not used because it swallows IndexError and prints.

MobileNetV3's in-place Hardswish is safe here: grad-cam >= 1.5 captures gradients with a
tensor hook registered from a forward hook (pytorch-grad-cam#183), not a module backward hook.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from radiview.inference.network import RadiviewNet


class _LogitsAndFeatures(nn.Module):
    """Runs the net once and keeps its pooled features beside the logits it returns."""

    def __init__(self, net: RadiviewNet) -> None:
        super().__init__()
        self.net = net
        self.features: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.net.forward_features(x)
        self.features = features
        return self.net.head(features)


def find_layer(net: nn.Module, path: str) -> nn.Module:
    """The submodule at a dotted path such as ``"features.12"`` (KeyError/AttributeError if absent)."""
    return net.get_submodule(path)


def apply_gradient_scope(net: nn.Module, target_layer: nn.Module) -> None:
    """Freeze every parameter except the target layer's.

    Grad-CAM needs only d(logit)/d(target activations); with the rest frozen the backward
    pass stops at the target layer instead of walking the whole backbone.
    """
    for param in net.parameters():
        param.requires_grad_(False)
    for param in target_layer.parameters():
        param.requires_grad_(True)


def run_gradcam(
    net: RadiviewNet,
    target_layer: nn.Module,
    batch: torch.Tensor,
    target_index: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """One forward + one backward pass over ``batch`` (N, C, H, W).

    Returns detached ``(logits (N, K), pooled features (N, D), maps (N, H, W) float32 in
    [0, 1] at the input size)``. ``target_index`` None explains each film's top class.
    """
    # Imported here: grad-cam pulls in matplotlib, cv2 and scipy (seconds), which
    # predict-only users (batch screening, the CLI) never need.
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    recorder = _LogitsAndFeatures(net)
    cam = GradCAM(model=recorder, target_layers=[target_layer])
    try:
        with torch.inference_mode(False), torch.enable_grad():
            x = batch.clone()  # an inference-mode tensor cannot enter autograd
            targets = (
                None
                if target_index is None
                else [ClassifierOutputTarget(target_index) for _ in range(x.shape[0])]
            )
            maps = cam(input_tensor=x, targets=targets)
            logits = cam.outputs.detach()
            assert recorder.features is not None
            features = recorder.features.detach()
    finally:
        cam.activations_and_grads.release()
        cam.outputs = None
        recorder.features = None
        net.zero_grad(set_to_none=True)
    return logits, features, np.clip(np.nan_to_num(maps.astype(np.float32)), 0.0, 1.0)


def resize_heatmap(heatmap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a [0, 1] map to ``shape`` (rows, cols): the preprocessing
    stretched the whole film to the input size, so stretching back realigns it 1:1."""
    rows, cols = shape
    heat = np.ascontiguousarray(heatmap, dtype=np.float32)
    if heat.shape != (rows, cols):
        heat = np.asarray(
            Image.fromarray(heat, mode="F").resize((cols, rows), Image.Resampling.BILINEAR),
            dtype=np.float32,
        )
    return np.clip(heat, 0.0, 1.0)
