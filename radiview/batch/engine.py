"""THE screening engine: items in, ``ScreeningRecord``s out, journaled, resumable, cancellable.

The CLI (``radiview screen``), the GUI's batch tab, and the PACS and listener paths all call
``iter_screening``. It does not know where items come from (``folder.list_folder`` makes them
for a folder). Films are decoded and preprocessed by a pool of workers while the calling
thread runs the model on batches; the classifier is only ever touched by the calling thread
(it is not thread-safe). With a journal (a ``CsvReportWriter``) every record is appended and
fsynced before it is yielded, and the journal's earlier rows come first, marked ``resumed``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from radiview.batch.csv_report import CsvReportWriter, model_stamp
from radiview.batch.decode import PreparedFilm
from radiview.batch.decode_pool import DecodePool
from radiview.batch.records import ScreeningItem, ScreeningRecord, Status, Thumbnail
from radiview.errors import RadiviewError

if TYPE_CHECKING:
    from radiview.inference.prediction import Prediction
    from radiview.inference.preprocess import PreprocessConfig

log = logging.getLogger("radiview.batch")

#: Grad-CAM thumbnails cost one backward pass per flagged film; a report shows at most this many.
MAX_THUMBNAILS = 100
MIN_CORES_FOR_PROCESSES = 4
_THUMB_SIDE = 224  # at most the model's input: the thumbnail shows what the model saw


def default_workers() -> int:
    """Decoding workers: half the cores (at most 8); on the CPU the model gets the other half
    (``_model_threads``). On 2 cores one decoding thread beside a one-thread model screened
    153 films/s where two of each, fighting for both cores, did 133-137."""
    return max(1, min(8, (os.cpu_count() or 2) // 2))


def default_processes() -> bool:
    """Worker processes on 4+ cores; ``RADIVIEW_DECODE_PROCESSES=1`` or ``0`` decides instead."""
    forced = os.environ.get("RADIVIEW_DECODE_PROCESSES", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return (os.cpu_count() or 1) >= MIN_CORES_FOR_PROCESSES


@dataclass(frozen=True)
class ScreeningSettings:
    """One set of defaults for every caller (CLI, GUI, PACS)."""

    batch_size: int = 16
    workers: int = field(default_factory=default_workers)
    thumbnails: int = 0  # Grad-CAM thumbnails for the first N flagged films (0: none)
    # Decode in worker processes where there are cores to spare for them (measured on 2 cores:
    # processes 69-83 films/s against threads' 111, the workers' start-up and pickling not paid
    # back); threads otherwise, or to debug a decoder.
    processes: bool = field(default_factory=lambda: default_processes())
    reduced_precision: bool = True  # on CUDA: bf16/fp16 autocast if the first batch shows parity

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.workers < 1 or self.thumbnails < 0:
            raise ValueError("batch_size and workers must be at least 1, thumbnails at least 0")


@dataclass(frozen=True)
class ScreeningCounts:
    """Where a run stands, after each record. ``rate`` counts from the end of the first batch
    (which carries the model's warm-up) and excludes resumed records."""

    total: int
    resumed: int = 0
    done: int = 0  # resumed + screened so far
    ok: int = 0
    refused: int = 0
    error: int = 0
    elapsed_s: float = 0.0
    rate: float = 0.0

    @property
    def screened(self) -> int:
        return self.done - self.resumed


class _Tally:
    def __init__(self, total: int, resumed: int) -> None:
        self.counts = ScreeningCounts(total=total, resumed=resumed)
        self.start = time.perf_counter()
        self._warm: tuple[float, int] | None = None  # when the first batch was done, and the count

    def add(self, status: Status) -> ScreeningCounts:
        c = self.counts
        now = time.perf_counter()
        done = c.done + 1
        rate = 0.0
        if self._warm is not None:
            t0, d0 = self._warm
            rate = (done - d0) / (now - t0) if done > d0 and now > t0 else c.rate
        self.counts = ScreeningCounts(
            total=c.total,
            resumed=c.resumed,
            done=done,
            ok=c.ok + (status == "ok"),
            refused=c.refused + (status == "refused"),
            error=c.error + (status == "error"),
            elapsed_s=now - self.start,
            rate=rate,
        )
        return self.counts

    def batch_done(self) -> None:
        if self._warm is None:  # the first batch carries the model's warm-up: rates start here
            self._warm = (time.perf_counter(), self.counts.done)


def iter_screening(
    items: Iterable[ScreeningItem],
    classifier: Any,
    *,
    journal: CsvReportWriter | None = None,
    settings: ScreeningSettings | None = None,
    cancel: threading.Event | None = None,
    on_progress: Callable[[ScreeningCounts], None] | None = None,
) -> Generator[ScreeningRecord, None, None]:
    """Screen ``items`` in their order; yields one record per item.

    Items whose key the journal already holds are skipped (the records of earlier runs come
    first; keys this journal wrote in an earlier call are skipped silently), and so is a
    repeated key.
    A film that cannot be read, or whose prediction fails, gives an ``error`` record with the
    reason; a film the input gate refuses gives a ``refused`` record with the gate's reason.
    Setting ``cancel`` stops the run between batches: every record already yielded stands.
    """
    settings = settings or ScreeningSettings()
    previous = journal.previous if journal is not None else ()
    done = set(journal.reported) if journal is not None else set()  # earlier runs' and this writer's
    todo = []
    for item in items:  # a key is screened once (a report's keys are unique)
        if item.key not in done:
            done.add(item.key)
            todo.append(item)
    tally = _Tally(total=len(previous) + len(todo), resumed=len(previous))
    for record in previous:
        counts = tally.add(record.status)
        if on_progress is not None:
            on_progress(counts)
        yield record
    for batch in _screen(todo, classifier, settings, cancel):
        for record in batch:
            if journal is not None:
                journal.write(record)  # durable before anyone sees it
            counts = tally.add(record.status)
            if on_progress is not None:
                on_progress(counts)
            yield record
        tally.batch_done()


def _screen(
    items: Sequence[ScreeningItem],
    classifier: Any,
    settings: ScreeningSettings,
    cancel: threading.Event | None,
) -> Iterator[list[ScreeningRecord]]:
    if not items:
        return
    config: PreprocessConfig = classifier.preprocess_config
    stamp = model_stamp(classifier.card)
    thumbs_left = settings.thumbnails
    # Films waiting for the model; bounded so a huge run never piles up in memory.
    window = max(2 * settings.batch_size, 2 * settings.workers)
    pool = DecodePool(config, settings.workers, settings.processes, window)
    check_precision = settings.reduced_precision and _on_cuda(classifier)
    prepared = pool.iter_prepared(items)
    restore_threads = _model_threads(classifier, settings.workers)
    try:
        while True:
            if cancel is not None and cancel.is_set():
                log.info("screening cancelled")
                return
            # Take films in order until a batch is full; errors keep their place in the order.
            batch: list[tuple[ScreeningItem, PreparedFilm | str]] = []
            films = 0
            for item, result in prepared:
                if isinstance(result, PreparedFilm):
                    for warning in result.warnings:
                        log.info("%s: %s", item.key, warning)
                    batch.append((item, result))
                    films += 1
                else:
                    log.info("%s: %s", item.key, _error_message(result))
                    batch.append((item, _error_message(result)))
                if films >= settings.batch_size:
                    break
            if not batch:
                return
            if check_precision and any(isinstance(film, PreparedFilm) for _, film in batch):
                _check_precision(classifier, config, batch)
                check_precision = False
            records = _read_batch(classifier, config, batch, stamp, thumbs_left)
            thumbs_left -= sum(r.thumbnail is not None for r in records)
            yield records
    finally:
        prepared.close()
        pool.close()
        restore_threads()


def _model_threads(classifier: Any, workers: int) -> Callable[[], None]:
    """On the CPU, give the model the cores the decoding workers leave, for this run; returns
    what puts torch's thread count back. Torch's own team on every core, beside the decoders,
    left both waiting on each other. ``RADIVIEW_NUM_THREADS`` (the user's choice) is kept."""
    if getattr(getattr(classifier, "device", None), "type", "cpu") != "cpu":
        return lambda: None
    if os.environ.get("RADIVIEW_NUM_THREADS", "").strip():
        return lambda: None
    import torch

    from radiview.inference.device import MAX_CPU_THREADS, physical_cpu_count

    before = torch.get_num_threads()
    wanted = max(1, min(physical_cpu_count(), MAX_CPU_THREADS) - workers)
    if wanted >= before:
        return lambda: None
    torch.set_num_threads(wanted)
    log.info("model threads for this run: %d (decoding workers: %d)", wanted, workers)
    return lambda: torch.set_num_threads(before)


def _on_cuda(classifier: Any) -> bool:
    return getattr(getattr(classifier, "device", None), "type", "") == "cuda"


def _check_precision(
    classifier: Any, config: PreprocessConfig, batch: list[tuple[ScreeningItem, PreparedFilm | str]]
) -> None:
    """Autocast for the rest of the run only if this batch reads the same as in fp32."""

    from radiview.inference.preprocess import to_input_batch

    films = [film for _, film in batch if isinstance(film, PreparedFilm)]
    try:
        classifier.check_reduced_precision(to_input_batch([f.image for f in films], config))
    except Exception as exc:  # the check is an optimisation: fp32 is always right
        log.info("reduced-precision check failed (%s); fp32 kept", _error_message(exc))
        classifier.reduced_precision = None


def _error_message(exc: BaseException) -> str:
    if isinstance(exc, RadiviewError):
        return exc.problem
    return f"{type(exc).__name__}: {exc}"


def _read_batch(
    classifier: Any,
    config: PreprocessConfig,
    batch: list[tuple[ScreeningItem, PreparedFilm | str]],
    stamp: str,
    thumbs_left: int,
) -> list[ScreeningRecord]:
    """Records for one batch in its order: decode errors keep their place."""
    from radiview.inference.preprocess import to_input_batch

    card = classifier.card
    films = [(i, film) for i, (_, film) in enumerate(batch) if isinstance(film, PreparedFilm)]
    tensors = to_input_batch([film.image for _, film in films], config) if films else None
    outcomes = _predict(classifier, tensors, [film for _, film in films], [batch[i][0].key for i, _ in films])
    by_index = dict(zip((i for i, _ in films), outcomes, strict=True))
    records = []
    for index, (item, film) in enumerate(batch):
        outcome = by_index.get(index, film if isinstance(film, str) else "not predicted")
        if isinstance(outcome, str):
            records.append(ScreeningRecord(item.key, "error", None, outcome, model=stamp, extra=item.extra))
            continue
        assert isinstance(film, PreparedFilm)
        ok = outcome.accepted
        records.append(
            ScreeningRecord(
                key=item.key,
                status="ok" if ok else "refused",
                prediction=outcome,
                message="" if ok else outcome.gate.reason or "refused by the input gate",
                identifiers=film.identifiers,
                flags=_flag_codes(outcome, film, card) if ok else (),
                model=stamp,
                extra=item.extra,
            )
        )
    if thumbs_left > 0:
        records = _add_thumbnails(classifier, records, films, tensors, by_index, thumbs_left)
    return records


def _flag_codes(prediction: Prediction, film: PreparedFilm, card: Any) -> tuple[str, ...]:
    """Issue 14's context warnings (adult film, unvalidated source, AP/portable, low confidence)
    as their stable codes: the CSV ``flags`` cell, the GUI table and the PDF show them."""
    from radiview.inference.flags import reading_flags

    try:
        return tuple(f.code for f in reading_flags(prediction, film.metadata, card, film.view_position))
    except Exception as exc:  # a warning is never worth a film's reading
        log.warning("reading flags failed: %s", _error_message(exc))
        return ()


def _predict(
    classifier: Any, tensors: Any, films: list[PreparedFilm], keys: list[str]
) -> list[Prediction | str]:
    """One batched forward pass on ``tensors`` (N, C, H, W); if it fails, retry film by film so
    only the culprit errors."""
    if tensors is None or len(tensors) == 0:
        return []
    try:
        batch = tensors
        if _on_cuda(classifier):
            batch = batch.pin_memory()  # lets the copy to the GPU run asynchronously
        return list(classifier.predict_tensors(batch, [f.gate for f in films]))
    except Exception as exc:
        if len(tensors) == 1:
            log.warning("%s: prediction failed: %s", keys[0], _error_message(exc))
            return [_error_message(exc)]
        log.info("batch of %d failed (%s); retrying one by one", len(tensors), _error_message(exc))
        out: list[Prediction | str] = []
        for n, (film, key) in enumerate(zip(films, keys, strict=True)):
            out += _predict(classifier, tensors[n : n + 1], [film], [key])
        return out


def _add_thumbnails(
    classifier: Any,
    records: list[ScreeningRecord],
    films: list[tuple[int, PreparedFilm]],
    tensors: Any,
    by_index: dict[int, Any],
    budget: int,
) -> list[ScreeningRecord]:
    """Grad-CAM thumbnails for this batch's flagged films (one backward pass for all of them)."""
    chosen = [(n, i, film) for n, (i, film) in enumerate(films) if records[i].flagged][:budget]
    if not chosen:
        return records
    try:
        maps = classifier.gradcam_maps(tensors[[n for n, _, _ in chosen]])
    except Exception as exc:  # a thumbnail is never worth a film's reading
        log.warning("Grad-CAM thumbnails failed for a batch: %s", _error_message(exc))
        return records
    out = list(records)
    for (_, index, film), heat in zip(chosen, maps, strict=True):
        record = records[index]
        label = record.top_label or ""
        thumb = Thumbnail(
            make_thumbnail(film.image, heat, film.shape), label, by_index[index].probability(label)
        )
        out[index] = _with_thumbnail(record, thumb)
    return out


def _with_thumbnail(record: ScreeningRecord, thumbnail: Thumbnail) -> ScreeningRecord:
    from dataclasses import replace

    return replace(record, thumbnail=thumbnail)


def make_thumbnail(image01: np.ndarray, heat01: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The model-size film with its heatmap, stretched back to the film's aspect, RGB uint8."""
    from PIL import Image

    from radiview.render import composite_heatmap

    rows, cols = shape
    scale = min(_THUMB_SIDE, max(image01.shape)) / max(rows, cols, 1)
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    gray = Image.fromarray(np.ascontiguousarray(np.rint(np.clip(image01, 0, 1) * 255), np.uint8))
    heat = Image.fromarray(np.ascontiguousarray(heat01, np.float32), mode="F")
    gray_small = np.asarray(gray.resize(size, Image.Resampling.BILINEAR))
    heat_small = np.clip(np.asarray(heat.resize(size, Image.Resampling.BILINEAR)), 0.0, 1.0)
    return np.asarray(composite_heatmap(gray_small, heat_small, 0.45, "jet"))[..., :3].copy()
