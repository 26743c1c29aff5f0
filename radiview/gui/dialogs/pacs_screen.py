"""The "Open from PACS" dialog's non-widget half: film cache, thumbnails, study screening.

The dialog's background thread calls ``PacsScreeningRunner.screen``; the runner owns one
classifier, loaded on first use and used by one run at a time (a lock: the classifier is
not reentrant), and writes the same CSV as ``radiview screen --pacs`` (resumable).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from radiview.errors import RadiviewError

THUMB_PX = 128
_cache_dir: Path | None = None


def pacs_cache_dir() -> Path:
    """One private temporary folder per app run for retrieved films (removed at exit)."""
    global _cache_dir
    if _cache_dir is None:
        _cache_dir = Path(tempfile.mkdtemp(prefix="radiview-pacs-"))
        atexit.register(shutil.rmtree, _cache_dir, True)
    return _cache_dir


def thumbnail(path: Path) -> np.ndarray:
    """A small windowed grayscale rendering of a film (uint8)."""
    from PIL import Image

    from radiview.io import apply_window, load_radiograph

    radiograph = load_radiograph(path)
    image = Image.fromarray(apply_window(radiograph.pixels, radiograph.default_window))
    image.thumbnail((THUMB_PX, THUMB_PX))
    return np.asarray(image)


def display_name(person_name: str) -> str:
    """DICOM ``FAMILY^GIVEN^MIDDLE`` as ``FAMILY, GIVEN MIDDLE``."""
    family, _, rest = person_name.partition("^")
    given = " ".join(part for part in rest.split("^") if part)
    return f"{family}, {given}" if given else family


class PacsScreeningRunner:
    def __init__(self, device: str = "auto", model: str | None = None) -> None:
        self.device, self.model = device, model
        self._classifier: Any = None
        self._lock = threading.Lock()

    def classifier(self) -> Any:
        if self._classifier is None:
            from radiview.inference.classifier import Classifier
            from radiview.inference.device import resolve_device

            self._classifier = Classifier.from_bundle(self.model, device=str(resolve_device(self.device)))
        return self._classifier

    def screen(
        self,
        connection: Any,
        studies: Sequence[Any],
        modalities: Sequence[str],
        out_csv: Path,
        send_results: bool,
        cancel: threading.Event,
        report: Callable[[str], None],
    ) -> str:
        """Screen the studies into ``out_csv`` (resuming it); returns a one-line summary."""
        from radiview.net.results import send_results as send
        from radiview.net.screen_study import pacs_report, screen_studies

        with self._lock:
            classifier = self.classifier()
            counts = {"ok": 0, "refused": 0, "error": 0, "sent": 0}

            def on_result(result: Any, _study_uid: str, path: Path) -> None:
                counts[result.status] += 1
                if send_results and result.status != "error":
                    try:
                        send(connection, path, classifier)
                        counts["sent"] += 1
                    except RadiviewError as exc:
                        report(f"results not sent: {exc}")
                report(f"Screened {sum(counts[k] for k in ('ok', 'refused', 'error'))} films…")

            with (
                pacs_report(out_csv, classifier, mode="resume") as writer,
                tempfile.TemporaryDirectory(prefix="radiview-pacs-screen-") as work,
            ):
                summary = screen_studies(
                    connection,
                    studies,
                    modalities,
                    classifier,
                    writer,
                    work,
                    on_result=on_result,
                    cancel=cancel,
                )
        sent = f", {counts['sent']} results sent to the PACS" if send_results else ""
        return (
            f"{summary.screened} films screened ({counts['ok']} ok, {counts['refused']} refused, "
            f"{counts['error']} error), {summary.already_reported} already in the report{sent} -> {out_csv}"
        )
