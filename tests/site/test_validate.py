"""``radiview site validate`` on real films, and every bad input of the site commands (exit 2)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tests.site.conftest import read_json, run_cli


def test_validate_measures_the_base_model_on_the_new_scanner(scanner_site: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert (
        run_cli("validate", str(scanner_site.parent), "--labels", str(scanner_site), "--out", str(out)) == 0
    )
    report = read_json(out / "report.json")
    assert report["model"] == "radiview-mobilenetv3-small@2.0.0"
    assert report["counts"] == {"normal": 60, "bacterial_pneumonia": 60, "viral_pneumonia": 60, "covid19": 60}
    acceptance = report["gate_acceptance"]
    assert acceptance["overall"] <= 0.70  # the simulated scanner: the base gate refuses >= 30%
    assert set(acceptance["by_label"]) == set(report["counts"])
    for name in ("normal", "bacterial_pneumonia", "viral_pneumonia", "covid19", "pneumonia"):
        entry = report["per_class"][name]
        for rate in ("sensitivity", "specificity", "ppv", "npv", "auc"):
            lo, hi = entry[f"{rate}_ci95"]
            assert lo is None or lo <= entry[rate] <= hi, (name, rate)
    accepted = acceptance["by_label"]
    # pneumonia = bacterial or viral: its positives are the accepted films of both labels
    assert report["per_class"]["pneumonia"]["positives"] == round(
        60 * accepted["bacterial_pneumonia"] + 60 * accepted["viral_pneumonia"]
    )
    assert {"covid19", "pneumonia"} <= set(report["operating_point_table"])
    assert report["shift"]["global"]["beyond_val_p99"] > 0.2  # far from the training data
    assert report["shift"]["global"]["val_median"] is not None
    assert any("gate accepted" in line for line in report["verdict"])
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


def _labels(
    path: Path, rows: list[tuple[str, ...]], header: tuple[str, ...] = ("file", "label", "patient_id")
) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def small_site(scanner_site: Path, tmp_path: Path) -> Path:
    """A copy of 30 scanner films (6 normal and 24 others) to break in various ways."""
    folder = tmp_path / "films"
    folder.mkdir()
    with open(scanner_site, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[::8]
    for r in rows:
        shutil.copy(scanner_site.parent / r["file"], folder / r["file"])
    return _labels(folder / "labels.csv", [(r["file"], r["label"], r["patient_id"]) for r in rows])


def _rows(csv_path: Path) -> list[tuple[str, str, str]]:
    with open(csv_path, newline="", encoding="utf-8") as fh:
        return [(r["file"], r["label"], r["patient_id"]) for r in csv.DictReader(fh)]


@pytest.mark.parametrize("command", ["validate", "adapt"])
def test_bad_labels_exit_2_with_a_clear_message(
    command: str, small_site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _rows(small_site)
    films = str(small_site.parent)
    cases = {
        "missing": (_labels(tmp_path / "m.csv", [*rows, ("gone.png", "normal", "p1")]), "gone.png"),
        "unknown": (
            _labels(tmp_path / "u.csv", [*rows[:-1], (rows[-1][0], "tuberculosis", "p")]),
            "unknown label 'tuberculosis'",
        ),
        "duplicate": (_labels(tmp_path / "d.csv", [*rows, rows[0]]), "listed twice"),
        "header": (_labels(tmp_path / "h.csv", rows, ("name", "class", "pid")), "header"),
    }
    for case, (labels, expected) in cases.items():
        code = run_cli(command, films, "--labels", str(labels), "--out", str(tmp_path / f"out_{case}"))
        err = capsys.readouterr().err
        assert code == 2, case
        assert expected in err and str(labels) in err, (case, err)
        assert not (tmp_path / f"out_{case}" / "report.json").exists()


def test_adapt_refuses_a_site_too_small_to_split(
    small_site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = _labels(tmp_path / "few.csv", _rows(small_site)[:12])
    code = run_cli("adapt", str(small_site.parent), "--labels", str(labels), "--out", str(tmp_path / "site"))
    assert code == 2
    assert "too few films to split: 12 readable films" in capsys.readouterr().err
    assert not (tmp_path / "site" / "site_card.json").exists()


def test_an_unreadable_film_is_listed_and_the_run_goes_on(small_site: Path, tmp_path: Path) -> None:
    rows = _rows(small_site)
    (small_site.parent / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a PNG")
    labels = _labels(tmp_path / "b.csv", [*rows, ("broken.png", "normal", "pb")])
    out = tmp_path / "report"
    assert run_cli("validate", str(small_site.parent), "--labels", str(labels), "--out", str(out)) == 0
    report = read_json(out / "report.json")
    assert [u["file"] for u in report["unreadable"]] == ["broken.png"]
    assert report["unreadable"][0]["reason"]
    assert report["gate_acceptance"]["n"] == len(rows)
    assert (out / "report.pdf").is_file()
