"""Feature every site film ONCE: one decode, one forward pass giving logits, pooled features and
the layout gate's cells; everything after (metrics, gate refits, temperature, thresholds) is cheap
arithmetic on these arrays."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radiview.batch.decode import PreparedFilm
from radiview.batch.decode_pool import DecodePool
from radiview.batch.engine import default_workers
from radiview.batch.records import ScreeningItem
from radiview.inference.card import GateSpec
from radiview.inference.fitting_gate import GateFit
from radiview.inference.gate import GateFacts, gate_verdict
from radiview.inference.preprocess import to_input_batch

log = logging.getLogger("radiview.site")

#: The DICOM fields a site bundle records of its adaptation films (metadata key → DICOM keyword).
SOURCE_FIELDS = {
    "institution": "InstitutionName",
    "manufacturer": "Manufacturer",
    "model": "ManufacturerModelName",
}
_METADATA_KEY = {"institution": "institution", "manufacturer": "manufacturer", "model": "manufacturer_model"}


@dataclass
class SiteFeatures:
    """What one pass over the site's films keeps, row i = ``files[i]`` (readable films only)."""

    files: list[str]
    logits: np.ndarray  # (N, K) float32
    features: np.ndarray  # (N, 576) float32
    cells: np.ndarray | None  # (N, 576, rows, cols) float32, None without a layout check
    input_std: np.ndarray  # (N,) std of the windowed [0, 1] model input
    facts: list[GateFacts]
    dicom_sources: list[dict[str, str]]  # per film: institution / manufacturer / model ({} if not DICOM)
    unreadable: list[dict[str, str]] = field(default_factory=list)  # {"file", "reason"}

    def subset(self, rows: np.ndarray) -> SiteFeatures:
        rows = np.asarray(rows, dtype=np.int64)
        return SiteFeatures(
            [self.files[i] for i in rows],
            self.logits[rows],
            self.features[rows],
            None if self.cells is None else self.cells[rows],
            self.input_std[rows],
            [self.facts[i] for i in rows],
            [self.dicom_sources[i] for i in rows],
        )


def _dicom_source(film: PreparedFilm) -> dict[str, str]:
    meta = film.metadata
    if not (meta.get("transfer_syntax") or meta.get("modality")):
        return {}
    return {key: str(meta.get(_METADATA_KEY[key], "")).strip() for key in SOURCE_FIELDS}


def extract_site_features(
    classifier: Any,
    films: Sequence[tuple[str, Path]],
    batch_size: int = 32,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SiteFeatures:
    """Decode (in threads) and forward every ``(key, path)`` once; unreadable films are listed, not fatal."""
    pool = DecodePool(
        classifier.preprocess_config, workers or default_workers(), processes=False, window=2 * batch_size
    )
    keys: list[str] = []
    prepared: list[PreparedFilm] = []
    outputs: list[tuple[Any, Any, Any]] = []
    unreadable: list[dict[str, str]] = []

    pending: list[PreparedFilm] = []
    try:
        items = [ScreeningItem(key, path) for key, path in films]
        for done, (item, result) in enumerate(pool.iter_prepared(items), start=1):
            if isinstance(result, Exception):
                unreadable.append({"file": item.key, "reason": str(result) or type(result).__name__})
                log.warning("%s: not read: %s", item.key, result)
            else:
                keys.append(item.key)
                pending.append(result)
            if len(pending) == batch_size or (done == len(items) and pending):
                batch = to_input_batch([p.image for p in pending], classifier.preprocess_config)
                outputs.append(classifier.forward_outputs(batch))
                prepared.extend(pending)
                pending = []
            if progress is not None:
                progress(done, len(items))
    finally:
        pool.close()
    return _assemble(keys, prepared, outputs, unreadable)


def _assemble(
    keys: list[str],
    prepared: list[PreparedFilm],
    outputs: list[tuple[Any, Any, Any]],
    unreadable: list[dict[str, str]],
) -> SiteFeatures:
    if not prepared:
        return SiteFeatures(
            [],
            np.zeros((0, 4), np.float32),
            np.zeros((0, 576), np.float32),
            None,
            np.zeros(0),
            [],
            [],
            unreadable,
        )
    cells = (
        None if outputs[0][2] is None else np.concatenate([o[2].numpy() for o in outputs]).astype(np.float32)
    )
    return SiteFeatures(
        files=keys,
        logits=np.concatenate([o[0].numpy() for o in outputs]).astype(np.float32),
        features=np.concatenate([o[1].numpy() for o in outputs]).astype(np.float32),
        cells=cells,
        input_std=np.asarray([float(np.std(p.image)) for p in prepared]),
        facts=[p.gate for p in prepared],
        dicom_sources=[_dicom_source(p) for p in prepared],
        unreadable=unreadable,
    )


def gate_scores(gate: GateFit, feats: SiteFeatures) -> np.ndarray:
    """(N, M) distances: global, then layout when the gate has one."""
    return gate.scores(feats.features, feats.cells if gate.has_spatial else None)


def gate_accepts(spec: GateSpec, scores: np.ndarray, feats: SiteFeatures) -> tuple[np.ndarray, list[str]]:
    """The app's own verdict (``gate_verdict``) for every film: accepted mask and refusal reasons."""
    verdicts = [
        gate_verdict(
            float(scores[i, 0]),
            float(feats.input_std[i]),
            spec,
            feats.facts[i],
            spatial_score=float(scores[i, 1]) if scores.shape[1] > 1 else None,
        )
        for i in range(len(scores))
    ]
    return np.asarray([v.accepted for v in verdicts], dtype=bool), [v.reason for v in verdicts]
