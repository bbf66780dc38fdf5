"""Datasets as dense count tensors, and the built-in synthetic delay task.

Every loader returns a :class:`SpikeDataset`: ``x`` is ``uint8 [N, T, C]`` (spike counts per
bin, graded input for Loihi 2), ``y`` is ``int64 [N]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DataError
from ..limits import MAX_GENERATED_SAMPLES


@dataclass
class SpikeDataset:
    x: torch.Tensor  # uint8 [N, T, C] counts
    y: torch.Tensor  # int64 [N]
    n_classes: int
    name: str = ""
    time_step_ms: float = 1.0

    def __post_init__(self) -> None:
        if self.x.dim() != 3 or self.y.dim() != 1 or self.x.shape[0] != self.y.shape[0]:
            raise DataError(f"{self.name}: x {tuple(self.x.shape)} / y {tuple(self.y.shape)} are not [N, T, C] / [N]")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def channels(self) -> int:
        return int(self.x.shape[2])

    @property
    def steps(self) -> int:
        return int(self.x.shape[1])

    @property
    def max_count(self) -> int:
        return int(self.x.max()) if self.x.numel() else 0

    def subset(self, n: int | None) -> SpikeDataset:
        if n is None or n >= len(self):
            return self
        return SpikeDataset(self.x[:n], self.y[:n], self.n_classes, self.name, self.time_step_ms)

    def batch_indices(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None):
        """Yield each mini-batch's sample indices (one permutation of the set when ``shuffle``)."""
        order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        for start in range(0, len(self), batch_size):
            yield order[start : start + batch_size]

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None):
        """Yield ``(x float32 [B, T, C], y)`` mini-batches."""
        for idx in self.batch_indices(batch_size, shuffle, generator):
            yield self.x[idx].float(), self.y[idx]


def validation_split(
    data: SpikeDataset, fraction: float, seed: int = 0, speakers: np.ndarray | None = None
) -> tuple[SpikeDataset, SpikeDataset, str]:
    """``(train, validation, how)``: about ``fraction`` of ``data`` held out for model selection.

    With ``speakers`` (one id per sample) whole speakers are held out, so no speaker is in
    both splits; otherwise samples are drawn at random. Both are seeded by ``seed``.
    """
    n = len(data)
    if not 0 < fraction < 1:
        raise DataError(f"--val-fraction {fraction}: expected a fraction between 0 and 1 (e.g. 0.1)")
    rng = np.random.default_rng(seed)
    if speakers is not None:
        speakers = np.asarray(speakers)
        if speakers.shape != (n,):
            raise DataError(f"{data.name}: {speakers.shape} speaker ids for {n} samples; one per sample expected")
        ids = rng.permutation(np.unique(speakers))
        if len(ids) < 2:
            raise DataError(f"{data.name}: one speaker only; --val-fraction by speaker needs two or more (or no speaker ids)")
        counts = np.array([int((speakers == s).sum()) for s in ids])
        k = int(np.clip(np.searchsorted(np.cumsum(counts), fraction * n) + 1, 1, len(ids) - 1))
        held = np.isin(speakers, ids[:k])
        how = f"{k} of {len(ids)} speakers ({int(held.sum())} samples)"
    else:
        m = min(max(int(round(fraction * n)), 1), n - 1)
        if m < 1:
            raise DataError(f"{data.name}: {n} sample(s) cannot be split into training and validation")
        held = np.zeros(n, dtype=bool)
        held[rng.permutation(n)[:m]] = True
        how = f"{m} random samples"
    keep, val = torch.from_numpy(np.flatnonzero(~held)), torch.from_numpy(np.flatnonzero(held))
    parts = [SpikeDataset(data.x[i], data.y[i], data.n_classes, f"{data.name}{tag}", data.time_step_ms) for i, tag in ((keep, ""), (val, " (validation)"))]
    return parts[0], parts[1], how


@dataclass(frozen=True)
class SyntheticTask:
    """Classes that differ only in the relative timing of spikes across channels.

    Each class has a template: every channel fires exactly once, at a class-specific offset
    inside a window of ``span`` steps, and each step of the window holds the same number of
    template spikes. The window starts at a random onset, and every channel also fires
    ``noise`` Poisson spikes on average per sample. Per-channel rates, and the number of
    spikes per step, are therefore the same for all classes: a network whose neurons forget
    within a step and whose synapses have no delays sees the same multiset of input vectors for
    every class (chance level), while one with delays can line the template up in time.
    """

    channels: int = 16
    classes: int = 4
    span: int = 16  # template window, steps (<= max_delay so one neuron can see it all)
    steps: int = 40
    noise: float = 1.0  # expected extra spikes per channel per sample
    template_seed: int = 1234

    def templates(self) -> np.ndarray:
        """``[classes, channels]`` firing offsets; each class a different permutation."""
        rng = np.random.default_rng(self.template_seed)
        base = np.arange(self.channels) * self.span // self.channels  # equal spikes per step
        return np.stack([rng.permutation(base) for _ in range(self.classes)])

    def generate(self, n: int, seed: int) -> SpikeDataset:
        if self.span > self.steps:
            raise DataError(f"synthetic task: span {self.span} exceeds steps {self.steps}")
        if not 0 <= n <= MAX_GENERATED_SAMPLES:
            raise DataError(
                f"synthetic task: {n} samples requested, outside 0..{MAX_GENERATED_SAMPLES} "
                f"(delaysnn.limits.MAX_GENERATED_SAMPLES); pass --samples {MAX_GENERATED_SAMPLES} or less"
            )
        rng = np.random.default_rng(seed)
        tmpl = self.templates()
        y = rng.integers(0, self.classes, size=n)
        onset = rng.integers(0, self.steps - self.span + 1, size=n)
        x = np.zeros((n, self.steps, self.channels), dtype=np.uint8)
        rows = np.repeat(np.arange(n), self.channels)
        times = (onset[:, None] + tmpl[y]).reshape(-1)
        chans = np.tile(np.arange(self.channels), n)
        x[rows, times, chans] = 1
        p = self.noise / self.steps
        x |= (rng.random(x.shape) < p).astype(np.uint8)
        return SpikeDataset(
            x=torch.from_numpy(x), y=torch.from_numpy(y.astype(np.int64)), n_classes=self.classes, name="synthetic"
        )


def synthetic_splits(
    task: SyntheticTask | None = None, n_train: int = 2048, n_test: int = 512, seed: int = 0
) -> tuple[SpikeDataset, SpikeDataset]:
    """Deterministic train/test splits of the synthetic delay task."""
    task = task or SyntheticTask()
    return task.generate(n_train, seed=seed * 2 + 1), task.generate(n_test, seed=seed * 2 + 2)
