"""Training batches made on the training device from cached uint8 films.

The decoded films (``ImageCache.images``, uint8 (N, H, W), a few hundred MB for the shared data) are
copied to the device once; each batch is then an index, a cast and ``BatchAugment`` — no per-film
Python, no DataLoader workers, so a GPU is fed at its own speed and the CPU path gets the same
batched kernels. Order and augmentation come from (seed, epoch): resumable and identical across
DDP ranks, each rank taking its own shard of the epoch as ``BalancedSampler`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from radiview.inference.preprocess import PreprocessConfig
from training.batch_augment import BatchAugment

IndexPlan = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def normalise(x: torch.Tensor, config: PreprocessConfig) -> torch.Tensor:
    """(B, 1, H, W) in [0, 1] → (B, C, H, W) normalised, as ``to_input_tensor`` does film by film."""
    mean = torch.tensor(config.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(config.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x.expand(-1, config.channels, -1, -1) - mean) / std


class DeviceFilmBatches:
    """Iterable of (x, y) on ``device``; ``plan`` (e.g. ``balanced_indices``) gives each epoch's order.

    Without ``augment`` and ``plan`` it is a plain ordered evaluation loader.
    """

    def __init__(
        self,
        images: np.ndarray,
        targets: np.ndarray,
        config: PreprocessConfig,
        device: str,
        batch_size: int,
        seed: int = 0,
        augment: BatchAugment | None = None,
        plan: IndexPlan | None = None,
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
        drop_last: bool = False,
    ) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device)
        self.targets = torch.from_numpy(np.asarray(targets, dtype=np.int64)).to(device)
        self.config, self.device, self.batch_size = config, torch.device(device), batch_size
        self.seed, self.augment, self.plan = seed, augment, plan
        self.rank, self.world_size = rank, world_size
        self.channels_last, self.drop_last = channels_last, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> np.ndarray:
        targets = self.targets.cpu().numpy()
        if self.plan is None:
            return np.arange(len(targets))
        idx = self.plan(targets, np.random.default_rng((self.seed, self.epoch)))
        per_rank = -(-len(idx) // self.world_size)
        idx = np.resize(idx, per_rank * self.world_size)
        return idx[self.rank :: self.world_size]

    def __len__(self) -> int:
        n = len(self._order())
        return n // self.batch_size if self.drop_last and n >= self.batch_size else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.from_numpy(self._order()).to(self.device)
        g = torch.Generator(device=self.device)
        g.manual_seed(hash((self.seed, self.epoch, self.rank)) & 0x7FFF_FFFF_FFFF)
        n = len(order)
        stop = n - n % self.batch_size if self.drop_last and n >= self.batch_size else n
        for s in range(0, stop, self.batch_size):
            idx = order[s : s + self.batch_size]
            if len(idx) < 2 and self.augment is not None:
                break  # BatchNorm cannot train on a batch of one
            x = self.images[idx].unsqueeze(1).float().div_(255.0)
            if self.augment is not None:
                x = self.augment(x, g)
            x = normalise(x, self.config)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.targets[idx]
