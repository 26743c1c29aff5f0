"""Site validation and adaptation time on 600 films (targets on a 2-core machine: adapt <= 3 min,
validate <= 1 min): a simulated new scanner (150 films per label, the transform of tests/site) is
written to a temporary folder (not timed), then the two commands run as a user would run them.

    python benchmarks/bench_site.py [--per-label 150] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from radiview.cli import main as radiview_main  # noqa: E402
from tests.site.site_films import manifest_rows, scanner_rows, write_scanner_site  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"), help="the shared data folder")
    parser.add_argument("--per-label", type=int, default=150, help="films per label (4 labels)")
    parser.add_argument("--keep", help="write the site here and keep it (default: a temporary folder)")
    return parser


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    code = radiview_main(argv)
    if code != 0:
        raise SystemExit(f"radiview {' '.join(argv)} exited {code}")
    return time.perf_counter() - start


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        films = root / "films"
        labels = write_scanner_site(
            Path(args.data), films, scanner_rows(manifest_rows(Path(args.data)), args.per_label)
        )
        n = sum(1 for _ in films.glob("*.png"))
        adapt_s = timed(
            [
                "site",
                "adapt",
                str(films),
                "--labels",
                str(labels),
                "--out",
                str(root / "site"),
                "--name",
                "bench",
            ]
        )
        base_s = timed(
            ["site", "validate", str(films), "--labels", str(labels), "--out", str(root / "base_report")]
        )
        site_s = timed(
            [
                "site",
                "validate",
                str(films),
                "--labels",
                str(labels),
                "--model",
                str(root / "site"),
                "--out",
                str(root / "site_report"),
            ]
        )
        card = json.loads((root / "site" / "site_card.json").read_text(encoding="utf-8"))
        after = card["site"]["check"]["after"]
        print(f"films: {n} (simulated new scanner, {args.per_label} per label); CPU cores: {os.cpu_count()}")
        print(f"site adapt:                 {adapt_s:6.1f} s  (target <= 180 s)")
        print(f"site validate (base model): {base_s:6.1f} s  (target <= 60 s)")
        print(f"site validate (site model): {site_s:6.1f} s")
        before = card["site"]["check"]["before"]["gate_acceptance"]["overall"]
        print(
            f"check part ({card['site']['split']['check_films']} films): gate acceptance "
            f"{before:.3f} -> {after['gate_acceptance']['overall']:.3f}, "
            f"OOD bank refusal {card['site']['gate']['ood']['refusal_rate']:.3f}, ECE {after['ece']}, "
            f"COVID-19 sensitivity {after['per_class']['covid19']['sensitivity']} at specificity "
            f"{after['per_class']['covid19']['specificity']}"
        )
        print(card["site"]["summary"])


if __name__ == "__main__":
    main(get_args_parser().parse_args())
