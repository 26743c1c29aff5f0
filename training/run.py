"""The plumbing of one run: logging, JSON and checkpoint files, RNG state, seeds, DDP, the run context.

Nothing here knows about films or models; every other module of ``training`` may import it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from radiview.atomic import atomic_write
from radiview.inference.preprocess import PreprocessConfig
from training.data.sources import LABELS
from training.model import architecture_of, pick_device
from training.targets import TARGETS

logger = logging.getLogger("radiview.training")


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


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temp file + fsync + rename: a crash leaves the previous checkpoint intact."""
    with atomic_write(path) as fh:
        torch.save(state, fh)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by ``save_checkpoint`` (our own file: full unpickling is allowed)."""
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    return state


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


@dataclass
class RunContext:
    """What every stage of a run needs to know about where and how it runs."""

    device: str
    ddp: Distributed
    run_dir: Path
    progress: bool
    config: PreprocessConfig
    architecture: dict[str, Any]
    command: str
    t_start: float = field(default_factory=time.perf_counter)


def start_run(args: argparse.Namespace) -> RunContext:
    """Device, DDP, run directory, logging, threads and seeds; writes args.json and config.json."""
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
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    ctx = RunContext(
        device=device,
        ddp=ddp,
        run_dir=run_dir,
        progress=progress and ddp.is_main,
        config=PreprocessConfig(input_size=(args.input_size, args.input_size)),
        architecture=architecture_of(args.hidden, args.dropout, len(LABELS)),
        command=getattr(args, "command", "") or shlex.join(["python", *sys.argv]),
        t_start=t_start,
    )
    if ddp.is_main:
        _write_run_files(ctx, args)
    return ctx


def _write_run_files(ctx: RunContext, args: argparse.Namespace) -> None:
    write_json(ctx.run_dir / "args.json", vars(args))
    write_json(
        ctx.run_dir / "config.json",
        {
            "preprocessing": ctx.config.to_dict(),
            "architecture": ctx.architecture,
            "labels": list(LABELS),
            "targets": list(TARGETS),
            "device": ctx.device,
            "world_size": ctx.ddp.world_size,
            "torch": torch.__version__,
            "command": ctx.command,
            "commit": git_commit(),
        },
    )
