"""Training entry (torchvision references style): ``get_args_parser()`` → ``main(args)``.

Two modes on the same network the app runs (``radiview.inference.network.RadiviewNet``):

* ``frozen`` (default, the paper's method, minutes on a CPU): the ImageNet backbone is fixed, so its
  pooled features are computed once for a clean pass of every film plus ``--feature-passes``
  augmented passes of the train split; the head then trains for many epochs over those features.
* ``finetune``: the backbone trains too (``--backbone-lr-factor``), optionally data-parallel under
  ``torchrun --nproc_per_node N`` (DDP; gloo on CPU, nccl on CUDA; only rank 0 writes).

Every run directory gets args.json, config.json, train.log, splits.csv, checkpoint.pt (atomic, every
epoch; ``--resume`` continues it), metrics.json and plots; ``--export DIR`` writes the app's bundle.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import os
import random
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Sampler

from radiview.atomic import atomic_write
from radiview.inference.preprocess import PreprocessConfig
from training.augment import AUGMENTATIONS, build_augment
from training.batch_augment import BatchAugment
from training.burned_text import RandBurnedText, marker_bank
from training.calibrate import (
    SPATIAL_CHANNELS,
    SPATIAL_GRID,
    GateFit,
    expected_calibration_error,
    fit_gate_features,
    fit_temperature,
    gate_threshold,
    gate_thresholds,
    softmax,
)
from training.data.dataset import FilmDataset, ImageCache, build_image_cache, loader_name, prepare_films
from training.data.merge import merge_records, remove_near_duplicates
from training.data.sources import LABELS, Record, filter_sources, load_source
from training.data.splits import SPLITS, assert_patient_disjoint, count_table, split_by_patient
from training.device_batches import DeviceFilmBatches
from training.evaluate import evaluate, full_report, roc_curve, summarize
from training.holdout import evaluate_holdout, split_off_holdout
from training.model import (
    DEFAULT_BACKBONE_WEIGHTS,
    TailNet,
    architecture_of,
    build_model,
    extract_features,
    extract_gate_inputs,
    freeze_backbone,
    pick_device,
    set_backbone_bn_eval,
)
from training.targets import TARGETS, SetValuedCrossEntropy, hits, is_single, set_valued_report

logger = logging.getLogger("radiview.training")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train RadiView's chest X-ray classifier", add_help=add_help)
    p.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="PATH",
        help="manifest CSV, class-folder tree or Kermany chest_xray folder (repeatable)",
    )
    p.add_argument("--sources", default="", help="e.g. 'kermany,ieee8023' (only these) or '-figure1' (not)")
    p.add_argument("--output-dir", default="runs/latest", help="run directory")
    p.add_argument("--mode", choices=("frozen", "finetune"), default="frozen")
    p.add_argument(
        "--backbone-weights",
        default=DEFAULT_BACKBONE_WEIGHTS,
        help="ImageNet .pth, 'torchvision' (IMAGENET1K_V1, cached download) or 'none'",
    )
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--hidden", type=int, default=2500)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--backbone-lr-factor", type=float, default=0.1, help="finetune: backbone lr = lr × this")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument(
        "--lr-schedule",
        choices=("constant", "cosine"),
        default="constant",
        help="cosine: decay every group's lr to 0 over --epochs (per epoch)",
    )
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--bn-train", action="store_true", help="finetune: let backbone BatchNorm update")
    p.add_argument("--augment", choices=AUGMENTATIONS, default="source")
    p.add_argument(
        "--burned-text",
        type=float,
        default=0.0,
        metavar="P",
        help="share of training films that get random burned-in letters/markers/arrows/rulers",
    )
    p.add_argument(
        "--pipeline",
        choices=("device", "films"),
        default="device",
        help="finetune: batched augmentation on the training device from cached uint8 films "
        "(device) or film-by-film augmentation in a DataLoader (films)",
    )
    p.add_argument(
        "--loader-workers", type=int, default=0, help="finetune --pipeline films: DataLoader workers"
    )
    p.add_argument(
        "--amp",
        choices=("auto", "off"),
        default="auto",
        help="auto: bf16 autocast and channels_last on CUDA (never on the CPU)",
    )
    p.add_argument(
        "--holdout-source",
        default="",
        metavar="NAME[,NAME]",
        help="leave these sources (and every patient with a film in them) out of train/val/test "
        "entirely; report their metrics and gate acceptance after training",
    )
    p.add_argument(
        "--loso-metrics",
        action="append",
        default=[],
        metavar="METRICS_JSON",
        help="metrics.json of --holdout-source runs of the same recipe, put in the card (repeatable)",
    )
    p.add_argument(
        "--trained-by",
        default="",
        metavar="TEXT",
        help="with --init-from: how that state was trained (command, machine), kept in the card",
    )
    p.add_argument(
        "--init-from",
        default="",
        metavar="STATE",
        help="start from this network state_dict (.pt, e.g. a run's best.pt); with --epochs 0 the "
        "run only calibrates, fits the gate, evaluates and exports it",
    )
    p.add_argument("--feature-passes", type=int, default=4, help="frozen: augmented passes of train")
    p.add_argument(
        "--trainable-from",
        type=int,
        default=13,
        help="frozen: also train backbone blocks features[K:] on cached features[:K] activations "
        "(13 = head only, the paper's method; 9 = the last 7×7 blocks)",
    )
    p.add_argument(
        "--no-oversample",
        dest="oversample",
        action="store_false",
        help="do not expand every class to the largest class's count each epoch",
    )
    p.add_argument(
        "--select-metric",
        choices=("balanced_accuracy", "accuracy", "macro_auc", "neg_loss"),
        default="balanced_accuracy",
        help="val metric that picks the best epoch",
    )
    p.add_argument("--split", default="0.7,0.15,0.15", help="train,val,test fractions (by patient)")
    p.add_argument(
        "--dedup-distance",
        type=int,
        default=4,
        help="dHash bits within which films are duplicate candidates (-1: no de-duplication)",
    )
    p.add_argument(
        "--dedup-correlation",
        type=float,
        default=0.97,
        help="32×32 thumbnail correlation that confirms a candidate as a near-duplicate",
    )
    p.add_argument("--gate-acceptance", type=float, default=0.99, help="share of val films the gate accepts")
    p.add_argument("--gate-min-std", type=float, default=0.02)
    p.add_argument("--gate-max-colorfulness", type=float, default=0.08)
    p.add_argument(
        "--gate-layout",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add the layout check (features.12 map pooled to 2×2 cells, PCA, Mahalanobis)",
    )
    p.add_argument(
        "--gate-spatial-channels",
        type=int,
        default=SPATIAL_CHANNELS,
        help="channels per cell kept by the layout check's PCA projection",
    )
    p.add_argument(
        "--refit-gate-from",
        default="",
        metavar="BUNDLE",
        help="do not train: refit only the input gate of this bundle's network on the same splits "
        "(--data etc. must give the bundle's splits; checked), write it with --export",
    )
    p.add_argument(
        "--ood", default="", help="manifest CSV (file, kind) of non-CXR images to evaluate the gate on"
    )
    p.add_argument(
        "--expand",
        type=int,
        default=0,
        metavar="N",
        help="write an offline augmented train copy with N films per class, then stop",
    )
    p.add_argument("--export", default="", metavar="DIR", help="write the app's model bundle here")
    p.add_argument("--model-version", default="1.0.0")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="processes that decode films")
    p.add_argument("--cache-dir", default="runs/.cache", help="decoded-film/feature cache ('' to disable)")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (0: torch's default; 1 is fastest on a busy shared machine)",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/checkpoint.pt")
    p.add_argument(
        "--stop-after-epochs",
        type=int,
        default=0,
        help="end the run after this many epochs in this invocation (simulates an interruption)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars (default: when stderr is a terminal)",
    )
    return p


# ---------------------------------------------------------------------------------------------- setup


class Distributed:
    """WORLD_SIZE/RANK from torchrun; gloo on CPU, nccl on CUDA."""

    def __init__(self, device: str) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world_size > 1
        if self.enabled and not dist.is_initialized():
            backend = "nccl" if device.startswith("cuda") else "gloo"
            dist.init_process_group(backend=backend)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def setup_logging(run_dir: Path, is_main: bool) -> None:
    logger.setLevel(logging.INFO)
    for h in list(logger.handlers):
        if getattr(h, "_radiview_training", False):
            logger.removeHandler(h)
            h.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if is_main:
        handlers.append(logging.FileHandler(run_dir / "train.log", encoding="utf-8"))
    for h in handlers:
        h.setFormatter(fmt)
        h._radiview_training = True  # type: ignore[attr-defined]
        logger.addHandler(h)
    logger.propagate = False


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (temp file in the same folder, then rename)."""
    with atomic_write(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, default=_json_default)
        fh.write("\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")


