"""Sites made of real shared films: a simulated new scanner, nih (normal + pneumonia) and cxnet
(COVID-19 only, written as DICOM with a recorded institution), each adapted once per session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from radiview.cli import main
from tests.io.dicom_factory import make_dataset, write_dicom
from tests.site.site_films import manifest_rows, pick, scanner_rows, write_labels, write_scanner_site

CXNET_TAGS = {"InstitutionName": "Cxnet General", "Manufacturer": "ACME", "ManufacturerModelName": "DR-9"}


def run_cli(*args: str) -> int:
    return main(["site", *args, "--device", "cpu", "--bootstrap", "200"])


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def rows(data_dir: Path) -> list[dict[str, str]]:
    return manifest_rows(data_dir)


@pytest.fixture(scope="session")
def scanner_site(
    data_dir: Path, rows: list[dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """240 films (60 per label) through the simulated new scanner; returns the labels CSV."""
    return write_scanner_site(data_dir, tmp_path_factory.mktemp("scanner"), scanner_rows(rows, 60))


@pytest.fixture(scope="session")
def scanner_bundle(scanner_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scanner_bundle") / "site"
    assert (
        run_cli(
            "adapt",
            str(scanner_site.parent),
            "--labels",
            str(scanner_site),
            "--out",
            str(out),
            "--name",
            "scanner",
        )
        == 0
    )
    return out


@pytest.fixture(scope="session")
def nih_bundle(data_dir: Path, rows: list[dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """nih as a site: 100 normal and 100 pneumonia films (one per patient), the set-valued label."""
    folder = tmp_path_factory.mktemp("nih")
    labels = write_labels(
        folder / "labels.csv", pick(rows, "nih", "normal", 100) + pick(rows, "nih", "pneumonia", 100)
    )
    out = folder / "site"
    assert (
        run_cli("adapt", str(data_dir / "cxr"), "--labels", str(labels), "--out", str(out), "--name", "nih")
        == 0
    )
    return out


def write_film_dicom(source: Path, path: Path, patient: str, **tags: str) -> Path:
    """A shared JPEG as an 8-bit DX DICOM with the given header tags."""
    with Image.open(source) as im:
        pixels = np.asarray(im.convert("L").resize((512, 512)), dtype=np.uint8)
    return write_dicom(path, make_dataset(pixels, tags={"PatientID": patient, **tags}))


@pytest.fixture(scope="session")
def cxnet_site(data_dir: Path, rows: list[dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cxnet as a site: 40 COVID-19 films as DICOM from one recorded institution; returns the CSV."""
    folder = tmp_path_factory.mktemp("cxnet")
    chosen = pick(rows, "cxnet", "covid19", 40)
    written = []
    for i, r in enumerate(chosen):
        name = f"cx_{i:03d}.dcm"
        write_film_dicom(data_dir / "cxr" / r["file"], folder / name, r["patient_id"], **CXNET_TAGS)
        written.append({**r, "file": name})
    return write_labels(folder / "labels.csv", written)


@pytest.fixture(scope="session")
def cxnet_bundle(cxnet_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cxnet_bundle") / "site"
    assert (
        run_cli(
            "adapt", str(cxnet_site.parent), "--labels", str(cxnet_site), "--out", str(out), "--name", "cxnet"
        )
        == 0
    )
    return out
