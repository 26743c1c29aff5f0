"""Context warnings beside an AI reading, from the model card and the film's own metadata.

Pure functions (no Qt, no torch) so the viewer, the batch CSV ``flags`` column and the PDF
say the same thing. Each warning is a ``Flag`` with a stable short ``code`` (for CSV cells
and tests) and a ``text`` a reader understands.

The card decides (field ``reading_flags``; every key optional, defaults below):

- ``lifted``: codes the model's own validation has answered (e.g. ``"adult"`` once a
  leave-one-source-out evaluation shows adult COVID-19 calls hold up); they are not raised.
- ``low_confidence_below``: a headline whose step one (pneumonia pattern or not, see
  radiview.inference.headline) is under this is flagged ``low_confidence``.
- ``adult_from_years``: age from which a film is an adult film.
- ``validated_dicom_sources``: institution or manufacturer names of DICOM sources the model
  was validated on. The training and test films are public JPEG/PNG collections, so by
  default every DICOM film comes from a source the model was not validated on. A JPEG/PNG
  carries no source, no age and no view: each unknown is itself a warning (a file name is
  not evidence), unless the caller says a validated site model covers the film.
- ``site_dicom_sources`` (set by a site bundle): the institution / manufacturer / model of the
  DICOM films the site model was adapted and checked on; a film from one of them is not flagged.
- ``heatmap_min_probability`` and ``no_heatmap_labels``: when a class's attention map is
  withheld (see ``heatmap_withheld_reason``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from radiview.inference.headline import build_headline
from radiview.inference.wording import class_title, format_probability

ADULT = "adult"
AGE_UNKNOWN = "age_unknown"
UNVALIDATED_SOURCE = "unvalidated_source"
AP_PORTABLE = "ap_portable"
VIEW_UNKNOWN = "view_unknown"
LOW_CONFIDENCE = "low_confidence"
FLAG_CODES = (ADULT, AGE_UNKNOWN, UNVALIDATED_SOURCE, AP_PORTABLE, VIEW_UNKNOWN, LOW_CONFIDENCE)
#: Warnings about what the film does not say (age, view, source); a validated site model that
#: covers the film answers them (``reading_flags(source_validated=True)``).
UNKNOWN_CONTEXT_CODES = (AGE_UNKNOWN, UNVALIDATED_SOURCE, VIEW_UNKNOWN)
AGE_UNKNOWN_TEXT = "age unknown: the model is unreliable on adults' films"
VIEW_UNKNOWN_TEXT = "view unknown"
UNVALIDATED_SOURCE_TEXT = "source not validated"

DEFAULT_POLICY: Mapping[str, Any] = {
    "lifted": (),
    "low_confidence_below": 0.6,
    "adult_from_years": 18,
    "validated_dicom_sources": (),
    "site_dicom_sources": (),
    "heatmap_min_probability": 0.1,
    "no_heatmap_labels": ("normal",),
}

_PORTABLE_WORDS = re.compile(r"\b(PORTABLE|PORT|SUPINE|BEDSIDE|AP)\b")


@dataclass(frozen=True)
class Flag:
    """One warning: ``code`` is stable (CSV, tests); ``text`` is shown; ``detail`` explains."""

    code: str
    text: str
    detail: str = ""


def reading_policy(card: Any) -> dict[str, Any]:
    """The card's ``reading_flags`` over the defaults (a card without the field gets all)."""
    policy = dict(DEFAULT_POLICY)
    policy.update(dict(getattr(card, "reading_flags", None) or {}))
    return policy


def _field(metadata: Mapping[str, str], *names: str) -> str:
    """A metadata value whatever the spelling (``study_date``, ``StudyDate``, ``studydate``)."""
    wanted = {n.replace("_", "").lower() for n in names}
    for key, value in metadata.items():
        if str(key).replace("_", "").lower() in wanted and str(value).strip():
            return str(value).strip()
    return ""


def _parse_date(text: str) -> date | None:
    digits = text.replace("-", "").replace(".", "").replace("/", "")
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY]?)\s*$", re.IGNORECASE)
_AGE_UNIT_YEARS = {"": 1.0, "Y": 1.0, "M": 1 / 12, "W": 7 / 365.25, "D": 1 / 365.25}


def age_years(metadata: Mapping[str, str]) -> float | None:
    """The patient's age in years: DICOM PatientAge ("081Y", "006M", plain "81"), else
    StudyDate − PatientBirthDate; None when the film does not say (or says nonsense)."""
    match = _AGE.match(_field(metadata, "age", "patient_age"))
    if match:
        years = int(match.group(1)) * _AGE_UNIT_YEARS[match.group(2).upper()]
        return years if 0 <= years < 130 else None
    born = _parse_date(_field(metadata, "birth_date", "patient_birth_date"))
    studied = _parse_date(_field(metadata, "study_date", "acquisition_date", "content_date"))
    if born is None or studied is None or studied < born:
        return None
    years = (studied - born).days / 365.25
    return years if years < 130 else None