def git_commit() -> str:
    repo = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "training", "radiview"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


# ----------------------------------------------------------------------------------------------- data


def load_data(args: argparse.Namespace, config: PreprocessConfig, progress: bool) -> dict[str, Any]:
    """Read, merge, relabel, decode, de-duplicate and split. Returns caches per split and a summary."""
    if not args.data:
        raise SystemExit("no --data given")
    groups = [load_source(d) for d in args.data]
    records = filter_sources(merge_records(groups), args.sources)
    if not records:
        raise SystemExit(f"no films with a known label in {args.data} (sources filter {args.sources!r})")
    cache = build_image_cache(
        records, config, workers=args.workers, cache_dir=args.cache_dir or None, progress=progress
    )
    duplicates: list[dict[str, str]] = []
    given = [r.extras.get("split") for r in cache.records]
    manifest_split = all(s in SPLITS for s in given)
    if manifest_split:
        # e.g. the --expand output: its augmented copies are meant to resemble their originals
        logger.info("using the manifest's split column; near-duplicate removal skipped")
    elif args.dedup_distance >= 0:
        keep, pairs = remove_near_duplicates(
            cache.records, cache.images, args.dedup_distance, args.dedup_correlation
        )
        duplicates = [{"kept": cache.records[k].path, "removed": cache.records[d].path} for k, d in pairs]
        cache = ImageCache([cache.records[i] for i in keep], cache.images[keep], cache.failures)
    cache, holdout = split_off_holdout(cache, getattr(args, "holdout_source", ""))
    if holdout is not None:
        given = [r.extras.get("split") for r in cache.records]
        logger.info(
            "held out %s: %d films (%d patients' films removed from training)",
            args.holdout_source,
            len(holdout.records),
            len(records) - len(duplicates) - len(cache.records),
        )
    fractions = tuple(float(v) for v in args.split.split(","))
    if manifest_split:
        parts = {name: [i for i, s in enumerate(given) if s == name] for name in SPLITS}
    else:
        parts = split_by_patient(cache.records, fractions, seed=args.seed)
    splits = {name: cache.subset(parts[name]) for name in SPLITS}
    assert_patient_disjoint({name: s.records for name, s in splits.items()})
    summary = {
        "locations": list(args.data),
        "sources_filter": args.sources,
        "loader": loader_name(),
        "films_listed": len(records),
        "failed_to_load": len(cache.failures),
        "near_duplicates_removed": len(duplicates),
        "dedup": f"dHash 64-bit (9×8) within {args.dedup_distance} bits, confirmed by 32×32 thumbnail "
        f"correlation ≥ {args.dedup_correlation}; first occurrence kept",
        "split": {
            "method": "from the manifest's split column"
            if manifest_split
            else "by patient, stratified by source and label",
            "fractions": list(fractions),
            "seed": args.seed,
        },
        "counts": {name: count_table(s.records) for name, s in splits.items()},
        "totals": {name: len(s.records) for name, s in splits.items()},
        "patients": {name: len({r.patient_id for r in s.records}) for name, s in splits.items()},
    }
    logger.info(
        "films: %s (near-duplicates removed: %d, failed: %d)",
        summary["totals"],
        len(duplicates),
        len(cache.failures),
    )
    if holdout is not None:
        summary["holdout"] = {
            "sources": args.holdout_source,
            "films": len(holdout.records),
            "patients": len({r.patient_id for r in holdout.records}),
            "counts": count_table(holdout.records),
        }
    return {"splits": splits, "summary": summary, "duplicates": duplicates, "holdout": holdout}


