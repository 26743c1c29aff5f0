"""DICOM films via pydicom 3: read, decode, then the display pipeline, in the standard's order.

The stages live in their own modules: ``dicom_decode`` (decoder choice and the first
frame), ``dicom_luts`` (modality LUT → VOI → MONOCHROME1 mirror), ``dicom_tags`` (display
strings and the tag browser's rows) and ``jpeg_markers`` (JPEG headers). This module reads
the data set and assembles the ``Radiograph``.

Colour (RGB, YBR_*, PALETTE COLOR) becomes luminance with a warning. Nothing identifying is
logged: only the file's base name and technical facts.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from radiview.errors import (
    CorruptFileError,
    ImageTooLargeError,
    MissingPixelDataError,
    RadiviewError,
    UnsupportedFormatError,
    UnsupportedImageError,
)
from radiview.io.color import COLOR_TOLERANCE, apply_luminance, colorfulness
from radiview.io.dicom_decode import (
    DECODER_PACKAGE,
    DECODER_PREFERENCE,
    GDCM_DIRECT,
    choose_decoder,
    decode_frame,
)
from radiview.io.dicom_luts import apply_gray_pipeline, apply_lut
from radiview.io.dicom_tags import (
    TagRow,
    display_metadata,
    iter_tag_rows,
    pixel_spacing_mm,
    pixel_spacing_source,
)
from radiview.io.formats import check_pixel_count, describe_exception, read_head, sniff_format
from radiview.io.jpeg_markers import jpeg_header_problem
from radiview.io.radiograph import Radiograph, Window
from radiview.io.windowing import window_from_percentiles

__all__ = [
    "DECODER_PACKAGE",
    "DECODER_PREFERENCE",
    "apply_lut",
    "jpeg_header_problem",
    "read_dicom",
    "read_dicom_tags",
]

logger = logging.getLogger("radiview.io")

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_TAG_VALUE_CHARS = 120


@dataclass(frozen=True)
class _Geometry:
    """The image header facts every stage needs, checked once."""

    rows: int
    columns: int
    samples: int
    frames: int
    photometric: str
    bits_stored: int
    tsyntax: UID


# --------------------------------------------------------------------------- public verbs


def read_dicom(path: str | os.PathLike[str], frame: int | None = None) -> Radiograph:
    """Read a DICOM file (with or without the 128-byte preamble) into a Radiograph.

    ``frame`` picks one frame of a multi-frame file (0-based); None reads the first frame
    with a warning that the file has more (``load_radiograph``'s contract).

    Raises MissingPixelDataError, MissingDecoderError (naming the package to install),
    CorruptFileError, ImageTooLargeError, UnsupportedImageError or UnsupportedFormatError.
    """
    p = Path(path)
    if sniff_format(read_head(p)) != "dicom":
        raise UnsupportedFormatError("not a DICOM file (no DICM marker or DICOM header)", p)
    ds = _read_dataset(p, stop_before_pixels=False)
    return _build_guarded(ds, p, frame)


def read_dicom_frames(path: str | os.PathLike[str], max_frames: int = 1000) -> tuple[Radiograph, ...]:
    """Every frame of a DICOM file as Radiographs sharing the header (a one-frame file gives
    one). The file is read once; each frame is decoded on its own, so memory stays that of
    the float frames. More than ``max_frames`` frames is refused rather than filling memory."""
    p = Path(path)
    if sniff_format(read_head(p)) != "dicom":
        raise UnsupportedFormatError("not a DICOM file (no DICM marker or DICOM header)", p)
    ds = _read_dataset(p, stop_before_pixels=False)
    count = _number_of_frames(ds)
    if count > max_frames:
        raise ImageTooLargeError(f"{count} frames (RadiView shows at most {max_frames})", p)
    return tuple(_build_guarded(ds, p, index) for index in range(count))


def _build_guarded(ds: Dataset, p: Path, frame: int | None) -> Radiograph:
    try:
        return _build_radiograph(ds, p, frame)
    except RadiviewError:
        raise
    except MemoryError:
        raise ImageTooLargeError("not enough memory to decode this image", p) from None
    except Exception as exc:  # malformed values surface as many pydicom/numpy error types
        raise CorruptFileError(f"damaged DICOM header or pixel data ({describe_exception(exc)})", p) from None


def read_dicom_tags(path: str | os.PathLike[str], max_chars: int = _TAG_VALUE_CHARS) -> list[TagRow]:
    """Every tag of a DICOM file for the GUI's tag browser (pixel data not read).

    Rows are (tag "(0010,0010)", keyword, VR, value). Sequence items follow their sequence
    with one ">" per nesting level before the tag; long values are cut to ``max_chars``.
    """
    p = Path(path)
    if sniff_format(read_head(p)) != "dicom":
        raise UnsupportedFormatError("not a DICOM file (no DICM marker or DICOM header)", p)
    ds = _read_dataset(p, stop_before_pixels=True)
    rows: list[TagRow] = []
    try:
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            rows.extend(iter_tag_rows(meta, 0, max_chars))
        rows.extend(iter_tag_rows(ds, 0, max_chars))
    except Exception as exc:
        raise CorruptFileError(f"damaged DICOM header ({describe_exception(exc)})", p) from None
    return rows


# --------------------------------------------------------------------------- reading


def _read_dataset(path: Path, stop_before_pixels: bool) -> Dataset:
    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=stop_before_pixels)
    except RadiviewError:
        raise
    except MemoryError:
        raise ImageTooLargeError("not enough memory to read this DICOM file", path) from None
    except (InvalidDicomError, EOFError) as exc:
        raise CorruptFileError(f"truncated or damaged DICOM file ({describe_exception(exc)})", path) from None
    except Exception as exc:
        raise CorruptFileError(f"damaged DICOM file ({describe_exception(exc)})", path) from None
    _ensure_transfer_syntax(ds)
    return ds


def _ensure_transfer_syntax(ds: Dataset) -> None:
    """Preamble-less files may lack (0002,0010): take it from the encoding pydicom detected."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        ds.file_meta = meta = pydicom.dataset.FileMetaDataset()
    if meta.get("TransferSyntaxUID"):
        return
    implicit, little = ds.original_encoding
    if little is False:
        meta.TransferSyntaxUID = ExplicitVRBigEndian
    elif implicit:
        meta.TransferSyntaxUID = ImplicitVRLittleEndian
    else:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian


def _require_int(ds: Dataset, keyword: str, tag: str, path: Path, default: int | None = None) -> int:
    value = ds.get(keyword, default)
    if value is None or value == "":
        raise CorruptFileError(f"missing {keyword} {tag}", path)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CorruptFileError(f"invalid {keyword} {tag}: {str(value)[:40]!r}", path) from None


def _pixel_keyword(ds: Dataset, path: Path) -> str:
    """The pixel data element's keyword; an error saying what is missing when there is none."""
    keyword = next((kw for kw in _PIXEL_KEYWORDS if kw in ds), None)
    if len(ds) == 0:  # pydicom returns an empty data set when the file ends mid-element
        raise CorruptFileError("truncated or damaged DICOM file: no data elements could be read", path)
    if keyword is None:
        if "Rows" in ds or "BitsAllocated" in ds:  # an image header and no pixels after it
            raise MissingPixelDataError(
                "DICOM without pixel data: the header describes an image but the file holds no "
                "pixels (an incomplete transfer, or a header-only copy)",
                path,
            )
        sop = ds.get("SOPClassUID")
        what = f" ({getattr(sop, 'name', sop)})" if sop else ""
        raise MissingPixelDataError(f"DICOM file has no pixel data{what}", path)
    return keyword


def _geometry(ds: Dataset, path: Path) -> _Geometry:
    rows = _require_int(ds, "Rows", "(0028,0010)", path)
    columns = _require_int(ds, "Columns", "(0028,0011)", path)
    if rows <= 0 or columns <= 0:
        raise CorruptFileError(f"image has no pixels (Rows {rows}, Columns {columns})", path)
    check_pixel_count(rows, columns, path)
    samples = _require_int(ds, "SamplesPerPixel", "(0028,0002)", path, default=1)
    if samples not in (1, 3):
        raise UnsupportedImageError(f"{samples} samples per pixel (expected 1 or 3)", path)
    return _Geometry(
        rows=rows,
        columns=columns,
        samples=samples,
        frames=_number_of_frames(ds),
        photometric=str(ds.get("PhotometricInterpretation", "") or "").strip().upper(),
        bits_stored=int(ds.get("BitsStored", ds.get("BitsAllocated", 8)) or 8),
        tsyntax=UID(str(ds.file_meta.TransferSyntaxUID)),
    )


def _check_native_length(ds: Dataset, geo: _Geometry, path: Path) -> None:
    """An uncompressed image whose pixel bytes stop short: say how much of the file arrived
    ("file incomplete: 4.4 of 13.0 MB") instead of the decoder's byte counts."""
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if bits <= 0 or bits % 8:
        return  # 1-bit and odd layouts: the decoder's own check speaks
    expected = geo.rows * geo.columns * geo.samples * geo.frames * bits // 8
    actual = len(ds.PixelData or b"")
    if actual >= expected:
        return
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    whole = size + expected - actual
    raise CorruptFileError(
        f"file incomplete: {size / 1e6:.1f} of {whole / 1e6:.1f} MB (the image data stops "
        f"after {actual * 100 // expected} %; an interrupted copy or transfer?)",
        path,
    )


def _number_of_frames(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _to_gray(
    arr: np.ndarray, ds: Dataset, geo: _Geometry, metadata: dict[str, str], warnings: list[str], path: Path
) -> tuple[np.ndarray, Window | None, float | None, int]:
    """Decoded samples → (float32 gray pixels, window or None, colourfulness or None, bits)."""
    if geo.photometric == "PALETTE COLOR" and geo.samples == 1:
        try:
            arr = apply_color_lut(arr, ds)
        except Exception as exc:
            raise CorruptFileError(
                f"invalid palette colour lookup table ({describe_exception(exc)})", path
            ) from None
    if arr.ndim == 3 and arr.shape[2] == 3:  # pydicom already converted YBR and palettes to RGB
        score = colorfulness(arr)
        if score > COLOR_TOLERANCE:
            warnings.append(f"colour image ({geo.photometric}) converted to grayscale (luminance)")
        bits = 16 if arr.dtype.itemsize > 1 else geo.bits_stored
        return apply_luminance(arr), None, score, bits
    if arr.ndim != 2:
        raise UnsupportedImageError(f"pixel data of shape {arr.shape} is not a 2-D image", path)
    if geo.photometric not in ("MONOCHROME1", "MONOCHROME2"):
        warnings.append(f"photometric interpretation {geo.photometric or 'missing'}: read as MONOCHROME2")
    pixels, window = apply_gray_pipeline(arr, ds, geo.bits_stored, geo.photometric, metadata, warnings)
    return pixels, window, None, geo.bits_stored


def _build_radiograph(ds: Dataset, path: Path, frame: int | None = None) -> Radiograph:
    keyword = _pixel_keyword(ds, path)
    geo = _geometry(ds, path)
    if frame is not None and not 0 <= frame < geo.frames:
        raise UnsupportedImageError(f"frame {frame + 1} asked for, the file has {geo.frames}", path)
    index = frame if frame is not None else 0
    decoder = ""
    if keyword == "PixelData" and not geo.tsyntax.is_compressed:
        _check_native_length(ds, geo, path)
    if keyword == "PixelData":
        decoder = choose_decoder(ds, geo.tsyntax, geo.bits_stored, geo.frames, path, index)
    arr = decode_frame(ds, decoder, geo.frames, geo.samples, path, index)
    warnings: list[str] = []
    if geo.frames > 1 and frame is None:
        warnings.append(f"multi-frame image ({geo.frames} frames): showing the first frame only")
    metadata = display_metadata(ds, geo.tsyntax, geo.rows, geo.columns, geo.frames)
    metadata["decoder"] = "gdcm" if decoder == GDCM_DIRECT else decoder or "pydicom"
    if geo.frames > 1:
        metadata["frame"] = str(index + 1)

    pixels, window, score, bits_stored = _to_gray(arr, ds, geo, metadata, warnings, path)
    if pixels.shape != (geo.rows, geo.columns):
        raise UnsupportedImageError(f"decoded shape {pixels.shape} does not match Rows × Columns", path)
    if not np.isfinite(pixels).all():
        pixels = np.nan_to_num(pixels, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        warnings.append("non-finite pixel values replaced by 0")

    for text in warnings:
        logger.warning("%s: %s", path.name, text)
    logger.debug(
        "%s: DICOM %s %s %dx%d, %d bit",
        path.name,
        geo.tsyntax.name,
        geo.photometric,
        geo.columns,
        geo.rows,
        bits_stored,
    )
    view = str(ds.get("ViewPosition", "") or "").strip() or None
    return Radiograph(
        pixels=pixels,
        source=str(path),
        kind="dicom",
        bits_stored=bits_stored,
        default_window=window if window is not None else window_from_percentiles(pixels),
        pixel_spacing_mm=pixel_spacing_mm(ds),
        pixel_spacing_source=pixel_spacing_source(ds),
        view_position=view,
        photometric=geo.photometric or "MONOCHROME2",
        was_color=score is not None and score > COLOR_TOLERANCE,
        colorfulness=score,
        metadata=metadata,
        warnings=tuple(warnings),
    )
