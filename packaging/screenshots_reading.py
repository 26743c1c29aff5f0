"""The reading-room shots for ``packaging/screenshots.py``: four-corner annotations, the 1×2
layout and the reading tools, on the real shared DICOMs.

The real films carry no PatientOrientation, so the corner shot uses a scratch copy of the SIIM
film with PatientOrientation L\\F (row towards the patient's left, column towards the feet, as
a PA chest is displayed) to show the edge markers; the copy never leaves the scratch folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF

SHOTS = ("corner-annotations.png", "layout-1x2.png", "reading-tools.png")


def _oriented_copy(film: Path, scratch: Path) -> Path:
    import pydicom

    ds = pydicom.dcmread(film)
    ds.PatientOrientation = ["L", "F"]
    out = scratch / f"oriented-{film.name}"
    ds.save_as(out)
    return out


def _open(app: Any, window: Any, path: Path, wait_until: Callable[..., None]) -> None:
    window.last_error = None
    window.open_file(str(path))

    def shown() -> bool:
        radiograph = window.session.radiograph
        here = radiograph is not None and Path(radiograph.source) == path
        return (here and window.session.prediction is not None) or window.last_error is not None

    wait_until(app, shown)


def _draw_tools(viewer: Any) -> None:
    """A chest reader's marks on a 1024² PA film (film coordinates: x = column, y = row)."""
    from radiview.gui.tools import Annotation

    viewer.add_annotation(Annotation("ctr", ((464.0, 650.0), (806.0, 650.0), (116.0, 610.0), (964.0, 610.0))))
    viewer.add_annotation(Annotation("length", ((150.0, 520.0), (880.0, 520.0))))
    viewer.add_annotation(Annotation("roi_ellipse", ((230.0, 360.0), (330.0, 450.0))))
    viewer.add_annotation(Annotation("angle", ((150.0, 650.0), (140.0, 800.0), (330.0, 760.0))))
    viewer.add_annotation(Annotation("arrow", ((720.0, 170.0), (545.0, 285.0))))
    viewer.add_annotation(Annotation("text", ((725.0, 140.0),), "sternotomy wires"))


def shoot_reading(
    app: Any,
    window: Any,
    data: Path,
    out_dir: Path,
    scratch: Path,
    wait_until: Callable[..., None],
    settle: Callable[..., None],
) -> list[str]:
    """Save the three shots into ``out_dir``; returns their names."""
    siim = sorted((data / "dicom").glob("siim-acr_1.*.dcm"))[0]
    nih = sorted((data / "dicom").glob("nih-cxr14_*.dcm"))[0]
    window.tabs.setCurrentWidget(window.viewer_area)
    window.prediction_panel.overlay_check.setChecked(False)

    # 1. Four-corner annotations with orientation markers.
    _open(app, window, _oriented_copy(siim, scratch), wait_until)
    window.reading.set_corners_visible(True)
    settle(app, 0.8)
    window.grab().save(str(out_dir / SHOTS[0]))

    # 2. Reading tools on the SIIM film (its spacing is uncalibrated: note shown).
    _open(app, window, siim, wait_until)
    _draw_tools(window.viewer)
    settle(app, 0.8)
    window.grab().save(str(out_dir / SHOTS[2]))

    # 3. 1×2: the NIH film (active, AI-read) beside the SIIM film, linked W/L (Lung preset).
    _open(app, window, nih, wait_until)
    window.reading.open_right(str(siim))
    window.viewer.apply_preset("Lung")
    settle(app, 0.8)
    window.grab().save(str(out_dir / SHOTS[1]))
    window.viewer_area.set_layout("1x1")
    return list(SHOTS)


ROUND_TWO_SHOTS = ("adult-jpeg-warnings.png", "refused-film.png", "priors-side-by-side.png")


def _same_patient_copies(film: Path, scratch: Path) -> list[Path]:
    """Two scratch copies of ``film`` as one patient's earlier and later studies (the shared
    films hold no patient with two studies); they never leave the scratch folder."""
    import pydicom

    folder = scratch / "priors"
    folder.mkdir(exist_ok=True)
    out = []
    for name, date in (("2019-study.dcm", "20190312"), ("2020-study.dcm", "20200415")):
        ds = pydicom.dcmread(film)
        ds.StudyDate, ds.StudyTime = date, "093000"
        ds.save_as(folder / name)
        out.append(folder / name)
    return out


def shoot_round_two(
    app: Any,
    window: Any,
    data: Path,
    out_dir: Path,
    scratch: Path,
    wait_until: Callable[..., None],
    settle: Callable[..., None],
) -> list[str]:
    """Issue 21: an adult JPEG (no age, view or source in the file: each is a warning) and a
    film the input gate refuses (a lateral from the shared OOD set), with the honest reason."""
    window.tabs.setCurrentWidget(window.viewer_area)
    window.prediction_panel.overlay_check.setChecked(False)
    _open(app, window, data / "samples" / "normal__ieee8023__8fc103ca.jpg", wait_until)
    settle(app, 0.8)
    window.grab().save(str(out_dir / ROUND_TWO_SHOTS[0]))
    for lateral in sorted((data / "ood" / "lateral").rglob("*.*"))[:20]:
        _open(app, window, lateral, wait_until)
        prediction = window.session.prediction
        if prediction is not None and not prediction.accepted:
            break
    settle(app, 0.8)
    window.grab().save(str(out_dir / ROUND_TWO_SHOTS[1]))

    # Side panels folded (F9), the same patient's prior on the right (Ctrl+Shift+R), full screen
    # asked (F11; Xvfb has no window manager to honour it, so the shot keeps the window size).
    nih = sorted((data / "dicom").glob("nih-cxr14_*.dcm"))[0]
    _, later = _same_patient_copies(nih, scratch)
    habits = window.reading.habits
    _open(app, window, later, wait_until)
    habits.compare_with_prior()
    habits.set_side_panels(False)
    habits.set_full_screen(True)
    settle(app, 1.5)
    window.grab().save(str(out_dir / ROUND_TWO_SHOTS[2]))
    habits.set_full_screen(False)
    habits.set_side_panels(True)
    window.viewer_area.set_layout("1x1")
    return list(ROUND_TWO_SHOTS)


def check_export_has_annotations(window: Any, out: Path) -> str | None:
    """A view export with the tools drawn, for a look (not committed)."""
    window.viewer.measure(QPointF(100, 100), QPointF(400, 100))
    return window.export_view(str(out), "png", strip_identifiers=True)
