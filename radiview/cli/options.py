"""What every ``radiview`` sub-command shares: the model options, logging, the model itself."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from typing import TYPE_CHECKING

from radiview.cli.exit_codes import UsageError
from radiview.errors import RadiviewError

if TYPE_CHECKING:
    from radiview.inference.classifier import Classifier

DEVICES = ("auto", "cpu", "cuda", "mps")
_handler: logging.Handler | None = None


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--model`` and ``-v``: the options of every command that loads the model."""
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where the model runs (default: auto = CUDA, else MPS, else CPU)",
    )
    parser.add_argument("--model", metavar="DIR", help="model bundle folder (default: the bundled model)")
    add_verbose_option(parser)


def add_verbose_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details (INFO)")


def setup_logging(verbose: bool) -> None:
    """One stderr handler on the ``radiview`` logger (replaced, never doubled, on a second call)."""
    global _handler
    logger = logging.getLogger("radiview")
    if _handler is not None:
        logger.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    # Library warnings (pydicom, matplotlib, ...) become our own log lines, never raw stderr.
    from radiview.batch.decode import showwarning_into

    log = logging.getLogger("radiview.warnings")
    warnings.showwarning = showwarning_into(lambda text: log.warning("%s", text))


def load_model(model: str | None, device: str) -> Classifier:
    """The one loader (radiview.inference.loader); any failure is a usage error (exit 2)."""
    from radiview.inference.loader import load_classifier

    try:
        return load_classifier(model, device)
    except RadiviewError as exc:
        raise UsageError(str(exc)) from exc


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
