"""Run plots (matplotlib, Agg backend, no display needed): curves, confusion matrix, ROC."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from training.evaluate import roc_auc, roc_curve


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure


def write_curves(history: Sequence[Mapping[str, float]], path: str | Path) -> None:
    """Loss and accuracy per epoch, train and val."""
    fig = _figure()(figsize=(9, 3.5))
    epochs = [h["epoch"] + 1 for h in history]
    for ax, key in zip(fig.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for split in ("train", "val"):
            values = [h.get(f"{split}_{key}") for h in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], marker=".", label=split)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # an --epochs 0 run has no curves to label
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_confusion(cm: np.ndarray, labels: Sequence[str], path: str | Path, title: str = "test") -> None:
    cm = np.asarray(cm)
    fig = _figure()(figsize=(5.2, 4.6))
    ax = fig.subplots()
    ax.imshow(cm, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                str(cm[i, j]),
                ha="center",
                va="center",
                color="white" if cm[i, j] > cm.max() / 2 else "black",
            )
    short = [lbl.replace("_pneumonia", "") for lbl in labels]
    ax.set_xticks(range(len(labels)), short)
    ax.set_yticks(range(len(labels)), short)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"confusion matrix ({title})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_roc(probs: np.ndarray, y_true: np.ndarray, labels: Sequence[str], path: str | Path) -> None:
    fig = _figure()(figsize=(5, 5))
    ax = fig.subplots()
    for k, name in enumerate(labels):
        pos = np.asarray(y_true) == k
        if pos.any() and (~pos).any():
            fpr, tpr = roc_curve(probs[:, k], pos)
            ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(probs[:, k], pos):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title("ROC, one-vs-rest (test)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
