"""Write a small folder of chest films for the installed-app check (packaging/ci_installer_check.sh).

    python packaging/make_ci_films.py OUT_DIR [--data DIR]

Copies the real sample films and DICOM files from the shared data folder when it exists (else
draws synthetic grayscale films), then adds the same film as DICOM in three compressed transfer
syntaxes (RLE Lossless, JPEG 2000 Lossless, JPEG-LS Lossless). pydicom loads those decoders by
name and pylibjpeg finds its plugins through entry points, which is what a frozen build most
often loses, so the installed app must screen every one of them without an error row.
Prints the number of films written.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm"}


def find_data(explicit: Path | None) -> Path | None:
    import os

    if explicit is not None:  # an explicit folder wins, even a missing one (then: synthetic films)
        return explicit if explicit.is_dir() else None
    for candidate in (os.environ.get("RADIVIEW_DATA"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def synthetic_film(seed: int, size: int = 384) -> np.ndarray:
    """A grey chest-like film: bright mediastinum and body, two dark lung fields, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    film = 0.75 - 0.25 * np.abs(xx - 0.5)
    for cx in (0.3, 0.7):
        inside = ((xx - cx) / 0.16) ** 2 + ((yy - 0.5) / 0.32) ** 2 < 1
        film[inside] -= 0.45
    film += rng.normal(0, 0.03, film.shape)
    return (np.clip(film, 0, 1) * 255).astype(np.uint8)


def write_dicom(pixels: np.ndarray, path: Path, syntax: str) -> None:
    """One 8-bit MONOCHROME2 CR film, compressed with the encoder pydicom picks for ``syntax``."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    # Type 1 in every image IOD; a DICOM listener (radiview listen) files films by study
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CR"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.PatientID = "CI-ANON"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds.compress(syntax, encoding_plugin="")
    ds.save_as(path, enforce_file_format=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="films for the installed-app check")
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    data = find_data(args.data)
    written: list[Path] = []
    if data is not None:
        for folder in (data / "samples", data / "dicom"):
            for source in sorted(folder.glob("*")):
                if source.suffix.lower() in IMAGE_SUFFIXES:
                    written.append(Path(shutil.copyfile(source, args.out / source.name)))
    if not written:
        for seed in range(4):
            path = args.out / f"synthetic_{seed}.png"
            Image.fromarray(synthetic_film(seed)).save(path)
            written.append(path)

    first = written[0]
    base = np.asarray(Image.open(first).convert("L")) if first.suffix != ".dcm" else synthetic_film(9)
    base = np.asarray(Image.fromarray(base).resize((256, 256)))
    from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

    for name, syntax in (("rle", RLELossless), ("j2k", JPEG2000Lossless), ("jpegls", JPEGLSLossless)):
        path = args.out / f"compressed_{name}.dcm"
        try:
            write_dicom(base, path, syntax)
        except Exception as exc:  # an encoder missing here is not the frozen app's fault: say so
            print(f"make_ci_films: could not encode {name} ({exc}); skipped", file=sys.stderr)
            continue
        written.append(path)
    print(len(written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
