"""A new user's first steps: apt's lock, and starting the viewer without a display."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "packaging" / "install_system_packages.sh"


def fake_tools(tmp_path: Path, apt_stderr: str, apt_rc: int) -> dict[str, str]:
    """A dpkg that knows no package and an apt-get that logs its arguments and fails as told."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dpkg").write_text("#!/bin/sh\nexit 1\n")
    log = tmp_path / "apt.log"
    (bin_dir / "apt-get").write_text(
        f'#!/bin/sh\necho "$@" >> {log}\nprintf "%s\\n" "{apt_stderr}" >&2\nexit {apt_rc}\n'
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = dict(os.environ)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
        SUDO="",
        APT_LOCK_TIMEOUT="7",
        APT_GET=str(bin_dir / "apt-get"),
        DPKG=str(bin_dir / "dpkg"),
    )
    return env


def test_apt_waits_for_its_lock_then_prints_a_one_line_hint(tmp_path: Path) -> None:
    lock_error = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)"
    env = fake_tools(tmp_path, lock_error, 100)
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 100
    assert "DPkg::Lock::Timeout=7" in (tmp_path / "apt.log").read_text()  # apt itself waits
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("apt is busy:"), done.stderr
    assert "over 7 s" in lines[0] and "run make again" in lines[0]
    assert "Could not get lock" not in done.stderr


def test_apt_errors_other_than_the_lock_are_shown_as_apt_wrote_them(tmp_path: Path) -> None:
    env = fake_tools(tmp_path, "E: Unable to locate package libxcb-cursor0", 100)
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 100
    assert "Unable to locate package" in done.stderr and "apt is busy" not in done.stderr


def test_installed_packages_need_no_apt(tmp_path: Path) -> None:
    env = fake_tools(tmp_path, "", 0)
    (tmp_path / "bin" / "dpkg").write_text("#!/bin/sh\nexit 0\n")
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not (tmp_path / "apt.log").exists()


@pytest.mark.parametrize(
    ("environ", "platform", "missing"),
    [
        ({}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"DISPLAY": ":0"}, "linux", False),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({}, "darwin", False),
        ({}, "win32", False),
    ],
)
def test_missing_display_is_detected_only_where_qt_would_abort(
    environ: dict[str, str], platform: str, missing: bool
) -> None:
    from radiview.gui.app import missing_display

    assert missing_display(environ, platform) is missing


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland displays are a Linux matter")
def test_gui_without_a_display_says_so_instead_of_qts_xcb_abort(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["RADIVIEW_CONFIG_DIR"] = str(tmp_path / "config")
    done = subprocess.run(
        [sys.executable, "-m", "radiview"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "no display: use xvfb-run" in done.stderr and "xcb" not in done.stderr.lower()
