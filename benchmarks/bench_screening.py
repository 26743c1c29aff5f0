"""Folder-screening throughput vs the model's own forward throughput, on real JPEGs.

    python benchmarks/bench_screening.py                 # first 1000 films of cxr/manifest.csv
    python benchmarks/bench_screening.py --folder DIR    # any folder
    python benchmarks/bench_screening.py --sweep         # try several workers × batch sizes

Prints films/s for the screening engine (decode + preprocess in worker processes, batched
model, CSV rows fsynced as the CLI does) beside the raw forward pass on preprocessed 224²
tensors under ``inference_mode``, measured in the same run, their ratio (target >= 0.8), the
scaling from 1 to 2 decoding worker processes (target >= 1.6x) and the peak RSS. Picks CUDA
when present (--device). Uses the bundled model (resources/model) or --model.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from radiview.assets import default_model_dir  # noqa: E402
from radiview.batch.csv_report import CsvReportWriter, model_stamp  # noqa: E402
from radiview.batch.engine import ScreeningSettings, default_workers, iter_screening  # noqa: E402
from radiview.batch.folder import list_folder  # noqa: E402
from radiview.inference.classifier import Classifier  # noqa: E402
from radiview.io import load_radiograph  # noqa: E402

LABELS = ["normal", "bacterial_pneumonia", "viral_pneumonia", "covid19"]


def find_data() -> Path | None:
    env = os.environ.get("RADIVIEW_DATA")
    candidate = Path(env) if env else REPO.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def link_films(data: Path, count: int, dest: Path) -> Path:
    """Symlink the first ``count`` films of cxr/manifest.csv into one flat folder."""
    with open(data / "cxr" / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:count]
    dest.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(rows):
        src = data / "cxr" / row["file"]
        (dest / f"{i:05d}_{src.name}").symlink_to(src)
    return dest


def forward_throughput(classifier: Classifier, tensors: torch.Tensor, batch_size: int, total: int) -> float:
    """Films/s of the bare network (features + head) on preprocessed tensors."""
    net, device = classifier.network, classifier.device
    batch = tensors[:batch_size].to(device)
    if batch.shape[0] < batch_size:  # repeat the sample films to fill the batch
        reps = -(-batch_size // batch.shape[0])
        batch = batch.repeat(reps, 1, 1, 1)[:batch_size]
    with torch.inference_mode():
        for _ in range(3):  # warm-up (allocator, cuDNN autotune)
            net.head(net.forward_features(batch))
        if device.type == "cuda":
            torch.cuda.synchronize()
        done, start = 0, time.perf_counter()
        while done < total:
            net.head(net.forward_features(batch))
            done += batch_size
        if device.type == "cuda":
            torch.cuda.synchronize()
    return done / (time.perf_counter() - start)


def screening_throughput(
    classifier: Classifier, folder: Path, settings: ScreeningSettings, report: Path
) -> tuple[float, dict[str, int]]:
    counts: dict[str, int] = {}
    start = time.perf_counter()
    items = list_folder(folder).items
    card = classifier.card
    with CsvReportWriter(report, card.labels, model_stamp(card), mode="overwrite") as writer:
        for record in iter_screening(items, classifier, journal=writer, settings=settings):
            counts[record.status] = counts.get(record.status, 0) + 1
    elapsed = time.perf_counter() - start
    return sum(counts.values()) / elapsed, counts


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folder", type=Path, help="screen this folder instead of the cxr manifest's films")
    parser.add_argument("--count", type=int, default=1000, help="films taken from cxr/manifest.csv")
    parser.add_argument("--model", type=Path, help="model bundle (default: the bundled one)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--sweep", action="store_true", help="also try other workers × batch sizes")
    parser.add_argument("--threads-decode", action="store_true", help="decode in threads, not processes")
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (default: RADIVIEW_NUM_THREADS or cores)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="radiview-bench-") as tmp:
        tmp_path = Path(tmp)
        if args.folder:
            folder = args.folder
        else:
            data = find_data()
            if data is None:
                print("no data: set RADIVIEW_DATA or pass --folder", file=sys.stderr)
                return 2
            folder = link_films(data, args.count, (tmp_path / "films"))
        bundle = args.model or default_model_dir()
        if args.threads:
            from radiview.inference.device import configure_cpu_threads

            configure_cpu_threads(args.threads)
        classifier = Classifier.from_bundle(bundle, device=args.device)
        n_films = sum(1 for _ in folder.iterdir())
        print(
            f"model {classifier.card.display_name} on {classifier.device}; torch threads "
            f"{torch.get_num_threads()}; {os.cpu_count()} CPUs; {n_films} films in {folder}"
        )

        sample = [classifier.preprocess(load_radiograph(p)) for p in sorted(folder.iterdir())[:64]]
        tensors = torch.stack(sample)
        workers = args.workers or default_workers()
        configs = [(args.batch_size, workers), (args.batch_size, 1), (args.batch_size, 2)]
        if args.sweep:
            configs += [(b, w) for b in (8, 16, 32, 64) for w in (1, 2, 4) if (b, w) not in configs]
        configs = list(dict.fromkeys(configs))

        for path in folder.iterdir():  # warm the page cache: every config then reads from RAM
            path.read_bytes()
        best = None
        by_workers: dict[int, float] = {}
        for batch_size, n_workers in configs:
            settings = ScreeningSettings(
                batch_size=batch_size, workers=n_workers, processes=not args.threads_decode
            )
            # Forward before and after the screening run, averaged: a shared machine's load drifts.
            before = forward_throughput(classifier, tensors, batch_size, max(256, 4 * batch_size))
            fps, counts = screening_throughput(classifier, folder, settings, tmp_path / "r.csv")
            after = forward_throughput(classifier, tensors, batch_size, max(256, 4 * batch_size))
            model_fps = (before + after) / 2
            ratio = fps / model_fps
            if batch_size == args.batch_size:
                by_workers[n_workers] = fps
            print(
                f"batch {batch_size:3d} workers {n_workers}: screening {fps:7.1f} films/s, "
                f"model forward {model_fps:7.1f} films/s, ratio {ratio:.2f}  {counts}",
                flush=True,
            )
            if best is None or fps > best[0]:
                best = (fps, model_fps, batch_size, n_workers)
        if 1 in by_workers and 2 in by_workers:
            print(
                f"scaling: 2 decoding workers / 1 = {by_workers[2] / by_workers[1]:.2f}x "
                f"({'processes' if not args.threads_decode else 'threads'}; target >= 1.6x)"
            )
        assert best is not None
        fps, model_fps, batch_size, n_workers = best
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"best: batch {batch_size}, workers {n_workers}: {fps:.1f} films/s screening vs "
            f"{model_fps:.1f} films/s forward = ratio {fps / model_fps:.2f} (target >= 0.8)"
        )
        print(f"peak RSS: {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
