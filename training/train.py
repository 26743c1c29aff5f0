"""Training entry (torchvision references style): ``get_args_parser()`` → ``main(args)``.

Two modes on the same network the app runs (``radiview.inference.network.RadiviewNet``):

* ``frozen`` (default, the paper's method, minutes on a CPU): the ImageNet backbone is fixed, so its
  pooled features are computed once for a clean pass of every film plus ``--feature-passes``
  augmented passes of the train split; the head then trains for many epochs over those features.
* ``finetune``: the backbone trains too (``--backbone-lr-factor``), optionally data-parallel under
  ``torchrun --nproc_per_node N`` (DDP; gloo on CPU, nccl on CUDA; only rank 0 writes).

Every run directory gets args.json, config.json, train.log, splits.csv, checkpoint.pt (atomic, every
epoch; ``--resume`` continues it), metrics.json and plots; ``--export DIR`` writes the app's bundle.

The stages live in their own modules: ``run`` (plumbing), ``data.load``, ``modes`` (what trains on
what), ``engine`` (the epoch loop), ``finish`` (calibration, gate, test), ``export``; the other modes
are ``refit`` and ``expand``.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import numpy as np
import torch

from radiview.inference.network import RadiviewNet
from training.args import get_args_parser
from training.data.load import LoadedData, load_data, write_splits_csv
from training.engine import Fit, FitState
from training.expand import write_expanded
from training.export import export_bundle, leave_one_source_out
from training.finish import FinishResult, finish
from training.model import build_model
from training.modes import TrainSetup, finetune_setup, frozen_setup
from training.refit import refit_gate
from training.run import RunContext, save_checkpoint, start_run, write_json
from training.targets import SetValuedCrossEntropy

__all__ = ["get_args_parser", "main"]

logger = logging.getLogger("radiview.training")


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Run one training; returns the metrics dict (also written to OUTPUT_DIR/metrics.json)."""
    ctx = start_run(args)
    if ctx.ddp.enabled and args.mode == "frozen":
        raise SystemExit("frozen mode runs in one process; use torchrun only with --mode finetune")
    if args.refit_gate_from:
        return _refit(ctx, args)
    data = load_data(args, ctx.config, ctx.progress)
    if ctx.ddp.is_main:
        write_splits_csv(ctx.run_dir / "splits.csv", data.splits)
    if args.expand:
        return _expand(ctx, data, args)
    y = {name: s.labels() for name, s in data.splits.items()}
    if len(data.splits["train"].records) == 0 or len(data.splits["val"].records) == 0:
        raise SystemExit("train or val split is empty: need more patients")
    net = _build_network(args, ctx.architecture)
    amp = args.amp == "auto" and ctx.device.startswith("cuda")
    timings: dict[str, float] = {"data_s": time.perf_counter() - ctx.t_start}
    setup = _set_up(net, data, y, args, ctx, amp)
    timings.update(setup.timings or {})
    state = _fit(net, setup, args, ctx, amp, timings)
    if state.stopped_at_epoch is not None:
        ctx.ddp.close()
        return {"stopped_at_epoch": state.stopped_at_epoch, "history": state.history}
    if not ctx.ddp.is_main:
        ctx.ddp.close()
        return {}
    result = _finish(net, state, setup, data, y, args, ctx, timings)
    if args.export:
        _export(net, result, data, args, ctx)
    ctx.ddp.close()
    return result.metrics


def _refit(ctx: RunContext, args: argparse.Namespace) -> dict[str, Any]:
    if ctx.ddp.enabled:
        raise SystemExit("--refit-gate-from runs in one process")
    return refit_gate(args, ctx.command, ctx.progress)


def _expand(ctx: RunContext, data: LoadedData, args: argparse.Namespace) -> dict[str, Any]:
    if ctx.ddp.is_main:
        write_expanded(ctx.run_dir / "expanded", data.splits, args)
    ctx.ddp.close()
    return {"expanded": str(ctx.run_dir / "expanded")}


def _build_network(args: argparse.Namespace, architecture: dict[str, Any]) -> RadiviewNet:
    """The app's network (ImageNet backbone), or ``--init-from`` a saved state."""
    net = build_model(architecture, args.backbone_weights)
    if args.init_from:
        net.load_state_dict(torch.load(args.init_from, map_location="cpu", weights_only=True))
        logger.info("network initialised from %s", args.init_from)
    return net


def _set_up(
    net: RadiviewNet,
    data: LoadedData,
    y: dict[str, np.ndarray],
    args: argparse.Namespace,
    ctx: RunContext,
    amp: bool,
) -> TrainSetup:
    if args.mode == "frozen":
        return frozen_setup(net, data.splits, y, args, ctx.config, ctx.device, ctx.progress)
    return finetune_setup(net, data.splits, y, args, ctx.config, ctx.device, ctx.ddp, amp)


def _fit(
    net: RadiviewNet,
    setup: TrainSetup,
    args: argparse.Namespace,
    ctx: RunContext,
    amp: bool,
    timings: dict[str, float],
) -> FitState:
    criterion = SetValuedCrossEntropy(label_smoothing=args.label_smoothing).to(ctx.device)
    fit = Fit(net, setup, criterion, args, ctx.run_dir, ctx.device)
    if args.resume:
        fit.resume()
    t0 = time.perf_counter()
    state = fit.run(ctx.ddp, ctx.progress, amp)
    if state.stopped_at_epoch is None:
        timings["train_s"] = time.perf_counter() - t0
    return state


def _finish(
    net: RadiviewNet,
    state: FitState,
    setup: TrainSetup,
    data: LoadedData,
    y: dict[str, np.ndarray],
    args: argparse.Namespace,
    ctx: RunContext,
    timings: dict[str, float],
) -> FinishResult:
    """Best epoch's weights (best.pt), then calibration, gate and test; writes metrics.json."""
    if state.best_state is not None:
        net.load_state_dict(state.best_state)
        save_checkpoint(ctx.run_dir / "best.pt", state.best_state)  # plain state_dict: --init-from reads it
    net.eval()
    result = finish(
        net,
        data.splits,
        y,
        args,
        ctx.config,
        ctx.device,
        ctx.progress,
        state.history,
        data,
        timings,
        setup.clean_features,
        setup.clean_cells,
    )
    result.metrics["timings"]["total_s"] = time.perf_counter() - ctx.t_start
    write_json(ctx.run_dir / "metrics.json", result.metrics)
    return result


def _export(
    net: RadiviewNet, result: FinishResult, data: LoadedData, args: argparse.Namespace, ctx: RunContext
) -> None:
    result.metrics["leave_one_source_out"] = leave_one_source_out(args.loso_metrics)
    card = export_bundle(
        args.export,
        net,
        result,
        data.summary,
        ctx.config,
        ctx.architecture,
        args,
        command=ctx.command,
        splits=data.splits,
    )
    logger.info("exported %s to %s", card.display_name, args.export)
