"""``python -m training`` / ``radiview-train``: train, evaluate, calibrate and export RadiView's model.

Sub-commands: ``train`` (the default), ``refit BUNDLE`` (= ``--refit-gate-from BUNDLE``) and
``expand N`` (= ``--expand N``); see ``training.args``.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence

from training.args import parse_cli
from training.train import main as train_main


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_cli(argv)
    args.command = "python -m training " + shlex.join(argv)
    try:
        train_main(args)
    except KeyboardInterrupt:
        print("interrupted; continue with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
