"""Train the lung segmenter on ``shared/data/lungs`` (torchvision references style).

    nice -n 5 python -m training.lungs --output-dir runs/lungs --time-budget-min 25

Films go through THE app preprocessing (``radiview.inference.preprocess``) to 224×224; masks are
resized with nearest neighbour. Split by patient per source (children and adults in every split).
Writes ``args.json``, ``checkpoint.pth`` (resume), ``best.pth`` (best val min-over-sources Dice),
``splits.csv`` and ``metrics.json`` (val and test Dice per source of the best weights).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from radiview.inference.lung_network import (
    LungNet,
    build_lung_network,
    load_lung_encoder_weights,
    resize_lung_input,
)
from radiview.inference.preprocess import PreprocessConfig
from training.lungs_data import (
    IGNORE,
    LUNG,
    LungCache,
    build_lung_cache,
    read_lung_records,
    split_lungs_by_patient,
)

logger = logging.getLogger("radiview.training")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train the lung segmenter", add_help=add_help)
    p.add_argument("--lungs", default="../shared/data/lungs", help="lung masks folder (manifest.csv)")
    p.add_argument("--cxr", default="../shared/data/cxr", help="films folder (manifest.csv, patient ids)")
    p.add_argument(
        "--backbone-weights", default="../shared/weights/mobilenet_v3_small_imagenet_tfslim_qat.pth"
    )
    p.add_argument("--output-dir", default="runs/lungs")
    p.add_argument("--cache-dir", default="runs/cache", help="decoded films + masks (uint8 .npz)")
    p.add_argument("--width", type=int, default=64, help="decoder width at stride 32")
    p.add_argument("--epochs", type=int, default=40, help="upper bound; the time budget may cut it")
    p.add_argument("--time-budget-min", type=float, default=25.0, help="wall-clock budget for training")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3, help="decoder learning rate (encoder: half)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--split", default="0.7,0.15,0.15")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads", type=int, default=1, help="1: on a shared CPU, 2 OpenMP threads ran 5× slower"
    )
    p.add_argument(
        "--input-size", type=int, default=160, help="segmenter input (the app's 224 input, resized)"
    )
    p.add_argument("--freeze-blocks", type=int, default=4, help="encoder blocks 0..n-1 keep ImageNet weights")
    p.add_argument("--resume", action="store_true", help="continue from output-dir/checkpoint.pth")
    return p


def apply_batch_augment(
    images: torch.Tensor, masks: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Small affine (±10°, ×0.85–1.15, ±8% shift, left/right flip) on film and mask alike, then
    intensity (gamma, contrast, brightness, noise) on the film. (N, 1, H, W) each, film in [0, 1]."""
    n = images.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    angle = uniform(-10.0, 10.0) * math.pi / 180.0
    scale = uniform(0.85, 1.15)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = torch.cos(angle) / scale * flip
    theta[:, 0, 1] = -torch.sin(angle) / scale
    theta[:, 1, 0] = torch.sin(angle) / scale * flip
    theta[:, 1, 1] = torch.cos(angle) / scale
    theta[:, :, 2] = (torch.rand(n, 2, generator=gen) - 0.5) * 0.16
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    masks = F.grid_sample(masks, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    gamma = torch.exp(uniform(-0.4, 0.4)).view(n, 1, 1, 1)
    images = images.clamp(0, 1) ** gamma
    contrast = uniform(0.75, 1.25).view(n, 1, 1, 1)
    shift = uniform(-0.1, 0.1).view(n, 1, 1, 1)
    noise = torch.randn(images.shape, generator=gen) * uniform(0.0, 0.03).view(n, 1, 1, 1)
    return ((images - 0.5) * contrast + 0.5 + shift + noise).clamp(0, 1), masks


def to_network_input(images: torch.Tensor, config: PreprocessConfig, size: int) -> torch.Tensor:
    """(N, 1, 224, 224) [0, 1] → the segmenter's input, exactly as the app makes it: normalised as
    ``to_input_batch`` does, then ``resize_lung_input`` (the app resizes the classifier's input)."""
    mean = torch.tensor(config.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(config.std, dtype=torch.float32).view(1, -1, 1, 1)
    return resize_lung_input((images - mean) / std, size)


def lung_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """BCE + soft Dice at the mask's resolution; "ignore" pixels (devices over the lungs) count in neither."""
    logits = F.interpolate(logits, size=masks.shape[-2:], mode="bilinear", align_corners=False)
    target = (masks == LUNG).float()
    weight = (masks != IGNORE).float()
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=weight)
    prob = torch.sigmoid(logits) * weight
    inter = (prob * target).sum(dim=(1, 2, 3))
    dice = (2 * inter + 1) / (prob.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) + 1)
    return bce + (1 - dice).mean()


