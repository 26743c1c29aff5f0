"""DIMSE with pynetdicom: C-ECHO, C-FIND, C-GET, C-MOVE and C-STORE as a service user.

Each failure is told apart, because each has a different fix: nothing listens (server down,
wrong host/port), the association is rejected (naming whose AE title was not recognised),
no answer in time (association or DIMSE timeout), a failure status, a non-image instance.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from radiview.atomic import atomic_write
from radiview.net.errors import (
    NotAnImageError,
    PacsConnectionError,
    PacsRejectedError,
    PacsResponseError,
    PacsTimeoutError,
)
from radiview.net.nodes import PacsNode
from radiview.net.query import (
    IMAGE_SOP_CLASSES,
    InstanceInfo,
    SeriesInfo,
    StudyInfo,
    StudyQuery,
    check_uid,
    instance_from_attrs,
    series_from_attrs,
    sop_class_name,
    study_from_attrs,
)

log = logging.getLogger("radiview.net.dimse")

VERIFICATION = "1.2.840.10008.1.1"
FIND_STUDY_ROOT = "1.2.840.10008.5.1.4.1.2.2.1"
GET_STUDY_ROOT = "1.2.840.10008.5.1.4.1.2.2.3"
MOVE_STUDY_ROOT = "1.2.840.10008.5.1.4.1.2.2.2"
RESULT_SOP_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
)
UNCOMPRESSED = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")


def decodable_transfer_syntaxes() -> list[str]:
    """Transfer syntaxes pydicom can decode here (what radiview.io reads), uncompressed first."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID, AllTransferSyntaxes

    out = list(UNCOMPRESSED)
    for uid in AllTransferSyntaxes:
        if uid in out or UID(uid).is_deflated or not UID(uid).is_compressed:
            continue
        try:
            if get_decoder(uid).is_available:
                out.append(str(uid))
        except (NotImplementedError, ValueError):
            continue
    return out


def _where(node: PacsNode) -> str:
    return f"PACS {node.name!r} ({node.called_ae}@{node.host}:{node.port})"


