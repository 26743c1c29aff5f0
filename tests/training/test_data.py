"""Sources, relabelling, near-duplicate removal and the patient split."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.data.merge import dhash, find_near_duplicates, merge_records, remove_near_duplicates
from training.data.sources import (
    Record,
    filter_sources,
    kermany_label,
    kermany_patient_id,
    load_source,
    read_class_folders,
    read_kermany,
    relabel,
)
from training.data.splits import (
    PatientLeakError,
    assert_patient_disjoint,
    split_by_patient,
)
from training.sampler import balanced_indices

from .conftest import make_film


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NORMAL", "normal"),
        ("COVID-19", "covid19"),
        ("covid", "covid19"),
        ("Viral Pneumonia", "viral_pneumonia"),
        ("virus", "viral_pneumonia"),
        ("bacteria", "bacterial_pneumonia"),
        ("Bacterial_Pneumonia", "bacterial_pneumonia"),
        ("No Finding", "normal"),
        ("Lung_Opacity", None),
        ("tuberculosis", None),
    ],
)
def test_relabel_aliases(name: str, expected: str | None) -> None:
    assert relabel(name) == expected


def test_kermany_names() -> None:
    assert kermany_patient_id("person1430_bacteria_3695.jpeg") == "person1430"
    assert kermany_patient_id("person12_virus_44.jpeg") == "person12"
    assert kermany_patient_id("IM-0115-0001.jpeg") == "IM-0115"
    assert kermany_patient_id("NORMAL2-IM-1427-0001.jpeg") == "NORMAL2-IM-1427"
    assert kermany_label("PNEUMONIA", "person1_virus_6.jpeg") == "viral_pneumonia"
    assert kermany_label("PNEUMONIA", "person1_bacteria_1.jpeg") == "bacterial_pneumonia"
    assert kermany_label("NORMAL", "IM-0115-0001.jpeg") == "normal"
    assert kermany_label("PNEUMONIA", "odd.jpeg") is None


def _png(path: Path, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(make_film(np.random.default_rng(seed), seed % 4, 32)).save(path)


def test_kermany_layout(tmp_path: Path) -> None:
    root = tmp_path / "chest_xray"
    _png(root / "train" / "NORMAL" / "IM-0115-0001.jpeg")
    _png(root / "train" / "NORMAL" / "IM-0115-0002.jpeg", 1)
    _png(root / "test" / "PNEUMONIA" / "person3_bacteria_10.jpeg", 2)
    _png(root / "val" / "PNEUMONIA" / "person3_virus_11.jpeg", 3)
    _png(root / "val" / "PNEUMONIA" / "unlabelled.jpeg", 4)
    records = load_source(root)
    assert records == read_kermany(root)
    by_file = {Path(r.path).name: r for r in records}
    assert set(by_file) == {
        "IM-0115-0001.jpeg",
        "IM-0115-0002.jpeg",
        "person3_bacteria_10.jpeg",
        "person3_virus_11.jpeg",
    }
    assert by_file["IM-0115-0002.jpeg"].patient_id == "kermany:IM-0115"
    assert by_file["person3_bacteria_10.jpeg"].label == "bacterial_pneumonia"
    assert by_file["person3_virus_11.jpeg"].label == "viral_pneumonia"
    assert {r.source for r in records} == {"kermany"}


def test_class_folders_with_aliases(tmp_path: Path) -> None:
    _png(tmp_path / "site" / "NORMAL" / "a.png")
    _png(tmp_path / "site" / "COVID-19" / "b.png", 1)
    _png(tmp_path / "site" / "Lung_Opacity" / "c.png", 2)  # not one of our labels: its folder is a source
    records = read_class_folders(tmp_path / "site")
    assert sorted((r.label, r.source) for r in records) == [("covid19", "site"), ("normal", "site")]
    assert all(r.patient_id.startswith("site:") for r in records)


def test_manifest_relative_paths_and_unknown_labels(tmp_path: Path) -> None:
    _png(tmp_path / "x" / "1.png")
    with (tmp_path / "m.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "source", "patient_id", "age"])
        w.writerow(["x/1.png", "covid19", "s1", "s1:p1", "54"])
        w.writerow(["x/1.png", "pneumothorax", "s1", "s1:p2", ""])
    (record,) = load_source(tmp_path / "m.csv")
    assert Path(record.path) == tmp_path / "x" / "1.png"
    assert record.extras["age"] == "54" and record.age_group == "adult"


def test_source_filter() -> None:
    recs = [Record(str(i), "normal", s, f"{s}:{i}") for i, s in enumerate(["kermany", "ieee8023", "figure1"])]
    assert [r.source for r in filter_sources(recs, "kermany,ieee8023")] == ["kermany", "ieee8023"]
    assert [r.source for r in filter_sources(recs, "-figure1")] == ["kermany", "ieee8023"]
    assert len(filter_sources(recs, "")) == 3


def test_dhash_is_stable_under_small_changes_and_differs_between_films() -> None:
    rng = np.random.default_rng(0)
    a = make_film(rng, 0, 128).astype(np.float32)
    b = make_film(rng, 3, 128).astype(np.float32)
    a_noisy = a + rng.normal(0, 2, a.shape).astype(np.float32)
    a_small = np.asarray(Image.fromarray(a, mode="F").resize((96, 96)))
    dist = lambda x, y: bin(dhash(x) ^ dhash(y)).count("1")  # noqa: E731
    assert dist(a, a_noisy) <= 4 and dist(a, a_small) <= 4
    assert dist(a, b) > 4


def test_near_duplicates_removed_keep_first() -> None:
    rng = np.random.default_rng(1)
    # distinct smooth random films (upsampled 6×6 noise)
    films = [
        np.asarray(
            Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8)).resize(
                (96, 96), Image.Resampling.BICUBIC
            )
        )
        for _ in range(6)
    ]
    noise = rng.integers(-3, 4, films[2].shape)
    copy_of_2 = np.clip(films[2].astype(np.int16) + noise, 0, 255).astype(np.uint8)
    flipped_0 = films[0][:, ::-1].copy()  # a mirrored film is a different image
    images = [*films, copy_of_2, flipped_0]
    records = [Record(f"f{i}.png", "normal", "s", f"s:{i}") for i in range(len(images))]
    keep, pairs = remove_near_duplicates(records, images)
    assert pairs == [(2, 6)]
    assert keep == [0, 1, 2, 3, 4, 5, 7]


def test_hash_alone_over_matches_without_confirmation() -> None:
    # identical hashes but different content: only the thumbnail check keeps both
    hashes = [0b1011, 0b1011]
    assert find_near_duplicates(hashes, 0) == [(0, 1)]
    thumbs = np.eye(2, dtype=np.float32)  # uncorrelated thumbnails
    assert find_near_duplicates(hashes, 0, thumbs, 0.97) == []


def test_merge_keeps_order_and_drops_repeated_paths() -> None:
    a = [Record("p1", "normal", "a", "a:1"), Record("p2", "covid19", "a", "a:2")]
    b = [Record("p2", "covid19", "b", "b:2"), Record("p3", "normal", "b", "b:3")]
    assert [r.path for r in merge_records([a, b])] == ["p1", "p2", "p3"]


def _records(n_patients: int = 120, seed: int = 0) -> list[Record]:
    rng = np.random.default_rng(seed)
    out = []
    labels = ["normal", "bacterial_pneumonia", "viral_pneumonia", "covid19"]
    for p in range(n_patients):
        source = ["kermany", "ieee8023", "cxr_radiography"][p % 3]
        for j in range(int(rng.integers(1, 4))):
            out.append(Record(f"{p}-{j}.png", labels[(p + j) % 4], source, f"{source}:{p}"))
    return out


def test_split_is_patient_disjoint_seeded_and_stratified() -> None:
    records = _records()
    parts = split_by_patient(records, (0.7, 0.15, 0.15), seed=3)
    assert sorted(i for idx in parts.values() for i in idx) == list(range(len(records)))
    assert_patient_disjoint({k: [records[i] for i in v] for k, v in parts.items()})
    assert parts == split_by_patient(records, (0.7, 0.15, 0.15), seed=3)
    assert parts != split_by_patient(records, (0.7, 0.15, 0.15), seed=4)
    for name in ("val", "test"):  # every source reaches the held-out splits
        assert {records[i].source for i in parts[name]} == {"kermany", "ieee8023", "cxr_radiography"}
    n_train = len({records[i].patient_id for i in parts["train"]})
    assert 0.6 < n_train / 120 < 0.8


def test_leak_detector_fires() -> None:
    a = Record("1.png", "normal", "s", "s:1")
    b = Record("2.png", "covid19", "s", "s:1")
    with pytest.raises(PatientLeakError, match="s:1"):
        assert_patient_disjoint({"train": [a], "test": [b]})


@pytest.mark.realdata
def test_real_manifest_split_has_no_patient_in_two_splits(data_dir: Path) -> None:
    records = load_source(data_dir / "cxr" / "manifest.csv")
    parts = split_by_patient(records, (0.7, 0.15, 0.15), seed=0)
    splits = {k: [records[i] for i in v] for k, v in parts.items()}
    assert_patient_disjoint(splits)
    covid_test = sum(r.label == "covid19" for r in splits["test"])
    assert covid_test >= 40  # ~15 % of 403 COVID-19 films, split by patient
    assert {r.source for r in splits["test"]} == {r.source for r in records}


def test_oversampling_balances_classes() -> None:
    labels = np.array([0] * 50 + [1] * 20 + [2] * 5 + [3] * 1)
    idx = balanced_indices(labels, np.random.default_rng(0))
    counts = np.bincount(labels[idx], minlength=4)
    assert counts.tolist() == [50, 50, 50, 50]
    assert set(np.flatnonzero(labels == 2)) <= set(idx.tolist())  # every original film is used
    assert len(balanced_indices(labels, np.random.default_rng(0), oversample=False)) == len(labels)
