"""The model card's prose, read from ``card_text.json`` beside this module (data, not code)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from radiview import RESEARCH_NOTICE

CARD_TEXT: dict[str, Any] = json.loads(Path(__file__).with_name("card_text.json").read_text(encoding="utf-8"))
INTENDED_USE: str = CARD_TEXT["intended_use"].format(research_notice=RESEARCH_NOTICE)
LIMITATIONS: tuple[str, ...] = tuple(CARD_TEXT["limitations"])
