"""Training targets: the app's four labels plus set-valued labels that name several of them.

``pneumonia`` (NIH ChestX-ray14 films whose report says pneumonia, cause not known) means
"bacterial OR viral": it is not a fifth output. Its loss is −log(p_bacterial + p_viral), so the
model is pushed towards the pneumonia classes without being told which one, and away from
normal and COVID-19.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from training.data.sources import LABELS

#: Target names: index k < len(LABELS) is a single label; later ones are sets of labels.
TARGETS: tuple[str, ...] = (*LABELS, "pneumonia")
TARGET_SETS: dict[str, tuple[str, ...]] = {
    **{label: (label,) for label in LABELS},
    "pneumonia": ("bacterial_pneumonia", "viral_pneumonia"),
}
PNEUMONIA = TARGETS.index("pneumonia")


def target_index(label: str) -> int:
    return TARGETS.index(label)


def target_mask() -> np.ndarray:
    """(len(TARGETS), len(LABELS)) bool: which outputs each target allows."""
    mask = np.zeros((len(TARGETS), len(LABELS)), dtype=bool)
    for t, name in enumerate(TARGETS):
        for label in TARGET_SETS[name]:
            mask[t, LABELS.index(label)] = True
    return mask


def is_single(targets: np.ndarray) -> np.ndarray:
    """Rows whose target is one of the four labels (the rows every 4-class metric is computed on)."""
    return np.asarray(targets) < len(LABELS)


def hits(predicted: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Whether each predicted label lies in its target set (exact match for single labels)."""
    return target_mask()[np.asarray(targets), np.asarray(predicted)]


class SetValuedCrossEntropy(torch.nn.Module):
    """−log Σ_{k ∈ set(target)} softmax(logits)_k; plain cross-entropy (with optional label smoothing)
    for single-label rows, so a run without set-valued films trains exactly as before."""

    mask: torch.Tensor  # (targets, labels) bool buffer: which labels each target allows

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing
        self.register_buffer("mask", torch.from_numpy(target_mask()), persistent=False)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        targets = targets.long()
        single = targets < logits.shape[1]
        log_norm = torch.logsumexp(logits, dim=1)
        allowed = self.mask.to(targets.device)[targets]  # (B, C)
        log_set = torch.logsumexp(logits.masked_fill(~allowed, float("-inf")), dim=1)
        losses = log_norm - log_set
        if self.label_smoothing > 0 and bool(single.any()):
            uniform = -torch.log_softmax(logits[single], dim=1).mean(dim=1)
            losses = losses.clone()
            losses[single] = (1 - self.label_smoothing) * losses[single] + self.label_smoothing * uniform
        return losses.mean()


def set_valued_report(probs: np.ndarray, targets: np.ndarray, sources: list[str]) -> dict[str, Any]:
    """For the films with a set-valued target (``pneumonia``): how many the model calls COVID-19, how
    many it calls bacterial or viral (a hit), and how many normal — overall and per source."""
    targets = np.asarray(targets)
    pred = np.asarray(probs).argmax(axis=1)
    src = np.asarray(sources)

    def shares(mask: np.ndarray) -> dict[str, Any]:
        n = int(mask.sum())
        if n == 0:
            return {"n": 0}
        p = pred[mask]
        return {
            "n": n,
            "called_covid19": round(float((p == LABELS.index("covid19")).mean()), 4),
            "called_bacterial_or_viral": round(float(hits(p, targets[mask]).mean()), 4),
            "called_normal": round(float((p == LABELS.index("normal")).mean()), 4),
        }

    out: dict[str, Any] = {}
    for t in range(len(LABELS), len(TARGETS)):
        mask = targets == t
        out[TARGETS[t]] = {
            **shares(mask),
            "by_source": {s: shares(mask & (src == s)) for s in sorted(set(src[mask].tolist()))},
        }
    return out
