"""Build real DICOM (and PNG) files for the io tests and the io benchmark.

Everything is encoded by real codecs: pydicom (native, RLE, Deflate), pyjpegls (JPEG-LS),
pylibjpeg-openjpeg (JPEG 2000), Pillow (JPEG Baseline, encapsulated here) and GDCM's
ImageChangeTransferSyntax (JPEG Lossless SV1: no pydicom encoder exists for it).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

#: Transfer syntaxes the tests cover, by short name.
SYNTAXES: dict[str, UID] = {
    "explicit": ExplicitVRLittleEndian,
    "implicit": ImplicitVRLittleEndian,
    "deflate": DeflatedExplicitVRLittleEndian,
    "rle": RLELossless,
    "jpegls": JPEGLSLossless,
    "j2k": JPEG2000Lossless,
    "jpeg_lossless": JPEGLosslessSV1,
    "jpeg_baseline": JPEGBaseline8Bit,
    "jpeg_extended": JPEGExtended12Bit,  # GDCM writes 16-bit samples here; GDCM reads them back
}

#: A true 12-bit JPEG Extended film (frame header precision 12) from pydicom's own test files,
#: shipped inside the pydicom wheel: no encoder here writes one (GDCM writes 16-bit samples).
TRUE_12BIT_JPEG = Path(pydicom.__file__).parent / "data" / "test_files" / "JPGExtended.dcm"


def gradient_image(
    rows: int = 64,
    columns: int = 48,
    bits: int = 12,
    signed: bool = False,
    seed: int = 0,
    noise: float = 0.05,
):
    """A smooth test image plus Gaussian noise (std ``noise`` of full scale) over most of ``bits``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns]
    base = 0.5 + 0.35 * np.sin(x / max(columns, 1) * 3.0) * np.cos(y / max(rows, 1) * 2.0)
    base = base + rng.normal(0.0, noise, size=(rows, columns))
    top = 2**bits - 1
    values = np.clip(np.rint(base * top), 0, top).astype(np.int64)
    values[0, 0], values[-1, -1] = 0, top  # touch both ends of the range
    if signed:
        values -= 2 ** (bits - 1)
        return values.astype(np.int16 if bits > 8 else np.int8)
    return values.astype(np.uint16 if bits > 8 else np.uint8)


