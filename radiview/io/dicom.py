"""DICOM films via pydicom 3: the display pipeline, in the standard's order.

1. decode (first frame only) with a decoder whose licence allows bundling;
2. modality LUT: Rescale Slope/Intercept (negative slopes too) or a Modality LUT Sequence;
3. VOI: a VOI LUT Sequence is applied into ``pixels`` and the default window spans its
   output; otherwise the first Window Center/Width becomes ``default_window``
   (LINEAR: the exact PS3.3 C.11.2.1.2 bounds c-0.5 ± (w-1)/2; LINEAR_EXACT: c ± w/2;
   SIGMOID: the linear window c ± w/2, which has the sigmoid's slope at the centre, since
   a window here is linear); otherwise a percentile window;
4. MONOCHROME1 or Presentation LUT Shape INVERSE: mirror pixels and window over the
   nominal output range, so a MONOCHROME1 film and its MONOCHROME2 twin give identical
   ``pixels`` and window (MONOCHROME1 with INVERSE is one inversion, not two: the standard
   pairs them).

Colour (RGB, YBR_*, PALETTE COLOR) becomes luminance with a warning. Nothing identifying is
logged: only the file's base name and technical facts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, get_decoder
from pydicom.pixels import pixel_array as decode_pixel_array
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pydicom.valuerep import PersonName

from radiview.errors import (
    CorruptFileError,
    ImageTooLargeError,
    MissingDecoderError,
    MissingPixelDataError,
    RadiviewError,
    UnsupportedFormatError,
    UnsupportedImageError,
)
from radiview.io.formats import check_pixel_count, describe_exception, read_head, sniff_format
from radiview.io.image import COLOR_TOLERANCE, apply_luminance, colorfulness
from radiview.io.radiograph import Radiograph, Window
from radiview.io.windowing import window_from_percentiles

logger = logging.getLogger("radiview.io")

#: Decoder plugins in order of preference per transfer syntax. Only bundle-friendly licences:
#: "pylibjpeg" here means pylibjpeg-openjpeg / pylibjpeg-rle (MIT); pylibjpeg-libjpeg (GPL)
#: is never asked for. An empty tuple = pydicom's own native decoder.
DECODER_PREFERENCE: dict[str, tuple[str, ...]] = {
    JPEGBaseline8Bit: ("gdcm", "pillow"),
    JPEGExtended12Bit: ("gdcm", "pillow"),
    JPEGLossless: ("gdcm",),
    JPEGLosslessSV1: ("gdcm",),
    JPEGLSLossless: ("pyjpegls", "gdcm"),
    JPEGLSNearLossless: ("pyjpegls", "gdcm"),
    JPEG2000Lossless: ("pylibjpeg", "gdcm", "pillow"),
    JPEG2000: ("pylibjpeg", "gdcm", "pillow"),
    HTJ2KLossless: ("pylibjpeg",),
    HTJ2KLosslessRPCL: ("pylibjpeg",),
    HTJ2K: ("pylibjpeg",),
    RLELossless: ("pylibjpeg", "pydicom"),
}

#: What to install when a syntax has no decoder here (named in MissingDecoderError).
DECODER_PACKAGE: dict[str, str] = {
    JPEGBaseline8Bit: "python-gdcm",
    JPEGExtended12Bit: "python-gdcm",
    JPEGLossless: "python-gdcm",
    JPEGLosslessSV1: "python-gdcm",
    JPEGLSLossless: "pyjpegls",
    JPEGLSNearLossless: "pyjpegls",
    JPEG2000Lossless: "pylibjpeg-openjpeg",
    JPEG2000: "pylibjpeg-openjpeg",
    HTJ2KLossless: "pylibjpeg-openjpeg",
    HTJ2KLosslessRPCL: "pylibjpeg-openjpeg",
    HTJ2K: "pylibjpeg-openjpeg",
    RLELossless: "pylibjpeg-rle",
}

_JPEG_FAMILY = frozenset({JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1})
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_COLOR_PHOTOMETRICS = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420")
_TAG_VALUE_CHARS = 120


# --------------------------------------------------------------------------- public verbs


def apply_lut(values: np.ndarray, lut: np.ndarray, first_mapped: int) -> np.ndarray:
    """Look ``values`` up in a DICOM LUT (PS3.3 C.11.1/C.11.2) → float32.

    Values below ``first_mapped`` take the first entry, values past the end the last one.
    Float input is rounded to the nearest index (pydicom's version casts to the LUT dtype).
    """
    idx = np.rint(np.asarray(values, dtype=np.float32) - np.float32(first_mapped))
    np.clip(idx, 0, len(lut) - 1, out=idx)
    return np.asarray(lut, dtype=np.float32)[idx.astype(np.intp)]


def read_dicom(path: str | os.PathLike[str]) -> Radiograph:
    """Read a DICOM file (with or without the 128-byte preamble) into a Radiograph.

    Raises MissingPixelDataError, MissingDecoderError (naming the package to install),
    CorruptFileError, ImageTooLargeError, UnsupportedImageError or UnsupportedFormatError.
    """
    p = Path(path)
    if sniff_format(read_head(p)) != "dicom":
        raise UnsupportedFormatError("not a DICOM file (no DICM marker or DICOM header)", p)
    ds = _read_dataset(p, stop_before_pixels=False)
    try:
        return _build_radiograph(ds, p)
    except RadiviewError:
        raise
    except MemoryError:
        raise ImageTooLargeError("not enough memory to decode this image", p) from None
    except Exception as exc:  # malformed values surface as many pydicom/numpy error types
        raise CorruptFileError(f"damaged DICOM header or pixel data ({describe_exception(exc)})", p) from None


def read_dicom_tags(
    path: str | os.PathLike[str], max_chars: int = _TAG_VALUE_CHARS
) -> list[tuple[str, str, str, str]]:
    """Every tag of a DICOM file for the GUI's tag browser (pixel data not read).

    Rows are (tag "(0010,0010)", keyword, VR, value). Sequence items follow their sequence
    with one ">" per nesting level before the tag; long values are cut to ``max_chars``.
    """
    p = Path(path)
    if sniff_format(read_head(p)) != "dicom":
        raise UnsupportedFormatError("not a DICOM file (no DICM marker or DICOM header)", p)
    ds = _read_dataset(p, stop_before_pixels=True)
    rows: list[tuple[str, str, str, str]] = []
    try:
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            rows.extend(_iter_tag_rows(meta, 0, max_chars))
        rows.extend(_iter_tag_rows(ds, 0, max_chars))
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


def _pixel_keyword(ds: Dataset) -> str | None:
    return next((kw for kw in _PIXEL_KEYWORDS if kw in ds), None)


def _require_int(ds: Dataset, keyword: str, tag: str, path: Path, default: int | None = None) -> int:
    value = ds.get(keyword, default)
    if value is None or value == "":
        raise CorruptFileError(f"missing {keyword} {tag}", path)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CorruptFileError(f"invalid {keyword} {tag}: {str(value)[:40]!r}", path) from None


def _select_plugin(tsyntax: UID, bits_stored: int, path: Path) -> str:
    """The decoder plugin to use, or MissingDecoderError naming what to install."""
    name = getattr(tsyntax, "name", "") or str(tsyntax)
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError:
        raise MissingDecoderError(
            f"transfer syntax {name} ({tsyntax}) is not supported by RadiView", path, package=""
        ) from None
    except Exception:
        raise CorruptFileError(f"invalid transfer syntax UID {str(tsyntax)[:64]!r}", path) from None
    preferred = DECODER_PREFERENCE.get(tsyntax, ())
    package = DECODER_PACKAGE.get(tsyntax, "python-gdcm")
    if tsyntax == JPEGExtended12Bit and bits_stored > 8:
        # Neither GDCM nor Pillow decodes 12-bit JPEG; only pylibjpeg-libjpeg (GPLv3, so not
        # bundled) does. Use it when the user installed it, else say what is missing.
        preferred, package = ("pylibjpeg",), "pylibjpeg-libjpeg"
    if not preferred:
        if decoder.is_available:
            return ""
    else:
        available = set(decoder.available_plugins)
        for plugin in preferred:
            if plugin in available:
                return plugin
    raise MissingDecoderError(
        f"no decoder for transfer syntax {name}: install {package}"
        + (" (GPLv3, so RadiView does not bundle it)" if package == "pylibjpeg-libjpeg" else ""),
        path,
        package=package,
    )


def _build_radiograph(ds: Dataset, path: Path) -> Radiograph:
    keyword = _pixel_keyword(ds)
    if len(ds) == 0:  # pydicom returns an empty data set when the file ends mid-element
        raise CorruptFileError("truncated or damaged DICOM file: no data elements could be read", path)
    if keyword is None:
        if "Rows" in ds or "BitsAllocated" in ds:  # an image header whose pixel data is cut off
            raise CorruptFileError("truncated DICOM file: the image's pixel data is missing or cut off", path)
        sop = ds.get("SOPClassUID")
        what = f" ({getattr(sop, 'name', sop)})" if sop else ""
        raise MissingPixelDataError(f"DICOM file has no pixel data{what}", path)
    rows = _require_int(ds, "Rows", "(0028,0010)", path)
    columns = _require_int(ds, "Columns", "(0028,0011)", path)
    if rows <= 0 or columns <= 0:
        raise CorruptFileError(f"image has no pixels (Rows {rows}, Columns {columns})", path)
    check_pixel_count(rows, columns, path)
    samples = _require_int(ds, "SamplesPerPixel", "(0028,0002)", path, default=1)
    if samples not in (1, 3):
        raise UnsupportedImageError(f"{samples} samples per pixel (expected 1 or 3)", path)
    frames = _number_of_frames(ds)
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    tsyntax = UID(str(ds.file_meta.TransferSyntaxUID))
    warnings: list[str] = []

    bits_stored = int(ds.get("BitsStored", ds.get("BitsAllocated", 8)) or 8)
    plugin = _select_plugin(tsyntax, bits_stored, path) if keyword == "PixelData" else ""
    if plugin == "gdcm" and tsyntax in _JPEG_FAMILY:
        _check_jpeg_frame(ds, frames, rows, columns, path)
    try:
        arr = decode_pixel_array(ds, index=0 if frames > 1 else None, decoding_plugin=plugin)
    except RadiviewError:
        raise
    except MemoryError:
        raise ImageTooLargeError("not enough memory to decode this image", path) from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # also Rust panics from pylibjpeg-rle (a BaseException)
        raise CorruptFileError(
            f"pixel data cannot be decoded ({tsyntax.name or tsyntax}): {describe_exception(exc)}", path
        ) from None
    if frames > 1:
        arr = arr[0] if arr.ndim == (4 if samples == 3 else 3) else arr
        warnings.append(f"multi-frame image ({frames} frames): showing the first frame only")

    window: Window | None = None
    was_color = False
    metadata = _display_metadata(ds, tsyntax, rows, columns, frames)
    metadata["decoder"] = plugin or "pydicom"

    if photometric == "PALETTE COLOR" and samples == 1:
        try:
            arr = apply_color_lut(arr, ds)
        except Exception as exc:
            raise CorruptFileError(
                f"invalid palette colour lookup table ({describe_exception(exc)})", path
            ) from None
    if arr.ndim == 3 and arr.shape[2] == 3:
        pixels, was_color, bits_stored = _color_to_gray(arr, metadata, warnings, photometric, bits_stored)
    elif arr.ndim == 2:
        if photometric not in ("MONOCHROME1", "MONOCHROME2"):
            warnings.append(f"photometric interpretation {photometric or 'missing'}: read as MONOCHROME2")
        pixels, window = _gray_pipeline(arr, ds, bits_stored, photometric, metadata, warnings)
    else:
        raise UnsupportedImageError(f"pixel data of shape {arr.shape} is not a 2-D image", path)
    if pixels.shape != (rows, columns):
        raise UnsupportedImageError(f"decoded shape {pixels.shape} does not match Rows × Columns", path)
    if not np.isfinite(pixels).all():
        pixels = np.nan_to_num(pixels, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        warnings.append("non-finite pixel values replaced by 0")
    if window is None:
        window = window_from_percentiles(pixels)

    for text in warnings:
        logger.warning("%s: %s", path.name, text)
    logger.debug(
        "%s: DICOM %s %s %dx%d, %d bit", path.name, tsyntax.name, photometric, columns, rows, bits_stored
    )
    view = str(ds.get("ViewPosition", "") or "").strip() or None
    return Radiograph(
        pixels=pixels,
        source=str(path),
        kind="dicom",
        bits_stored=bits_stored,
        default_window=window,
        pixel_spacing_mm=_pixel_spacing(ds),
        view_position=view,
        photometric=photometric or "MONOCHROME2",
        was_color=was_color,
        metadata=metadata,
        warnings=tuple(warnings),
    )


def _check_jpeg_frame(ds: Dataset, frames: int, rows: int, columns: int, path: Path) -> None:
    """Refuse a structurally broken JPEG codestream before GDCM sees it.

    GDCM aborts the whole process (an uncaught C++ exception) on some damaged JPEG headers,
    so the marker segments up to the start of scan are walked here first and the frame
    header must match Rows × Columns. Damage inside the entropy-coded data is left to GDCM,
    which reports it as an ordinary error.
    """
    try:
        frame = get_frame(ds.PixelData, 0, number_of_frames=frames)
    except Exception as exc:
        raise CorruptFileError(f"damaged encapsulated pixel data ({describe_exception(exc)})", path) from None
    problem = jpeg_header_problem(bytes(frame[: 65536 * 4]), rows, columns)
    if problem:
        raise CorruptFileError(f"damaged JPEG pixel data: {problem}", path)


def jpeg_header_problem(stream: bytes, rows: int, columns: int) -> str | None:
    """What is wrong with a JPEG stream's marker segments before the scan, or None."""
    if not stream.startswith(b"\xff\xd8"):
        return "no start-of-image marker"
    i, sof_seen = 2, False
    while i + 4 <= len(stream):
        if stream[i] != 0xFF:
            return f"bad marker at byte {i}"
        code = stream[i + 1]
        if code == 0xFF:  # fill byte
            i += 1
            continue
        if code == 0x01 or 0xD0 <= code <= 0xD8:
            i += 2
            continue
        if code == 0xD9:
            return "image ends before any scan"
        length = int.from_bytes(stream[i + 2 : i + 4], "big")
        if length < 2 or i + 2 + length > len(stream):
            return f"bad segment length at byte {i}"
        if 0xC0 <= code <= 0xCF and code not in (0xC4, 0xC8, 0xCC):
            if length < 8:
                return "short frame header"
            height = int.from_bytes(stream[i + 5 : i + 7], "big")
            width = int.from_bytes(stream[i + 7 : i + 9], "big")
            if width != columns or height not in (0, rows):
                return f"frame header says {width} × {height}, DICOM header {columns} × {rows}"
            sof_seen = True
        if code == 0xDA:
            return None if sof_seen else "scan before frame header"
        i += 2 + length
    return "truncated before the scan"


def _number_of_frames(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _color_to_gray(
    arr: np.ndarray, metadata: dict[str, str], warnings: list[str], photometric: str, bits: int
) -> tuple[np.ndarray, bool, int]:
    """RGB (pydicom already converted YBR and palettes to RGB) → luminance."""
    if arr.dtype.itemsize > 1:
        bits = 16
    score = colorfulness(arr)
    metadata["colorfulness"] = f"{score:.4f}"
    was_color = score > COLOR_TOLERANCE
    if was_color:
        warnings.append(f"colour image ({photometric}) converted to grayscale (luminance)")
    return apply_luminance(arr), was_color, bits


def _gray_pipeline(
    arr: np.ndarray,
    ds: Dataset,
    bits_stored: int,
    photometric: str,
    metadata: dict[str, str],
    warnings: list[str],
) -> tuple[np.ndarray, Window | None]:
    """Modality LUT → VOI → MONOCHROME1/INVERSE mirror. Returns float32 pixels and window."""
    lo, hi = _stored_range(arr, ds, bits_stored)
    pixels, lo, hi = _apply_modality(arr, ds, lo, hi, metadata, warnings)
    window: Window | None = None
    voi_item = _first_lut_item(ds, "VOILUTSequence")
    if voi_item is not None:
        lut, first = _lut_values(voi_item, ds)
        pixels = apply_lut(pixels, lut, first)
        lo, hi = float(lut.min()), float(lut.max())
        window = Window.from_bounds(lo, hi)
        metadata["voi"] = f"VOI LUT ({len(lut)} entries)"
    else:
        window = _window_from_tags(ds, metadata, warnings)

    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    if photometric == "MONOCHROME1" or shape == "INVERSE":
        pixels = np.float32(lo + hi) - pixels
        if window is not None:
            window = Window(center=(lo + hi) - window.center, width=window.width)
    return np.ascontiguousarray(pixels, dtype=np.float32), window


def _stored_range(arr: np.ndarray, ds: Dataset, bits_stored: int) -> tuple[float, float]:
    """The nominal range of stored values (not the data's min/max: twins must mirror alike)."""
    if np.issubdtype(arr.dtype, np.floating) or not 1 <= bits_stored <= 32:
        return (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:
        return -(2.0 ** (bits_stored - 1)), 2.0 ** (bits_stored - 1) - 1
    return 0.0, 2.0**bits_stored - 1


def _apply_modality(
    arr: np.ndarray, ds: Dataset, lo: float, hi: float, metadata: dict[str, str], warnings: list[str]
) -> tuple[np.ndarray, float, float]:
    item = _first_lut_item(ds, "ModalityLUTSequence")
    if item is not None:
        lut, first = _lut_values(item, ds)
        metadata["modality_lut"] = f"Modality LUT ({len(lut)} entries)"
        return apply_lut(arr, lut, first), float(lut.min()), float(lut.max())
    pixels = arr.astype(np.float32)  # one float32 copy; no float64 intermediate
    if "RescaleSlope" not in ds and "RescaleIntercept" not in ds:
        return pixels, lo, hi
    try:
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    except (TypeError, ValueError):
        warnings.append("invalid Rescale Slope/Intercept ignored")
        return pixels, lo, hi
    if not (np.isfinite(slope) and np.isfinite(intercept)) or slope == 0:
        warnings.append("invalid Rescale Slope/Intercept ignored")
        return pixels, lo, hi
    if slope != 1.0:
        pixels *= np.float32(slope)
    if intercept != 0.0:
        pixels += np.float32(intercept)
    metadata["rescale"] = f"slope {slope:g}, intercept {intercept:g}"
    a, b = lo * slope + intercept, hi * slope + intercept
    return pixels, min(a, b), max(a, b)


def _first_lut_item(ds: Dataset, keyword: str) -> Dataset | None:
    seq = ds.get(keyword)
    if not seq:
        return None
    item = seq[0]
    if "LUTDescriptor" in item and "LUTData" in item and item.LUTData is not None:
        return item
    return None


def _lut_values(item: Dataset, ds: Dataset) -> tuple[np.ndarray, int]:
    """(LUT entries, first mapped value) from a Modality/VOI LUT item (US/SS list or OW bytes)."""
    descriptor = [int(v) for v in item.LUTDescriptor]
    if len(descriptor) != 3:
        raise ValueError("LUT Descriptor must have 3 values")
    entries, first, _bits = descriptor
    entries = entries or 65536
    data = item.LUTData
    if isinstance(data, bytes | bytearray):
        little = ds.original_encoding[1] is not False
        lut = np.frombuffer(data, dtype="<u2" if little else ">u2")
    else:
        lut = np.atleast_1d(np.asarray(data, dtype=np.float64))
    lut = lut[:entries]
    if lut.size == 0:
        raise ValueError("empty LUT Data")
    if first >= 32768 and int(ds.get("PixelRepresentation", 0) or 0) == 1:
        first -= 65536  # the first mapped value is signed for signed pixel data (US or SS)
    return lut.astype(np.float32), first


def _window_from_tags(ds: Dataset, metadata: dict[str, str], warnings: list[str]) -> Window | None:
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return None
    try:
        center = float(_first_value(ds.WindowCenter))
        width = float(_first_value(ds.WindowWidth))
    except (TypeError, ValueError, IndexError):
        warnings.append("invalid Window Center/Width ignored")
        return None
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
        warnings.append("invalid Window Center/Width ignored")
        return None
    metadata["window"] = f"C {center:g} / W {width:g}" + ("" if function == "LINEAR" else f" ({function})")
    if function == "LINEAR" and width > 1:
        return Window(center=center - 0.5, width=width - 1.0)  # PS3.3 C.11.2.1.2.1
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        warnings.append(f"unknown VOI LUT Function {function!r}: used as LINEAR_EXACT")
    return Window(center=center, width=width)


def _first_value(value: Any) -> Any:
    if isinstance(value, str | bytes):
        return value
    try:
        return value[0]
    except TypeError:
        return value


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        try:
            row, col = (float(v) for v in value)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            continue
        if row > 0 and col > 0 and np.isfinite(row) and np.isfinite(col):
            return row, col
    return None


# --------------------------------------------------------------------------- display strings


def _text(ds: Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:
        return ""
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value).strip()
    if isinstance(value, PersonName):
        return " ".join(part for part in str(value).split("^") if part).strip()
    return str(value).strip()


def _format_date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else value


def _display_metadata(ds: Dataset, tsyntax: UID, rows: int, columns: int, frames: int) -> dict[str, str]:
    """Display strings only (identifying values stay here, never in logs)."""
    fields = {
        "patient_name": _text(ds, "PatientName"),
        "patient_id": _text(ds, "PatientID"),
        "sex": _text(ds, "PatientSex"),
        "age": _text(ds, "PatientAge"),
        "study_date": _format_date(_text(ds, "StudyDate")),
        "accession": _text(ds, "AccessionNumber"),
        "modality": _text(ds, "Modality"),
        "view_position": _text(ds, "ViewPosition"),
        "body_part": _text(ds, "BodyPartExamined"),
        "institution": _text(ds, "InstitutionName"),
        "manufacturer": _text(ds, "Manufacturer"),
        "photometric": _text(ds, "PhotometricInterpretation"),
        "transfer_syntax": str(getattr(tsyntax, "name", "") or tsyntax),
        "size": f"{columns} × {rows}",
        "bits": f"{_text(ds, 'BitsStored') or '?'} stored / {_text(ds, 'BitsAllocated') or '?'} allocated",
    }
    spacing = _pixel_spacing(ds)
    if spacing is not None:
        fields["pixel_spacing"] = f"{spacing[0]:g} × {spacing[1]:g} mm"
    if frames > 1:
        fields["frames"] = str(frames)
    return {key: value for key, value in fields.items() if value}


def _iter_tag_rows(ds: Dataset, depth: int, max_chars: int) -> Iterator[tuple[str, str, str, str]]:
    prefix = ">" * depth
    for elem in ds:
        tag = f"{prefix}({elem.tag.group:04X},{elem.tag.element:04X})"
        keyword = elem.keyword or elem.name
        vr = str(elem.VR)
        if vr == "SQ":
            items = elem.value or []
            yield tag, keyword, vr, f"<{len(items)} item{'s' if len(items) != 1 else ''}>"
            for item in items:
                yield from _iter_tag_rows(item, depth + 1, max_chars)
            continue
        value = elem.value
        if isinstance(value, bytes | bytearray):
            text = f"<{len(value)} bytes>"
        elif value is None:
            text = ""
        elif isinstance(value, MultiValue | list | tuple):
            text = "\\".join(str(v) for v in value)
        else:
            text = str(value)
        if len(text) > max_chars:
            text = text[: max_chars - 1] + "…"
        yield tag, keyword, vr, text