def is_dicom_metadata(metadata: Mapping[str, str]) -> bool:
    """io's DICOM reader records the transfer syntax and modality; its image reader does not."""
    return bool(_field(metadata, "transfer_syntax") or _field(metadata, "modality"))


def matches_site_source(metadata: Mapping[str, str], sources: Any) -> bool:
    """A film from a site model's recorded DICOM source: some recorded {institution, manufacturer,
    model} whose every non-empty field equals the film's (case and outer spaces ignored)."""
    film = {
        "institution": _field(metadata, "institution", "institution_name"),
        "manufacturer": _field(metadata, "manufacturer"),
        "model": _field(metadata, "manufacturer_model", "manufacturer_model_name"),
    }
    for source in sources or ():
        wanted = {k: str(v).strip().lower() for k, v in dict(source).items() if k in film and str(v).strip()}
        if wanted and all(film[k].lower() == v for k, v in wanted.items()):
            return True
    return False


def _source_flag(metadata: Mapping[str, str], policy: Mapping[str, Any], card: Any) -> Flag | None:
    training = dict(getattr(card, "training_data", None) or {})
    sources = ", ".join(sorted(training.get("counts", {}).get("test", {})))
    tested = f" ({sources})" if sources else ""
    if not is_dicom_metadata(metadata):
        return Flag(
            UNVALIDATED_SOURCE,
            UNVALIDATED_SOURCE_TEXT,
            "A JPEG/PNG file does not say where it was taken; the model was validated only on its "
            f"test split's public collections{tested}.",
        )
    if matches_site_source(metadata, policy.get("site_dicom_sources")):
        return None  # the site model was adapted and checked on films of this very source
    site = " / ".join(v for v in (_field(metadata, "institution"), _field(metadata, "manufacturer")) if v)
    validated = {str(s).strip().lower() for s in policy["validated_dicom_sources"]}
    if site and any(part.strip().lower() in validated for part in site.split("/")):
        return None
    where = f"from {site}" if site else "from an unnamed site"
    return Flag(
        UNVALIDATED_SOURCE,
        UNVALIDATED_SOURCE_TEXT,
        f"A DICOM film {where}; the model was tested only on public JPEG/PNG collections{tested}.",
    )


def _view_flag(metadata: Mapping[str, str], view_position: str | None) -> Flag | None:
    """AP/portable when the film says so; "view unknown" when it says nothing about its view."""
    view = (view_position or _field(metadata, "view_position")).strip().upper()
    words = " ".join(
        _field(metadata, key).upper() for key in ("series_description", "study_description", "protocol_name")
    )
    hit = "AP" if view == "AP" else (_PORTABLE_WORDS.search(words) or [None])[0]
    if hit:
        return Flag(
            AP_PORTABLE,
            "view AP/portable",
            f"The film says {hit.lower() if hit != 'AP' else 'AP'}: heart and mediastinum look larger, "
            "and most training films were PA.",
        )
    if view:
        return None
    return Flag(
        VIEW_UNKNOWN,
        VIEW_UNKNOWN_TEXT,
        "The film does not say PA or AP: an AP/portable film makes the heart and mediastinum look "
        "larger, and most training films were PA.",
    )


def view_magnifies_heart(metadata: Mapping[str, str], view_position: str | None = None) -> bool:
    """True when the film is AP/portable or does not say its view: a cardiothoracic ratio
    measured on it may be overestimated (an AP beam magnifies the heart)."""
    flag = _view_flag(metadata, view_position)
    return flag is not None and flag.code in (AP_PORTABLE, VIEW_UNKNOWN)


