"""`radiview screen --pacs`: a study list from a real Orthanc into the folder CSV contract."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pydicom
import pytest

from radiview.batch.csv_report import csv_columns, read_csv_report
from radiview.cli import main
from radiview.net.dicomweb import DicomWebConnection
from radiview.net.nodes import SecretStore, save_nodes

pytestmark = pytest.mark.orthanc


@pytest.fixture()
def configured(
    orthanc: Any, web_node: Any, dimse_node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Both nodes saved in a private config dir, the password in the secret store."""
    monkeypatch.setenv("RADIVIEW_CONFIG_DIR", str(tmp_path / "config"))
    path = save_nodes([web_node, dimse_node])
    SecretStore().set(web_node.name, orthanc.password)
    assert orthanc.password not in path.read_text()
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


@pytest.mark.parametrize("node", ["test-web", "test-dimse"])
def test_screen_a_study_list_writes_the_csv_contract_and_resumes(
    node: str, configured: Path, pacs_data: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.csv"
    argv = [
        "screen",
        "--pacs",
        node,
        "--study-date",
        "20260101-20260131",
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    assert main(argv) == 0, capsys.readouterr().err
    header = out.read_text().splitlines()[0].split(",")
    assert header == [*csv_columns(), "study_uid"]
    rows = _rows(out)
    # Only the CR films of the January study: its SR series is not a chest modality.
    assert sorted(r["file"] for r in rows) == sorted(pacs_data.jane_films)
    assert {r["study_uid"] for r in rows} == {pacs_data.jane_study}
    assert all(r["status"] in ("ok", "refused") for r in rows)
    assert read_csv_report(out)[0]["file"] in pacs_data.jane_films  # the folder reader still reads it

    # Resume: nothing new is screened, nothing duplicated.
    assert main([*argv, "--resume"]) == 0
    assert len(_rows(out)) == 2
    assert "2 already reported" in capsys.readouterr().err

    # A run killed mid-row: resume drops the partial row and screens only that film again.
    text = out.read_text()
    out.write_text(text[: text.rstrip("\n").rfind("\n") + 1] + "1.2.3,o")
    assert main([*argv, "--resume"]) == 0
    assert sorted(r["file"] for r in _rows(out)) == sorted(pacs_data.jane_films)


@pytest.mark.realdata
def test_screen_real_films_and_send_sc_and_sr_back(
    orthanc: Any, configured: Path, data_dir: Path, web_node: Any, tmp_path: Path
) -> None:
    siim = sorted((data_dir / "dicom").glob("siim-acr_1.2*.dcm"))[0]
    source = pydicom.dcmread(siim, stop_before_pixels=True)
    orthanc.upload(siim)
    out = tmp_path / "real.csv"
    argv = [
        "screen",
        "--pacs",
        "test-web",
        "--study-date",
        "19010101",
        "--modality",
        "CR",
        "--out",
        str(out),
        "--send-results-to",
        "test-dimse",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    [row] = _rows(out)
    assert (row["file"], row["study_uid"]) == (source.SOPInstanceUID, source.StudyInstanceUID)
    assert row["status"] == "ok" and row["prediction"]
    probabilities = [
        float(row[f"p_{label}"]) for label in ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19")
    ]
    assert abs(sum(probabilities) - 1) < 0.01

    # The SC and the SR are in the source study, in new series; parse both back.
    web = DicomWebConnection(web_node, orthanc.password)
    series = {s.modality: s for s in web.find_series(source.StudyInstanceUID)}
    assert {"OT", "SR"} <= set(series) and series["OT"].series_uid != source.SeriesInstanceUID
    [sc_info] = web.find_instances(source.StudyInstanceUID, series["OT"].series_uid)
    [sr_info] = web.find_instances(source.StudyInstanceUID, series["SR"].series_uid)
    assert sc_info.sop_class_uid == "1.2.840.10008.5.1.4.1.1.7"
    assert sr_info.sop_class_uid == "1.2.840.10008.5.1.4.1.1.88.33"
    sc = pydicom.dcmread(web.retrieve(sc_info, tmp_path / "sc.dcm"))
    assert sc.BurnedInAnnotation == "YES" and sc.pixel_array.shape[2] == 3
    assert "not for diagnosis" in sc.SeriesDescription
    sr_path = tmp_path / "sr.dcm"
    sr_path.write_bytes(orthanc.rest("GET", f"/instances/{_orthanc_id(orthanc, sr_info.sop_uid)}/file"))
    sr = pydicom.dcmread(sr_path)
    items = {item.ConceptNameCodeSequence[0].CodeMeaning: item for item in sr.ContentSequence}
    for label, p in zip(
        ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19"), probabilities, strict=True
    ):
        value = float(items[f"Calibrated probability of {label}"].MeasuredValueSequence[0].NumericValue)
        assert value == pytest.approx(p, abs=1e-4)
    top = items["Top class"].ConceptCodeSequence[0]
    assert top.get("CodeValue", top.get("LongCodeValue")) == row["prediction"]
    assert items["Algorithm Name"].TextValue.startswith("radiview")
    assert items["Algorithm Version"].TextValue
    assert (
        items["Source of Measurement"].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        == source.SOPInstanceUID
    )
    assert "Not for diagnosis" in items["Research notice"].TextValue


def _orthanc_id(orthanc: Any, sop_uid: str) -> str:
    [found] = orthanc.rest("POST", "/tools/lookup", raw=sop_uid.encode())
    return found["ID"]
