"""``radiview listen --ae RADIVIEW --port 11112 --out DIR --allow AE``: the DICOM C-STORE listener.

Its options and its run live in radiview/net/commands.py (the PACS side of the CLI).
"""

from __future__ import annotations

import argparse
from typing import Any

from radiview import RESEARCH_NOTICE


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    from radiview.net.commands import listen_parser

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "listen",
        parents=[listen_parser()],
        conflict_handler="resolve",  # the parent's -h/--help
        help="a DICOM C-STORE listener screening every film pushed to it",
        description=f"A DICOM C-STORE listener that screens every chest film pushed to it. {RESEARCH_NOTICE}",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from radiview.net.commands import run_parsed_net_command

    return run_parsed_net_command("listen", args)
