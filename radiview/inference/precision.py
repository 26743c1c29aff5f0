"""Reduced precision (bf16/fp16 autocast) for batch screening, only where it reads like fp32.

Autocast roughly doubles a GPU's throughput on this network, but a model is only as good as
its calibration: it is switched on only after a parity check on real films of the run shows
the same top class on >= 99.5% of them, the same gate verdicts, and probabilities within 0.01
of fp32. Otherwise the run stays in fp32. The grad-CAM path never uses it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

MIN_AGREEMENT = 0.995
MAX_DELTA = 0.01


def default_reduced_dtype(device: torch.device) -> torch.dtype:
    """bf16 where the hardware has it (Ampere and later, CPUs), else fp16."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


@contextlib.contextmanager
def autocast_to(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """``torch.autocast`` for ``dtype`` on ``device``; nothing at all when ``dtype`` is None."""
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


@dataclass(frozen=True)
class Parity:
    """How a reduced-precision pass compares with fp32 on the same films."""

    films: int
    agreement: float  # share of films with the same top class and the same gate verdict
    max_delta: float  # max |p_reduced - p_fp32| over films and classes

    @property
    def ok(self) -> bool:
        return self.films > 0 and self.agreement >= MIN_AGREEMENT and self.max_delta <= MAX_DELTA


def compare(
    fp32: np.ndarray, reduced: np.ndarray, accepted_fp32: Sequence[bool], accepted_reduced: Sequence[bool]
) -> Parity:
    """``fp32`` and ``reduced`` are (N, K) probabilities of the same films."""
    fp32, reduced = np.asarray(fp32, np.float64), np.asarray(reduced, np.float64)
    if fp32.shape != reduced.shape or fp32.ndim != 2 or not len(fp32):
        return Parity(0, 0.0, float("inf"))
    same = (fp32.argmax(1) == reduced.argmax(1)) & (np.asarray(accepted_fp32) == np.asarray(accepted_reduced))
    delta = float(np.abs(fp32 - reduced).max()) if np.isfinite(reduced).all() else float("inf")
    return Parity(len(fp32), float(same.mean()), delta)
