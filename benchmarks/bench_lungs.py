"""Lung segmenter benchmark: CPU latency per film (target ≤ 15 ms), and what clipping costs.

    .venv/bin/python benchmarks/bench_lungs.py [--repeats 30] [--threads 2]

Times, per film, on the bundled segmenter (resources/model/lungs.pt):
- ``segment``: THE preprocessing from the decoded film + network + layout + mask at film size;
- ``from input``: network + layout from the classifier's own 224×224 input (what the
  Classifier runs: the film is decoded and resized once for both models);
- ``clip``: ``apply_lung_clip`` of a film-size heatmap.
Films: the 512-px JPEGs and the DICOMs of shared/data (RADIVIEW_DATA or ../shared/data).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

from radiview.assets import default_model_dir
from radiview.inference.bundle import read_model_card
from radiview.inference.lungs import DILATE_FRACTION, LungSegmenter, apply_lung_clip
from radiview.inference.preprocess import preprocess
from radiview.io import load_radiograph

REPO = Path(__file__).resolve().parents[1]


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", default=os.environ.get("RADIVIEW_DATA", str(REPO.parent / "shared" / "data")))
    return p


def _median_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU (this process) milliseconds per call. On a shared machine the CPU time
    with 1 thread is what the call costs on a free core; the wall time includes waiting."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
    return statistics.median(wall), statistics.median(cpu)


def _from_input(segmenter: LungSegmenter, batch: torch.Tensor) -> list[bool]:
    return segmenter.frontal_flags(segmenter.probabilities(batch))


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    bundle = default_model_dir()
    card = read_model_card(bundle)
    if card.lung_segmenter is None:
        raise SystemExit(f"{bundle}: the card has no lung_segmenter section")
    segmenter = LungSegmenter.from_bundle(bundle, card.lung_segmenter, card.preprocessing)
    data = Path(args.data)
    films = [
        next((data / "cxr" / "kermany" / "normal").glob("*.jpg")),
        next((data / "cxr" / "ieee8023" / "covid19").glob("*.jpg")),
        *sorted((data / "dicom").glob("*.dcm"))[:1],
    ]
    load = os.getloadavg()[0]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.repeats} repeats (median ms), "
        f"load average {load:.1f} on {os.cpu_count()} cores"
    )
    for path in films:
        film = load_radiograph(path)
        batch = preprocess(film, card.preprocessing).unsqueeze(0)
        field = segmenter.segment(film)
        heat = np.random.default_rng(0).random(film.shape, dtype=np.float32)
        lungs = field.probability >= 0.5
        seg = _median_ms(partial(segmenter.segment, film), args.repeats)
        net = _median_ms(partial(_from_input, segmenter, batch), args.repeats)
        clip = _median_ms(partial(apply_lung_clip, heat, lungs, DILATE_FRACTION), args.repeats)
        print(
            f"{path.name[:32]:32s} {film.shape[1]}×{film.shape[0]}: "
            f"segment {seg[0]:5.1f} ms (cpu {seg[1]:5.1f}) · "
            f"from input {net[0]:5.1f} (cpu {net[1]:5.1f}) · clip {clip[0]:5.1f} (cpu {clip[1]:5.1f}) · "
            f"confident {field.confident}"
        )


if __name__ == "__main__":
    main(get_args_parser().parse_args())
