"""What order films are seen in: class-balanced epochs, DDP shards, batch iterables with ``set_epoch``."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from training.data.dataset import FilmDataset


def balanced_indices(labels: np.ndarray, rng: np.random.Generator, oversample: bool = True) -> np.ndarray:
    """One epoch's shuffled indices; with ``oversample`` every class is topped up (random repeats) to the
    largest class's count — the paper's expansion to equal class counts, redrawn each epoch."""
    labels = np.asarray(labels)
    if not oversample:
        return rng.permutation(len(labels))
    present = [k for k in np.unique(labels)]
    target = max(int((labels == k).sum()) for k in present)
    chunks = []
    for k in present:
        idx = np.flatnonzero(labels == k)
        extra = rng.choice(idx, size=target - len(idx), replace=True) if target > len(idx) else idx[:0]
        chunks.append(np.concatenate([idx, extra]))
    return rng.permutation(np.concatenate(chunks))


class BalancedSampler(Sampler[int]):
    """``balanced_indices`` per epoch (seeded by seed+epoch), sharded across DDP ranks as DistributedSampler
    shards."""

    def __init__(
        self, labels: np.ndarray, seed: int, oversample: bool = True, rank: int = 0, world_size: int = 1
    ) -> None:
        self.labels = np.asarray(labels)
        self.seed, self.oversample, self.rank, self.world_size = seed, oversample, rank, world_size
        self.epoch = 0
        self._len = len(balanced_indices(self.labels, np.random.default_rng(0), oversample))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        idx = balanced_indices(self.labels, np.random.default_rng((self.seed, self.epoch)), self.oversample)
        per_rank = -(-len(idx) // self.world_size)
        idx = np.resize(idx, per_rank * self.world_size)  # pad by wrapping, as DistributedSampler does
        return iter(idx[self.rank :: self.world_size].tolist())

    def __len__(self) -> int:
        return -(-self._len // self.world_size)


class FeatureBatches:
    """Frozen mode: batches of cached features; each film takes one random pass (clean or augmented)."""

    def __init__(
        self, bank: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, oversample: bool
    ) -> None:
        self.bank = torch.from_numpy(bank)  # (P, N, D)
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.batch_size, self.seed, self.oversample = batch_size, seed, oversample
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rng = np.random.default_rng((self.seed, self.epoch))
        idx = balanced_indices(self.labels.numpy(), rng, self.oversample)
        passes = rng.integers(0, self.bank.shape[0], size=len(idx))
        for s in range(0, len(idx), self.batch_size):
            if len(idx) - s < 2 and s > 0:
                break  # BatchNorm1d cannot train on a batch of one
            i = torch.from_numpy(idx[s : s + self.batch_size])
            p = torch.from_numpy(passes[s : s + self.batch_size])
            yield self.bank[p, i], self.labels[i]

    def __len__(self) -> int:
        return -(
            -len(balanced_indices(self.labels.numpy(), np.random.default_rng(0), self.oversample))
            // self.batch_size
        )


class EpochLoader:
    """A DataLoader whose dataset and sampler both hear ``set_epoch`` (augmentation and order per epoch)."""

    def __init__(self, loader: DataLoader, dataset: FilmDataset, sampler: BalancedSampler) -> None:
        self.loader, self.dataset, self.sampler = loader, dataset, sampler

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return iter(self.loader)

    def __len__(self) -> int:
        return len(self.loader)


def tensor_batches(
    x: np.ndarray, y: np.ndarray, batch_size: int = 512
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed batches of cached arrays, in order (evaluation)."""
    return [
        (torch.from_numpy(x[s : s + batch_size]), torch.from_numpy(y[s : s + batch_size]))
        for s in range(0, len(x), batch_size)
    ]
