"""Films/s retrieved, and retrieved + screened, from a local Orthanc by DICOMweb and by DIMSE.

    python benchmarks/bench_pacs.py              # 60 films, 1024² JPEG CR (the SIIM film, new UIDs)
    python benchmarks/bench_pacs.py --films 200 --synthetic

Starts its own Orthanc on free loopback ports (apt packages orthanc, orthanc-dicomweb), the
same way the tests do (tests/net/conftest.py), uploads the films as one study, then times:
  retrieve   WADO-RS per instance / C-GET of the series, each film written atomically + fsynced
  screen     ``screen_pacs``: search, retrieve, screen with the bundled model, CSV rows fsynced
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _load_test_helpers():  # type: ignore[no-untyped-def]
    """tests/net/conftest.py (the Orthanc launcher and film factory) as a module."""
    spec = importlib.util.spec_from_file_location(
        "radiview_net_conftest", REPO / "tests" / "net" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _films(helpers, count: int, synthetic: bool):  # type: ignore[no-untyped-def]
    import pydicom
    from pydicom.uid import generate_uid

    data = Path(os.environ.get("RADIVIEW_DATA", REPO.parent / "shared" / "data"))
    real = sorted((data / "dicom").glob("siim-acr_1.2*.dcm"))
    study, series = generate_uid(), generate_uid()
    if real and not synthetic:
        template, kind = pydicom.dcmread(real[0]), "SIIM CR 1024² JPEG Baseline"
    else:
        template, kind = helpers.make_film(size=(1024, 1024)), "synthetic CR 1024² 12-bit"
    template.StudyInstanceUID, template.SeriesInstanceUID = study, series
    template.StudyDate, template.PatientID, template.Modality = "20260110", "BENCH1", "CR"
    for number in range(1, count + 1):
        template.SOPInstanceUID = template.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        template.InstanceNumber = number
        yield helpers.dataset_bytes(template), kind


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--films", type=int, default=60)
    parser.add_argument("--synthetic", action="store_true", help="generated 12-bit films, not the SIIM film")
    parser.add_argument("--model", help="model bundle (default: bundled)")
    args = parser.parse_args()

    helpers = _load_test_helpers()
    import shutil
    import subprocess

    if shutil.which("Orthanc") is None:
        print("Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)", file=sys.stderr)
        return 2
    from radiview.inference.classifier import Classifier
    from radiview.net.dicomweb import DicomWebConnection
    from radiview.net.dimse import DimseConnection
    from radiview.net.nodes import PacsNode
    from radiview.net.query import StudyQuery
    from radiview.net.screen_study import pacs_report, screen_pacs

    with tempfile.TemporaryDirectory(prefix="bench-pacs-") as tmp:
        root = Path(tmp)
        server = helpers.OrthancServer(
            helpers.free_port(),
            helpers.free_port(),
            helpers.free_port(),
            root / "storage",
            root / "orthanc.log",
        )
        server.storage.mkdir()
        config = root / "orthanc.json"
        import json

        config.write_text(json.dumps(server.config(helpers._dicomweb_plugin())))
        with open(server.log_path, "wb") as log:
            server.process = subprocess.Popen(
                ["Orthanc", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "TCP_NODELAY": "1"},
            )
        try:
            server.wait_ready()
            kind = ""
            for raw, film_kind in _films(helpers, args.films, args.synthetic):
                server.upload(raw)
                kind = film_kind
            web = DicomWebConnection(
                PacsNode(name="bench-web", url=server.dicomweb_url, auth="basic", username=server.user),
                server.password,
            )
            dimse = DimseConnection(
                PacsNode(
                    name="bench-dimse",
                    host="127.0.0.1",
                    port=server.dicom_port,
                    called_ae=server.aet,
                    calling_ae=server.scu_aet,
                )
            )
            [study] = web.find_studies(StudyQuery(patient_id="BENCH1"))
            [series] = web.find_series(study.study_uid)
            instances = web.find_instances(study.study_uid, series.series_uid)
            print(
                f"Orthanc {server.rest('GET', '/system')['Version']} on loopback; "
                f"{len(instances)} films: {kind}"
            )

            start = time.perf_counter()
            for instance in instances:
                web.retrieve(instance, root / "web" / f"{instance.sop_uid}.dcm")
            t_web = time.perf_counter() - start
            start = time.perf_counter()
            got = dimse.retrieve_series(study.study_uid, series.series_uid, root / "dimse")
            t_dimse = time.perf_counter() - start
            assert len(got) == len(instances)
            print(f"retrieve  DICOMweb (WADO-RS per film): {len(instances) / t_web:7.1f} films/s")
            print(f"retrieve  DIMSE (one C-GET per series): {len(instances) / t_dimse:7.1f} films/s")

            classifier = Classifier.from_bundle(args.model, device="cpu")
            for name, connection in (("DICOMweb", web), ("DIMSE", dimse)):
                with pacs_report(root / f"{name}.csv", classifier, mode="create") as report:
                    start = time.perf_counter()
                    summary = screen_pacs(
                        connection,
                        StudyQuery(patient_id="BENCH1", modalities=("CR",)),
                        classifier,
                        report,
                        root / f"work-{name}",
                    )
                    elapsed = time.perf_counter() - start
                print(
                    f"screen    {name:8s} (search+retrieve+screen+CSV): "
                    f"{summary.screened / elapsed:7.1f} films/s "
                    f"({summary.screened} films, {elapsed:.1f} s, device cpu)"
                )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
