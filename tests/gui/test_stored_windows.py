"""Issue 21: every window a DICOM stores is offered in the W/L list (only the first was)."""

from __future__ import annotations

import pydicom

from radiview.io import Window
from tests.gui.conftest import film_pixels, open_and_wait, write_dicom


def test_every_stored_window_is_a_preset(qtbot, window, tmp_path, films) -> None:  # type: ignore[no-untyped-def]
    path = write_dicom(tmp_path / "three.dcm", film_pixels(), window=(2000, 4000))
    ds = pydicom.dcmread(path)
    ds.WindowCenter, ds.WindowWidth = [2000, 1200, 2600], [4000, 900, 1200]
    ds.WindowCenterWidthExplanation = ["FULL", "LUNG", "MEDIASTINUM"]
    ds.save_as(path)
    open_and_wait(qtbot, window, path, analysed=False)
    combo = window.preset_combo
    items = [combo.itemText(i) for i in range(combo.count())]
    assert items[:3] == [
        "File window (Space)",
        "File window 2: W 899 / L 1200 LUNG",
        "File window 3: W 1199 / L 2600 MEDIASTINUM",
    ]
    combo.setCurrentIndex(2)
    combo.activated.emit(2)
    assert window.viewer.display_window == Window(center=2599.5, width=1199.0)
    assert window.viewer.preset == "Stored 3" and combo.currentIndex() == 2
    # The next film's list is its own: a PNG stores no window.
    open_and_wait(qtbot, window, films["png8"], analysed=False)
    assert not any(combo.itemText(i).startswith("File window 2") for i in range(combo.count()))
