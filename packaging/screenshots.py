"""Save screenshots of the real app for the README and docs.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python packaging/screenshots.py docs/screenshots

Shoots: the empty window (how to open a film); the AI finding (two-step headline) with its
warnings on the NIH DICOM of an 81-year-old (adult film, unvalidated source, view unknown); the
same film's heatmap with its colour bar; the main window with the SIIM film (heatmap pinned);
the batch view after screening the real sample films (sorted by risk); the About dialog (model
card and licence tabs); four-corner annotations, the 1×2 layout, the reading tools, an adult
JPEG with its warnings and a film the gate refuses (screenshots_reading.py). Uses the
bundled model in resources/model. The user's own config is never touched.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SIZE = (1400, 900)


def find_data_dir() -> Path | None:
    env = os.environ.get("RADIVIEW_DATA")
    candidate = Path(env) if env else REPO.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def wait_until(app, condition, timeout_s: float = 300.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        app.processEvents()
        time.sleep(0.02)


def settle(app, seconds: float = 0.4) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--film", type=Path, help="film for the main-window shot (default: a real DICOM)")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    scratch = Path(tempfile.mkdtemp(prefix="radiview-shots-"))
    os.environ["RADIVIEW_CONFIG_DIR"] = str(scratch / "config")
    from radiview.settings import Settings, save_settings

    save_settings(Settings(notice_acknowledged=True))

    from radiview.assets import default_model_dir

    bundle = default_model_dir()

    data = find_data_dir()
    if data is None:
        print("no real films found (set RADIVIEW_DATA)", file=sys.stderr)
        return 2
    dicoms = sorted((data / "dicom").glob("siim-acr_1.*.dcm"))
    film = args.film or (dicoms[0] if dicoms else data / "samples" / "normal__ieee8023__8fc103ca.jpg")
    adult = next(iter(sorted((data / "dicom").glob("nih-cxr14_*.dcm"))), film)

    from radiview.gui.app import apply_dark_theme, ensure_application
    from radiview.gui.main_window import MainWindow
    from radiview.settings import load_settings

    app = ensure_application()
    apply_dark_theme(app)
    window = MainWindow(settings=load_settings(), bundle_dir=bundle, save_on_change=False)
    window.reading.save_annotations = False  # the shots draw on shared films: never beside them
    window.resize(*SIZE)
    window.show()
    wait_until(app, lambda: window.model_info is not None or window.model_error is not None)
    if window.model_error is not None:
        print(f"model failed: {window.model_error.message}", file=sys.stderr)
        return 1

    # 1. The empty window: how to open a film.
    settle(app, 0.5)
    window.grab().save(str(args.out_dir / "empty-window.png"))

    # 2. The AI finding with its warnings (heatmap off: the default on a new film) ...
    def open_and_read(path: Path) -> None:
        window.open_file(str(path))
        wait_until(app, lambda: window.session.explanation is not None or window.last_error is not None)
        settle(app, 1.0)

    open_and_read(adult)
    window.grab().save(str(args.out_dir / "ai-finding-warnings.png"))
    # 3. ... and its heatmap with the colour bar.
    window.prediction_panel.overlay_check.setChecked(True)
    settle(app, 1.0)
    window.grab().save(str(args.out_dir / "heatmap-colour-bar.png"))

    # 4. Main window: the SIIM film with the heatmap pinned on.
    window.prediction_panel.pin_check.setChecked(True)
    open_and_read(film)
    window.grab().save(str(args.out_dir / "main-window.png"))
    # The view export, outside the docs folder (for a look, not for committing).
    sample = window.export_view(str(scratch / "view-export.png"), "png", strip_identifiers=True)
    print(f"view export sample: {sample}")

    # 2. Batch screening of the real sample films.
    window.start_screening(str(data / "samples"), True)
    wait_until(app, lambda: not window.screening_running)
    settle(app, 0.5)
    window.grab().save(str(args.out_dir / "batch-screening.png"))

    # 3. About dialog, model card tab.
    window.tabs.setCurrentWidget(window.viewer_area)
    dialog = window.show_about()
    dialog.tabs.setCurrentIndex(1)
    settle(app, 0.5)
    dialog.grab().save(str(args.out_dir / "about.png"))
    dialog.tabs.setCurrentIndex(2)
    settle(app, 0.3)
    dialog.grab().save(str(args.out_dir / "about-licences.png"))
    dialog.reject()

    # 4. The reading room: corner annotations, 1×2 layout, reading tools.
    from screenshots_reading import shoot_reading, shoot_round_two

    reading = shoot_reading(app, window, data, args.out_dir, scratch, wait_until, settle)
    reading += shoot_round_two(app, window, data, args.out_dir, scratch, wait_until, settle)

    window.close()
    shots = ("empty-window.png", "ai-finding-warnings.png", "heatmap-colour-bar.png", "main-window.png")
    for name in (*shots, "batch-screening.png", "about.png", "about-licences.png", *reading):
        path = args.out_dir / name
        print(f"{path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
