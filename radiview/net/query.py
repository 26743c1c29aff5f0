"""What a PACS search asks and answers, the same for DICOMweb and DIMSE.

Also the one list of SOP classes RadiView accepts as films (CR, DX, Secondary Capture).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from radiview.net.errors import PacsConfigError
from radiview.net.nodes import DEFAULT_MODALITIES

#: Storage SOP classes of chest films RadiView reads: CR, DX (presentation and processing),
#: Secondary Capture (single frame and the grayscale multi-frame ones).
IMAGE_SOP_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.1": "Computed Radiography Image Storage",
    "1.2.840.10008.5.1.4.1.1.1.1": "Digital X-Ray Image Storage - For Presentation",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "Digital X-Ray Image Storage - For Processing",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image Storage",
}

_DATE = re.compile(r"^\d{8}$")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def check_uid(value: str, what: str = "UID") -> str:
    """``value`` if it is a DICOM UID; else PacsResponseError. UIDs become file names here, so a
    server answering ``../x`` must never reach the file system."""
    from radiview.net.errors import PacsResponseError

    text = str(value)
    if not (0 < len(text) <= 64 and _UID.match(text)):
        raise PacsResponseError(f"the archive sent an invalid {what}: {text[:80]!r}")
    return text


def sop_class_name(uid: str) -> str:
    """A readable name for a SOP Class UID (pydicom's dictionary), else the UID itself."""
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name and name != uid else uid


def parse_date_range(text: str) -> tuple[str, str]:
    """``20260101-20260131`` (or ``20260101-``, ``-20260131``, ``20260105``) → (from, to)."""
    text = text.strip()
    start, sep, end = text.partition("-")
    if not sep:
        end = start
    for part in (start, end):
        if part and not _DATE.match(part):
            raise PacsConfigError(f"study date {text!r}: dates are YYYYMMDD, a range is FROM-TO")
    if start and end and start > end:
        raise PacsConfigError(f"study date {text!r}: the range starts after it ends")
    return start, end


def parse_modalities(text: str | None) -> tuple[str, ...]:
    if not text:
        return DEFAULT_MODALITIES
    values = tuple(m.strip().upper() for m in text.split(",") if m.strip())
    if not values or any(not m.isalnum() or len(m) > 16 for m in values):
        raise PacsConfigError(f"modalities {text!r}: give codes such as CR,DX")
    return values


@dataclass(frozen=True)
class StudyQuery:
    patient_name: str = ""  # wildcards * and ? allowed (DICOM matching)
    patient_id: str = ""
    accession_number: str = ""
    date_from: str = ""  # YYYYMMDD, inclusive
    date_to: str = ""
    modalities: tuple[str, ...] = DEFAULT_MODALITIES
    limit: int = 0  # 0 = everything

    @property
    def date_range(self) -> str:
        """The DICOM range matching value ('' = any date)."""
        if not self.date_from and not self.date_to:
            return ""
        if self.date_from == self.date_to:
            return self.date_from
        return f"{self.date_from}-{self.date_to}"


@dataclass(frozen=True)
class StudyInfo:
    study_uid: str
    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    accession_number: str = ""
    description: str = ""
    modalities: tuple[str, ...] = ()
    n_series: int = 0
    n_instances: int = 0


@dataclass(frozen=True)
class SeriesInfo:
    study_uid: str
    series_uid: str
    modality: str = ""
    description: str = ""
    number: int = 0
    n_instances: int = 0


@dataclass(frozen=True)
class InstanceInfo:
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str = ""
    number: int = 0

    @property
    def is_image(self) -> bool:
        return self.sop_class_uid in IMAGE_SOP_CLASSES


def _first(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return value[0] if value else ""
    return value


def _text(value: Any) -> str:
    value = _first(value)
    if isinstance(value, dict):  # DICOM JSON person name
        return str(value.get("Alphabetic", ""))
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    try:
        return int(_first(value) or 0)
    except (TypeError, ValueError):
        return 0


def _multi(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return tuple(str(v) for v in value)
    return (str(value),)


def study_from_attrs(get: Any) -> StudyInfo:
    """``get(keyword)`` returns the attribute's value (DICOM JSON or pydicom), or None."""
    return StudyInfo(
        study_uid=_text(get("StudyInstanceUID")),
        patient_name=_text(get("PatientName")),
        patient_id=_text(get("PatientID")),
        study_date=_text(get("StudyDate")),
        accession_number=_text(get("AccessionNumber")),
        description=_text(get("StudyDescription")),
        modalities=_multi(get("ModalitiesInStudy")),
        n_series=_int(get("NumberOfStudyRelatedSeries")),
        n_instances=_int(get("NumberOfStudyRelatedInstances")),
    )


def series_from_attrs(get: Any, study_uid: str) -> SeriesInfo:
    return SeriesInfo(
        study_uid=_text(get("StudyInstanceUID")) or study_uid,
        series_uid=_text(get("SeriesInstanceUID")),
        modality=_text(get("Modality")),
        description=_text(get("SeriesDescription")),
        number=_int(get("SeriesNumber")),
        n_instances=_int(get("NumberOfSeriesRelatedInstances")),
    )


def instance_from_attrs(get: Any, study_uid: str, series_uid: str) -> InstanceInfo:
    return InstanceInfo(
        study_uid=_text(get("StudyInstanceUID")) or study_uid,
        series_uid=_text(get("SeriesInstanceUID")) or series_uid,
        sop_uid=_text(get("SOPInstanceUID")),
        sop_class_uid=_text(get("SOPClassUID")),
        number=_int(get("InstanceNumber")),
    )