def write_splits_csv(path: Path, splits: dict[str, ImageCache]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["split", "path", "label", "source", "patient_id"])
        for name, cache in splits.items():
            for r in cache.records:
                w.writerow([name, r.path, r.label, r.source, r.patient_id])


def balanced_indices(labels: np.ndarray, rng: np.random.Generator, oversample: bool = True) -> np.ndarray:
    """One epoch's shuffled indices; with ``oversample`` every class is topped up (random repeats) to the
    largest class's count — the paper's expansion to equal class counts, redrawn each epoch."""
    labels = np.asarray(labels)
    if not oversample:
        return rng.permutation(len(labels))
    present = [k for k in np.unique(labels)]
    target = max(int((labels == k).sum()) for k in present)
    chunks = []
    for k in present:
        idx = np.flatnonzero(labels == k)
        extra = rng.choice(idx, size=target - len(idx), replace=True) if target > len(idx) else idx[:0]
        chunks.append(np.concatenate([idx, extra]))
    return rng.permutation(np.concatenate(chunks))


class BalancedSampler(Sampler[int]):
    """``balanced_indices`` per epoch (seeded by seed+epoch), sharded across DDP ranks as DistributedSampler
    shards."""

    def __init__(
        self, labels: np.ndarray, seed: int, oversample: bool = True, rank: int = 0, world_size: int = 1
    ) -> None:
        self.labels = np.asarray(labels)
        self.seed, self.oversample, self.rank, self.world_size = seed, oversample, rank, world_size
        self.epoch = 0
        self._len = len(balanced_indices(self.labels, np.random.default_rng(0), oversample))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        idx = balanced_indices(self.labels, np.random.default_rng((self.seed, self.epoch)), self.oversample)
        per_rank = -(-len(idx) // self.world_size)
        idx = np.resize(idx, per_rank * self.world_size)  # pad by wrapping, as DistributedSampler does
        return iter(idx[self.rank :: self.world_size].tolist())

    def __len__(self) -> int:
        return -(-self._len // self.world_size)


# -------------------------------------------------------------------------------------------- training


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


class FeatureBatches:
    """Frozen mode: batches of cached features; each film takes one random pass (clean or augmented)."""

    def __init__(self, bank: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, oversample: bool):
        self.bank = torch.from_numpy(bank)  # (P, N, D)
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.batch_size, self.seed, self.oversample = batch_size, seed, oversample
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rng = np.random.default_rng((self.seed, self.epoch))
        idx = balanced_indices(self.labels.numpy(), rng, self.oversample)
        passes = rng.integers(0, self.bank.shape[0], size=len(idx))
        for s in range(0, len(idx), self.batch_size):
            if len(idx) - s < 2 and s > 0:
                break  # BatchNorm1d cannot train on a batch of one
            i = torch.from_numpy(idx[s : s + self.batch_size])
            p = torch.from_numpy(passes[s : s + self.batch_size])
            yield self.bank[p, i], self.labels[i]

    def __len__(self) -> int:
        return -(
            -len(balanced_indices(self.labels.numpy(), np.random.default_rng(0), self.oversample))
            // self.batch_size
        )


def _tensor_batches(
    x: np.ndarray, y: np.ndarray, batch_size: int = 512
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [
        (torch.from_numpy(x[s : s + batch_size]), torch.from_numpy(y[s : s + batch_size]))
        for s in range(0, len(x), batch_size)
    ]


def feature_bank(
    net: nn.Module,
    splits: dict[str, ImageCache],
    args: argparse.Namespace,
    config: PreprocessConfig,
    device: str,
    progress: bool,
) -> tuple[dict[str, np.ndarray], int]:
    """Clean features of every split plus augmented passes of train, cached on disk when allowed
    (pooled 576-d features, or with ``--trainable-from`` K < 13 the activations after ``features[:K]``)."""
    upto = args.trainable_from if args.trainable_from < len(net.features) else None
    augment = augment_for(args)
    weights_id = hashlib.sha256(
        b"".join(v.detach().cpu().numpy().tobytes() for v in net.features.state_dict().values())
    ).hexdigest()[:12]
    out: dict[str, np.ndarray] = {}
    hits = 0
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
            hits += 1
            continue
        t0 = time.perf_counter()
        feats = extract_features(
            net,
            images,
            config,
            augment=aug,
            seed=args.seed * 1000 + pass_seed,
            device=device,
            progress=progress,
            desc=key,
            upto=upto,
        )
        logger.info(
            "features %s: %d films in %.1f s (%.1f films/s)",
            key,
            len(images),
            time.perf_counter() - t0,
            len(images) / max(time.perf_counter() - t0, 1e-9),
        )
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as fh:
                np.save(fh, feats)
        out[key] = feats
    return out, hits


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
        from training.evaluate import macro_auc

        return macro_auc(softmax(logits), labels)
    sens = [float((pred[labels == k] == k).mean()) for k in np.unique(labels)]
    return float(np.mean(sens))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temp file + fsync + rename: a crash leaves the previous checkpoint intact."""
    with atomic_write(path) as fh:
        torch.save(state, fh)


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ------------------------------------------------------------------------------------------------ main


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Run one training; returns the metrics dict (also written to OUTPUT_DIR/metrics.json)."""
    t_start = time.perf_counter()
    device = pick_device(args.device)
    ddp = Distributed(device)
    if ddp.enabled and device.startswith("cuda"):
        device = f"cuda:{ddp.local_rank}"
        torch.cuda.set_device(device)
    run_dir = Path(args.output_dir)
    if ddp.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    ddp.barrier()
    setup_logging(run_dir, ddp.is_main)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    progress = progress and ddp.is_main
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    config = PreprocessConfig(input_size=(args.input_size, args.input_size))
    architecture = architecture_of(args.hidden, args.dropout, len(LABELS))
    command = getattr(args, "command", "") or shlex.join(["python", *sys.argv])
    if ddp.is_main:
        write_json(run_dir / "args.json", vars(args))
        write_json(
            run_dir / "config.json",
            {
                "preprocessing": config.to_dict(),
                "architecture": architecture,
                "labels": list(LABELS),
                "targets": list(TARGETS),
                "device": device,
                "world_size": ddp.world_size,
                "torch": torch.__version__,
                "command": command,
                "commit": git_commit(),
            },
        )
    if ddp.enabled and args.mode == "frozen":
        raise SystemExit("frozen mode runs in one process; use torchrun only with --mode finetune")

    if args.refit_gate_from:
        from training.refit import refit_gate

        if ddp.enabled:
            raise SystemExit("--refit-gate-from runs in one process")
        return refit_gate(args, command, progress)

    data = load_data(args, config, progress)
    splits: dict[str, ImageCache] = data["splits"]
    if ddp.is_main:
        write_splits_csv(run_dir / "splits.csv", splits)
    if args.expand:
        if ddp.is_main:
            write_expanded(run_dir / "expanded", splits, args)
        ddp.close()
        return {"expanded": str(run_dir / "expanded")}
    y = {name: s.labels() for name, s in splits.items()}
    if len(splits["train"].records) == 0 or len(splits["val"].records) == 0:
        raise SystemExit("train or val split is empty: need more patients")

    net = build_model(architecture, args.backbone_weights)
    if args.init_from:
        net.load_state_dict(torch.load(args.init_from, map_location="cpu", weights_only=True))
        logger.info("network initialised from %s", args.init_from)
    criterion = SetValuedCrossEntropy(label_smoothing=args.label_smoothing).to(device)
    amp = args.amp == "auto" and device.startswith("cuda")
    timings: dict[str, float] = {"data_s": time.perf_counter() - t_start}

    clean_features: Any = None
    clean_cells: Any = None
    if args.mode == "frozen":
        partial = args.trainable_from < len(net.features)
        freeze_backbone(net, trainable_from=args.trainable_from if partial else None)
        t0 = time.perf_counter()
        feats, hits = feature_bank(net, splits, args, config, device, progress)
        timings["features_s"] = time.perf_counter() - t0
        timings["feature_passes_from_cache"] = hits
        aug_keys = sorted(k for k in feats if k.startswith("train_aug"))
        bank = np.stack([feats["train_clean"]] + [feats[k] for k in aug_keys])
        model: nn.Module = TailNet(net, args.trainable_from) if partial else net.head
        train_loader: Any = FeatureBatches(bank, y["train"], args.batch_size, args.seed, args.oversample)
        val_loader: Any = _tensor_batches(feats["val_clean"], y["val"], 64 if partial else 512)
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
                return np.concatenate(
                    [
                        tail.pooled(x).numpy()
                        for x, _ in _tensor_batches(feats[f"{split}_clean"], y[split], 64)
                    ]
                )

        if partial:

            def clean_cells(split: str) -> np.ndarray:  # the layout gate's cells, from the same activations
                from radiview.inference.gate import spatial_cells

                tail = TailNet(net, args.trainable_from).eval()
                with torch.no_grad():
                    batches = _tensor_batches(feats[f"{split}_clean"], y[split], 64)
                    return np.concatenate(
                        [spatial_cells(tail.feature_map(x), SPATIAL_GRID).numpy() for x, _ in batches]
                    )
    else:
        freeze_backbone(net, trainable_from=0)
        net.to(device)
        if amp:
            net.to(memory_format=torch.channels_last)
        model = net
        if ddp.enabled:
            model = nn.parallel.DistributedDataParallel(
                net, device_ids=[device] if device.startswith("cuda") else None
            )
        train_loader, val_loader = finetune_loaders(splits, y, args, config, device, ddp, amp)
        params = [
            {"params": net.head.parameters(), "lr": args.lr},
            {"params": net.features.parameters(), "lr": args.lr * args.backbone_lr_factor},
        ]
        after_train_mode = None if args.bn_train else (lambda: set_backbone_bn_eval(net))
    optimizer = torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    scheduler = None
    if args.lr_schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(args.epochs, 1))

    ckpt_path = run_dir / "checkpoint.pt"
    start_epoch, best_metric, best_state, history = 0, -float("inf"), None, []
    if args.resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)  # our own file
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None and ckpt.get("scheduler") is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
        start_epoch, best_metric = ckpt["epoch"] + 1, ckpt["best_metric"]
        best_state, history = ckpt["best_state"], ckpt["history"]
        logger.info(
            "resumed from %s at epoch %d (best %s %.4f)",
            ckpt_path,
            start_epoch + 1,
            args.select_metric,
            best_metric,
        )
    elif args.resume:
        logger.info("no checkpoint at %s: starting fresh", ckpt_path)

    t0 = time.perf_counter()
    for epochs_run, epoch in enumerate(range(start_epoch, args.epochs), start=1):
        train_loader.set_epoch(epoch)
        stats = train_one_epoch(
            model, criterion, optimizer, train_loader, device, epoch, progress, after_train_mode, amp
        )
        if scheduler is not None:
            scheduler.step()
        if ddp.is_main:
            logits, labels, vloss = evaluate(net if args.mode == "finetune" else model, val_loader, device)
            metric = metric_of(logits, labels, vloss, args.select_metric)
            record = {
                "epoch": epoch,
                "train_loss": stats["loss"],
                "train_accuracy": stats["accuracy"],
                "val_loss": vloss,
                "val_accuracy": float((logits.argmax(1) == labels).mean()),
                args.select_metric: metric,
            }
            history.append(record)
            if metric > best_metric:
                best_metric = metric
                best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
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
            save_checkpoint(
                ckpt_path,
                {
                    "model": net.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": epoch,
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "rng": rng_state(),
                    "best_metric": best_metric,
                    "best_state": best_state,
                    "history": history,
                    "args": vars(args),
                },
            )
        ddp.barrier()
        if args.stop_after_epochs and epochs_run >= args.stop_after_epochs and epoch + 1 < args.epochs:
            logger.info("stopping after %d epoch(s) as asked; continue with --resume", epochs_run)
            ddp.close()
            return {"stopped_at_epoch": epoch + 1, "history": history}
    timings["train_s"] = time.perf_counter() - t0

    if not ddp.is_main:
        ddp.close()
        return {}
    if best_state is not None:
        net.load_state_dict(best_state)
        save_checkpoint(run_dir / "best.pt", best_state)  # plain state_dict: --init-from reads it
    net.eval()
    metrics = finish(
        net, splits, y, args, config, device, progress, history, data, timings, clean_features, clean_cells
    )
    metrics["timings"]["total_s"] = time.perf_counter() - t_start
    write_json(run_dir / "metrics.json", {k: v for k, v in metrics.items() if k != "_gate_params"})
    if args.export:
        from training.export import export_bundle, leave_one_source_out

        metrics["leave_one_source_out"] = leave_one_source_out(args.loso_metrics)
        card = export_bundle(
            args.export,
            net,
            metrics,
            data["summary"],
            config,
            architecture,
            args,
            command=command,
            splits=splits,
        )
        logger.info("exported %s to %s", card.display_name, args.export)
    ddp.close()
    return metrics


def augment_for(args: argparse.Namespace) -> Any:
    """The film-by-film recipe of ``--augment``, with ``--burned-text`` marks pasted last."""
    augment = build_augment(args.augment)
    if augment is not None and args.burned_text > 0:
        augment = type(augment)((*augment.transforms, RandBurnedText(p=args.burned_text)))
    return augment


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
    if args.pipeline == "device":
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
    return _EpochLoader(loader, train_ds, sampler), val_loader


class _EpochLoader:
    """A DataLoader whose dataset and sampler both hear ``set_epoch`` (augmentation and order per epoch)."""

    def __init__(self, loader: DataLoader, dataset: FilmDataset, sampler: BalancedSampler) -> None:
        self.loader, self.dataset, self.sampler = loader, dataset, sampler

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.loader)

    def __len__(self) -> int:
        return len(self.loader)


