"""Merge sources and drop near-duplicate films (64-bit dHash, keep the first occurrence).

Near-duplicates across sources are common in public CXR collections (the same figure in two
COVID repositories, Kermany films inside the COVID-19 Radiography Database); leaving them in
lets one film sit in both train and test.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from PIL import Image

from training.data.sources import Record

logger = logging.getLogger("radiview.training")

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def dhash(image: np.ndarray) -> int:
    """Difference hash of a 2-D image: 9×8 grayscale thumbnail, one bit per left<right neighbour pair."""
    arr = np.asarray(image, dtype=np.float32)
    thumb = np.asarray(Image.fromarray(arr, mode="F").resize((9, 8), Image.Resampling.BILINEAR))
    bits = (thumb[:, 1:] > thumb[:, :-1]).ravel()
    return int(np.packbits(bits.astype(np.uint8)).view(">u8")[0])


def hamming_to_all(value: int, others: np.ndarray) -> np.ndarray:
    """Bit distance from one hash to each of ``others`` (uint64 array)."""
    xor = np.bitwise_xor(others, np.uint64(value))
    return _POPCOUNT[xor.view(np.uint8).reshape(-1, 8)].sum(axis=1)


def thumbnail(image: np.ndarray, size: int = 32) -> np.ndarray:
    """Zero-mean, unit-norm ``size``×``size`` thumbnail: dot products of two are their correlation."""
    arr = np.asarray(image, dtype=np.float32)
    thumb = np.asarray(Image.fromarray(arr, mode="F").resize((size, size), Image.Resampling.BOX)).ravel()
    thumb = thumb - thumb.mean()
    norm = float(np.linalg.norm(thumb))
    return thumb / norm if norm > 0 else thumb


def find_near_duplicates(
    hashes: Sequence[int],
    max_distance: int = 4,
    thumbnails: np.ndarray | None = None,
    min_correlation: float = 0.97,
) -> list[tuple[int, int]]:
    """Pairs (kept, dropped): each later film within ``max_distance`` bits of an earlier kept film and,
    when ``thumbnails`` are given, whose thumbnail correlates with that film's at ``min_correlation`` or more.

    A 64-bit dHash alone over-matches chest films (they all share one layout: on the shared data 855 pairs
    of different patients have identical hashes), so it only proposes candidates; the thumbnail confirms.
    """
    values = np.asarray([np.uint64(h) for h in hashes], dtype=np.uint64)
    kept: list[int] = []
    pairs: list[tuple[int, int]] = []
    for i, value in enumerate(values):
        if kept:
            kept_arr = np.asarray(kept)
            dist = hamming_to_all(int(value), values[kept_arr])
            cands = kept_arr[dist <= max_distance]
            if len(cands):
                if thumbnails is None:
                    pairs.append((int(cands[np.argmin(dist[dist <= max_distance])]), i))
                    continue
                corr = thumbnails[cands] @ thumbnails[i]
                j = int(np.argmax(corr))
                if corr[j] >= min_correlation:
                    pairs.append((int(cands[j]), i))
                    continue
        kept.append(i)
    return pairs


def remove_near_duplicates(
    records: Sequence[Record],
    images: Sequence[np.ndarray] | np.ndarray,
    max_distance: int = 4,
    min_correlation: float = 0.97,
) -> tuple[list[int], list[tuple[int, int]]]:
    """Indices of the films to keep (first occurrence wins), and the (kept, dropped) pairs."""
    if len(records) != len(images):
        raise ValueError("one image per record is needed")
    hashes = [dhash(img) for img in images]
    thumbs = np.stack([thumbnail(img) for img in images]) if len(images) else None
    pairs = find_near_duplicates(hashes, max_distance, thumbs, min_correlation)
    dropped = {d for _, d in pairs}
    for kept, drop in pairs:
        logger.info("near-duplicate removed: %s (same film as %s)", records[drop].path, records[kept].path)
    return [i for i in range(len(records)) if i not in dropped], pairs


def merge_records(groups: Sequence[Sequence[Record]]) -> list[Record]:
    """Concatenate in the order given (earlier locations win duplicate checks) and drop repeated paths."""
    seen: set[str] = set()
    merged: list[Record] = []
    for group in groups:
        for record in group:
            if record.path not in seen:
                seen.add(record.path)
                merged.append(record)
    return merged