def tls_context(node: PacsNode) -> ssl.SSLContext:
    """The client TLS context of a node: verified against its CA (or the system's) unless told not to."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=node.tls_ca_file or None)
    if not node.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if node.tls_cert_file:
        context.load_cert_chain(node.tls_cert_file, node.tls_key_file or None)
    return context


def _probe(node: PacsNode) -> None:
    """A bare TCP connect (and TLS handshake): tells 'nothing listens' and 'TLS fails' from
    'listens but does not answer'."""
    try:
        with socket.create_connection((node.host, node.port), timeout=node.association_timeout_s) as sock:
            if node.tls:
                try:
                    with tls_context(node).wrap_socket(sock, server_hostname=node.host):
                        return
                except ssl.SSLError as exc:
                    raise PacsConnectionError(
                        f"{_where(node)}: TLS handshake failed ({exc.reason or exc}); check the CA file, "
                        "certificates and whether the archive speaks DICOM TLS on this port"
                    ) from exc
            return
    except TimeoutError as exc:
        raise PacsTimeoutError(
            f"{_where(node)}: no TCP answer within {node.association_timeout_s:g} s; "
            "is the host reachable (firewall)?"
        ) from exc
    except OSError as exc:
        raise PacsConnectionError(
            f"{_where(node)}: cannot connect ({exc.strerror or type(exc).__name__}); "
            "is the server running and are the host and port right?"
        ) from exc


def _new_ae(node: PacsNode) -> Any:
    from pynetdicom import AE

    ae = AE(ae_title=node.calling_ae)
    ae.acse_timeout = node.association_timeout_s
    ae.connection_timeout = node.association_timeout_s
    ae.dimse_timeout = node.dimse_timeout_s
    ae.network_timeout = node.network_timeout_s
    return ae


def _rejection(node: PacsNode, assoc: Any) -> PacsRejectedError:
    primitive = getattr(assoc.acceptor, "primitive", None)
    reason = primitive.reason_str if primitive is not None else "no reason given"
    hint = ""
    if "Calling AE" in reason:
        hint = f"; our AE title {node.calling_ae!r} is not registered on the archive"
    elif "Called AE" in reason:
        hint = f"; the archive's AE title is not {node.called_ae!r}: check the node's called AE title"
    return PacsRejectedError(f"{_where(node)}: association rejected: {reason}{hint}")


@contextmanager
def associate(
    node: PacsNode,
    contexts: Sequence[tuple[str, Sequence[str]]],
    scp_roles: Sequence[str] = (),
    handlers: Sequence[tuple[Any, Callable[..., Any]]] = (),
) -> Iterator[Any]:
    """An established association, released on exit; a PacsError saying why if there is none."""
    from pynetdicom import build_role

    _probe(node)
    ae = _new_ae(node)
    for abstract, syntaxes in contexts:
        ae.add_requested_context(abstract, list(syntaxes))
    roles = [build_role(uid, scp_role=True) for uid in scp_roles]
    tls_args = (tls_context(node), node.host) if node.tls else None
    started = time.monotonic()
    assoc = ae.associate(
        node.host,
        node.port,
        ae_title=node.called_ae,
        ext_neg=roles or None,
        evt_handlers=list(handlers),
        tls_args=tls_args,
    )
    if assoc.is_rejected:
        raise _rejection(node, assoc)
    if not assoc.is_established:
        if getattr(assoc.acceptor, "primitive", None) is not None:
            raise PacsRejectedError(f"{_where(node)}: accepted none of the proposed services")
        if time.monotonic() - started < 0.8 * node.association_timeout_s:
            expected = (
                "plain DICOM (turn the node's TLS off)" if node.tls else "DICOM TLS (turn the node's TLS on)"
            )
            raise PacsConnectionError(
                f"{_where(node)}: closed the connection without answering the association request; "
                f"does it expect {expected}?"
            )
        raise PacsTimeoutError(
            f"{_where(node)}: no answer to the association request within {node.association_timeout_s:g} s"
        )
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


_STATUS_MEANINGS = {
    0x0122: "SOP class not supported",
    0x0124: "not authorised",
    0xA700: "out of resources",
    0xA701: "out of resources: unable to calculate the number of matches",
    0xA702: "out of resources: unable to perform sub-operations",
    0xA801: "move destination unknown: register our AE title on the archive",
    0xA900: "identifier does not match the SOP class",
    0xC000: "unable to process",
}


def _check_status(node: PacsNode, assoc: Any, status: Any, what: str) -> int:
    """The status code; raises if the response never came or is a failure."""
    if status is None or "Status" not in status:
        if assoc.is_aborted or not assoc.is_established:
            raise PacsTimeoutError(f"{_where(node)}: no answer to {what} within {node.dimse_timeout_s:g} s")
        raise PacsResponseError(f"{_where(node)}: invalid response to {what}")
    code = int(status.Status)
    if code in (0x0000, 0xFF00, 0xFF01, 0xB000, 0xFE00) or code >> 12 == 0xB:
        return code
    meaning = _STATUS_MEANINGS.get(code) or _STATUS_MEANINGS.get(code & 0xF000, "failure")
    raise PacsResponseError(f"{_where(node)}: {what} failed with status 0x{code:04X} ({meaning})")


class DimseConnection:
    """A node's DIMSE services, one association per call (simple and robust)."""

    def __init__(self, node: PacsNode, secret: str = "") -> None:
        del secret  # DIMSE has no credentials here (AE titles only)
        if not node.has_dimse:
            raise PacsConnectionError(f"node {node.name!r} has no DIMSE host and port")
        self.node = node

    def ping(self) -> None:
        """C-ECHO."""
        with associate(self.node, [(VERIFICATION, UNCOMPRESSED)]) as assoc:
            _check_status(self.node, assoc, assoc.send_c_echo(), "C-ECHO")

    def find(self, level: str, keys: dict[str, Any]) -> list[Any]:
        """C-FIND (study root) at ``level``; ``keys`` are matching and return keys."""
        from pydicom.dataset import Dataset

        identifier = Dataset()
        identifier.QueryRetrieveLevel = level
        for keyword, value in keys.items():
            setattr(identifier, keyword, value)
        matches = []
        with associate(self.node, [(FIND_STUDY_ROOT, UNCOMPRESSED)]) as assoc:
            for status, found in assoc.send_c_find(identifier, FIND_STUDY_ROOT):
                code = _check_status(self.node, assoc, status, f"C-FIND ({level})")
                if code in (0xFF00, 0xFF01) and found is not None:
                    matches.append(found)
        return matches

    def find_studies(self, query: StudyQuery) -> list[StudyInfo]:
        keys = {
            k: ""
            for k in (
                "StudyInstanceUID",
                "StudyDate",
                "StudyDescription",
                "ModalitiesInStudy",
                "NumberOfStudyRelatedSeries",
                "NumberOfStudyRelatedInstances",
            )
        }
        keys.update(
            PatientName=query.patient_name,
            PatientID=query.patient_id,
            AccessionNumber=query.accession_number,
            StudyDate=query.date_range,
        )
        found: dict[str, StudyInfo] = {}
        for modality in query.modalities or ("",):
            for ds in self.find("STUDY", {**keys, "ModalitiesInStudy": modality}):
                study = study_from_attrs(lambda k, ds=ds: ds.get(k))
                found.setdefault(study.study_uid, study)
        studies = sorted(found.values(), key=lambda s: (s.study_date, s.study_uid), reverse=True)
        return studies[: query.limit] if query.limit else studies

    def find_series(self, study_uid: str, modalities: Sequence[str] = ()) -> list[SeriesInfo]:
        keys = {
            "StudyInstanceUID": study_uid,
            "SeriesInstanceUID": "",
            "Modality": "",
            "SeriesDescription": "",
            "SeriesNumber": "",
            "NumberOfSeriesRelatedInstances": "",
        }
        series = [
            series_from_attrs(lambda k, ds=ds: ds.get(k), study_uid) for ds in self.find("SERIES", keys)
        ]
        wanted = {m.upper() for m in modalities}
        return sorted(
            (s for s in series if not wanted or s.modality.upper() in wanted), key=lambda s: s.number
        )

    def find_instances(self, study_uid: str, series_uid: str) -> list[InstanceInfo]:
        keys = {
            "StudyInstanceUID": study_uid,
            "SeriesInstanceUID": series_uid,
            "SOPInstanceUID": "",
            "SOPClassUID": "",
            "InstanceNumber": "",
        }
        found = self.find("IMAGE", keys)
        instances = [instance_from_attrs(lambda k, ds=ds: ds.get(k), study_uid, series_uid) for ds in found]
        return sorted(instances, key=lambda i: (i.number, i.sop_uid))

    def get(self, keys: dict[str, str], on_dataset: Callable[[Any, Any], object]) -> int:
        """C-GET; ``on_dataset(dataset, file_meta)`` gets each film. Returns the films received."""
        from pydicom.dataset import Dataset
        from pynetdicom import evt

        received = 0

        def handle_store(event: Any) -> int:
            nonlocal received
            if event.context.abstract_syntax not in IMAGE_SOP_CLASSES:
                return 0xA900  # never offered, but a peer could still send one
            try:
                on_dataset(event.dataset, event.file_meta)
            except Exception:  # a disk error: tell the archive, keep the association
                log.exception("%s: could not keep a retrieved film", _where(self.node))
                return 0xA700
            received += 1
            return 0x0000

        identifier = Dataset()
        identifier.QueryRetrieveLevel = "IMAGE" if "SOPInstanceUID" in keys else "SERIES"
        for keyword, value in keys.items():
            setattr(identifier, keyword, value)
        syntaxes = decodable_transfer_syntaxes()
        contexts = [(GET_STUDY_ROOT, UNCOMPRESSED), *((uid, syntaxes) for uid in IMAGE_SOP_CLASSES)]
        failed = 0
        with associate(
            self.node, contexts, scp_roles=list(IMAGE_SOP_CLASSES), handlers=[(evt.EVT_C_STORE, handle_store)]
        ) as assoc:
            for status, _ in assoc.send_c_get(identifier, GET_STUDY_ROOT):
                code = _check_status(self.node, assoc, status, "C-GET")
                if code not in (0xFF00,):
                    failed = int(status.get("NumberOfFailedSuboperations", 0) or 0)
        if failed:
            log.warning("%s: C-GET: %d film(s) failed to transfer", _where(self.node), failed)
        return received

    def retrieve(self, instance: InstanceInfo, out_path: str | os.PathLike[str]) -> Path:
        """C-GET one instance to ``out_path`` (atomic, fsynced)."""
        if instance.sop_class_uid and not instance.is_image:
            raise NotAnImageError(
                f"instance {instance.sop_uid} is a {sop_class_name(instance.sop_class_uid)}, not an image; "
                "RadiView reads CR, DX and Secondary Capture films"
            )
        path = Path(out_path)
        keys = {
            "StudyInstanceUID": instance.study_uid,
            "SeriesInstanceUID": instance.series_uid,
            "SOPInstanceUID": instance.sop_uid,
        }
        if self.get(keys, lambda ds, meta: write_received(ds, meta, path)) == 0:
            raise PacsResponseError(
                f"{_where(self.node)}: C-GET of instance {instance.sop_uid} returned no film "
                "(not an image RadiView accepts, or not on the archive)"
            )
        return path

    def retrieve_series(self, study_uid: str, series_uid: str, out_dir: str | os.PathLike[str]) -> list[Path]:
        """C-GET a whole series in one association; files are named by SOP Instance UID."""
        folder = Path(out_dir)
        paths: list[Path] = []

        def keep(ds: Any, meta: Any) -> None:
            name = check_uid(str(ds.get("SOPInstanceUID", "")), "SOP Instance UID")
            paths.append(write_received(ds, meta, folder / f"{name}.dcm"))

        self.get({"StudyInstanceUID": study_uid, "SeriesInstanceUID": series_uid}, keep)
        return paths

    def move(self, destination_ae: str, study_uid: str, series_uid: str = "", sop_uid: str = "") -> int:
        """C-MOVE to ``destination_ae`` (registered on the archive); returns films moved."""
        from pydicom.dataset import Dataset

        identifier = Dataset()
        identifier.QueryRetrieveLevel = "IMAGE" if sop_uid else "SERIES" if series_uid else "STUDY"
        identifier.StudyInstanceUID = study_uid
        if series_uid:
            identifier.SeriesInstanceUID = series_uid
        if sop_uid:
            identifier.SOPInstanceUID = sop_uid
        completed = failed = 0
        with associate(self.node, [(MOVE_STUDY_ROOT, UNCOMPRESSED)]) as assoc:
            for status, _ in assoc.send_c_move(identifier, destination_ae, MOVE_STUDY_ROOT):
                try:
                    _check_status(self.node, assoc, status, f"C-MOVE to {destination_ae}")
                except PacsResponseError as exc:  # archives answer an unknown destination variously
                    raise PacsResponseError(
                        f"{exc.problem}; is {destination_ae!r} registered on the archive "
                        "with our host and port?"
                    ) from exc
                # Counts are optional in some responses: keep the largest seen.
                completed = max(completed, int(status.get("NumberOfCompletedSuboperations", 0) or 0))
                failed = max(failed, int(status.get("NumberOfFailedSuboperations", 0) or 0))
        if failed:
            raise PacsResponseError(
                f"{_where(self.node)}: C-MOVE to {destination_ae}: {failed} film(s) failed"
            )
        return completed

    def store(self, datasets: Sequence[Any]) -> None:
        """C-STORE each dataset (results: SC and SR) in one association."""
        classes = sorted({str(ds.SOPClassUID) for ds in datasets} | set(RESULT_SOP_CLASSES))
        contexts = [(uid, UNCOMPRESSED) for uid in classes]
        with associate(self.node, contexts) as assoc:
            accepted = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
            for ds in datasets:
                if str(ds.SOPClassUID) not in accepted:
                    raise PacsRejectedError(
                        f"{_where(self.node)}: does not accept {sop_class_name(str(ds.SOPClassUID))} "
                        "(SOP class not supported by the receiver)"
                    )
                status = assoc.send_c_store(ds)
                _check_status(self.node, assoc, status, f"C-STORE of {ds.SOPInstanceUID}")


def write_received(dataset: Any, file_meta: Any, path: Path) -> Path:
    """A dataset received by C-STORE, with its file meta, written atomically and fsynced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.file_meta = file_meta
    with atomic_write(path) as fh:
        dataset.save_as(fh, enforce_file_format=True)
    return path