def train_one_epoch(
    net: LungNet,
    data: LungCache,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: PreprocessConfig,
    args: argparse.Namespace,
    gen: torch.Generator,
) -> float:
    net.train()
    for module in net.features.modules():  # TF-slim BN statistics are kept (small batches)
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
    order = torch.randperm(len(data.records), generator=gen).numpy()
    losses = []
    for start in range(0, len(order) - args.batch_size + 1, args.batch_size):
        idx = order[start : start + args.batch_size]
        images = torch.from_numpy(data.images[idx]).float().div(255.0).unsqueeze(1)
        masks = torch.from_numpy(data.masks[idx]).float().unsqueeze(1)
        images, masks = apply_batch_augment(images, masks, gen)
        loss = lung_loss(net(to_network_input(images, config, args.input_size)), masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        if len(losses) % 20 == 0:
            logger.info("  step %d loss %.4f", len(losses), np.mean(losses[-20:]))
    return float(np.mean(losses))


@torch.no_grad()
def predict_masks(
    net: LungNet, images_u8: np.ndarray, config: PreprocessConfig, size: int, batch: int = 32
) -> np.ndarray:
    """Lung probability (N, H, W) float32 at the input size."""
    net.eval()
    out = []
    for start in range(0, len(images_u8), batch):
        x = torch.from_numpy(images_u8[start : start + batch]).float().div(255.0).unsqueeze(1)
        logits = net(to_network_input(x, config, size))
        logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        out.append(torch.sigmoid(logits)[:, 0].numpy())
    return np.concatenate(out)


def dice_per_film(prob: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Dice of ``prob ≥ 0.5`` against the lung pixels, "ignore" pixels left out, one per film."""
    valid = masks != IGNORE
    pred = (prob >= 0.5) & valid
    true = (masks == LUNG) & valid
    inter = (pred & true).sum(axis=(1, 2))
    total = pred.sum(axis=(1, 2)) + true.sum(axis=(1, 2))
    return np.where(total > 0, 2.0 * inter / np.maximum(total, 1), 1.0)


def evaluate(
    net: LungNet, data: LungCache, config: PreprocessConfig, size: int
) -> dict[str, dict[str, float]]:
    """Dice per source (at 224 × 224): films, mean, median, 5th percentile and minimum."""
    dice = dice_per_film(predict_masks(net, data.images, config, size), data.masks)
    sources = data.sources()
    out = {}
    for source in sorted(set(sources)):
        d = dice[sources == source]
        out[str(source)] = {
            "films": int(d.size),
            "dice_mean": round(float(d.mean()), 4),
            "dice_median": round(float(np.median(d)), 4),
            "dice_p05": round(float(np.percentile(d, 5)), 4),
            "dice_min": round(float(d.min()), 4),
        }
    return out


def _write_splits(path: Path, splits: dict[str, LungCache]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["split", "film", "source", "patient_id"])
        for name, part in splits.items():
            for r in part.records:
                w.writerow([name, r.film, r.source, r.patient_id])


def _build(args: argparse.Namespace) -> tuple[LungNet, torch.optim.Optimizer]:
    net = build_lung_network(args.width)
    if args.backbone_weights not in ("", "none"):
        load_lung_encoder_weights(
            net, torch.load(args.backbone_weights, map_location="cpu", weights_only=True)
        )
    for block in list(net.features)[: args.freeze_blocks]:
        block.requires_grad_(False)  # no backward through the costly high-resolution stem
    encoder = [p for p in net.features.parameters() if p.requires_grad]
    decoder = [p for n, p in net.named_parameters() if not n.startswith("features.")]
    optimizer = torch.optim.AdamW(
        [{"params": encoder, "lr": args.lr / 2}, {"params": decoder, "lr": args.lr}],
        weight_decay=args.weight_decay,
    )
    return net, optimizer


def main(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "args.json").write_text(json.dumps(vars(args), indent=2), encoding="utf-8")
    config = PreprocessConfig()
    records = read_lung_records(args.lungs, args.cxr)
    cache = build_lung_cache(records, config, args.cache_dir)
    fractions = tuple(float(v) for v in args.split.split(","))
    parts = split_lungs_by_patient(records, fractions, seed=args.seed)
    splits = {name: cache.subset(idx) for name, idx in parts.items()}
    _write_splits(out / "splits.csv", splits)
    logger.info("films per split: %s", {k: len(v.records) for k, v in splits.items()})

    net, optimizer = _build(args)
    steps_per_epoch = len(splits["train"].records) // args.batch_size
    plan = {"epochs": args.epochs}  # shrunk to the time budget after the first epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: 0.5 * (1 + math.cos(math.pi * min(1.0, step / (plan["epochs"] * steps_per_epoch)))),
    )
    start_epoch, best, history = 0, -1.0, []
    if args.resume and (out / "checkpoint.pth").is_file():
        ckpt = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=True)
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start_epoch, best = int(ckpt["epoch"]) + 1, float(ckpt["best"])
        plan["epochs"] = min(int(ckpt["planned"]), args.epochs)  # --epochs N: stop (or just evaluate) at N
        scheduler.last_epoch = start_epoch * steps_per_epoch
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.monotonic()
    for epoch in range(start_epoch, plan["epochs"]):  # plan shrinks to the budget as epochs are timed
        loss = train_one_epoch(net, splits["train"], optimizer, scheduler, config, args, gen)
        val = evaluate(net, splits["val"], config, args.input_size)
        score = min(v["dice_mean"] for v in val.values())
        elapsed = time.monotonic() - t0
        # re-plan on the mean epoch time so far: on a shared CPU epochs slow down as others start
        per_epoch_s = elapsed / (epoch + 1 - start_epoch)
        fits = start_epoch + int(args.time_budget_min * 60 / per_epoch_s)
        plan["epochs"] = max(epoch + 1, min(args.epochs, fits))
        history.append({"epoch": epoch, "loss": round(loss, 4), "val": val, "elapsed_s": round(elapsed, 1)})
        logger.info("epoch %d/%d loss %.4f val %s (%.0f s)", epoch, plan["epochs"], loss, val, elapsed)
        if score > best:
            best = score
            torch.save({"model": net.state_dict(), "epoch": epoch, "val": val}, out / "best.pth")
        torch.save(
            {
                "model": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch,
                "best": best,
                "planned": plan["epochs"],
            },
            out / "checkpoint.pth",
        )
        if epoch + 1 >= plan["epochs"]:
            break
    best_state = torch.load(out / "best.pth", map_location="cpu", weights_only=True)
    net.load_state_dict(best_state["model"])
    metrics = {
        "best_epoch": int(best_state["epoch"]),
        "epochs_run": len(history) + start_epoch,
        "films": {k: len(v.records) for k, v in splits.items()},
        "patients": {k: len({r.patient_id for r in v.records}) for k, v in splits.items()},
        "val": evaluate(net, splits["val"], config, args.input_size),
        "test": evaluate(net, splits["test"], config, args.input_size),
        "train_wall_s": round(time.monotonic() - t0, 1),
        "history": history,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    logger.info("test Dice: %s", metrics["test"])
    return metrics


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    main(get_args_parser().parse_args())
