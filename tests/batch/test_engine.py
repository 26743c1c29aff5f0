"""The screening engine with the tiny random bundle over films generated in tmp_path."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radiview.batch.csv_report import CsvReportWriter, model_stamp, read_csv_report
from radiview.batch.engine import ScreeningCounts, ScreeningSettings, iter_screening
from radiview.batch.folder import list_folder
from radiview.batch.records import ScreeningItem, ScreeningRecord
from radiview.errors import InputError
from radiview.inference.classifier import Classifier
from radiview.io import load_radiograph
from tests.test_cli import chest_like

REAL_BUNDLE = Path(__file__).resolve().parents[2] / "resources" / "model"


def write_films(folder: Path) -> dict[str, str]:
    """Films of every kind the screener must handle; returns {relative file: expected status}."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for i in range(3):
        Image.fromarray(chest_like(96, 80 + 8 * i, i)).save(folder / f"film_{i}.png")
        expected[f"film_{i}.png"] = "ok"
    Image.fromarray(chest_like(90, 90, 7)).save(folder / "film_3.jpg", quality=90)
    expected["film_3.jpg"] = "ok"
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(folder / "blank.png")
    expected["blank.png"] = "refused"  # near-uniform input
    rng = np.random.default_rng(3)
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[..., 0] = rng.integers(150, 255, (64, 64))
    photo[..., 1] = rng.integers(0, 90, (64, 64))
    photo[32:, :, 2] = 220
    Image.fromarray(photo, "RGB").save(folder / "photo.png")
    expected["photo.png"] = "refused"  # colour photograph
    good = (folder / "film_0.png").read_bytes()
    (folder / "broken.png").write_bytes(good[: len(good) // 3])
    expected["broken.png"] = "error"
    (folder / "notes.txt").write_text("not a film")  # not a candidate at all
    (folder / "sub").mkdir(exist_ok=True)
    Image.fromarray(chest_like(70, 70, 11)).save(folder / "sub" / "deep.png")
    return expected


def screen(
    folder: Path, classifier: Classifier, recursive: bool = False, **settings: int
) -> list[ScreeningRecord]:
    items = list_folder(folder, recursive).items
    return list(iter_screening(items, classifier, settings=ScreeningSettings(**settings)))


@pytest.fixture(scope="module")
def classifier(tiny_bundle: Path) -> Classifier:
    return Classifier.from_bundle(tiny_bundle, device="cpu")


@pytest.fixture()
def films(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "films"
    return folder, write_films(folder)


def test_statuses_order_and_messages(classifier: Classifier, films: tuple[Path, dict[str, str]]) -> None:
    folder, expected = films
    results = screen(folder, classifier, batch_size=2, workers=2)
    assert [r.file for r in results] == sorted(expected)
    assert {r.file: r.status for r in results} == expected
    by_file = {r.file: r for r in results}
    assert "uniform" in by_file["blank.png"].message
    assert "colour" in by_file["photo.png"].message
    assert by_file["broken.png"].prediction is None
    assert by_file["broken.png"].message  # the reader's reason, e.g. "damaged or truncated PNG"
    for r in results:
        assert (r.prediction is not None) == (r.status != "error")
        assert r.status != "ok" or r.message == ""


def test_batched_worker_path_matches_single_film_predict(
    classifier: Classifier, films: tuple[Path, dict[str, str]]
) -> None:
    folder, _ = films
    for result in screen(folder, classifier, batch_size=3, workers=3):
        if result.status != "ok":
            continue
        assert result.prediction is not None
        single = classifier.predict(load_radiograph(folder / result.file))
        np.testing.assert_allclose(result.prediction.probabilities, single.probabilities, atol=1e-5)
        assert result.prediction.gate.score == pytest.approx(single.gate.score, rel=1e-4)


def test_listing_is_sorted_relative_and_says_why_it_is_empty(
    films: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder, expected = films
    assert [i.key for i in list_folder(folder).items] == sorted(expected)
    deep = list_folder(folder, recursive=True)
    assert [i.key for i in deep.items] == sorted([*expected, "sub/deep.png"])
    assert deep.items[-1].path == folder / "sub" / "deep.png"
    nested = tmp_path / "nested"
    (nested / "a").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(chest_like(40, 40, i)).save(nested / "a" / f"{i}.png")
    listing = list_folder(nested)
    assert listing.items == () and listing.nested == 3
    assert listing.empty_reason() == (
        f"no films at the top level of {nested}; 3 films in sub-folders: add --recursive"
    )
    empty = list_folder(nested / "a" / "..", recursive=True)
    assert empty.items and not empty.nested
    (tmp_path / "void").mkdir()
    assert "no films (DICOM, PNG or JPEG files) in" in list_folder(tmp_path / "void").empty_reason()


def test_journal_resume_skips_done_items_and_yields_them_first(
    classifier: Classifier, films: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder, _ = films
    items = list_folder(folder, recursive=True).items
    out = tmp_path / "journal.csv"
    stamp = model_stamp(classifier.card)
    cancel = threading.Event()
    with CsvReportWriter(out, classifier.labels, stamp) as journal:
        first = []
        for record in iter_screening(
            items, classifier, journal=journal, settings=ScreeningSettings(batch_size=2), cancel=cancel
        ):
            first.append(record)
            cancel.set()
    assert 1 <= len(first) < len(items)
    assert [r["file"] for r in read_csv_report(out)] == [r.key for r in first]
    progress: list[ScreeningCounts] = []
    with CsvReportWriter(out, classifier.labels, stamp, mode="resume") as journal:
        assert journal.done == {r.key for r in first}
        second = list(iter_screening(items, classifier, journal=journal, on_progress=progress.append))
    assert [r.key for r in second] == [r.key for r in first] + [
        i.key for i in items if i.key not in journal.done
    ]
    assert all(r.resumed for r in second[: len(first)]) and not any(r.resumed for r in second[len(first) :])
    assert [r["file"] for r in read_csv_report(out)] == [r.key for r in second]  # each once
    last = progress[-1]
    assert (last.total, last.done, last.resumed) == (len(items), len(items), len(first))
    assert last.ok + last.refused + last.error == len(items)
    assert last.error == sum(r.status == "error" for r in second) == 1


def test_items_need_not_come_from_a_folder(
    classifier: Classifier, films: tuple[Path, dict[str, str]]
) -> None:
    """The PACS path passes its own keys (SOP Instance UIDs) and extra columns."""
    folder, _ = films
    items = [
        ScreeningItem("1.2.3.4", folder / "film_0.png", {"study_uid": "1.2.3"}),
        ScreeningItem("1.2.3.5", folder / "broken.png", {"study_uid": "1.2.3"}),
    ]
    records = list(iter_screening([*items, items[0]], classifier))  # a repeated key is screened once
    assert [(r.key, r.status) for r in records] == [("1.2.3.4", "ok"), ("1.2.3.5", "error")]
    assert all(r.extra["study_uid"] == "1.2.3" for r in records)
    assert all(r.model == model_stamp(classifier.card) for r in records)


def test_thumbnails_are_made_during_the_run_for_flagged_films_only(
    tiny_bundle: Path, films: tuple[Path, dict[str, str]]
) -> None:
    import torch

    folder, _ = films
    classifier = Classifier.from_bundle(tiny_bundle, device="cpu")
    # The random model reads everything as normal; tilt its last layer to COVID-19 so the
    # accepted films are flagged.
    last = [m for m in classifier.network.head.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.bias[3] += 100.0
    records = screen(folder, classifier, batch_size=3, thumbnails=2)
    flagged = [r for r in records if r.flagged]
    assert len(flagged) >= 3, [r.top_label for r in records]
    with_thumbs = [r for r in records if r.thumbnail is not None]
    assert with_thumbs == flagged[:2]
    for record in with_thumbs:
        image = record.thumbnail.image
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert max(image.shape[:2]) == 64  # the tiny model's input size, the film's aspect
        assert record.thumbnail.label == record.top_label
        assert not image.flags.writeable
    assert all(r.thumbnail is None for r in screen(folder, classifier))  # off by default


def test_cancel_stops_between_batches_and_keeps_finished_rows(
    classifier: Classifier, films: tuple[Path, dict[str, str]]
) -> None:
    folder, expected = films
    cancel = threading.Event()
    seen = []
    items = list_folder(folder).items
    settings = ScreeningSettings(batch_size=2, workers=1)
    for result in iter_screening(items, classifier, settings=settings, cancel=cancel):
        seen.append(result)
        cancel.set()
    # The batch in hand (2 films + the error row between them) is delivered whole, nothing after it.
    assert [r.status for r in seen] == ["refused", "error", "ok"]
    assert [r.file for r in seen] == sorted(expected)[: len(seen)]


def test_unexpected_exception_becomes_an_error_row_with_its_type(
    classifier: Classifier, films: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import radiview.io

    folder, _ = films
    original = radiview.io.load_radiograph

    def failing(path):  # type: ignore[no-untyped-def]
        if Path(path).name == "film_1.png":
            raise ZeroDivisionError("injected fault")
        return original(path)

    monkeypatch.setattr(radiview.io, "load_radiograph", failing)
    # In threads: a worker process would import the real loader, not this patched one.
    results = {r.file: r for r in screen(folder, classifier, batch_size=4, processes=False)}
    assert results["film_1.png"].status == "error"
    assert results["film_1.png"].message == "ZeroDivisionError: injected fault"
    assert results["film_2.png"].status == "ok"


def test_bad_arguments(classifier: Classifier, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        list_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="batch_size"):
        ScreeningSettings(batch_size=0)
    assert list(iter_screening([], classifier)) == []


def test_records_are_frozen() -> None:
    record = ScreeningRecord("a.png", "error", None, "x")
    with pytest.raises(AttributeError):
        record.status = "ok"  # type: ignore[misc]
    assert record.file == "a.png" and not record.flagged


@pytest.mark.realdata
def test_real_samples_and_dicoms_are_all_read(classifier: Classifier, data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "real"
    folder.mkdir()
    sources = sorted((data_dir / "samples").glob("*.*")) + sorted((data_dir / "dicom").glob("*.dcm"))
    for src in sources:
        if src.suffix != ".csv":
            (folder / src.name).symlink_to(src)
    results = screen(folder, classifier, batch_size=4)
    assert len(results) == len([s for s in sources if s.suffix != ".csv"]) == 15
    assert [r for r in results if r.status == "error"] == []


@pytest.mark.realdata
def test_real_bundle_reads_real_samples(data_dir: Path) -> None:
    classifier = Classifier.from_bundle(REAL_BUNDLE, device="cpu")
    results = screen(data_dir / "samples", classifier, batch_size=8)
    assert len(results) == 12
    assert all(r.status in ("ok", "refused") for r in results)
    ok = [r for r in results if r.status == "ok"]
    assert len(ok) >= 10  # real frontal films: the gate should accept nearly all of them
    # Each sample's file name starts with its label: the real model should get most right.
    correct = sum(r.prediction is not None and r.file.startswith(r.prediction.top_label or "?") for r in ok)
    assert correct >= len(ok) // 2


def test_one_journal_screened_into_twice_screens_each_key_once(
    classifier: Classifier, films: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The listener's pattern: one open journal, a new call each time films arrive."""
    folder, _ = films
    items = list_folder(folder, recursive=True).items
    out = tmp_path / "journal.csv"
    settings = ScreeningSettings(processes=False, workers=2)
    with CsvReportWriter(out, classifier.labels, model_stamp(classifier.card)) as journal:
        first = list(iter_screening(items[:2], classifier, journal=journal, settings=settings))
        second = list(iter_screening(items, classifier, journal=journal, settings=settings))
        assert journal.done == frozenset() and journal.reported == {i.key for i in items}
    assert [r.key for r in first] == [i.key for i in items[:2]]
    assert [r.key for r in second] == [i.key for i in items[2:]]  # the first two not again
    assert sorted(r["file"] for r in read_csv_report(out)) == sorted(i.key for i in items)


def test_on_the_cpu_the_model_gets_the_cores_the_decoders_leave(
    films: tuple[Path, dict[str, str]], classifier: Classifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from radiview.inference.device import MAX_CPU_THREADS, physical_cpu_count

    monkeypatch.delenv("RADIVIEW_NUM_THREADS", raising=False)
    folder, _ = films
    before = torch.get_num_threads()
    expected = min(before, max(1, min(physical_cpu_count(), MAX_CPU_THREADS) - 1))
    settings = ScreeningSettings(batch_size=2, workers=1, processes=False)
    during = [
        torch.get_num_threads()
        for _ in iter_screening(list_folder(folder).items, classifier, settings=settings)
    ]
    assert during and set(during) == {expected}
    assert torch.get_num_threads() == before  # put back after the run

    monkeypatch.setenv("RADIVIEW_NUM_THREADS", str(before))  # the user's choice is kept
    during = [
        torch.get_num_threads()
        for _ in iter_screening(list_folder(folder).items, classifier, settings=settings)
    ]
    assert set(during) == {before}