def finish(
    net: nn.Module,
    splits: dict[str, ImageCache],
    y: dict[str, np.ndarray],
    args: argparse.Namespace,
    config: PreprocessConfig,
    device: str,
    progress: bool,
    history: list[dict[str, float]],
    data: dict[str, Any],
    timings: dict[str, float],
    clean_features: Any = None,
    clean_cells: Any = None,
) -> dict[str, Any]:
    """Calibrate on val, fit the gate on train (threshold on val), evaluate on test, plot.

    ``clean_features(split)`` gives the final network's pooled features when they are already known
    (frozen modes); otherwise every film goes through the network once more. Likewise
    ``clean_cells(split)``, the layout gate's pooled cells (``--gate-layout``).
    """
    from training import plots

    run_dir = Path(args.output_dir)
    t0 = time.perf_counter()
    cells: dict[str, np.ndarray] | None = None
    if clean_features is not None:
        feats = {s: clean_features(s) for s in SPLITS}
        if args.gate_layout and clean_cells is not None:
            cells = {s: clean_cells(s) for s in SPLITS}
    elif args.gate_layout:  # one pass gives the pooled features and the layout gate's cells
        both = {
            s: extract_gate_inputs(
                net,
                splits[s].images,
                config,
                SPATIAL_GRID,
                device=device,
                progress=progress,
                desc=f"{s} clean",
            )
            for s in SPLITS
        }
        feats = {s: f for s, (f, _) in both.items()}
        cells = {s: c for s, (_, c) in both.items()}
    else:
        feats = {
            s: extract_features(
                net, splits[s].images, config, device=device, progress=progress, desc=f"{s} clean"
            )
            for s in SPLITS
        }
    with torch.no_grad():
        logits = {s: net.head(torch.from_numpy(feats[s]).to(device)).float().cpu().numpy() for s in SPLITS}
    # calibration, operating points and 4-class metrics use the single-label films; the set-valued
    # ones (nih ``pneumonia``) are reported apart (set_valued_report)
    one = {s: is_single(y[s]) for s in SPLITS}
    temperature = fit_temperature(logits["val"][one["val"]], y["val"][one["val"]])
    probs_raw = {s: softmax(logits[s]) for s in SPLITS}
    probs = {s: softmax(logits[s], temperature) for s in SPLITS}
    calibration = {
        "temperature": round(temperature, 4),
        "fitted_on": "val single-label films (NLL, golden-section search on log T)",
        "ece_15_bins": {
            s: {
                "before": round(expected_calibration_error(probs_raw[s][one[s]], y[s][one[s]]), 4),
                "after": round(expected_calibration_error(probs[s][one[s]], y[s][one[s]]), 4),
            }
            for s in ("val", "test")
        },
    }
    thresholds = youden_thresholds(probs["val"][one["val"]], y["val"][one["val"]])

    if args.gate_layout and cells is None:
        cells = {
            s: extract_gate_inputs(
                net,
                splits[s].images,
                config,
                SPATIAL_GRID,
                device=device,
                progress=progress,
                desc=f"{s} gate",
            )[1]
            for s in SPLITS
        }
    gate_params, gate_metrics = fit_and_evaluate_gate(net, feats, cells, y, splits, args, config, device)
    test_scores, test_accept = gate_params["test_scores"], gate_params["test_accept"]

    test_records = [r for r, keep in zip(splits["test"].records, one["test"], strict=True) if keep]
    report = full_report(
        probs["test"][one["test"]], y["test"][one["test"]], test_records, n_boot=args.n_boot, seed=args.seed
    )
    sources = {s: [r.source for r in splits[s].records] for s in SPLITS}
    report["set_valued"] = set_valued_report(probs["test"], y["test"], sources["test"])
    val_report = summarize(probs["val"][one["val"]], y["val"][one["val"]])
    val_report["set_valued"] = set_valued_report(probs["val"], y["val"], sources["val"])
    holdout = None
    if data.get("holdout") is not None:
        holdout = evaluate_holdout(
            net,
            data["holdout"],
            temperature,
            gate_params["gate"],
            gate_params["thresholds"],
            args.gate_min_std,
            config,
            device,
        )
        logger.info("held-out %s: %s", args.holdout_source, holdout)
    timings["evaluate_s"] = time.perf_counter() - t0
    plots.write_curves(history, run_dir / "curves.png")
    plots.write_confusion(np.asarray(report["confusion_matrix"]), LABELS, run_dir / "confusion_test.png")
    plots.write_roc(probs["test"][one["test"]], y["test"][one["test"]], LABELS, run_dir / "roc_test.png")
    _write_predictions(
        run_dir / "test_predictions.csv", splits["test"].records, probs["test"], test_scores, test_accept
    )
    logger.info(
        "test: accuracy %.4f macro AUC %.4f | sens %s | ECE %.4f→%.4f (T=%.3f) | gate accepts %.4f",
        report["accuracy"],
        report["macro_auc"],
        {k: v["sensitivity"] for k, v in report["per_class"].items()},
        calibration["ece_15_bins"]["test"]["before"],
        calibration["ece_15_bins"]["test"]["after"],
        temperature,
        gate_metrics["test_acceptance"],
    )
    if "ood" in gate_metrics:
        logger.info("gate on OOD: %s", gate_metrics["ood"])
    return {
        "mode": args.mode,
        "epochs": len(history),
        "best_epoch": int(np.argmax([h[args.select_metric] for h in history])) + 1 if history else 0,
        "select_metric": args.select_metric,
        "history": history,
        "val": val_report,
        "test": report,
        "calibration": calibration,
        "thresholds": thresholds,
        "gate": gate_metrics,
        "holdout": holdout,
        "data": data["summary"],
        "timings": timings,
        "_gate_params": gate_params,
        "_roc": {
            LABELS[k]: [
                a.tolist() for a in roc_curve(probs["test"][one["test"]][:, k], y["test"][one["test"]] == k)
            ]
            for k in range(len(LABELS))
        },
    }


