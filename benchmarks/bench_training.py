"""Training throughput on this machine: frozen mode (feature extraction, head training) and finetune
(forward+backward at batch 16), plus the wall time of the last real frozen retrain if a run dir has one.

    .venv/bin/python benchmarks/bench_training.py [--threads N] [--run-dir runs/NAME]

Prints figures only (no assertions). Uses random weights and random inputs: throughput does not depend on
the weights' values.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from radiview.inference.network import build_network
from radiview.inference.preprocess import PreprocessConfig
from training.augment import build_augment
from training.model import TailNet, extract_features, set_backbone_bn_eval


def bench_extract(n: int, augment: str) -> float:
    net = build_network()
    images = np.random.default_rng(0).integers(0, 256, (n, 224, 224), dtype=np.uint8)
    extract_features(net, images[:8], PreprocessConfig(), batch_size=8)  # warm-up
    t0 = time.perf_counter()
    extract_features(net, images, PreprocessConfig(), augment=build_augment(augment), batch_size=64)
    return n / (time.perf_counter() - t0)


def bench_head(steps: int, batch: int = 16) -> float:
    head = build_network().head
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    x = torch.randn(steps, batch, 576)
    y = torch.randint(0, 4, (steps, batch))
    head.train()
    t0 = time.perf_counter()
    for i in range(steps):
        loss = nn.functional.cross_entropy(head(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def bench_tail(steps: int, start: int = 10, batch: int = 16) -> float:
    """Frozen mode with ``--trainable-from start``: features[start:] + head on cached activations."""
    net = build_network()
    with torch.no_grad():
        acts = net.features[:start](torch.randn(batch, 3, 224, 224))
    tail = TailNet(net, start)
    opt = torch.optim.Adam(tail.parameters(), lr=1e-3)
    y = torch.randint(0, 4, (batch,))
    tail.train()
    set_backbone_bn_eval(net)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = nn.functional.cross_entropy(tail(acts), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def bench_finetune(steps: int, batch: int = 16) -> float:
    net = build_network()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, 224, 224)
    y = torch.randint(0, 4, (batch,))
    net.train()
    set_backbone_bn_eval(net)
    for i in range(steps + 1):
        if i == 1:
            t0 = time.perf_counter()  # first step is warm-up
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def bench_pipelines(steps: int, batch: int, device: str) -> tuple[float, float, float]:
    """Whole-network fine-tune films/s: raw train step on ready tensors, the batched on-device pipeline
    (cached uint8 → BatchAugment with burned-in text → normalise → step) and the film-by-film
    pipeline (FilmDataset + DataLoader, ``source`` augmentation per film in Python)."""
    from torch.utils.data import DataLoader

    from training.batch_augment import BatchAugment
    from training.burned_text import marker_bank
    from training.data.dataset import FilmDataset
    from training.device_batches import DeviceFilmBatches

    cuda = device.startswith("cuda")
    net = build_network().to(device)
    if cuda:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    net.train()

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = nn.functional.cross_entropy(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def timed(batches) -> float:  # type: ignore[no-untyped-def]
        it = iter(batches)
        step(*next(it))  # warm-up
        if cuda:
            torch.cuda.synchronize()
        t0, n = time.perf_counter(), 0
        for x, y in it:
            step(x.to(device), torch.as_tensor(y).to(device))
            n += len(y)
        if cuda:
            torch.cuda.synchronize()
        return n / (time.perf_counter() - t0)

    n = batch * (steps + 1)
    images = np.random.default_rng(0).integers(0, 256, (n, 224, 224), dtype=np.uint8)
    labels = np.arange(n) % 4
    x = torch.randn(batch, 3, 224, 224, device=device)
    y = torch.randint(0, 4, (batch,), device=device)
    raw = timed([(x, y)] * (steps + 1))
    aug = BatchAugment(markers=torch.from_numpy(marker_bank(64, 224, 224)).to(device), text_p=0.5)
    device_rate = timed(
        DeviceFilmBatches(images, labels, PreprocessConfig(), device, batch, augment=aug, channels_last=cuda)
    )
    films = FilmDataset(images, labels, PreprocessConfig(), build_augment("source"))
    film_rate = timed(DataLoader(films, batch_size=batch, num_workers=0))
    return raw, device_rate, film_rate


def profile_train_step(batch: int, device: str, steps: int = 3, top: int = 12) -> None:
    """torch.profiler over the raw whole-network train step: where its time goes, op by op."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.startswith("cuda")
    net = build_network().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    net.train()
    x = torch.randn(batch, 3, 224, 224, device=device)
    y = torch.randint(0, 4, (batch,), device=device)

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = nn.functional.cross_entropy(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        if cuda:
            torch.cuda.synchronize()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    print(f"profile of {steps} raw train steps, batch {batch} on {device}: self CPU time by op")
    for e in sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]:
        print(
            f"  {e.key:48s} {e.self_cpu_time_total / 1000 / steps:8.1f} ms/step "
            f"{100 * e.self_cpu_time_total / total:5.1f}%  ({e.count // steps} calls/step)"
        )
    print(f"  all ops                                          {total / 1000 / steps:8.1f} ms/step")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--images", type=int, default=128, help="films per feature-extraction measurement")
    p.add_argument(
        "--run-dir", default="runs/bundle", help="a real run whose metrics.json gives the retrain time"
    )
    p.add_argument("--profile-step", action="store_true", help="only profile the raw train step, op by op")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s); "
        "figures on a shared machine vary"
    )
    if args.profile_step:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        profile_train_step(256 if device == "cuda" else 32, device)
        return
    print(f"frozen: feature extraction, clean        {bench_extract(args.images, 'none'):7.1f} films/s")
    print(f"frozen: feature extraction, 'source' aug {bench_extract(args.images, 'source'):7.1f} films/s")
    print(f"frozen: head training (batch 16)         {bench_head(200):7.0f} films/s")
    print(f"frozen --trainable-from 10: tail fwd+bwd {bench_tail(10):7.1f} films/s")
    print(f"finetune: forward+backward (batch 16)    {bench_finetune(5):7.1f} films/s")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    batch = 256 if device == "cuda" else 32
    raw, on_device, by_film = bench_pipelines(20 if device == "cuda" else 4, batch, device)
    print(
        f"finetune on {device}, batch {batch}: raw train step {raw:7.1f} films/s; batched on-device pipeline "
        f"{on_device:7.1f} films/s (ratio {on_device / raw:.2f}); film-by-film DataLoader pipeline "
        f"{by_film:7.1f} films/s (ratio {by_film / raw:.2f})"
    )
    metrics = Path(args.run_dir) / "metrics.json"
    if metrics.is_file():
        m = json.loads(metrics.read_text())
        t = m.get("timings", {})
        print(
            f"real frozen retrain ({args.run_dir}): total {t.get('total_s', float('nan')) / 60:.1f} min "
            f"(data {t.get('data_s', 0):.0f} s, features {t.get('features_s', 0):.0f} s, "
            f"training {t.get('train_s', 0):.0f} s for {m.get('epochs')} epochs, "
            f"evaluation+gate {t.get('evaluate_s', 0):.0f} s; "
            f"feature passes read from the cache: {t.get('feature_passes_from_cache', 'not recorded')})"
        )
    else:
        print(f"no {metrics}: run the README's command to time a full frozen retrain")


if __name__ == "__main__":
    main()
