"""GUI test fixtures: offscreen Qt, an isolated config dir, generated films, a live window."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radiview.settings import Settings, save_settings
from tests.qt_cleanup import collect_qt_garbage  # noqa: F401  (autouse)

PATIENT_NAME = "Doe^Jane"
PATIENT_ID = "MRN-4711"


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every GUI test gets its own config dir with the research notice pre-acknowledged."""
    folder = tmp_path / "config"
    monkeypatch.setenv("RADIVIEW_CONFIG_DIR", str(folder))
    save_settings(Settings(notice_acknowledged=True))
    return folder


def film_pixels(rows: int = 120, cols: int = 100, maximum: int = 4095, seed: int = 0) -> np.ndarray:
    """A chest-like test film: bright mediastinum/ribs, dark lungs, smooth background."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    lungs = np.exp(-(((x - cols * 0.3) / (cols * 0.15)) ** 2 + ((y - rows * 0.5) / (rows * 0.3)) ** 2))
    lungs += np.exp(-(((x - cols * 0.7) / (cols * 0.15)) ** 2 + ((y - rows * 0.5) / (rows * 0.3)) ** 2))
    ribs = 0.15 * (np.sin(y / rows * 40) > 0.6)
    base = 0.75 - 0.55 * lungs + ribs + 0.1 * y / rows
    noise = np.random.default_rng(seed).normal(0, 0.01, base.shape)
    return np.clip((base + noise) * maximum, 0, maximum).astype(np.uint16)


def write_dicom(
    path: Path,
    pixels: np.ndarray,
    photometric: str = "MONOCHROME2",
    window: tuple[float, float] | None = None,
    spacing: tuple[float, float] | None = (0.5, 0.4),
) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray for presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = "19700101"
    ds.Modality = "DX"
    ds.ViewPosition = "PA"
    ds.StudyDate = "20240102"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if spacing is not None:
        ds.PixelSpacing = [f"{spacing[0]}", f"{spacing[1]}"]
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = f"{window[0]}", f"{window[1]}"
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture(scope="session")
def films(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One generated file per kind the viewer must open, plus broken ones."""
    root = tmp_path_factory.mktemp("films")
    pixels12 = film_pixels()
    pixels8 = (pixels12 // 16).astype(np.uint8)
    out = {
        "png8": root / "film8.png",
        "png16": root / "film16.png",
        "jpeg": root / "film.jpg",
    }
    Image.fromarray(pixels8).save(out["png8"])
    Image.fromarray(pixels12.astype(np.uint16) * 16).save(out["png16"])
    Image.fromarray(pixels8).save(out["jpeg"], quality=92)
    out["dicom_m2"] = write_dicom(root / "m2.dcm", pixels12)
    out["dicom_m1"] = write_dicom(root / "m1.dcm", (4095 - pixels12).astype(np.uint16), "MONOCHROME1")
    out["dicom_window"] = write_dicom(root / "windowed.dcm", pixels12, window=(2000.0, 1000.0), spacing=None)
    out["empty"] = root / "empty.dcm"
    out["empty"].write_bytes(b"")
    out["garbage"] = root / "garbage.png"
    out["garbage"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    return out


@pytest.fixture
def make_window(qtbot, tiny_bundle: Path):  # type: ignore[no-untyped-def]
    """Factory for a shown MainWindow on the tiny bundle; closes it and checks threads end."""
    from radiview.gui.main_window import MainWindow
    from radiview.settings import load_settings

    made = []

    def make(wait_model: bool = True, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("settings", load_settings())
        kwargs.setdefault("bundle_dir", tiny_bundle)
        window = MainWindow(**kwargs)
        window.reading.save_annotations = False  # tests never write beside the shared films
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        if wait_model:
            qtbot.waitUntil(
                lambda: window.model_info is not None or window.model_error is not None, timeout=60000
            )
            assert window.model_error is None, window.model_error
        made.append(window)
        return window

    yield make
    for window in made:
        window.close()
        assert all(t.isFinished() for t in window.worker_threads()), "a worker thread outlived its window"


@pytest.fixture
def window(make_window):  # type: ignore[no-untyped-def]
    return make_window()


def open_and_wait(qtbot, window, path: Path, analysed: bool = True):  # type: ignore[no-untyped-def]
    """Open a film and wait until it is shown (and, by default, analysed)."""
    signal = window.prediction_ready if analysed else window.film_loaded
    with qtbot.waitSignal(signal, timeout=60000) as blocker:
        window.open_file(path)
    window.viewer.render_now()
    return blocker.args[0]
