"""Folder screening with the tiny random bundle over films generated in tmp_path."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radiview.batch.screening import ScreeningResult, iter_screening, list_screening_files
from radiview.errors import InputError
from radiview.inference.classifier import Classifier
from radiview.io import load_radiograph

REAL_BUNDLE = Path(__file__).resolve().parents[2] / "resources" / "model"


def chest_like(size: tuple[int, int], seed: int) -> np.ndarray:
    """A noisy 8-bit film with two dark ellipses in a bright body (enough texture for the gate)."""
    h, w = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.full((h, w), 40.0)
    img[((yy - h / 2) / (0.5 * h)) ** 2 + ((xx - w / 2) / (0.45 * w)) ** 2 <= 1] = 190
    for side in (-1, 1):
        img[((yy - h / 2) / (0.35 * h)) ** 2 + ((xx - w / 2 - side * 0.2 * w) / (0.14 * w)) ** 2 <= 1] = 80
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_films(folder: Path) -> dict[str, str]:
    """Films of every kind the screener must handle; returns {relative file: expected status}."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for i in range(3):
        Image.fromarray(chest_like((96, 80 + 8 * i), i)).save(folder / f"film_{i}.png")
        expected[f"film_{i}.png"] = "ok"
    Image.fromarray(chest_like((90, 90), 7)).save(folder / "film_3.jpg", quality=90)
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
    Image.fromarray(chest_like((70, 70), 11)).save(folder / "sub" / "deep.png")
    return expected


@pytest.fixture(scope="module")
def classifier(tiny_bundle: Path) -> Classifier:
    return Classifier.from_bundle(tiny_bundle, device="cpu")


@pytest.fixture()
def films(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "films"
    return folder, write_films(folder)


def test_statuses_order_and_messages(classifier: Classifier, films: tuple[Path, dict[str, str]]) -> None:
    folder, expected = films
    results = list(iter_screening(folder, classifier, batch_size=2, workers=2))
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
    for result in iter_screening(folder, classifier, batch_size=3, workers=3):
        if result.status != "ok":
            continue
        assert result.prediction is not None
        single = classifier.predict(load_radiograph(folder / result.file))
        np.testing.assert_allclose(result.prediction.probabilities, single.probabilities, atol=1e-5)
        assert result.prediction.gate.score == pytest.approx(single.gate.score, rel=1e-4)


def test_recursive_and_skip(classifier: Classifier, films: tuple[Path, dict[str, str]]) -> None:
    folder, expected = films
    flat = list_screening_files(folder)
    deep = list_screening_files(folder, recursive=True)
    assert flat == sorted(expected)
    assert deep == sorted([*expected, "sub/deep.png"])
    results = list(iter_screening(folder, classifier, recursive=True, skip={"film_0.png", "sub/deep.png"}))
    assert [r.file for r in results] == [f for f in deep if f not in ("film_0.png", "sub/deep.png")]
    assert list(iter_screening(folder, classifier, skip=set(flat))) == []


def test_cancel_stops_between_batches_and_keeps_finished_rows(
    classifier: Classifier, films: tuple[Path, dict[str, str]]
) -> None:
    folder, expected = films
    cancel = threading.Event()
    seen = []
    for result in iter_screening(folder, classifier, batch_size=2, workers=1, cancel=cancel):
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
    results = {r.file: r for r in iter_screening(folder, classifier, batch_size=4)}
    assert results["film_1.png"].status == "error"
    assert results["film_1.png"].message == "ZeroDivisionError: injected fault"
    assert results["film_2.png"].status == "ok"


def test_bad_arguments(classifier: Classifier, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        list(iter_screening(tmp_path / "missing", classifier))
    with pytest.raises(ValueError, match="batch_size"):
        list(iter_screening(tmp_path, classifier, batch_size=0))
    assert list(iter_screening(tmp_path, classifier)) == []


def test_results_are_frozen() -> None:
    result = ScreeningResult("a.png", "error", None, "x")
    with pytest.raises(AttributeError):
        result.status = "ok"  # type: ignore[misc]


@pytest.mark.realdata
def test_real_samples_and_dicoms_are_all_read(classifier: Classifier, data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "real"
    folder.mkdir()
    sources = sorted((data_dir / "samples").glob("*.*")) + sorted((data_dir / "dicom").glob("*.dcm"))
    for src in sources:
        if src.suffix != ".csv":
            (folder / src.name).symlink_to(src)
    results = list(iter_screening(folder, classifier, batch_size=4))
    assert len(results) == len([s for s in sources if s.suffix != ".csv"]) == 15
    assert [r for r in results if r.status == "error"] == []


@pytest.mark.realdata
def test_real_bundle_reads_real_samples(data_dir: Path) -> None:
    classifier = Classifier.from_bundle(REAL_BUNDLE, device="cpu")
    results = list(iter_screening(data_dir / "samples", classifier, batch_size=8))
    assert len(results) == 12
    assert all(r.status in ("ok", "refused") for r in results)
    ok = [r for r in results if r.status == "ok"]
    assert len(ok) >= 10  # real frontal films: the gate should accept nearly all of them
    # Each sample's file name starts with its label: the real model should get most right.
    correct = sum(r.prediction is not None and r.file.startswith(r.prediction.top_label or "?") for r in ok)
    assert correct >= len(ok) // 2
