"""io test fixtures. ``dicom_factory`` (beside this file) builds the generated DICOM files."""

from __future__ import annotations

import sys
from pathlib import Path

# pytest runs with --import-mode=importlib, which does not put test folders on sys.path;
# the factory is a plain module shared by these tests and benchmarks/bench_io.py.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