def youden_thresholds(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Per-label operating point on val: the calibrated probability maximising sensitivity + specificity."""
    out = {}
    for k, name in enumerate(LABELS):
        pos = labels == k
        if not pos.any() or pos.all():
            out[name] = 0.5
            continue
        cands = np.unique(probs[:, k])
        j = [(probs[pos, k] >= t).mean() + (probs[~pos, k] < t).mean() for t in cands]
        out[name] = round(float(cands[int(np.argmax(j))]), 4)
    return out


def read_ood_manifest(csv_path: str | Path) -> list[tuple[str, str]]:
    root = Path(csv_path).parent
    with open(csv_path, newline="", encoding="utf-8") as fh:
        return [(str(root / row["file"]), row.get("kind") or "other") for row in csv.DictReader(fh)]


def _rate(mask: np.ndarray) -> float | None:
    return round(float(mask.mean()), 4) if len(mask) else None


def _by(values: Sequence[str], mask: np.ndarray) -> dict[str, float | None]:
    values_arr = np.asarray(values)
    return {v: _rate(mask[values_arr == v]) for v in sorted(set(values_arr.tolist()))}


def fit_and_evaluate_gate(
    net: nn.Module,
    feats: dict[str, np.ndarray],
    cells: dict[str, np.ndarray] | None,
    y: dict[str, np.ndarray],
    splits: dict[str, ImageCache],
    args: argparse.Namespace,
    config: PreprocessConfig,
    device: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit the gate on TRAIN (``cells`` None: the global check only), thresholds on VAL, acceptance on TEST,
    refusal on ``--ood`` (evaluation only). Returns (parameters for the bundle, JSON-ready metrics)."""
    # one gate cluster per target present in train (a --sources subset may lack some labels)
    present = np.unique(y["train"])
    gate = fit_gate_features(
        feats["train"],
        np.searchsorted(present, y["train"]),
        len(present),
        cells["train"] if cells is not None else None,
        args.gate_spatial_channels,
    )
    scores = {s: gate.scores(feats[s], cells[s] if cells is not None else None) for s in ("val", "test")}
    thresholds = gate_thresholds(scores["val"], args.gate_acceptance)
    std_ok = {
        s: splits[s].images.reshape(len(splits[s].images), -1).std(axis=1) / 255.0 >= args.gate_min_std
        for s in ("val", "test")
    }
    accept = {s: (scores[s] <= thresholds).all(axis=1) & std_ok[s] for s in ("val", "test")}
    sources = [r.source for r in splits["test"].records]
    names = ["global", "spatial"][: len(thresholds)]
    per_check = [float((scores["val"][:, j] <= thresholds[j]).mean()) for j in range(len(thresholds))]
    metrics: dict[str, Any] = {
        "fitted_on": "train split, clean pooled backbone features (576-d)"
        + (
            f"; layout: features.12 map pooled to {SPATIAL_GRID[0]}×{SPATIAL_GRID[1]} cells, "
            f"{args.gate_spatial_channels} PCA channels per cell"
            if gate.has_spatial
            else ""
        ),
        "threshold_rule": f"accept {args.gate_acceptance:.0%} of val films"
        + (f" (both checks; each alone accepts {per_check[0]:.2%} of val)" if gate.has_spatial else ""),
        "val_acceptance": _rate(accept["val"]),
        "test_acceptance": _rate(accept["test"]),
        "test_acceptance_by_source": _by(sources, accept["test"]),
    }
    if gate.has_spatial:
        metrics["checks"] = {
            name: {
                "threshold": round(float(thresholds[j]), 4),
                "val_acceptance": _rate(scores["val"][:, j] <= thresholds[j]),
                "test_acceptance": _rate(scores["test"][:, j] <= thresholds[j]),
            }
            for j, name in enumerate(names)
        }
    if args.ood:
        metrics["ood"] = evaluate_gate_ood(
            net, gate, thresholds, args, config, device, scores["val"], scores["test"], std_ok["test"]
        )
    params = {
        "gate": gate,
        "thresholds": thresholds,
        "per_check_acceptance": per_check,
        "test_scores": scores["test"],
        "test_accept": accept["test"],
    }
    return params, metrics


def evaluate_gate_ood(
    net: nn.Module,
    gate: GateFit,
    thresholds: np.ndarray,
    args: argparse.Namespace,
    config: PreprocessConfig,
    device: str,
    val_scores: np.ndarray | None = None,
    test_scores: np.ndarray | None = None,
    test_std_ok: np.ndarray | None = None,
) -> dict[str, Any]:
    """Refusal rate per OOD kind (any distance check or near-uniform input), after everything was fitted.

    Also reports, for information only, what other val acceptance rates would have given, which check
    refused what, and (with the layout check) what the global check alone would have done under the
    pre-1.2 rule (the threshold rule is fixed by ``--gate-acceptance`` before any OOD image is looked at).
    """
    items = read_ood_manifest(args.ood)
    images, ok, failures = prepare_films([p for p, _ in items], config, workers=args.workers)
    kinds = np.asarray([k for _, k in items])[ok]
    images = images[ok]
    feats, cells = extract_gate_inputs(net, images, config, gate.spatial_grid or (1, 1), device=device)
    scores = gate.scores(feats, cells)
    uniform = images.reshape(len(images), -1).std(axis=1) / 255.0 < args.gate_min_std
    refused = (scores > thresholds).any(axis=1) | uniform
    kind_list = kinds.tolist()
    out: dict[str, Any] = {"n": len(items), "unreadable": len(failures), "refusal_rate": _rate(refused)}
    out["by_kind"] = {
        k: {"n": int((kinds == k).sum()), "refusal_rate": _rate(refused[kinds == k])}
        for k in sorted(set(kind_list))
    }
    if gate.has_spatial:
        out["refused_by_check_by_kind"] = {
            name: _by(kind_list, scores[:, j] > thresholds[j]) for j, name in enumerate(["global", "spatial"])
        }
    if val_scores is None or test_scores is None or test_std_ok is None:
        return out

    def at(th: np.ndarray, cols: slice = slice(None)) -> dict[str, Any]:
        ood_refused = (scores[:, cols] > th).any(axis=1) | uniform
        test_ok = (test_scores[:, cols] <= th).all(axis=1) & test_std_ok
        return {
            "ood_refusal": _rate(ood_refused),
            "test_acceptance": _rate(test_ok),
            "ood_refusal_by_kind": _by(kind_list, ood_refused),
        }

    out["tradeoff_not_used_for_fitting"] = {
        f"val_acceptance_{rate}": at(gate_thresholds(val_scores, rate))
        for rate in (0.95, 0.97, 0.98, 0.99, 0.995)
    }
    if gate.has_spatial:
        rate = args.gate_acceptance
        out[f"global_check_alone_at_val_{rate}"] = at(
            np.asarray([gate_threshold(val_scores[:, 0], rate)]), slice(0, 1)
        )
    return out


def _write_predictions(
    path: Path, records: Sequence[Record], probs: np.ndarray, scores: np.ndarray, accepted: np.ndarray
) -> None:
    """``scores`` (N, M): the gate's global distance, then the layout distance when it has one."""
    scores = np.asarray(scores).reshape(len(records), -1)
    extra = ["gate_spatial_score"] if scores.shape[1] > 1 else []
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "path",
                "label",
                "source",
                "patient_id",
                "predicted",
                *[f"p_{n}" for n in LABELS],
                "gate_score",
                *extra,
                "gate_accepted",
            ]
        )
        for r, p, s, a in zip(records, probs, scores, accepted, strict=True):
            w.writerow(
                [
                    r.path,
                    r.label,
                    r.source,
                    r.patient_id,
                    LABELS[int(p.argmax())],
                    *[f"{v:.4f}" for v in p],
                    *[f"{v:.3f}" for v in s],
                    int(a),
                ]
            )


