"""Load-time benchmark for radiview.io: prints the median of N loads per file type.

    .venv/bin/python benchmarks/bench_io.py [--repeats 7]

Files: a 512-px JPEG from shared/data/cxr (RADIVIEW_DATA or ../shared/data), and a 16-bit
2500×3000 PNG and a 12-bit JPEG Lossless (SV1, GDCM-encoded) 2500×3000 DICOM generated into a
temporary folder with the test factory (tests/io/dicom_factory.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "io"))  # the DICOM/PNG factory shared with the tests

from dicom_factory import encode, gradient_image, make_dataset, write_dicom, write_png16  # noqa: E402

from radiview.io import load_radiograph  # noqa: E402


def _data_dir() -> Path | None:
    env = os.environ.get("RADIVIEW_DATA")
    candidate = Path(env) if env else REPO.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def _median_ms(path: Path, repeats: int) -> tuple[float, float, tuple[int, int]]:
    """(median wall ms, median CPU ms, shape). CPU time is reported too because on a shared
    machine wall time mostly measures the neighbours; decoding here is single-threaded."""
    load_radiograph(path)  # warm-up: imports, plugin discovery, page cache
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        rad = load_radiograph(path)
        wall.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
    return statistics.median(wall), statistics.median(cpu), rad.shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    cases: list[tuple[str, Path]] = []
    data = _data_dir()
    if data is not None:
        jpeg = sorted((data / "cxr").rglob("*.jpg"))
        big = [p for p in jpeg if "kermany224" not in p.parts and "cxr_radiography" not in p.parts]
        if big:
            cases.append(("JPEG 8-bit (shared/data/cxr, ≤512 px)", big[0]))
    else:
        print("shared/data not found: skipping the real JPEG (set RADIVIEW_DATA)")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # 0.5 % noise: about 20 levels of 4096, like a detector's quantum noise (it sets codec speed)
        film16 = gradient_image(rows=3000, columns=2500, bits=16, noise=0.005)
        cases.append(("PNG 16-bit 2500×3000", write_png16(folder / "film16.png", film16)))
        film12 = gradient_image(rows=3000, columns=2500, bits=12, noise=0.005)
        ds = make_dataset(film12, bits_stored=12, tags={"WindowCenter": 2048, "WindowWidth": 4096})
        cases.append(
            (
                "DICOM JPEG Lossless SV1 12-bit 2500×3000",
                write_dicom(folder / "jll.dcm", encode(ds, "jpeg_lossless")),
            )
        )
        print(f"radiview.io load_radiograph, medians of {args.repeats} loads (after one warm-up load)")
        for label, path in cases:
            median, cpu, shape = _median_ms(path, args.repeats)
            size_mb = path.stat().st_size / 1e6
            size = f"{shape[1]}×{shape[0]}"
            print(f"  {label:44s} {size:>10s} {size_mb:7.2f} MB  wall {median:8.1f} ms  cpu {cpu:8.1f} ms")


if __name__ == "__main__":
    main()
