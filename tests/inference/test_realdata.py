"""Real films end to end: io → Classifier; and, with the real bundle, the gate on ood/ films."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from radiview.assets import default_model_dir
from radiview.inference import Classifier
from radiview.inference.bundle import CARD_FILE
from radiview.inference.gate import REASON_NOT_FRONTAL
from radiview.io import load_radiograph

pytestmark = pytest.mark.realdata


def read_manifest(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_real_jpeg_and_dicom_through_the_classifier(classifier: Classifier, data_dir: Path) -> None:
    jpeg = sorted((data_dir / "cxr" / "kermany" / "normal").glob("*.jpg"))[0]
    dicoms = sorted((data_dir / "dicom").glob("*.dcm"))
    films = [load_radiograph(jpeg), *(load_radiograph(p) for p in dicoms)]
    predictions = classifier.predict_batch(films)
    for radiograph, prediction in zip(films, predictions, strict=True):
        assert sum(prediction.probabilities) == pytest.approx(1.0)
        assert prediction.accepted  # the tiny bundle's gate accepts any textured gray film
        _, explanation = classifier.analyze(radiograph)
        assert explanation is not None
        assert explanation.heatmap.shape == radiograph.shape  # the film's own resolution
        assert np.isfinite(explanation.heatmap).all()


def test_a_real_dicom_marked_lateral_is_refused(
    classifier: Classifier, data_dir: Path, tmp_path: Path
) -> None:
    import pydicom

    source = sorted((data_dir / "dicom").glob("siim-acr_1.*.dcm"))[0]
    ds = pydicom.dcmread(source)
    assert ds.ViewPosition == "PA"
    ds.ViewPosition = "LL"
    lateral_path = tmp_path / "lateral.dcm"
    ds.save_as(lateral_path)
    frontal, lateral = load_radiograph(source), load_radiograph(lateral_path)
    assert classifier.predict(frontal).accepted
    single = classifier.predict(lateral)
    assert not single.accepted and "view position LL (lateral)" in single.gate.reason
    # The batched path (screening) decides the same way.
    batched = classifier.predict_batch([frontal, lateral])
    assert [p.accepted for p in batched] == [True, False]


@pytest.fixture(scope="module")
def real_classifier() -> Classifier:
    """The bundle shipped in resources/model (a checkout without it is broken: this fails)."""
    assert (default_model_dir() / CARD_FILE).is_file(), f"no model bundle in {default_model_dir()}"
    return Classifier.from_bundle(device="cpu")


@pytest.mark.slow
def test_real_gate_refuses_most_ood_films_and_accepts_chest_films(
    real_classifier: Classifier, data_dir: Path
) -> None:
    ood_rows = read_manifest(data_dir / "ood" / "manifest.csv")
    ood = [load_radiograph(data_dir / "ood" / row["file"]) for row in ood_rows]
    verdicts = [p.gate for p in real_classifier.predict_batch(ood)]
    refused = [not v.accepted for v in verdicts]
    by_kind: dict[str, list[bool]] = {}
    by_distance: dict[str, list[bool]] = {}  # the checks the card's figures were measured for
    for row, v in zip(ood_rows, verdicts, strict=True):
        by_kind.setdefault(row["kind"], []).append(not v.accepted)
        by_distance.setdefault(row["kind"], []).append(not v.accepted and v.reason != REASON_NOT_FRONTAL)
    rates = {kind: float(np.mean(v)) for kind, v in by_kind.items()}
    distance_rates = {kind: float(np.mean(v)) for kind, v in by_distance.items()}
    # the lung segmenter's view check (last in the gate) only adds refusals: every lateral here
    assert rates["lateral"] == 1.0 and all(rates[k] >= distance_rates[k] for k in rates), rates
    assert np.mean(refused) >= 0.6, rates
    assert rates.get("ct", 1.0) >= 0.6, rates
    # The app's own path (io → preprocess → predict) reproduces the card's figures, which training
    # measured through its own decoding: at most one film per kind may differ (float rounding).
    claimed = real_classifier.card.gate.get("ood_refusal_by_kind") or {}
    for kind, rate in claimed.items():
        n = len(by_kind[kind])
        assert abs(distance_rates[kind] - rate) * n <= 1.0 + 1e-9, (kind, distance_rates[kind], rate)

    rows = read_manifest(data_dir / "cxr" / "manifest.csv")
    sample = [rows[i] for i in np.random.default_rng(0).choice(len(rows), 40, replace=False)]
    chest = [load_radiograph(data_dir / "cxr" / row["file"]) for row in sample]
    accepted = np.mean([p.accepted for p in real_classifier.predict_batch(chest)])
    assert accepted >= 0.85
