"""Query and retrieve against a real Orthanc, by DICOMweb and by DIMSE."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pydicom
import pytest

from radiview.batch.csv_report import read_csv_report
from radiview.net.dicomweb import DicomWebConnection
from radiview.net.dimse import DimseConnection
from radiview.net.errors import NotAnImageError
from radiview.net.query import StudyQuery

pytestmark = pytest.mark.orthanc


@pytest.fixture(params=["dicomweb", "dimse"])
def connection(request: pytest.FixtureRequest, orthanc: Any, web_node: Any, dimse_node: Any) -> Any:
    if request.param == "dicomweb":
        return DicomWebConnection(web_node, orthanc.password)
    return DimseConnection(dimse_node)


def test_ping(connection: Any) -> None:
    connection.ping()  # C-ECHO or a QIDO query; raises on any failure


def test_query_by_name_wildcard_finds_both_does_with_chest_modalities(
    connection: Any, pacs_data: Any
) -> None:
    studies = connection.find_studies(StudyQuery(patient_name="DOE^*"))
    uids = {s.study_uid for s in studies}
    # DOE^JOHN's study is OT: not a CR/DX study, so the default modalities leave it out.
    assert pacs_data.jane_study in uids
    assert pacs_data.other_study not in uids
    jane = next(s for s in studies if s.study_uid == pacs_data.jane_study)
    assert (jane.patient_name, jane.patient_id, jane.accession_number) == ("DOE^JANE", "RV001", "ACC1001")
    assert jane.study_date == "20260115"
    every = connection.find_studies(StudyQuery(patient_name="DOE^*", modalities=("CR", "DX", "OT")))
    assert {pacs_data.jane_study, pacs_data.other_study} <= {s.study_uid for s in every}


def test_query_by_date_range_id_accession_and_modality(connection: Any, pacs_data: Any) -> None:
    january = {
        s.study_uid for s in connection.find_studies(StudyQuery(date_from="20260101", date_to="20260131"))
    }
    assert pacs_data.jane_study in january and pacs_data.richard_study not in january
    february = {
        s.study_uid for s in connection.find_studies(StudyQuery(date_from="20260201", date_to="20260228"))
    }
    assert february >= {pacs_data.richard_study} and pacs_data.jane_study not in february
    by_id = connection.find_studies(StudyQuery(patient_id="RV002"))
    assert [s.study_uid for s in by_id] == [pacs_data.richard_study]
    by_accession = connection.find_studies(StudyQuery(accession_number="ACC1001"))
    assert [s.study_uid for s in by_accession] == [pacs_data.jane_study]
    dx_only = {
        s.study_uid for s in connection.find_studies(StudyQuery(patient_id="RV00*", modalities=("DX",)))
    }
    assert dx_only == {pacs_data.richard_study}


def test_series_and_instances(connection: Any, pacs_data: Any) -> None:
    series = connection.find_series(pacs_data.jane_study)
    assert {s.modality for s in series} == {"CR", "SR"}
    chest = connection.find_series(pacs_data.jane_study, ("CR", "DX"))
    assert [s.series_uid for s in chest] == [pacs_data.jane_series]
    instances = connection.find_instances(pacs_data.jane_study, pacs_data.jane_series)
    assert [i.sop_uid for i in instances] == list(pacs_data.jane_films)
    assert all(i.is_image and i.sop_class_uid == "1.2.840.10008.5.1.4.1.1.1" for i in instances)


def test_retrieve_writes_the_film(connection: Any, pacs_data: Any, tmp_path: Path) -> None:
    from radiview.io import load_radiograph

    instance = connection.find_instances(pacs_data.jane_study, pacs_data.jane_series)[0]
    out = connection.retrieve(instance, tmp_path / "film.dcm")
    ds = pydicom.dcmread(out)
    assert ds.SOPInstanceUID == pacs_data.jane_films[0]
    assert ds.PatientName == "DOE^JANE"
    film = load_radiograph(out)
    assert film.shape == (320, 288)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic: no temporary left behind


def test_retrieve_refuses_a_non_image_with_a_clear_message(
    connection: Any, pacs_data: Any, tmp_path: Path
) -> None:
    [sr] = connection.find_instances(pacs_data.jane_study, pacs_data.jane_sr_series)
    assert sr.sop_uid == pacs_data.jane_sr and not sr.is_image
    with pytest.raises(NotAnImageError, match=r"Basic Text SR.*not an image"):
        connection.retrieve(sr, tmp_path / "sr.dcm")
    assert not (tmp_path / "sr.dcm").exists()


def test_c_move_to_our_own_listener(
    orthanc: Any, dimse_node: Any, pacs_data: Any, tiny_bundle: Path, tmp_path: Path
) -> None:
    """C-MOVE: Orthanc pushes the series to our SCP (registered there as RADIVIEW_SCP), which screens it."""
    import threading

    from radiview.inference.classifier import Classifier
    from radiview.net.listener import FilmListener

    listener = FilmListener(
        ae_title=orthanc.store_aet,
        port=orthanc.store_port,
        out_dir=tmp_path / "in",
        allowed_aets=[orthanc.aet],
        classifier=Classifier.from_bundle(tiny_bundle, device="cpu"),
        host="127.0.0.1",
    )
    listener.start()
    thread = threading.Thread(target=listener.serve_forever)
    thread.start()
    try:
        moved = DimseConnection(dimse_node).move(
            orthanc.store_aet, pacs_data.jane_study, pacs_data.jane_series
        )
        assert moved == 2
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(read_csv_report(listener.report_path)) < 2:
            time.sleep(0.1)
    finally:
        listener.stop.set()
        thread.join(timeout=30)
    rows = read_csv_report(listener.report_path)
    assert sorted(r["file"] for r in rows) == sorted(pacs_data.jane_films)
    assert {r["study_uid"] for r in rows} == {pacs_data.jane_study}
    assert not thread.is_alive()
