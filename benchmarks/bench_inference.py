"""Inference benchmark: single-film latency (load+predict, load+analyze), raw forward
throughput and peak memory.

    .venv/bin/python benchmarks/bench_inference.py [--device auto] [--repeats 7] [--batches 5]

Films: a 512-px JPEG from shared/data/cxr and the real DICOMs in shared/data/dicom
(RADIVIEW_DATA or ../shared/data), plus a generated 16-bit 2500×3000 DICOM (uncompressed,
tests/io/dicom_factory.py). Model: the bundled one in resources/model.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# What radiview.inference sets on import, needed here because torch is imported first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(REPO / "tests" / "io"))  # the DICOM factory shared with the io tests

import torch  # noqa: E402
from dicom_factory import gradient_image, make_dataset, write_dicom  # noqa: E402

from radiview.assets import default_model_dir  # noqa: E402
from radiview.inference import Classifier  # noqa: E402
from radiview.io import load_radiograph  # noqa: E402

LABELS = ["normal", "bacterial_pneumonia", "viral_pneumonia", "covid19"]


def _data_dir() -> Path | None:
    env = os.environ.get("RADIVIEW_DATA")
    candidate = Path(env) if env else REPO.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def _median_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median wall ms, median process-CPU ms) after one warm-up call."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        wall.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
    return statistics.median(wall), statistics.median(cpu)


def _throughput(clf: Classifier, batch_size: int, batches: int) -> tuple[float, float]:
    """(films per wall second, films per process-CPU second) of the bare network forward on
    random 224×224 input; the CPU figure is what a shared machine's neighbours cannot steal."""
    x = torch.randn(batch_size, 3, 224, 224, device=clf.device)
    with torch.inference_mode():
        clf.network(x)  # warm-up (cuDNN autotune, allocator)
        if clf.device.type == "cuda":
            torch.cuda.synchronize()
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(batches):
            clf.network(x)
        if clf.device.type == "cuda":
            torch.cuda.synchronize()
    films = batch_size * batches
    return films / (time.perf_counter() - start), films / max(time.process_time() - start_cpu, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batches", type=int, default=5, help="batches of 32 for the throughput figure")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bundle, which = default_model_dir(), "bundled model"
        start = time.perf_counter()
        clf = Classifier.from_bundle(bundle, device=args.device)
        load_s = time.perf_counter() - start
        print(
            f"model {clf.card.display_name} ({which}) on {clf.device}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} CPU threads; bundle load {load_s * 1000:.0f} ms"
        )
        if clf.device.type == "cuda":
            print(f"  GPU: {torch.cuda.get_device_name(clf.device)}")

        cases: list[tuple[str, Path]] = []
        data = _data_dir()
        if data is not None:
            jpegs = sorted((data / "cxr" / "kermany").rglob("*.jpg"))
            if jpegs:
                cases.append(("JPEG (shared/data/cxr)", jpegs[0]))
            cases += [(f"DICOM {p.name[:24]}", p) for p in sorted((data / "dicom").glob("*.dcm"))[:1]]
        else:
            print("shared/data not found: only the generated DICOM is timed (set RADIVIEW_DATA)")
        film16 = gradient_image(rows=3000, columns=2500, bits=16, noise=0.005)
        ds = make_dataset(film16, bits_stored=16)
        cases.append(("DICOM 16-bit 2500×3000 (generated)", write_dicom(folder / "big.dcm", ds)))

        print(f"single film, medians of {args.repeats} runs (wall / process CPU):")
        for label, path in cases:
            shape = load_radiograph(path).shape
            predict = _median_ms(lambda p=path: clf.predict(load_radiograph(p)), args.repeats)
            analyze = _median_ms(lambda p=path: clf.analyze(load_radiograph(p)), args.repeats)
            load = _median_ms(lambda p=path: load_radiograph(p), args.repeats)
            size = f"{shape[1]}×{shape[0]}"
            print(
                f"  {label:36s} {size:>10s}  load {load[0]:7.1f} ms  load+predict {predict[0]:7.1f} ms "
                f"(cpu {predict[1]:7.1f})  load+analyze {analyze[0]:7.1f} ms (cpu {analyze[1]:7.1f})"
            )

        fps, fps_cpu = _throughput(clf, 32, args.batches)
        print(
            f"raw forward, batch 32, 224×224, inference_mode: {fps:8.1f} films/s "
            f"({fps_cpu:.1f} films per CPU-second over {torch.get_num_threads()} threads)"
        )
        print(f"load average now: {', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"peak RSS: {peak_mb:.0f} MB")
    if torch.cuda.is_available():
        print(f"peak CUDA memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
