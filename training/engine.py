"""The epoch loop: train one epoch, score val, keep the best state, checkpoint every epoch, resume."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.calibrate import softmax
from training.evaluate import evaluate, macro_auc
from training.modes import TrainSetup
from training.run import Distributed, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from training.targets import hits, is_single

logger = logging.getLogger("radiview.training")


def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: Any,
    device: str,
    epoch: int,
    progress: bool = False,
    after_train_mode: Any = None,
    amp: bool = False,
) -> dict[str, float]:
    """One pass over ``loader`` (batches of (x, y)); returns mean loss and accuracy (a set-valued target
    counts as hit when the top label is in its set). ``amp``: bf16 autocast (CUDA only)."""
    from tqdm import tqdm

    model.train()
    if after_train_mode is not None:
        after_train_mode()
    total, correct, loss_sum = 0, 0, 0.0
    for x, y in tqdm(loader, desc=f"epoch {epoch + 1}", disable=not progress, leave=False, mininterval=2):
        x, y = x.to(device, non_blocking=True), torch.as_tensor(y).to(device, non_blocking=True)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
            logits = model(x)
        loss = criterion(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = len(y)
        total += n
        loss_sum += float(loss.detach()) * n
        correct += int(hits(logits.detach().argmax(1).cpu().numpy(), y.cpu().numpy()).sum())
    return {"loss": loss_sum / max(total, 1), "accuracy": correct / max(total, 1)}


def metric_of(logits: np.ndarray, labels: np.ndarray, loss: float, name: str) -> float:
    """Model-selection metric on val. Accuracy and AUC use the single-label films; balanced accuracy
    also averages in the set-valued targets' hit rate (e.g. nih pneumonia called bacterial or viral)."""
    pred = logits.argmax(1)
    if name == "balanced_accuracy":
        rates = [float(hits(pred[labels == k], labels[labels == k]).mean()) for k in np.unique(labels)]
        return float(np.mean(rates))
    single = is_single(labels)
    logits, labels, pred = logits[single], labels[single], pred[single]
    if name == "accuracy":
        return float((pred == labels).mean())
    if name == "neg_loss":
        return -loss
    if name == "macro_auc":
        return macro_auc(softmax(logits), labels)
    sens = [float((pred[labels == k] == k).mean()) for k in np.unique(labels)]
    return float(np.mean(sens))


@dataclass
class FitState:
    """What a checkpoint carries besides the network and optimiser: where the run is and its best epoch."""

    start_epoch: int = 0
    best_metric: float = -float("inf")
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_at_epoch: int | None = None  # set when --stop-after-epochs ended the run early


class Fit:
    """One run's optimiser, schedule and epoch loop over a ``TrainSetup`` (checkpoint.pt every epoch)."""

    def __init__(
        self,
        net: nn.Module,
        setup: TrainSetup,
        criterion: nn.Module,
        args: argparse.Namespace,
        run_dir: Path,
        device: str,
    ) -> None:
        self.net, self.setup, self.criterion, self.args, self.device = net, setup, criterion, args, device
        self.optimizer = torch.optim.Adam(setup.param_groups, lr=args.lr, weight_decay=args.weight_decay)
        self.scheduler: Any = None
        if args.lr_schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=max(args.epochs, 1)
            )
        self.ckpt_path = run_dir / "checkpoint.pt"
        self.state = FitState()

    def resume(self) -> None:
        """``--resume``: continue from checkpoint.pt when there is one."""
        if not self.ckpt_path.is_file():
            logger.info("no checkpoint at %s: starting fresh", self.ckpt_path)
            return
        ckpt = load_checkpoint(self.ckpt_path)
        self.net.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt.get("scheduler") is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
        self.state = FitState(ckpt["epoch"] + 1, ckpt["best_metric"], ckpt["best_state"], ckpt["history"])
        logger.info(
            "resumed from %s at epoch %d (best %s %.4f)",
            self.ckpt_path,
            self.state.start_epoch + 1,
            self.args.select_metric,
            self.state.best_metric,
        )

    def run(self, ddp: Distributed, progress: bool, amp: bool) -> FitState:
        """Epochs from where the run stands to ``--epochs`` (or ``--stop-after-epochs`` of them)."""
        args, setup = self.args, self.setup
        for epochs_run, epoch in enumerate(range(self.state.start_epoch, args.epochs), start=1):
            setup.train_loader.set_epoch(epoch)
            stats = train_one_epoch(
                setup.model,
                self.criterion,
                self.optimizer,
                setup.train_loader,
                self.device,
                epoch,
                progress,
                setup.after_train_mode,
                amp,
            )
            if self.scheduler is not None:
                self.scheduler.step()
            if ddp.is_main:
                self._validate(epoch, stats)
                self._checkpoint(epoch)
            ddp.barrier()
            if args.stop_after_epochs and epochs_run >= args.stop_after_epochs and epoch + 1 < args.epochs:
                logger.info("stopping after %d epoch(s) as asked; continue with --resume", epochs_run)
                self.state.stopped_at_epoch = epoch + 1
                break
        return self.state

    def _validate(self, epoch: int, stats: dict[str, float]) -> None:
        args, state = self.args, self.state
        logits, labels, vloss = evaluate(self.setup.eval_model, self.setup.val_loader, self.device)
        metric = metric_of(logits, labels, vloss, args.select_metric)
        record = {
            "epoch": epoch,
            "train_loss": stats["loss"],
            "train_accuracy": stats["accuracy"],
            "val_loss": vloss,
            "val_accuracy": float((logits.argmax(1) == labels).mean()),
            args.select_metric: metric,
        }
        state.history.append(record)
        if metric > state.best_metric:
            state.best_metric = metric
            state.best_state = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        logger.info(
            "epoch %d/%d train loss %.4f acc %.4f | val loss %.4f acc %.4f %s %.4f",
            epoch + 1,
            args.epochs,
            stats["loss"],
            stats["accuracy"],
            vloss,
            record["val_accuracy"],
            args.select_metric,
            metric,
        )

    def _checkpoint(self, epoch: int) -> None:
        save_checkpoint(
            self.ckpt_path,
            {
                "model": self.net.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "epoch": epoch,
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "rng": rng_state(),
                "best_metric": self.state.best_metric,
                "best_state": self.state.best_state,
                "history": self.state.history,
                "args": vars(self.args),
            },
        )
