"""The ``radiview`` command (also ``python -m radiview``): one argparse parser, one sub-command
per module of this package.

    radiview [open] [FILE ...]               start the viewer (GUI)
    radiview predict FILE [--json] [--heatmap OUT.png]
    radiview screen FOLDER --out REPORT.csv [--pdf REPORT.pdf] [--resume | --overwrite]
    radiview screen --pacs NODE --study-date FROM-TO --out REPORT.csv   (radiview/net/commands.py)
    radiview listen --ae RADIVIEW --port 11112 --out DIR --allow AE     (DICOM C-STORE listener)
    radiview self-test                       check an installed or frozen build (or --self-test)
    radiview --version

Exit codes (radiview/cli/exit_codes.py): 0 success (films read or refused by the input gate);
1 a film could not be read, a screen found no film, or the self-test failed; 2 usage,
model-bundle or report errors (an output that would replace a user's file, a report locked by
another run); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from radiview import RESEARCH_NOTICE, __version__
from radiview.cli.exit_codes import EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from radiview.cli.options import setup_logging

# Every sub-command lives in its own module radiview/cli/<module>.py, which defines
# ``add_parser(subparsers) -> ArgumentParser`` (registering the command) and ``run(args) -> int``.
# Adding a command is one line here (``radiview --help`` lists it in this order).
SUBCOMMAND_MODULES: dict[str, str] = {
    "open": "open",
    "predict": "predict",
    "screen": "screen",
    "listen": "listen",
    "self-test": "self_test",
    "site": "site",
}
DEFAULT_COMMAND = "open"  # `radiview FILE ...` opens the viewer
_TOP_LEVEL = ("-h", "--help", "--version")


class _CommandListFormatter(argparse.HelpFormatter):
    """One line per command in ``radiview --help``: argparse measures the command names at the
    parent's indent, so 'self-test' would otherwise push its help onto a line of its own."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=18)
        self._action_max_length = 13


def build_parser() -> argparse.ArgumentParser:
    """The one parser: ``radiview <command> ...`` for every command of SUBCOMMAND_MODULES."""
    parser = argparse.ArgumentParser(
        prog="radiview",
        formatter_class=_CommandListFormatter,
        description=f"RadiView chest X-ray viewer with an AI second reader. {RESEARCH_NOTICE}",
        epilog="'radiview FILE ...' is 'radiview open FILE ...'; "
        "'radiview --self-test' is 'radiview self-test'. Add -h to a command for its options.",
    )
    parser.add_argument("--version", action="version", version=f"RadiView {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command, module_name in SUBCOMMAND_MODULES.items():
        module = _command_module(command)
        module.add_parser(subparsers).set_defaults(_module=module_name)
    return parser


def _command_module(command: str) -> ModuleType:
    return importlib.import_module(f"radiview.cli.{SUBCOMMAND_MODULES[command]}")


def normalize_argv(argv: list[str]) -> list[str]:
    """The command first, with today's shortcuts spelled out.

    ``radiview -v screen ...`` is ``radiview screen ... -v``; ``radiview FILE ...`` (no command)
    is ``radiview open FILE ...``; ``radiview --self-test ...`` is ``radiview self-test ...``.
    """
    lead: list[str] = []
    rest = list(argv)
    while rest and rest[0] in ("-v", "--verbose"):
        lead, rest = [*lead, rest[0]], rest[1:]
    if rest and (rest[0] in SUBCOMMAND_MODULES or rest[0] in _TOP_LEVEL):
        return [*rest, *lead]
    if "--self-test" in rest:
        return ["self-test", *(a for a in rest if a != "--self-test"), *lead]
    return [DEFAULT_COMMAND, *rest, *lead]


def main(argv: list[str] | None = None) -> int:
    args = normalize_argv(list(sys.argv[1:] if argv is None else argv))
    try:
        from radiview.cli.screen import is_pacs_screen, run_pacs_screen

        if is_pacs_screen(args):  # its own options, parsed by radiview/net/commands.py
            return run_pacs_screen(args)
        parsed = build_parser().parse_args(args)
        setup_logging(bool(getattr(parsed, "verbose", False)))
        return int(_command_module(parsed.command).run(parsed))
    except UsageError as exc:
        print(f"radiview: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # e.g. while the model loads; screening handles its own
        print("radiview: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