def write_expanded(out_dir: Path, splits: dict[str, ImageCache], args: argparse.Namespace) -> None:
    """The paper's offline expansion: augmented PNG copies of train films until each class has
    ``--expand`` films (originals first), val/test copied un-augmented; manifest.csv keeps patient ids
    and a split column (which ``load_data`` then honours)."""
    from PIL import Image

    augment = build_augment(args.augment if args.augment != "none" else "paper")
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    rng = np.random.default_rng(args.seed)
    for split, cache in splits.items():
        labels = cache.labels()
        for k, name in enumerate(LABELS):
            idx = np.flatnonzero(labels == k)
            if not len(idx):
                continue
            order = list(idx)
            if split == "train" and args.expand > len(idx):
                order += list(rng.choice(idx, size=args.expand - len(idx), replace=True))
            for n, i in enumerate(order):
                r = cache.records[i]
                image = cache.images[i]
                if n >= len(idx):  # an extra copy: augmented
                    rng_i = np.random.default_rng((args.seed, n, int(i)))
                    image = augment(image.astype(np.float32) / 255.0, rng_i)  # type: ignore[misc]
                    image = np.rint(image * 255).astype(np.uint8)
                rel = Path(split) / name / f"{Path(r.path).stem}-{n:05d}.png"
                (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image, mode="L").save(out_dir / rel)
                rows.append(
                    {
                        "file": rel.as_posix(),
                        "label": name,
                        "source": r.source,
                        "patient_id": r.patient_id,
                        "split": split,
                        "original": r.path,
                        "augmented": int(n >= len(idx)),
                    }
                )
    with (out_dir / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    logger.info("wrote %d films (%s) to %s", len(rows), "augmented train copies included", out_dir)
