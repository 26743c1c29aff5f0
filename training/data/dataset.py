"""Films → the shared preprocessing → an in-memory uint8 cache → torch datasets.

Every film goes through ``radiview.io.load_radiograph`` and
``radiview.inference.preprocess.prepare_image`` (THE preprocessing of the app), and the
resulting [0, 1] input-size image is kept as uint8 so 6,000 films fit in ~300 MB and are
decoded once per run (or once ever, with the on-disk cache).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from radiview.atomic import atomic_write
from radiview.errors import RadiviewError
from radiview.inference.preprocess import PreprocessConfig, prepare_image, to_input_tensor
from radiview.io import load_radiograph
from training.data.sources import Record
from training.targets import TARGETS

logger = logging.getLogger("radiview.training")

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def loader_name() -> str:
    """The reader behind the cache (part of its key, so a change of reader re-decodes)."""
    return "radiview.io.load_radiograph"


def load_film(path: str, config: PreprocessConfig) -> np.ndarray:
    """One film as the model's [0, 1] float32 (H, W) image, exactly as the app prepares it."""
    return prepare_image(load_radiograph(path), config)


def _load_u8(args: tuple[str, PreprocessConfig]) -> tuple[np.ndarray | None, str]:
    path, config = args
    try:
        # written by training.pack: already prepared, so not windowed a second time
        if path.endswith((".prepared.webp", ".prepared.jpg")):
            return read_prepared(path, config), ""
        image = load_film(path, config)
    except (RadiviewError, OSError, ValueError) as exc:
        return None, str(exc)
    return np.rint(image * 255.0).astype(np.uint8), ""


def read_prepared(path: str, config: PreprocessConfig) -> np.ndarray:
    """A ``training.pack`` film: 8-bit, already at the input size and windowed."""
    with Image.open(path) as im:
        gray = im.convert("L")
        height, width = config.input_size
        if gray.size != (width, height):
            gray = gray.resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(gray, dtype=np.uint8)


@dataclass
class ImageCache:
    """Prepared films of ``records`` (those that loaded), uint8 (N, H, W)."""

    records: list[Record]
    images: np.ndarray
    failures: list[tuple[str, str]]

    def labels(self) -> np.ndarray:
        return np.asarray([TARGETS.index(r.label) for r in self.records], dtype=np.int64)

    def subset(self, idx: Sequence[int]) -> ImageCache:
        idx = list(idx)
        return ImageCache([self.records[i] for i in idx], self.images[idx], [])


def _cache_key(paths: Sequence[str], config: PreprocessConfig) -> str:
    digest = hashlib.sha256(json.dumps([config.to_dict(), loader_name()], sort_keys=True).encode())
    for p in paths:
        st = os.stat(p)
        digest.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def build_image_cache(
    records: Sequence[Record],
    config: PreprocessConfig,
    workers: int = 0,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> ImageCache:
    """Load and prepare every film once; unreadable films are skipped and reported, never fatal.

    With ``cache_dir`` the uint8 array is stored as ``<key>.npz`` (key = paths, sizes, mtimes and the
    preprocessing), so repeated runs on unchanged data skip decoding.
    """
    paths = [r.path for r in records]
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"images-{_cache_key(paths, config)}.npz"
        if cache_file.is_file():
            data = np.load(cache_file, allow_pickle=False)
            ok = data["ok"]
            kept = [r for r, good in zip(records, ok, strict=True) if good]
            failures = [
                (r.path, "failed to load (cached)") for r, good in zip(records, ok, strict=True) if not good
            ]
            logger.info("image cache hit: %s (%d films)", cache_file, len(kept))
            return ImageCache(kept, data["images"], failures)
    out, ok, failures = prepare_films(paths, config, workers=workers, progress=progress)
    for path, why in failures:
        logger.warning("skipped %s: %s", path, why)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(cache_file) as fh:
            np.savez(fh, images=out[ok], ok=ok)
    kept = [r for r, good in zip(records, ok, strict=True) if good]
    return ImageCache(kept, out[ok], failures)


def prepare_films(
    paths: Sequence[str], config: PreprocessConfig, workers: int = 0, progress: bool = False
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """uint8 (N, H, W) prepared films, a loaded-ok mask and (path, reason) for those that failed."""
    h, w = config.input_size
    out = np.zeros((len(paths), h, w), dtype=np.uint8)
    ok = np.zeros(len(paths), dtype=bool)
    failures: list[tuple[str, str]] = []
    jobs = [(p, config) for p in paths]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            _fill(pool.map(_load_u8, jobs, chunksize=32), out, ok, failures, paths, progress)
    else:
        _fill(map(_load_u8, jobs), out, ok, failures, paths, progress)
    return out, ok, failures


def _fill(results, out, ok, failures, paths, progress) -> None:
    from tqdm import tqdm

    for i, (img, why) in enumerate(
        tqdm(results, total=len(paths), desc="load", disable=not progress, mininterval=5)
    ):
        if img is None:
            failures.append((paths[i], why))
        else:
            out[i] = img
            ok[i] = True


class FilmDataset(Dataset):
    """Cached uint8 films → [optional augment on the [0, 1] array] → ``to_input_tensor``.

    Randomness comes from a per-item generator seeded by (seed, epoch, index), so a resumed run
    and each DDP rank see exactly the augmentation an uninterrupted single run would.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        config: PreprocessConfig,
        augment: Augment | None = None,
        seed: int = 0,
    ) -> None:
        self.images = images
        self.labels = labels
        self.config = config
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index].astype(np.float32) / 255.0
        if self.augment is not None:
            rng = np.random.default_rng((self.seed, self.epoch, int(index)))
            image = np.clip(self.augment(image, rng), 0.0, 1.0)
        return to_input_tensor(image, self.config), int(self.labels[index])
