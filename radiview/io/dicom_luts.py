"""The grayscale display pipeline of a DICOM film, in the standard's order (PS3.3 C.11).

1. modality LUT: Rescale Slope/Intercept (negative slopes too) or a Modality LUT Sequence;
2. VOI: a VOI LUT Sequence is applied into the pixels and the default window spans its
   output; otherwise the first Window Center/Width becomes the default window
   (LINEAR: the exact PS3.3 C.11.2.1.2 bounds c-0.5 ± (w-1)/2; LINEAR_EXACT: c ± w/2;
   SIGMOID: the linear window c ± w/2, which has the sigmoid's slope at the centre, since
   a window here is linear); otherwise None (the reader falls back to percentiles);
3. MONOCHROME1 or Presentation LUT Shape INVERSE: mirror pixels and window over the
   nominal output range, so a MONOCHROME1 film and its MONOCHROME2 twin give identical
   pixels and window (MONOCHROME1 with INVERSE is one inversion, not two: the standard
   pairs them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from radiview.io.radiograph import Window
from radiview.io.windowing import STORED_WINDOWS_KEY, format_stored_windows


def apply_lut(values: np.ndarray, lut: np.ndarray, first_mapped: int) -> np.ndarray:
    """Look ``values`` up in a DICOM LUT (PS3.3 C.11.1/C.11.2) → float32.

    Values below ``first_mapped`` take the first entry, values past the end the last one.
    Float input is rounded to the nearest index (pydicom's version casts to the LUT dtype).
    """
    idx = np.rint(np.asarray(values, dtype=np.float32) - np.float32(first_mapped))
    np.clip(idx, 0, len(lut) - 1, out=idx)
    return np.asarray(lut, dtype=np.float32)[idx.astype(np.intp)]


def apply_gray_pipeline(
    arr: np.ndarray,
    ds: Dataset,
    bits_stored: int,
    photometric: str,
    metadata: dict[str, str],
    warnings: list[str],
) -> tuple[np.ndarray, Window | None]:
    """Modality LUT → VOI → MONOCHROME1/INVERSE mirror. Returns float32 pixels and window.

    Adds display strings to ``metadata`` and problems worth telling to ``warnings``.
    """
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
    stored = _stored_windows(ds) if voi_item is None else []

    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    if photometric == "MONOCHROME1" or shape == "INVERSE":
        pixels = np.float32(lo + hi) - pixels
        if window is not None:
            window = Window(center=(lo + hi) - window.center, width=window.width)
        stored = [(Window(center=(lo + hi) - w.center, width=w.width), name) for w, name in stored]
    if len(stored) > 1:  # the first is the default window; the others are offered as presets
        metadata[STORED_WINDOWS_KEY] = format_stored_windows(stored)
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
    item: Dataset = seq[0]
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


def _stored_windows(ds: Dataset) -> list[tuple[Window, str]]:
    """Every Window Center/Width pair in the file (a multi-valued tag holds several), as
    the default window is converted, with its Window Center & Width Explanation."""
    centers, widths = _values(ds.get("WindowCenter")), _values(ds.get("WindowWidth"))
    names = [str(n) for n in _values(ds.get("WindowCenterWidthExplanation"))]
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    out = []
    for i, (c, w) in enumerate(zip(centers, widths, strict=False)):
        try:
            center, width = float(c), float(w)
        except (TypeError, ValueError):
            continue
        if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
            continue
        if function == "LINEAR" and width > 1:
            center, width = center - 0.5, width - 1.0  # PS3.3 C.11.2.1.2.1, as the default
        out.append((Window(center=center, width=width), names[i].strip() if i < len(names) else ""))
    return out


def _values(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str | bytes) or not hasattr(value, "__len__"):
        return [value]
    return list(value)


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
