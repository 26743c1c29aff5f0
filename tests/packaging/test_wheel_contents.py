"""The app's wheel ships radiview (and its resources) only: training/ is a checkout tool."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _pyproject() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_wheel_packages_radiview_and_its_resources_only() -> None:
    wheel = _pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["radiview"]
    assert wheel["force-include"] == {"resources": "radiview/_resources"}


def test_no_entry_point_needs_a_package_outside_the_wheel() -> None:
    scripts = _pyproject()["project"]["scripts"]
    assert scripts and all(target.split(".")[0].split(":")[0] == "radiview" for target in scripts.values())


def test_the_app_never_imports_training() -> None:
    offenders = [
        path.relative_to(REPO).as_posix()
        for path in (REPO / "radiview").rglob("*.py")
        if any(
            line.lstrip().startswith(("import training", "from training"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert offenders == []
