"""A site bundle in use: one loader everywhere, its name, its operating points, the source flag,
monitoring, and a site bundle on a base it was not made for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from radiview.cli import main
from radiview.errors import ModelBundleError
from radiview.inference.flags import UNVALIDATED_SOURCE, reading_flags
from radiview.inference.loader import load_classifier
from radiview.inference.site_bundle import load_site_classifier
from radiview.io import load_radiograph
from radiview.site.monitor import DRIFT_RULES
from tests.site.conftest import CXNET_TAGS, read_json, write_film_dicom


def test_one_loader_gives_the_site_model_with_its_name_and_operating_points(
    scanner_bundle: Path, scanner_site: Path
) -> None:
    clf = load_classifier(str(scanner_bundle), "cpu")
    card = read_json(scanner_bundle / "site_card.json")
    assert clf.model_name == "2.0.0 · site scanner"
    assert dict(clf.operating_points) == card["operating_points"]
    assert clf.card.temperature == pytest.approx(card["temperature"])
    films = sorted(scanner_site.parent.glob("scan_*.png"))[:24]
    predictions = clf.predict_batch([load_radiograph(p) for p in films])
    assert all(p.model == "2.0.0 · site scanner" for p in predictions)
    assert sum(p.accepted for p in predictions) >= 22  # the base gate refuses about half of them
    points = card["operating_points"]
    for p in predictions:
        probs = dict(zip(p.labels, p.probabilities, strict=True))
        if probs["covid19"] >= points["covid19"]:
            assert p.top_label == "covid19"
        elif p.accepted:
            assert p.top_label != "covid19"
            pneumonia = probs["bacterial_pneumonia"] + probs["viral_pneumonia"] >= points["pneumonia"]
            assert (p.top_label in ("bacterial_pneumonia", "viral_pneumonia")) == pneumonia


def test_predict_and_screen_take_a_site_folder(
    scanner_bundle: Path, scanner_site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    film = sorted(scanner_site.parent.glob("scan_*.png"))[0]
    assert main(["predict", str(film), "--model", str(scanner_bundle), "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "2.0.0 · site scanner"
    folder = tmp_path / "films"
    folder.mkdir()
    for p in sorted(scanner_site.parent.glob("scan_*.png"))[::6]:
        shutil.copy(p, folder / p.name)
    report = tmp_path / "screen.csv"
    assert (
        main(["screen", str(folder), "--out", str(report), "--model", str(scanner_bundle), "--device", "cpu"])
        == 0
    )
    capsys.readouterr()
    assert "site scanner" in report.read_text(encoding="utf-8").splitlines()[1]
    # monitoring the same kind of films: no drift; the figures come from the report
    assert (
        main(
            [
                "site",
                "monitor",
                str(report),
                "--model",
                str(scanner_bundle),
                "--json",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert result["report_figures"]["read"] == 40
    assert [f["figure"] for f in result["drift"]] == []
    assert result["rules"] == DRIFT_RULES


def test_monitor_flags_films_from_another_scanner(
    scanner_bundle: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    for p in sorted((data_dir / "cxr" / "kermany").rglob("*.jpg"))[::30][:40]:
        shutil.copy(p, folder / p.name)
    report = tmp_path / "screen.csv"
    assert (
        main(["screen", str(folder), "--out", str(report), "--model", str(scanner_bundle), "--device", "cpu"])
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "site",
                "monitor",
                str(report),
                "--model",
                str(scanner_bundle),
                "--json",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert result["report_figures"]["refusal_rate"] > 0.5  # unprocessed films: not this scanner's
    assert "refusal_rate" in [f["figure"] for f in result["drift"]]
    assert "DRIFT" in capsys.readouterr().out


def test_the_source_flag_is_lifted_only_for_the_sites_recorded_dicom_source(
    cxnet_bundle: Path, data_dir: Path, tmp_path: Path
) -> None:
    clf = load_classifier(str(cxnet_bundle), "cpu")
    source = data_dir / "cxr" / "cxnet" / "covid19"
    film = sorted(source.glob("*.jpg"))[-1]
    same = load_radiograph(write_film_dicom(film, tmp_path / "same.dcm", "px1", **CXNET_TAGS))
    other = load_radiograph(
        write_film_dicom(
            film, tmp_path / "other.dcm", "px2", **{**CXNET_TAGS, "InstitutionName": "Elsewhere"}
        )
    )
    model = write_film_dicom(
        film, tmp_path / "model.dcm", "px3", **{**CXNET_TAGS, "ManufacturerModelName": "DR-1"}
    )
    for radiograph, flagged in ((same, False), (other, True), (load_radiograph(model), True)):
        prediction = clf.predict(radiograph)
        assert prediction.accepted
        codes = [f.code for f in reading_flags(prediction, radiograph.metadata, clf.card)]
        assert (UNVALIDATED_SOURCE in codes) is flagged
    base = load_classifier(None, "cpu")
    assert UNVALIDATED_SOURCE in [f.code for f in reading_flags(base.predict(same), same.metadata, base.card)]


def test_a_site_bundle_on_a_mismatched_base_refuses_to_load(
    cxnet_bundle: Path, tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ModelBundleError, match=r"was adapted from radiview-mobilenetv3-small 2\.0\.0"):
        load_site_classifier(cxnet_bundle, "cpu", base_dir=str(tiny_bundle))
    edited = tmp_path / "edited"
    shutil.copytree(cxnet_bundle, edited)
    card = read_json(edited / "site_card.json")
    card["base"]["weights_sha256"] = "0" * 64
    (edited / "site_card.json").write_text(json.dumps(card), encoding="utf-8")
    film = tmp_path / "film.png"
    from PIL import Image

    Image.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)).save(film)
    assert main(["predict", str(film), "--model", str(edited), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "weights_sha256 differ" in err and str(edited) in err
    # a damaged site weights file is refused by its SHA-256, before torch.load
    damaged = tmp_path / "damaged"
    shutil.copytree(cxnet_bundle, damaged)
    (damaged / "site.pt").write_bytes(b"not the weights")
    with pytest.raises(ModelBundleError, match="SHA-256"):
        load_classifier(str(damaged), "cpu")
