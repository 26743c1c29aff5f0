"""CI helper: push one film to a running `radiview listen`, then wait for its report row.

    python packaging/ci_push_film.py PORT CALLED_AE CALLING_AE FILM.dcm REPORT.csv

Waits (bounded) for the listener to answer C-ECHO, sends the film by C-STORE with
pynetdicom (from the build venv), then waits for the row keyed by its SOP Instance UID.
Exit 0 when the row is there with status ok or refused; 1 otherwise.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import pydicom
from pynetdicom import AE

READY_S, ROW_S = 240.0, 180.0


def main() -> int:
    port, called, calling, film, report = (
        int(sys.argv[1]),
        sys.argv[2],
        sys.argv[3],
        Path(sys.argv[4]),
        Path(sys.argv[5]),
    )
    ds = pydicom.dcmread(film)
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    ae.add_requested_context("1.2.840.10008.1.1")
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    deadline = time.monotonic() + READY_S
    while True:
        assoc = ae.associate("127.0.0.1", port, ae_title=called)
        if assoc.is_established:
            break
        if time.monotonic() > deadline:
            print(f"   the listener did not answer within {READY_S:.0f} s")
            return 1
        time.sleep(1)
    status = assoc.send_c_store(ds)
    assoc.release()
    code = int(status.Status) if status and "Status" in status else -1
    print(
        f"   C-STORE status 0x{code:04X} for a {ds.SOPClassUID.name} ({ds.file_meta.TransferSyntaxUID.name})"
    )
    if code != 0:
        return 1
    deadline = time.monotonic() + ROW_S
    while time.monotonic() < deadline:
        if report.exists():
            with open(report, newline="", encoding="utf-8") as fh:
                rows = [r for r in csv.DictReader(fh) if r["file"] == ds.SOPInstanceUID]
            if rows:
                row = rows[0]
                print(
                    f"   report row: status={row['status']} prediction={row['prediction']} study_uid ok="
                    f"{row['study_uid'] == ds.StudyInstanceUID}"
                )
                return (
                    0 if row["status"] in ("ok", "refused") and row["study_uid"] == ds.StudyInstanceUID else 1
                )
        time.sleep(0.5)
    print(f"   no report row within {ROW_S:.0f} s")
    return 1


if __name__ == "__main__":
    sys.exit(main())