def _share(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def adult_flag(age: float, card: Any) -> Flag:
    """The adult warning in the card's own figures: normal adults called COVID-19 (most from a
    hospital the model never saw), adult pneumonia causes not told apart."""
    metrics = dict(getattr(card, "metrics", None) or {})
    loso = metrics.get("leave_one_source_out") or {}
    unseen: dict[str, float] = {}
    for name, run in loso.items():
        share = _share(run.get("non_covid_called_covid19")) if isinstance(run, Mapping) else None
        if share is not None:
            unseen[str(name)] = share
    span = ""
    if unseen:
        low, high = min(unseen.values()), max(unseen.values())
        span = f" ({low * 100:.0f}–{high * 100:.0f} % of non-COVID adult films from a hospital it never saw)"
    details = [f"Age {age:.0f}."]
    if unseen:
        runs = ", ".join(f"{share * 100:.0f} % with {name} held out" for name, share in unseen.items())
        details.append(f"Non-COVID adult films called COVID-19 in leave-one-source-out runs: {runs}.")
    adults = (metrics.get("by_age_group") or {}).get("adult") or {}
    sens = adults.get("sensitivity") or {}
    if "bacterial_pneumonia" in sens and "viral_pneumonia" in sens:
        details.append(
            f"Adult bacterial / viral pneumonia sensitivity on the test split: "
            f"{sens['bacterial_pneumonia'] * 100:.0f} % / {sens['viral_pneumonia'] * 100:.0f} %."
        )
    details.append("Every COVID-19 training film was an adult's, so an adult COVID-19 call is unverified.")
    return Flag(
        ADULT,
        f"adult film: the model calls some normal adults COVID-19{span} and cannot tell adult "
        "pneumonia causes apart",
        " ".join(details),
    )


def reading_flags(
    prediction: Any,
    metadata: Mapping[str, str],
    card: Any,
    view_position: str | None = None,
    source_validated: bool = False,
) -> tuple[Flag, ...]:
    """The warnings for one reading, in a fixed order (``FLAG_CODES``).

    ``prediction`` is a ``Prediction``; a refused or missing one gets no flags (there is no
    answer to qualify). ``metadata`` is ``Radiograph.metadata`` (or any mapping with the same
    keys, DICOM keyword spellings accepted); ``view_position`` overrides its view.
    ``source_validated``: a validated site model covers this film (radiview.site decides), so
    an unknown age, view or source is not a warning.
    """
    if prediction is None or not getattr(prediction, "accepted", False):
        return ()
    policy = reading_policy(card)
    lifted = {str(code) for code in policy["lifted"]}
    flags: list[Flag] = []
    age = age_years(metadata)
    if age is None:
        flags.append(Flag(AGE_UNKNOWN, AGE_UNKNOWN_TEXT, "The film does not say the patient's age."))
    elif age >= float(policy["adult_from_years"]):
        flags.append(adult_flag(age, card))
    source = _source_flag(metadata, policy, card)
    if source is not None:
        flags.append(source)
    view = _view_flag(metadata, view_position)
    if view is not None:
        flags.append(view)
    if source_validated:
        lifted |= set(UNKNOWN_CONTEXT_CODES)
    headline = build_headline(prediction, card)
    if headline is not None and headline.low_confidence:
        flags.append(
            Flag(
                LOW_CONFIDENCE,
                "low confidence",
                f"{headline.step_one}, below the card's {format_probability(headline.low_confidence_below)}.",
            )
        )
    return tuple(flag for flag in flags if flag.code not in lifted)


_SHORT_TEXT = {
    ADULT: "adult",
    AGE_UNKNOWN: "age unknown",
    VIEW_UNKNOWN: "view unknown",
    UNVALIDATED_SOURCE: "unvalidated source",
    AP_PORTABLE: "AP/portable",
    LOW_CONFIDENCE: "low confidence",
}


def flag_short_text(code: str) -> str:
    """A few words for a flag ``code`` (batch table, PDF table), where the full text won't fit."""
    return _SHORT_TEXT.get(code, code.replace("_", " "))


def flags_cell(flags: tuple[Flag, ...]) -> str:
    """The CSV ``flags`` cell: codes joined by ``;`` (empty when there is nothing to say)."""
    return ";".join(flag.code for flag in flags)


def heatmap_withheld_reason(prediction: Any, label: str, card: Any) -> str | None:
    """Why no attention map is shown for ``label`` (None: show it).

    A map is withheld for a refused film, for labels the card lists in ``no_heatmap_labels``
    (what makes a film look like "no pneumonia" is not a finding to point at) and for a class
    under ``heatmap_min_probability`` (Grad-CAM normalises every map to its own maximum, so a
    0.0 % class still gets a red hot spot).
    """
    if prediction is None or not getattr(prediction, "accepted", False):
        return "no heatmap: the model gave no reading for this film"
    policy = reading_policy(card)
    title = class_title(label)
    if label in set(policy["no_heatmap_labels"]):
        return f"no heatmap for “{title}”: it would show what looks ordinary, not a finding"
    if label not in prediction.labels:
        return f"no heatmap: the model has no class “{title}”"
    p = prediction.probability(label)
    minimum = float(policy["heatmap_min_probability"])
    if p < minimum:
        return (
            f"no heatmap for “{title}”: its probability {format_probability(p)} is under "
            f"{format_probability(minimum)}, and a map for an unlikely class points at nothing"
        )
    return None