def make_dataset(
    pixels: np.ndarray,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    bits_allocated: int | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Dataset:
    """A DX data set holding ``pixels`` natively (Explicit VR Little Endian).

    ``pixels`` is (rows, cols), (rows, cols, 3) for RGB/YBR or (frames, rows, cols).
    """
    arr = np.asarray(pixels)
    color = photometric in ("RGB", "YBR_FULL", "YBR_FULL_422")
    frames = arr.shape[0] if (arr.ndim == 3 and not color) or arr.ndim == 4 else 1
    rows, columns = arr.shape[1:3] if frames > 1 else arr.shape[:2]
    allocated = bits_allocated or arr.dtype.itemsize * 8
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Test^Patient"
    ds.PatientID = "RV-TEST-1"
    ds.PatientSex = "F"
    ds.PatientAge = "054Y"
    ds.StudyDate = "20240131"
    ds.Modality = "DX"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.Manufacturer = "RadiView test factory"
    ds.Rows, ds.Columns = int(rows), int(columns)
    ds.SamplesPerPixel = 3 if color else 1
    if color:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = allocated
    ds.BitsStored = bits_stored or allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if np.issubdtype(arr.dtype, np.signedinteger) else 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    for keyword, value in (tags or {}).items():
        setattr(ds, keyword, value)
    return ds


def lut_item(lut: np.ndarray, first_mapped: int, bits: int = 16) -> Dataset:
    """A Modality/VOI LUT sequence item (LUT Data as US values)."""
    item = Dataset()
    item.LUTDescriptor = [len(lut) if len(lut) < 65536 else 0, first_mapped, bits]
    item.LUTData = [int(v) for v in lut]
    item["LUTDescriptor"].VR = "US"
    item["LUTData"].VR = "US"
    return item


def with_sequence(ds: Dataset, keyword: str, item: Dataset) -> Dataset:
    setattr(ds, keyword, Sequence([item]))
    return ds


def encode(ds: Dataset, syntax: str) -> Dataset:
    """Re-encode a native data set in one of SYNTAXES (in place; returns it)."""
    uid = SYNTAXES[syntax]
    if syntax in ("explicit", "implicit", "deflate"):
        ds.file_meta.TransferSyntaxUID = uid
    elif syntax == "rle":
        ds.compress(uid, encoding_plugin="pydicom")  # GDCM's RLE encoder aborts on odd widths
    elif syntax in ("jpegls", "j2k"):
        ds.compress(uid)
    elif syntax == "jpeg_baseline":
        _encode_jpeg_baseline(ds)
    elif syntax == "jpeg_lossless":
        _encode_with_gdcm(ds, "JPEGLosslessProcess14_1", uid)
    elif syntax == "jpeg_extended":
        _encode_with_gdcm(ds, "JPEGExtendedProcess2_4", uid)
    else:
        raise ValueError(syntax)
    return ds


def _encode_jpeg_baseline(ds: Dataset, quality: int = 95) -> None:
    """8-bit grayscale or RGB → JPEG via Pillow, encapsulated (RGB is stored as YBR_FULL_422)."""
    if ds.BitsAllocated != 8:
        raise ValueError("JPEG Baseline holds 8-bit data only")
    arr = np.frombuffer(ds.PixelData, dtype=np.uint8)
    shape = (ds.Rows, ds.Columns, 3) if ds.SamplesPerPixel == 3 else (ds.Rows, ds.Columns)
    buf = io.BytesIO()
    Image.fromarray(arr.reshape(shape)).save(buf, format="JPEG", quality=quality)
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    if ds.SamplesPerPixel == 3:
        ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.LossyImageCompression = "01"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit


def _encode_with_gdcm(ds: Dataset, gdcm_syntax: str, uid: UID) -> None:
    """Transcode through GDCM (write native, let GDCM encode, read back): JPEG Lossless SV1
    and 12-bit JPEG Extended, for which pydicom has no encoder."""
    import gdcm
    import pydicom

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "native.dcm", Path(tmp) / "jll.dcm"
        ds.save_as(src, enforce_file_format=True)
        reader = gdcm.ImageReader()
        reader.SetFileName(str(src))
        if not reader.Read():
            raise RuntimeError("GDCM could not read the native file")
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, gdcm_syntax)))
        change.SetInput(reader.GetImage())
        if not change.Change():
            raise RuntimeError(f"GDCM could not encode {gdcm_syntax}")
        writer = gdcm.ImageWriter()
        writer.SetFileName(str(dst))
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        if not writer.Write():
            raise RuntimeError(f"GDCM could not write the {gdcm_syntax} file")
        out = pydicom.dcmread(dst)
    ds.file_meta.TransferSyntaxUID = uid
    ds.PixelData = out.PixelData
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True


def write_dicom(path: Path, ds: Dataset, preamble: bool = True) -> Path:
    """Save ``ds``; ``preamble=False`` writes a bare data set (no preamble, no file meta)."""
    path = Path(path)
    if preamble:
        ds.save_as(path, enforce_file_format=True)
    else:
        bare = Dataset()
        bare.update(ds)
        implicit = ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
        bare.save_as(path, implicit_vr=implicit, little_endian=True)
    return path


def write_png16(path: Path, pixels: np.ndarray) -> Path:
    """A 16-bit grayscale PNG of uint16 ``pixels``."""
    Image.fromarray(np.asarray(pixels, dtype=np.uint16)).save(path, format="PNG")
    return Path(path)


__all__ = [
    "SYNTAXES",
    "TRUE_12BIT_JPEG",
    "SecondaryCaptureImageStorage",
    "encode",
    "gradient_image",
    "lut_item",
    "make_dataset",
    "with_sequence",
    "write_dicom",
    "write_png16",
]
