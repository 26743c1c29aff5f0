"""Decoding in worker processes: same results as threads, in order, and a crashing decoder costs one film."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from radiview.batch import decode_pool
from radiview.batch.decode import PreparedFilm
from radiview.batch.decode_pool import CRASHED, DecodePool
from radiview.batch.engine import ScreeningSettings, iter_screening
from radiview.batch.folder import list_folder
from radiview.inference.classifier import Classifier
from radiview.inference.preprocess import PreprocessConfig
from tests.batch.crashing_decoder import prepare_or_crash
from tests.batch.test_engine import write_films

CONFIG = PreprocessConfig(input_size=(64, 64))


def test_processes_and_threads_give_the_same_records(tiny_bundle: Path, tmp_path: Path) -> None:
    write_films(tmp_path / "films")
    items = list_folder(tmp_path / "films", recursive=True).items
    classifier = Classifier.from_bundle(tiny_bundle, device="cpu")
    runs = []
    for processes, workers in ((True, 2), (False, 2), (True, 1)):
        settings = ScreeningSettings(batch_size=3, workers=workers, processes=processes)
        runs.append(list(iter_screening(items, classifier, settings=settings)))
    first = runs[0]
    assert [r.key for r in first] == [i.key for i in items]
    for other in runs[1:]:
        assert [(r.key, r.status, r.message) for r in other] == [(r.key, r.status, r.message) for r in first]
        for a, b in zip(first, other, strict=True):
            if a.prediction is not None:
                assert b.prediction is not None
                np.testing.assert_array_equal(a.prediction.probabilities, b.prediction.probabilities)


def test_a_crashing_decoder_costs_one_film_not_the_run(tmp_path: Path) -> None:
    folder = tmp_path / "films"
    write_films(folder)
    shutil.copy(folder / "film_1.png", folder / "crash_me.png")
    items = list_folder(folder).items
    pool = DecodePool(CONFIG, 2, True, 4, prepare=prepare_or_crash)
    try:
        results = list(pool.iter_prepared(items))
    finally:
        pool.close()
    assert [item.key for item, _ in results] == [i.key for i in items]
    by_key = {item.key: result for item, result in results}
    assert isinstance(by_key["crash_me.png"], RuntimeError) and str(by_key["crash_me.png"]) == CRASHED
    assert isinstance(by_key["film_1.png"], PreparedFilm) and isinstance(by_key["film_2.png"], PreparedFilm)
    assert pool.processes  # still worker processes after the crash


def test_without_worker_processes_decoding_falls_back_to_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NoProcesses(decode_pool.ProcessPoolExecutor):
        def submit(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
            raise OSError("cannot fork here")

    monkeypatch.setattr(decode_pool, "ProcessPoolExecutor", NoProcesses)
    write_films(tmp_path / "films")
    items = list_folder(tmp_path / "films").items
    pool = DecodePool(CONFIG, 2, True, 4)
    results = list(pool.iter_prepared(items))
    pool.close()
    assert not pool.processes
    assert sum(isinstance(r, PreparedFilm) for _, r in results) == len(items) - 1  # broken.png errs


def test_processes_by_default_only_with_cores_to_spare(monkeypatch: pytest.MonkeyPatch) -> None:
    from radiview.batch import engine

    monkeypatch.delenv("RADIVIEW_DECODE_PROCESSES", raising=False)
    monkeypatch.setattr(engine.os, "cpu_count", lambda: 2)
    assert ScreeningSettings().processes is False
    monkeypatch.setattr(engine.os, "cpu_count", lambda: 16)
    assert ScreeningSettings().processes is True
    monkeypatch.setenv("RADIVIEW_DECODE_PROCESSES", "0")
    assert ScreeningSettings().processes is False
