"""A real Orthanc PACS for the network tests, started on free loopback ports.

One Orthanc per test session: a generated configuration (DICOMweb plugin, HTTP basic auth,
our AE titles registered as modalities), a temporary storage folder, bounded start-up and
shutdown. Without the ``Orthanc`` binary the tests skip, except on CI (``CI=true`` or
``RADIVIEW_REQUIRE_ORTHANC=1``), where packaging/apt-packages.txt installs it: there a missing
server is a failure, not a silent skip.

Orthanc 1.10 has no option to bind its DICOM port to one address; to keep other hosts out,
``RemoteAccessAllowed`` is off (HTTP answers only localhost) and ``DicomCheckModalityHost``
plus the ``DicomAlwaysAllow*`` switches set to false make it reject any association that
does not come from a registered AE at 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

LOOPBACK = "127.0.0.1"
PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc"))
ORTHANC_AET = "ORTHANC_TEST"
SCU_AET = "RADIVIEW"  # our query/retrieve SCU
STORE_AET = "RADIVIEW_SCP"  # our C-STORE SCP (C-MOVE destination, listener)
USER, PASSWORD = "radiview", "not-a-real-secret-42"
START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _require_orthanc() -> str:
    binary = shutil.which("Orthanc")
    if binary is None:
        reason = "the Orthanc binary is missing (apt-get install orthanc orthanc-dicomweb)"
        if os.environ.get("CI", "").lower() == "true" or os.environ.get("RADIVIEW_REQUIRE_ORTHANC") == "1":
            pytest.fail(f"{reason}; CI must run the PACS tests", pytrace=False)
        pytest.skip(reason)
    return binary


def _dicomweb_plugin() -> Path:
    for folder in PLUGIN_DIRS:
        for candidate in sorted(folder.glob("libOrthancDicomWeb.so*")):
            return candidate
    pytest.fail("the Orthanc DICOMweb plugin is missing (apt-get install orthanc-dicomweb)", pytrace=False)


@dataclass
class OrthancServer:
    """Where the test Orthanc listens, and a tiny REST helper for test set-up and checks."""

    http_port: int
    dicom_port: int
    store_port: int  # the port registered for STORE_AET (tests start their SCP there)
    storage: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    aet: str = ORTHANC_AET
    scu_aet: str = SCU_AET
    store_aet: str = STORE_AET
    user: str = USER
    password: str = PASSWORD

    @property
    def http_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.http_url}/dicom-web"

    def rest(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.http_url + path, data=data, method=method)
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
        if not payload:
            return None
        try:
            return json.loads(payload)
        except ValueError:
            return payload

    def upload(self, path: Path | bytes) -> dict[str, Any]:
        """POST one DICOM file to /instances (the REST way, for test set-up)."""
        raw = path if isinstance(path, bytes) else Path(path).read_bytes()
        return self.rest("POST", "/instances", raw=raw)

    def clear(self) -> None:
        """Delete every patient (tests that need an empty archive)."""
        for patient in self.rest("GET", "/patients"):
            self.rest("DELETE", f"/patients/{patient}")

    def config(self, plugin: Path) -> dict[str, Any]:
        modality = {
            "Host": LOOPBACK,
            "AllowEcho": True,
            "AllowFind": True,
            "AllowGet": True,
            "AllowMove": True,
            "AllowStore": True,
        }
        return {
            "Name": "radiview-test",
            "StorageDirectory": str(self.storage),
            "IndexDirectory": str(self.storage),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.user: self.password},
            "Plugins": [str(plugin)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True},
            "DicomModalities": {
                "radiview": {**modality, "AET": self.scu_aet, "Port": self.store_port},
                "radiview-scp": {**modality, "AET": self.store_aet, "Port": self.store_port},
            },
            "DicomCheckCalledAet": True,
            "DicomCheckModalityHost": True,
            "DicomAlwaysAllowEcho": False,
            "DicomAlwaysAllowStore": False,
            "DicomAlwaysAllowFind": False,
            "DicomAlwaysAllowGet": False,
            "DicomAlwaysAllowMove": False,
            "DicomScuTimeout": 5,
            "DicomScpTimeout": 10,
            "StorageCompression": False,
            "SaveJobs": False,
            "LimitFindResults": 0,
            "LimitFindInstances": 0,
            "HttpRequestTimeout": 10,
        }

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.rest("GET", "/system")
                with socket.create_connection((LOOPBACK, self.dicom_port), timeout=1):
                    return
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        raise RuntimeError(f"Orthanc did not answer within {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@contextmanager
def running_orthanc(root: Path, extra_config: dict[str, Any] | None = None) -> Iterator[OrthancServer]:
    """Start an Orthanc under ``root`` (config + storage + log there); stop it on exit."""
    binary = _require_orthanc()
    plugin = _dicomweb_plugin()
    server = OrthancServer(
        http_port=free_port(),
        dicom_port=free_port(),
        store_port=free_port(),
        storage=root / "storage",
        log_path=root / "orthanc.log",
    )
    server.storage.mkdir(parents=True)
    config_path = root / "orthanc.json"
    config_path.write_text(json.dumps({**server.config(plugin), **(extra_config or {})}, indent=2))
    with open(server.log_path, "wb") as log:
        server.process = subprocess.Popen(
            [binary, str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
            # DCMTK (inside Orthanc) leaves Nagle's algorithm on unless TCP_NODELAY is set; with it
            # on, each C-GET/C-MOVE sub-operation waits out a 40 ms delayed ACK (300 films: 15 s).
            env={**os.environ, "TCP_NODELAY": "1"},
        )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """A running Orthanc with DICOMweb, basic auth and our AEs registered; stopped afterwards."""
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


# ------------------------------------------------------------------------------ test films

CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


def make_film(
    path: Path | None = None,
    *,
    patient_name: str = "DOE^JANE",
    patient_id: str = "RV001",
    study_date: str = "20260115",
    accession: str = "ACC1001",
    modality: str = "CR",
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    instance_number: int = 1,
    size: tuple[int, int] = (320, 288),
    seed: int = 0,
    transfer_syntax: str = "1.2.840.10008.1.2.1",
    eight_bit: bool = False,
) -> Any:
    """A synthetic chest film as a real DICOM dataset (12-bit MONOCHROME2); saved if ``path``."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    from radiview.selftest import build_synthetic_chest

    pixels = np.asarray(build_synthetic_chest(size[0], size[1], seed=seed).pixels).astype(np.uint16)
    if eight_bit:  # JPEG Baseline holds 8 bits only
        pixels = (pixels >> 4).astype(np.uint8)
    sop_class = DX_PRESENTATION if modality == "DX" else CR_IMAGE
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.PatientName, ds.PatientID = patient_name, patient_id
    ds.PatientBirthDate, ds.PatientSex = "19700101", "O"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber = study_date, "101500", accession
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, instance_number
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = modality, "CHEST", "PA"
    ds.ReferringPhysicianName, ds.Manufacturer = "", "RadiView tests"
    ds.PatientOrientation = ["L", "F"]
    if modality == "DX":
        ds.PresentationIntentType, ds.ImageType = "FOR PRESENTATION", ["ORIGINAL", "PRIMARY"]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    bits = (8, 8, 7) if eight_bit else (16, 12, 11)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits
    ds.PixelRepresentation = 0
    ds.PixelSpacing = [0.5, 0.5]
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PixelData = pixels.tobytes()
    if UID(transfer_syntax) != ExplicitVRLittleEndian:
        ds.compress(transfer_syntax, pixels)
    if path is not None:
        ds.save_as(path, enforce_file_format=True)
    return ds


