"""The reduced-precision guard: autocast is kept only when it reads like fp32 (tested on the CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from radiview.inference import precision
from radiview.inference.classifier import Classifier
from radiview.inference.precision import compare


def test_compare_needs_the_same_top_class_the_same_gate_and_close_probabilities() -> None:
    fp32 = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    assert compare(fp32, fp32 + 0.004, [True, True], [True, True]).ok
    moved = compare(fp32, fp32 + np.array([[0.0, 0.02, -0.02], [0, 0, 0]]), [True, True], [True, True])
    assert not moved.ok and moved.max_delta == pytest.approx(0.02)
    flipped = compare(fp32, fp32[:, ::-1], [True, True], [True, True])
    assert not flipped.ok and flipped.agreement == 0.5
    gate = compare(fp32, fp32, [True, True], [True, False])
    assert not gate.ok and gate.agreement == 0.5
    assert not compare(fp32, np.full_like(fp32, np.nan), [True] * 2, [True] * 2).ok
    assert not compare(fp32, fp32[:1], [True] * 2, [True]).ok  # the trial failed or was cut


def test_parity_decides_whether_later_batches_use_autocast(
    tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    classifier = Classifier.from_bundle(tiny_bundle, device="cpu")
    batch = torch.randn(6, 3, 64, 64)
    fp32 = np.array([p.probabilities for p in classifier.predict_tensors(batch, [None] * 6)])

    monkeypatch.setattr(precision, "MAX_DELTA", 0.0)  # no reduced pass is bit-exact: refused
    refused = classifier.check_reduced_precision(batch, torch.bfloat16)
    assert not refused.ok and classifier.reduced_precision is None
    again = np.array([p.probabilities for p in classifier.predict_tensors(batch, [None] * 6)])
    np.testing.assert_array_equal(again, fp32)

    monkeypatch.setattr(precision, "MAX_DELTA", 1.0)
    monkeypatch.setattr(precision, "MIN_AGREEMENT", 0.0)
    kept = classifier.check_reduced_precision(batch, torch.bfloat16)
    assert kept.ok and classifier.reduced_precision is torch.bfloat16
    reduced = np.array([p.probabilities for p in classifier.predict_tensors(batch, [None] * 6)])
    assert 0 < np.abs(reduced - fp32).max() < 0.05  # really bf16 now, and still close
    assert reduced.sum(axis=1) == pytest.approx(np.ones(6), abs=1e-6)  # fp32 softmax of fp32 logits
