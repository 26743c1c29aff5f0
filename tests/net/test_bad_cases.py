"""Every failure a PACS can throw at us: a clear message, quickly, never a hang."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from radiview.net.dicomweb import DicomWebConnection
from radiview.net.dimse import DimseConnection
from radiview.net.errors import PacsConnectionError, PacsRejectedError, PacsResponseError, PacsTimeoutError
from radiview.net.query import StudyQuery

pytestmark = pytest.mark.orthanc


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word (a hung server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


@pytest.fixture()
def dead_port(net_helpers: Any) -> int:
    return net_helpers.free_port()  # nothing listens there


def _timed(fn: Any) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def test_server_down_dimse(dimse_node: Any, dead_port: int) -> None:
    node = replace(dimse_node, port=dead_port)
    with pytest.raises(PacsConnectionError, match=r"cannot connect .*server running"):
        DimseConnection(node).ping()


def test_server_down_dicomweb(web_node: Any, dead_port: int) -> None:
    node = replace(web_node, url=f"http://127.0.0.1:{dead_port}/dicom-web")
    with pytest.raises(PacsConnectionError, match=r"cannot connect for a test query"):
        DicomWebConnection(node, "x").ping()


def test_wrong_called_ae_title(dimse_node: Any) -> None:
    node = replace(dimse_node, called_ae="NOT_ORTHANC")
    with pytest.raises(PacsRejectedError, match=r"Called AE title not recognised.*'NOT_ORTHANC'"):
        DimseConnection(node).ping()


def test_association_rejected_for_an_unregistered_calling_ae(dimse_node: Any) -> None:
    node = replace(dimse_node, calling_ae="STRANGER")
    with pytest.raises(PacsRejectedError, match=r"rejected: Calling AE title not recognised.*'STRANGER'"):
        DimseConnection(node).find_studies(StudyQuery())


def test_wrong_password_is_a_clear_refusal(web_node: Any) -> None:
    with pytest.raises(PacsRejectedError, match=r"HTTP 401.*user name and password"):
        DicomWebConnection(web_node, "wrong-password").ping()


def test_association_timeout_on_a_silent_server(dimse_node: Any, silent_port: int) -> None:
    node = replace(dimse_node, port=silent_port, association_timeout_s=1.0)
    with pytest.raises(PacsTimeoutError, match=r"no answer to the association request within 1 s"):
        assert _timed(lambda: DimseConnection(node).ping()) < 5


def test_http_timeout_on_a_silent_server(web_node: Any, silent_port: int) -> None:
    node = replace(web_node, url=f"http://127.0.0.1:{silent_port}/dicom-web", http_timeout_s=1.0)
    start = time.monotonic()
    with pytest.raises(PacsTimeoutError, match=r"no answer to a study search within 1 s"):
        DicomWebConnection(node, "x").find_studies(StudyQuery())
    assert time.monotonic() - start < 5


@pytest.fixture(scope="module")
def big_study(orthanc: Any, net_helpers: Any) -> tuple[str, str]:
    """300 small CR films in one series (64×64), uploaded once."""
    from pydicom.uid import generate_uid

    study, series = generate_uid(), generate_uid()
    template = net_helpers.make_film(
        patient_name="MANY^FILMS",
        patient_id="RV300",
        study_date="20250601",
        accession="ACC300",
        study_uid=study,
        series_uid=series,
        size=(64, 64),
    )
    for number in range(1, 301):
        template.SOPInstanceUID = template.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        template.InstanceNumber = number
        orthanc.upload(net_helpers.dataset_bytes(template))
    return study, series


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_a_study_with_hundreds_of_instances(
    protocol: str, big_study: tuple[str, str], orthanc: Any, web_node: Any, dimse_node: Any, tmp_path: Path
) -> None:
    study, series = big_study
    connection = (
        DicomWebConnection(web_node, orthanc.password)
        if protocol == "dicomweb"
        else DimseConnection(dimse_node)
    )
    start = time.monotonic()
    [found] = connection.find_studies(StudyQuery(patient_id="RV300"))
    assert found.study_uid == study
    instances = connection.find_instances(study, series)
    assert len(instances) == 300 and [i.number for i in instances] == list(range(1, 301))
    if protocol == "dimse":  # one association for the whole series
        paths = connection.retrieve_series(study, series, tmp_path)
    else:
        paths = [connection.retrieve(i, tmp_path / f"{i.sop_uid}.dcm") for i in instances[:50]]
    assert len(paths) == (300 if protocol == "dimse" else 50)
    assert all(p.stat().st_size > 64 * 64 * 2 for p in paths)
    assert time.monotonic() - start < 60


def test_c_move_to_an_unknown_destination_says_so(dimse_node: Any, pacs_data: Any) -> None:
    with pytest.raises(
        PacsResponseError, match=r"C-MOVE to NOBODY failed with status 0x.*'NOBODY' registered on the archive"
    ):
        DimseConnection(dimse_node).move("NOBODY", pacs_data.jane_study)