def make_text_sr(study_uid: str, patient_name: str = "DOE^JANE", patient_id: str = "RV001") -> Any:
    """A Basic Text SR in its own series of ``study_uid``: a non-image instance."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = BASIC_TEXT_SR, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, generate_uid()
    ds.PatientName, ds.PatientID, ds.StudyDate, ds.Modality = patient_name, patient_id, "20260115", "SR"
    ds.StudyTime, ds.AccessionNumber, ds.StudyID = "101500", "ACC1001", "1"
    ds.SeriesNumber, ds.InstanceNumber = 99, 1
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = "121060", "DCM", "History"
    ds.ConceptNameCodeSequence = [concept]
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = (
        ds.SOPClassUID,
        ds.SOPInstanceUID,
    )
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def dataset_bytes(ds: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@dataclass(frozen=True)
class PacsData:
    """What ``pacs_data`` put in the archive."""

    jane_study: str  # DOE^JANE, 20260115, ACC1001, CR: 2 films + a Basic Text SR series
    jane_series: str
    jane_films: tuple[str, ...]
    jane_sr: str
    jane_sr_series: str
    richard_study: str  # ROE^RICHARD, 20260210, ACC1002, DX: 1 film
    richard_film: str
    other_study: str  # DOE^JOHN, 20260120, OT: not a chest film modality


@pytest.fixture(scope="session")
def pacs_data(orthanc: OrthancServer) -> PacsData:
    """Generated studies for the query/retrieve tests (uploaded once per session)."""
    from pydicom.uid import generate_uid

    jane_study, jane_series = generate_uid(), generate_uid()
    jane_films = tuple(generate_uid() for _ in range(2))
    for number, sop in enumerate(jane_films, start=1):
        ds = make_film(
            study_uid=jane_study, series_uid=jane_series, sop_uid=sop, instance_number=number, seed=number
        )
        orthanc.upload(dataset_bytes(ds))
    sr = make_text_sr(jane_study)
    orthanc.upload(dataset_bytes(sr))
    richard = make_film(
        patient_name="ROE^RICHARD",
        patient_id="RV002",
        study_date="20260210",
        accession="ACC1002",
        modality="DX",
        seed=7,
    )
    orthanc.upload(dataset_bytes(richard))
    other = make_film(
        patient_name="DOE^JOHN",
        patient_id="RV003",
        study_date="20260120",
        accession="ACC1003",
        modality="OT",
        seed=3,
    )
    orthanc.upload(dataset_bytes(other))
    return PacsData(
        jane_study=jane_study,
        jane_series=jane_series,
        jane_films=jane_films,
        jane_sr=str(sr.SOPInstanceUID),
        jane_sr_series=str(sr.SeriesInstanceUID),
        richard_study=str(richard.StudyInstanceUID),
        richard_film=str(richard.SOPInstanceUID),
        other_study=str(other.StudyInstanceUID),
    )


@pytest.fixture()
def web_node(orthanc: OrthancServer) -> Any:
    from radiview.net.nodes import PacsNode

    return PacsNode(
        name="test-web",
        url=orthanc.dicomweb_url,
        auth="basic",
        username=orthanc.user,
        called_ae=orthanc.aet,
        calling_ae=orthanc.scu_aet,
        http_timeout_s=20,
    )


@pytest.fixture()
def dimse_node(orthanc: OrthancServer) -> Any:
    from radiview.net.nodes import PacsNode

    return PacsNode(
        name="test-dimse",
        host=LOOPBACK,
        port=orthanc.dicom_port,
        called_ae=orthanc.aet,
        calling_ae=orthanc.scu_aet,
        association_timeout_s=5,
        dimse_timeout_s=20,
    )


@pytest.fixture(scope="session")
def net_helpers() -> Any:
    """The helpers above for test modules (conftest is not importable by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        free_port=free_port,
        make_film=make_film,
        make_text_sr=make_text_sr,
        dataset_bytes=dataset_bytes,
        running_orthanc=running_orthanc,
    )
