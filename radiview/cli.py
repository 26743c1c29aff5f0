"""Command line: `radiview [FILE]` (GUI), `radiview predict`, `radiview screen`, `--self-test`.

(Placeholder: the full CLI lands with the inference/batch work.)
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    from radiview import RESEARCH_NOTICE, __version__

    print(f"RadiView {__version__}: {RESEARCH_NOTICE}")
    return 0
