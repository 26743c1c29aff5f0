"""Real-data tests: marked wherever they live, skipped without the films, failing in CI without them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ONE_REAL_TEST = "tests/io/test_real_films.py::test_siim_spacing_and_metadata"


def _pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "RADIVIEW_DATA")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**clean, **env},
        timeout=300,
        check=False,
    )


def test_missing_films_skip_locally_and_fail_in_ci(tmp_path: Path) -> None:
    nowhere = str(tmp_path / "no-data")
    local = _pytest(ONE_REAL_TEST, RADIVIEW_DATA=nowhere)
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout[-1500:]
    ci = _pytest(ONE_REAL_TEST, RADIVIEW_DATA=nowhere, CI="true")
    assert ci.returncode == 1 and "real-data tests must run in CI" in ci.stdout, ci.stdout[-1500:]


def test_every_test_using_the_films_is_marked(tmp_path: Path) -> None:
    """A test that asks for data_dir is selected by -m realdata even without an explicit mark."""
    listed = _pytest("--collect-only", "-m", "realdata", "tests/gui/test_viewer.py", "tests/batch")
    names = listed.stdout
    assert "test_real_films" in names and "test_real_samples_and_dicoms_are_all_read" in names, names[-1500:]
    assert "test_real_bundle_reads_real_samples" in names
