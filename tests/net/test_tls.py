"""DICOM TLS against a real Orthanc whose DICOM port speaks TLS only (a self-signed CA)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from radiview.net.dimse import DimseConnection
from radiview.net.errors import PacsConnectionError
from radiview.net.query import StudyQuery

pytestmark = pytest.mark.orthanc


@pytest.fixture(scope="module")
def tls_orthanc(tmp_path_factory: pytest.TempPathFactory, net_helpers: Any) -> Iterator[tuple[Any, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificate")
    root = tmp_path_factory.mktemp("orthanc-tls")
    cert, key = root / "orthanc.crt", root / "orthanc.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    extra = {
        "DicomTlsEnabled": True,
        "DicomTlsCertificate": str(cert),
        "DicomTlsPrivateKey": str(key),
        "DicomTlsTrustedCertificates": str(cert),
        "DicomTlsRemoteCertificateRequired": False,
    }
    with net_helpers.running_orthanc(root / "server", extra) as server:
        yield server, cert


@pytest.fixture()
def tls_node(tls_orthanc: tuple[Any, Path], dimse_node: Any) -> Any:
    server, cert = tls_orthanc
    return replace(dimse_node, port=server.dicom_port, called_ae=server.aet, tls=True, tls_ca_file=str(cert))


def test_echo_and_find_over_dicom_tls(tls_node: Any) -> None:
    connection = DimseConnection(tls_node)
    connection.ping()
    assert connection.find_studies(StudyQuery()) == []  # an empty archive answers over TLS


def test_an_untrusted_certificate_is_refused_with_the_reason(tls_node: Any) -> None:
    with pytest.raises(PacsConnectionError, match=r"TLS handshake failed \(CERTIFICATE_VERIFY_FAILED"):
        DimseConnection(replace(tls_node, tls_ca_file="")).ping()
    DimseConnection(replace(tls_node, tls_ca_file="", verify_tls=False)).ping()  # explicitly unverified


def test_plain_dicom_against_a_tls_port_says_so(tls_node: Any) -> None:
    with pytest.raises(PacsConnectionError, match=r"does it expect DICOM TLS"):
        DimseConnection(replace(tls_node, tls=False, association_timeout_s=5)).ping()
