"""``radiview open [FILE ...]`` (also plain ``radiview [FILE ...]``): start the viewer."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from radiview import RESEARCH_NOTICE
from radiview.cli.exit_codes import EXIT_USAGE
from radiview.cli.options import add_model_options


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "open",
        help="start the viewer (plain 'radiview FILE ...' does too)",
        description=f"Start the RadiView viewer. {RESEARCH_NOTICE}",
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="DICOM or image files to open in the viewer")
    add_model_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        from radiview.gui.app import run_app
    except ImportError as exc:
        print(
            f"radiview: the viewer cannot start: {exc}.\n"
            "Install PySide6-Essentials (pip install PySide6-Essentials), or use the headless "
            "commands 'radiview predict' and 'radiview screen'.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return int(run_app(args.files, bundle_dir=args.model, exit_when_done=True))
