"""DICOM tags as text: the display metadata of a film and the rows of the tag browser.

Identifying values (patient name, ID) live only in these display strings, never in logs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID
from pydicom.valuerep import PersonName

#: A tag row of the browser: (tag "(0010,0010)", keyword, VR, value).
TagRow = tuple[str, str, str, str]


_SPACING_KEYWORDS = ("PixelSpacing", "ImagerPixelSpacing")


def _spacing_from(ds: Dataset, keyword: str) -> tuple[float, float] | None:
    value = ds.get(keyword)
    try:
        row, col = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if row > 0 and col > 0 and np.isfinite(row) and np.isfinite(col):
        return row, col
    return None


def pixel_spacing_mm(ds: Dataset) -> tuple[float, float] | None:
    """(row, column) spacing from Pixel Spacing, else Imager Pixel Spacing; None if neither is valid."""
    return next((s for kw in _SPACING_KEYWORDS if (s := _spacing_from(ds, kw)) is not None), None)


def pixel_spacing_source(ds: Dataset) -> str:
    """Which tag ``pixel_spacing_mm`` came from (see Radiograph.pixel_spacing_source)."""
    keyword = next((kw for kw in _SPACING_KEYWORDS if _spacing_from(ds, kw) is not None), "")
    if keyword == "PixelSpacing" and _text(ds, "PixelSpacingCalibrationType"):
        return "PixelSpacing calibrated"
    return keyword


def display_metadata(ds: Dataset, tsyntax: UID, rows: int, columns: int, frames: int) -> dict[str, str]:
    """Display strings only (identifying values stay here, never in logs)."""
    fields = {
        "patient_name": _text(ds, "PatientName"),
        "patient_id": _text(ds, "PatientID"),
        "sex": _text(ds, "PatientSex"),
        "age": _text(ds, "PatientAge"),
        "birth_date": _format_date(_text(ds, "PatientBirthDate")),  # age when PatientAge is absent
        "study_date": _format_date(_text(ds, "StudyDate")),
        "study_description": _text(ds, "StudyDescription") or _text(ds, "SeriesDescription"),
        "series_description": _text(ds, "SeriesDescription"),  # "PORTABLE", "SUPINE" → a warning
        "accession_number": _text(ds, "AccessionNumber"),
        "patient_orientation": _text(ds, "PatientOrientation"),
        "modality": _text(ds, "Modality"),
        "view_position": _text(ds, "ViewPosition"),
        "body_part": _text(ds, "BodyPartExamined"),
        "institution": _text(ds, "InstitutionName"),
        "manufacturer": _text(ds, "Manufacturer"),
        "manufacturer_model": _text(ds, "ManufacturerModelName"),  # site bundles match on it
        "photometric": _text(ds, "PhotometricInterpretation"),
        "transfer_syntax": str(getattr(tsyntax, "name", "") or tsyntax),
        "size": f"{columns} × {rows}",
        "bits": f"{_text(ds, 'BitsStored') or '?'} stored / {_text(ds, 'BitsAllocated') or '?'} allocated",
    }
    spacing = pixel_spacing_mm(ds)
    if spacing is not None:
        fields["pixel_spacing"] = f"{spacing[0]:g} × {spacing[1]:g} mm"
    if frames > 1:
        fields["frames"] = str(frames)
    return {key: value for key, value in fields.items() if value}


def iter_tag_rows(ds: Dataset, depth: int, max_chars: int) -> Iterator[TagRow]:
    """Every element of ``ds`` as a row; sequence items follow with one ">" per level."""
    prefix = ">" * depth
    for elem in ds:
        tag = f"{prefix}({elem.tag.group:04X},{elem.tag.element:04X})"
        keyword = elem.keyword or elem.name
        vr = str(elem.VR)
        if vr == "SQ":
            items = elem.value or []
            yield tag, keyword, vr, f"<{len(items)} item{'s' if len(items) != 1 else ''}>"
            for item in items:
                yield from iter_tag_rows(item, depth + 1, max_chars)
            continue
        text = _value_text(elem.value)
        if len(text) > max_chars:
            text = text[: max_chars - 1] + "…"
        yield tag, keyword, vr, text


def _value_text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value)


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
