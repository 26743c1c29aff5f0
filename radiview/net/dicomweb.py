"""DICOMweb: QIDO-RS search and WADO-RS/STOW-RS with ``dicomweb-client``.

Every HTTP failure becomes a PacsError that says what to check: nothing listening, no answer
in time, credentials refused, or the server's status. Retries are off: a dead server fails
in one timeout, not five.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from radiview.atomic import atomic_write
from radiview.net.errors import (
    NotAnImageError,
    PacsConnectionError,
    PacsError,
    PacsRejectedError,
    PacsResponseError,
    PacsTimeoutError,
)
from radiview.net.nodes import PacsNode
from radiview.net.query import (
    InstanceInfo,
    SeriesInfo,
    StudyInfo,
    StudyQuery,
    instance_from_attrs,
    series_from_attrs,
    sop_class_name,
    study_from_attrs,
)

log = logging.getLogger("radiview.net.dicomweb")

STUDY_FIELDS = (
    "StudyInstanceUID",
    "PatientName",
    "PatientID",
    "StudyDate",
    "AccessionNumber",
    "StudyDescription",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
SERIES_FIELDS = (
    "SeriesInstanceUID",
    "Modality",
    "SeriesDescription",
    "SeriesNumber",
    "NumberOfSeriesRelatedInstances",
)
INSTANCE_FIELDS = ("SOPInstanceUID", "SOPClassUID", "InstanceNumber")
PAGE_SIZE = 1000  # results per QIDO request; archives often cap a response near this
MAX_PAGES = 1000  # a server that ignores offset must not loop us forever

# Wildcard and list characters, percent-encoded by the client, sent as they are: some archives
# (Orthanc's DICOMweb plugin 1.7, for one) match the raw query text without decoding it.
_RAW_QUERY = {"%2A": "*", "%3F": "?", "%2C": ","}


def qido_value(text: str) -> str:
    """A matching value the way every archive reads it: ``^`` and spaces as ``?`` wildcards.

    An encoded ``^`` (``%5E``) is the one character some archives fail to decode, so a
    PatientName ``DOE^JANE`` is sent as ``DOE?JANE`` (which matches it; wildcards are the
    standard's single-character ``?``).
    """
    return text.replace("^", "?").replace(" ", "?")


def _new_session() -> Any:
    import requests

    class RawWildcardSession(requests.Session):
        def send(self, request: Any, **kwargs: Any) -> Any:
            base, sep, query = (request.url or "").partition("?")
            if sep:
                for encoded, raw in _RAW_QUERY.items():
                    query = query.replace(encoded, raw)
                request.url = f"{base}?{query}"
            return super().send(request, **kwargs)

    session = RawWildcardSession()
    # Films barely compress (JPEG not at all) while gzip costs the server ~100 ms per 2 MB film
    # (measured against Orthanc: 5 films/s with gzip); ask for the bytes as they are.
    session.headers["Accept-Encoding"] = "identity"
    return session


def _getter(attrs: dict[str, Any]) -> Callable[[str], Any]:
    """``get(keyword)`` over a DICOM JSON object (tags as 8 hex digits)."""
    from pydicom.datadict import tag_for_keyword

    def get(keyword: str) -> Any:
        tag = tag_for_keyword(keyword)
        element = attrs.get(f"{tag:08X}") if tag is not None else None
        return (element or {}).get("Value")

    return get


class DicomWebConnection:
    """One node's DICOMweb endpoint. ``secret`` is the password or bearer token (never logged)."""

    def __init__(self, node: PacsNode, secret: str = "") -> None:
        from dicomweb_client.api import DICOMwebClient

        if not node.has_dicomweb:
            raise PacsError(f"node {node.name!r} has no DICOMweb URL")
        self.node = node
        session = _new_session()
        session.verify = (node.tls_ca_file or True) if node.verify_tls else False
        if node.tls_cert_file:
            session.cert = (
                (node.tls_cert_file, node.tls_key_file) if node.tls_key_file else node.tls_cert_file
            )
        if node.auth == "basic":
            session.auth = (node.username, secret)
        elif node.auth == "bearer":
            session.headers["Authorization"] = f"Bearer {secret}"
        self.client = DICOMwebClient(
            url=node.web_url, session=session, timeout=(node.association_timeout_s, node.http_timeout_s)
        )
        self.client.set_http_retry_params(retry=False)

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Map requests' exceptions to PacsErrors naming the node and the operation."""
        import requests

        where = f"PACS {self.node.name!r} ({self.node.web_url})"
        try:
            yield
        except requests.exceptions.Timeout as exc:
            raise PacsTimeoutError(
                f"{where}: no answer to {what} within {self.node.http_timeout_s:g} s (timeout)"
            ) from exc
        except requests.exceptions.SSLError as exc:
            raise PacsConnectionError(f"{where}: TLS failed for {what}: {type(exc).__name__}") from exc
        except requests.exceptions.ConnectionError as exc:
            raise PacsConnectionError(
                f"{where}: cannot connect for {what}; is the server running and the URL right?"
            ) from exc
        except requests.exceptions.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status in (401, 403):
                raise PacsRejectedError(
                    f"{where}: {what} refused (HTTP {status}); check the user name and password or token"
                ) from exc
            raise PacsResponseError(f"{where}: {what} failed with HTTP {status}") from exc

    def _paged(self, what: str, search: Callable[..., list[Any]], limit: int, **kwargs: Any) -> list[Any]:
        """Every result of a QIDO search, page by page (bounded), or the first ``limit``."""
        rows: list[Any] = []
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            size = min(PAGE_SIZE, limit - len(rows)) if limit else PAGE_SIZE
            with self._errors(what):
                page = search(limit=size, offset=len(rows), **kwargs)
            fresh = [row for row in page if json.dumps(row, sort_keys=True) not in seen]
            seen.update(json.dumps(row, sort_keys=True) for row in fresh)
            rows += fresh
            if len(page) < size or not fresh or (limit and len(rows) >= limit):
                break
        return rows

    def ping(self) -> None:
        """A one-result QIDO query: proves the URL, the credentials and the plugin answer."""
        with self._errors("a test query"):
            self.client.search_for_studies(limit=1, fields=["StudyInstanceUID"])

    def find_studies(self, query: StudyQuery) -> list[StudyInfo]:
        """Studies matching the query; one search per modality (not every server ORs a list)."""
        base: dict[str, Any] = {}
        if query.patient_name:
            base["PatientName"] = qido_value(query.patient_name)
        if query.patient_id:
            base["PatientID"] = qido_value(query.patient_id)
        if query.accession_number:
            base["AccessionNumber"] = qido_value(query.accession_number)
        if query.date_range:
            base["StudyDate"] = query.date_range
        found: dict[str, StudyInfo] = {}
        for modality in query.modalities or ("",):
            filters = {**base, "ModalitiesInStudy": modality} if modality else base
            rows = self._paged(
                "a study search",
                self.client.search_for_studies,
                query.limit,
                fields=list(STUDY_FIELDS),
                search_filters=filters,
            )
            for row in rows:
                study = study_from_attrs(_getter(row))
                found.setdefault(study.study_uid, study)
        studies = sorted(found.values(), key=lambda s: (s.study_date, s.study_uid), reverse=True)
        return studies[: query.limit] if query.limit else studies

    def find_series(self, study_uid: str, modalities: Sequence[str] = ()) -> list[SeriesInfo]:
        rows = self._paged(
            "a series search",
            self.client.search_for_series,
            0,
            study_instance_uid=study_uid,
            fields=list(SERIES_FIELDS),
        )
        series = [series_from_attrs(_getter(row), study_uid) for row in rows]
        wanted = {m.upper() for m in modalities}
        return sorted(
            (s for s in series if not wanted or s.modality.upper() in wanted), key=lambda s: s.number
        )

    def find_instances(self, study_uid: str, series_uid: str) -> list[InstanceInfo]:
        rows = self._paged(
            "an instance search",
            self.client.search_for_instances,
            0,
            study_instance_uid=study_uid,
            series_instance_uid=series_uid,
            fields=list(INSTANCE_FIELDS),
        )
        instances = [instance_from_attrs(_getter(row), study_uid, series_uid) for row in rows]
        return sorted(instances, key=lambda i: (i.number, i.sop_uid))

    def retrieve(self, instance: InstanceInfo, out_path: str | os.PathLike[str]) -> Path:
        """WADO-RS one instance, as stored (no transcoding), to ``out_path`` (atomic, fsynced)."""
        if instance.sop_class_uid and not instance.is_image:
            raise NotAnImageError(
                f"instance {instance.sop_uid} is a {sop_class_name(instance.sop_class_uid)}, not an image; "
                "RadiView reads CR, DX and Secondary Capture films"
            )
        with self._errors(f"retrieving instance {instance.sop_uid}"):
            dataset = self.client.retrieve_instance(
                instance.study_uid,
                instance.series_uid,
                instance.sop_uid,
                media_types=(("application/dicom", "*"),),
            )
        return write_dataset(dataset, out_path)

    def store(self, datasets: Sequence[Any]) -> None:
        """STOW-RS the datasets into their study."""
        with self._errors(f"storing {len(datasets)} instance(s)"):
            self.client.store_instances(list(datasets))


def write_dataset(dataset: Any, out_path: str | os.PathLike[str]) -> Path:
    """A pydicom dataset as a DICOM Part 10 file, written atomically and fsynced."""
    from pydicom.dataset import FileMetaDataset

    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not hasattr(dataset, "file_meta"):
        dataset.file_meta = FileMetaDataset()
    with atomic_write(path) as fh:
        dataset.save_as(fh, enforce_file_format=True)
    return path
