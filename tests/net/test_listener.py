"""`radiview listen`: the real command in a subprocess, films pushed with pynetdicom."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from radiview.net.dimse import DimseConnection, decodable_transfer_syntaxes
from radiview.net.errors import PacsRejectedError
from radiview.net.nodes import PacsNode
from radiview.net.query import IMAGE_SOP_CLASSES

pytestmark = pytest.mark.orthanc  # not Orthanc itself, but the same network test group

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "io"))
from dicom_factory import encode  # noqa: E402  (the io tests' encoders: GDCM for JPEG Lossless)

LISTENER_AE = "RVLISTEN"
SENDER_AE = "MODALITY1"
READY_TIMEOUT_S = 90.0


@dataclass
class Listener:
    port: int
    out: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def report(self) -> Path:
        return self.out / "report.csv"

    def rows(self) -> list[dict[str, str]]:
        if not self.report.exists():
            return []
        text = self.report.read_text()
        return list(csv.DictReader(io.StringIO(text[: text.rfind("\n") + 1])))

    def wait_rows(self, count: int, timeout_s: float = 60.0) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rows = self.rows()
            if len(rows) >= count:
                return rows
            assert self.process.poll() is None, self.log()
            time.sleep(0.2)
        raise AssertionError(f"{len(self.rows())} rows after {timeout_s} s, expected {count}\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_listener(out: Path, port: int, bundle: Path) -> Listener:
    log_path = out.parent / f"{out.name}-listener-{time.monotonic_ns()}.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "radiview",
                "listen",
                "--ae",
                LISTENER_AE,
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--out",
                str(out),
                "--allow",
                f"{SENDER_AE},OTHER",
                "--model",
                str(bundle),
                "--device",
                "cpu",
                "-v",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    listener = Listener(port, out, process, log_path)
    node = PacsNode(
        name="listener",
        host="127.0.0.1",
        port=port,
        called_ae=LISTENER_AE,
        calling_ae=SENDER_AE,
        association_timeout_s=2,
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, listener.log()
        try:
            DimseConnection(node).ping()  # C-ECHO answers once it listens
            return listener
        except Exception:
            time.sleep(0.3)
    process.kill()
    raise AssertionError(f"listener not ready in {READY_TIMEOUT_S} s\n{listener.log()}")


def stop(listener: Listener, sig: int = signal.SIGTERM) -> int:
    if listener.process.poll() is None:
        listener.process.send_signal(sig)
    try:
        return listener.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        listener.process.kill()
        raise


class Sender:
    """A modality: one association, C-STORE after C-STORE."""

    def __init__(self, port: int, calling_ae: str = SENDER_AE) -> None:
        from pynetdicom import AE

        self.ae = AE(ae_title=calling_ae)
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.network_timeout = 10
        syntaxes = decodable_transfer_syntaxes()
        for uid in IMAGE_SOP_CLASSES:
            for syntax in syntaxes:  # one context per syntax: the listener picks per film
                self.ae.add_requested_context(uid, syntax)
        self.assoc = self.ae.associate("127.0.0.1", port, ae_title=LISTENER_AE)
        assert self.assoc.is_established

    def send(self, dataset_or_path: Any) -> int | None:
        """The status code, or None when the association is gone."""
        if not self.assoc.is_established:
            return None
        status = self.assoc.send_c_store(dataset_or_path)
        return int(status.Status) if status and "Status" in status else None

    def close(self) -> None:
        if self.assoc.is_established:
            self.assoc.release()
        self.ae.shutdown()


@pytest.fixture(scope="module")
def listener(
    tmp_path_factory: pytest.TempPathFactory, tiny_bundle: Path, net_helpers: Any
) -> Iterator[Listener]:
    out = tmp_path_factory.mktemp("listener") / "out"
    running = start_listener(out, net_helpers.free_port(), tiny_bundle)
    yield running
    stop(running, signal.SIGKILL)


def _films(net_helpers: Any, study_uid: str, syntaxes: list[str]) -> list[Any]:
    films = []
    for number, syntax in enumerate(syntaxes, start=1):
        ds = net_helpers.make_film(
            study_uid=study_uid,
            instance_number=number,
            seed=number,
            size=(160, 144),
            eight_bit=syntax == "jpeg_baseline",
            modality="DX" if number % 2 else "CR",
        )
        films.append(encode(ds, syntax) if syntax != "explicit" else ds)
    return films


def test_pushed_films_in_every_transfer_syntax_are_stored_then_screened(
    listener: Listener, net_helpers: Any
) -> None:
    from pydicom.uid import generate_uid

    study = generate_uid()
    syntaxes = ["explicit", "implicit", "rle", "jpegls", "j2k", "jpeg_lossless", "jpeg_baseline"]
    films = _films(net_helpers, study, syntaxes)
    before = len(listener.rows())
    sender = Sender(listener.port)
    try:
        statuses = [sender.send(ds) for ds in films]
    finally:
        sender.close()
    assert statuses == [0x0000] * len(films)
    rows = listener.wait_rows(before + len(films))[before:]
    assert sorted(r["file"] for r in rows) == sorted(str(ds.SOPInstanceUID) for ds in films)
    assert {r["study_uid"] for r in rows} == {study}
    assert [r["status"] for r in rows] == ["ok"] * len(films), rows
    for ds in films:
        assert (listener.out / "films" / study / f"{ds.SOPInstanceUID}.dcm").is_file()


def test_malformed_push_is_refused_logged_without_phi_and_the_listener_lives_on(
    listener: Listener, net_helpers: Any, tmp_path: Path
) -> None:
    good = net_helpers.make_film(patient_name="SECRET^PATIENT", size=(96, 96))
    raw = net_helpers.dataset_bytes(good)
    bad = tmp_path / "truncated.dcm"
    bad.write_bytes(raw[: len(raw) - 5000])  # cut inside the pixel data element
    before = len(listener.rows())
    sender = Sender(listener.port)
    try:
        assert sender.send(bad) not in (0x0000, None)
        assert sender.send(good) == 0x0000  # same association: the listener still works
    finally:
        sender.close()
    rows = listener.wait_rows(before + 1)
    assert rows[-1]["file"] == str(good.SOPInstanceUID)
    log = listener.log()
    assert "refused a C-STORE from MODALITY1" in log
    assert "SECRET" not in log and str(good.SOPInstanceUID) not in log


def test_calling_ae_not_on_the_allow_list_is_rejected(listener: Listener) -> None:
    node = PacsNode(
        name="listener",
        host="127.0.0.1",
        port=listener.port,
        called_ae=LISTENER_AE,
        calling_ae="INTRUDER",
        association_timeout_s=5,
    )
    with pytest.raises(PacsRejectedError, match=r"Calling AE title not recognised.*'INTRUDER'"):
        DimseConnection(node).ping()


def test_a_non_image_sop_class_is_not_accepted(listener: Listener, net_helpers: Any) -> None:
    from pydicom.uid import generate_uid

    node = PacsNode(
        name="listener",
        host="127.0.0.1",
        port=listener.port,
        called_ae=LISTENER_AE,
        calling_ae=SENDER_AE,
        association_timeout_s=5,
    )
    sr = net_helpers.make_text_sr(generate_uid())
    with pytest.raises(PacsRejectedError, match="does not accept Basic Text SR Storage"):
        DimseConnection(node).store([sr])


def test_sigkill_mid_stream_then_restart_loses_and_duplicates_nothing(
    tmp_path: Path, tiny_bundle: Path, net_helpers: Any
) -> None:
    from pydicom.uid import generate_uid

    out, port = tmp_path / "out", net_helpers.free_port()
    study = generate_uid()
    films = _films(net_helpers, study, ["explicit"] * 12)
    first = start_listener(out, port, tiny_bundle)
    sender = Sender(port)
    acknowledged = []
    for index, ds in enumerate(films):
        if index == 5:
            os.kill(first.process.pid, signal.SIGKILL)  # mid-stream, while it screens
            first.process.wait(timeout=10)
        if sender.send(ds) == 0x0000:
            acknowledged.append(str(ds.SOPInstanceUID))
    sender.close()
    assert len(acknowledged) == 5
    # Every acknowledged film is on disk, even if the report had not caught up.
    on_disk = {p.stem for p in (out / "films" / study).glob("*.dcm")}
    assert set(acknowledged) <= on_disk

    second = start_listener(out, port, tiny_bundle)
    try:
        retry = Sender(port)  # the modality re-sends everything it is unsure of: all 12
        assert [retry.send(ds) for ds in films] == [0x0000] * 12
        retry.close()
        rows = second.wait_rows(12)
        time.sleep(1.0)  # would a duplicate row still come?
        rows = second.rows()
    finally:
        assert stop(second) == 0  # SIGTERM: clean exit
    files = [r["file"] for r in rows]
    assert sorted(files) == sorted(str(ds.SOPInstanceUID) for ds in films)
    assert len(files) == len(set(files))
    assert len(list((out / "films" / study).glob("*.dcm"))) == 12
    assert not list((out / "films").glob("*/.*.tmp"))
    assert "stopped:" in second.log()
