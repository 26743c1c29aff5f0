"""The two training modes, each set up as a ``TrainSetup``: what trains, on which batches, at which rates.

* ``frozen``: the backbone (or ``features[:K]``) is fixed, so its outputs are computed once for a clean
  pass of every film plus ``--feature-passes`` augmented passes of train (``feature_bank``, cached on disk).
* ``finetune``: the whole network trains on films, batched on the device or film by film.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from radiview.atomic import atomic_write
from radiview.inference.gate import spatial_cells
from radiview.inference.network import RadiviewNet
from radiview.inference.preprocess import PreprocessConfig
from training.augment import build_augment
from training.batch_augment import BatchAugment
from training.burned_text import RandBurnedText, marker_bank
from training.calibrate import SPATIAL_GRID
from training.data.dataset import FilmDataset, ImageCache
from training.data.splits import SPLITS
from training.device_batches import DeviceFilmBatches
from training.model import TailNet, extract_features, freeze_backbone, set_backbone_bn_eval
from training.run import Distributed
from training.sampler import BalancedSampler, EpochLoader, FeatureBatches, balanced_indices, tensor_batches

logger = logging.getLogger("radiview.training")

SplitArrays = Callable[[str], np.ndarray]


@dataclass
class TrainSetup:
    """``model`` trains on ``train_loader``; ``eval_model`` is scored on ``val_loader`` each epoch.
    ``clean_features``/``clean_cells`` give the final network's pooled features / layout cells per split
    when they are already known (frozen modes), so ``finish`` need not run every film again."""

    model: nn.Module
    eval_model: nn.Module
    train_loader: Any
    val_loader: Any
    param_groups: list[dict[str, Any]]
    after_train_mode: Callable[[], None] | None = None
    clean_features: SplitArrays | None = None
    clean_cells: SplitArrays | None = None
    timings: dict[str, float] | None = None


def augment_for(args: argparse.Namespace) -> Any:
    """The film-by-film recipe of ``--augment``, with ``--burned-text`` marks pasted last."""
    augment = build_augment(args.augment)
    if augment is not None and args.burned_text > 0:
        augment = type(augment)((*augment.transforms, RandBurnedText(p=args.burned_text)))
    return augment


def frozen_setup(
    net: RadiviewNet,
    splits: dict[str, ImageCache],
    y: dict[str, np.ndarray],
    args: argparse.Namespace,
    config: PreprocessConfig,
    device: str,
    progress: bool,
) -> TrainSetup:
    """Head (and ``features[K:]`` with ``--trainable-from K``) on cached features of a fixed backbone."""
    partial = args.trainable_from < len(net.features)
    freeze_backbone(net, trainable_from=args.trainable_from if partial else None)
    t0 = time.perf_counter()
    feats, cache_hits = feature_bank(net, splits, args, config, device, progress)
    timings = {"features_s": time.perf_counter() - t0, "feature_passes_from_cache": cache_hits}
    aug_keys = sorted(k for k in feats if k.startswith("train_aug"))
    bank = np.stack([feats["train_clean"]] + [feats[k] for k in aug_keys])
    model: nn.Module = TailNet(net, args.trainable_from) if partial else net.head
    params = [{"params": net.head.parameters(), "lr": args.lr}]
    after_train_mode = None
    if partial:
        params.append(
            {
                "params": net.features[args.trainable_from :].parameters(),
                "lr": args.lr * args.backbone_lr_factor,
            }
        )
        after_train_mode = None if args.bn_train else (lambda: set_backbone_bn_eval(net))

    def clean_features(split: str) -> np.ndarray:  # pooled features of the final network
        if not partial:
            return feats[f"{split}_clean"]
        tail = TailNet(net, args.trainable_from).eval()
        with torch.no_grad():
            batches = tensor_batches(feats[f"{split}_clean"], y[split], 64)
            return np.concatenate([tail.pooled(x).numpy() for x, _ in batches])

    def clean_cells(split: str) -> np.ndarray:  # the layout gate's cells, from the same activations
        tail = TailNet(net, args.trainable_from).eval()
        with torch.no_grad():
            batches = tensor_batches(feats[f"{split}_clean"], y[split], 64)
            return np.concatenate(
                [spatial_cells(tail.feature_map(x), SPATIAL_GRID).numpy() for x, _ in batches]
            )

    return TrainSetup(
        model=model,
        eval_model=model,
        train_loader=FeatureBatches(bank, y["train"], args.batch_size, args.seed, args.oversample),
        val_loader=tensor_batches(feats["val_clean"], y["val"], 64 if partial else 512),
        param_groups=params,
        after_train_mode=after_train_mode,
        clean_features=clean_features,
        clean_cells=clean_cells if partial else None,
        timings=timings,
    )


def finetune_setup(
    net: RadiviewNet,
    splits: dict[str, ImageCache],
    y: dict[str, np.ndarray],
    args: argparse.Namespace,
    config: PreprocessConfig,
    device: str,
    ddp: Distributed,
    amp: bool,
) -> TrainSetup:
    """The whole network on films (DDP-wrapped under torchrun); the backbone at ``--backbone-lr-factor``."""
    freeze_backbone(net, trainable_from=0)
    net.to(device)
    if amp:
        net.to(memory_format=torch.channels_last)
    model: nn.Module = net
    if ddp.enabled:
        model = nn.parallel.DistributedDataParallel(
            net, device_ids=[device] if device.startswith("cuda") else None
        )
    train_loader, val_loader = finetune_loaders(splits, y, args, config, device, ddp, amp)
    return TrainSetup(
        model=model,
        eval_model=net,
        train_loader=train_loader,
        val_loader=val_loader,
        param_groups=[
            {"params": net.head.parameters(), "lr": args.lr},
            {"params": net.features.parameters(), "lr": args.lr * args.backbone_lr_factor},
        ],
        after_train_mode=None if args.bn_train else (lambda: set_backbone_bn_eval(net)),
    )


def feature_bank(
    net: RadiviewNet,
    splits: dict[str, ImageCache],
    args: argparse.Namespace,
    config: PreprocessConfig,
    device: str,
    progress: bool,
) -> tuple[dict[str, np.ndarray], int]:
    """Clean features of every split plus augmented passes of train, cached on disk when allowed
    (pooled 576-d features, or with ``--trainable-from`` K < 13 the activations after ``features[:K]``).
    Returns the arrays by key and how many came from the cache."""
    upto = args.trainable_from if args.trainable_from < len(net.features) else None
    augment = augment_for(args)
    weights_id = hashlib.sha256(
        b"".join(v.detach().cpu().numpy().tobytes() for v in net.features.state_dict().values())
    ).hexdigest()[:12]
    out: dict[str, np.ndarray] = {}
    cache_hits = 0
    jobs: list[tuple[str, str, Any, int]] = [(f"{s}_clean", s, None, 0) for s in SPLITS]
    if augment is not None:
        jobs += [(f"train_aug{k}", "train", augment, k + 1) for k in range(args.feature_passes)]
    for key, split, aug, pass_seed in jobs:
        images = splits[split].images
        digest = hashlib.sha256(images.tobytes()).hexdigest()[:12]
        level = "pooled" if upto is None else f"upto{upto}"
        tag = (
            (args.augment + (f"+text{args.burned_text}" if args.burned_text > 0 else "")) if aug else "clean"
        )
        name = f"feat-{weights_id}-{digest}-{level}-{tag}-{args.seed}-{pass_seed}.npy"
        path = Path(args.cache_dir) / name if args.cache_dir else None
        if path is not None and path.is_file():
            out[key] = np.load(path)
            logger.info("features %s: cache hit %s", key, path.name)
            cache_hits += 1
            continue
        out[key] = _extract_pass(
            net, images, config, aug, args.seed * 1000 + pass_seed, device, progress, key, upto
        )
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as fh:
                np.save(fh, out[key])
    return out, cache_hits


def _extract_pass(
    net: RadiviewNet,
    images: np.ndarray,
    config: PreprocessConfig,
    aug: Any,
    seed: int,
    device: str,
    progress: bool,
    key: str,
    upto: int | None,
) -> np.ndarray:
    t0 = time.perf_counter()
    feats = extract_features(
        net, images, config, augment=aug, seed=seed, device=device, progress=progress, desc=key, upto=upto
    )
    elapsed = time.perf_counter() - t0
    logger.info(
        "features %s: %d films in %.1f s (%.1f films/s)",
        key,
        len(images),
        elapsed,
        len(images) / max(elapsed, 1e-9),
    )
    return feats


def finetune_loaders(
    splits: dict[str, ImageCache],
    y: dict[str, np.ndarray],
    args: argparse.Namespace,
    config: PreprocessConfig,
    device: str,
    ddp: Distributed,
    amp: bool,
) -> tuple[Any, Any]:
    """(train, val) batch iterables for ``--mode finetune``: batched on the device, or film by film."""
    if args.pipeline == "device" or (args.pipeline == "auto" and device.startswith("cuda")):
        return _device_loaders(splits, y, args, config, device, ddp, amp)
    train_ds = FilmDataset(splits["train"].images, y["train"], config, augment_for(args), seed=args.seed)
    sampler = BalancedSampler(y["train"], args.seed, args.oversample, ddp.rank, ddp.world_size)
    loader = DataLoader(
        train_ds,
        batch_size=args.batch_size,
        sampler=sampler,
        num_workers=args.loader_workers,
        drop_last=len(sampler) > args.batch_size,
        pin_memory=device.startswith("cuda"),
        persistent_workers=args.loader_workers > 0,
    )
    val_loader = DataLoader(FilmDataset(splits["val"].images, y["val"], config), batch_size=64)
    return EpochLoader(loader, train_ds, sampler), val_loader


def _device_loaders(
    splits: dict[str, ImageCache],
    y: dict[str, np.ndarray],
    args: argparse.Namespace,
    config: PreprocessConfig,
    device: str,
    ddp: Distributed,
    amp: bool,
) -> tuple[DeviceFilmBatches, DeviceFilmBatches]:
    augment = None
    if args.augment != "none":
        h, w = config.input_size
        bank = (
            marker_bank(1024 if device.startswith("cuda") else 128, h, w, seed=args.seed)
            if args.burned_text > 0
            else None
        )
        augment = BatchAugment(
            markers=None if bank is None else torch.from_numpy(bank).to(device), text_p=args.burned_text
        )

    def plan(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return balanced_indices(labels, rng, args.oversample)

    train = DeviceFilmBatches(
        splits["train"].images,
        y["train"],
        config,
        device,
        args.batch_size,
        args.seed,
        augment,
        plan,
        ddp.rank,
        ddp.world_size,
        channels_last=amp,
        drop_last=True,
    )
    val = DeviceFilmBatches(splits["val"].images, y["val"], config, device, 256, channels_last=amp)
    return train, val
