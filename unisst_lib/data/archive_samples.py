"""Training samples from a cloudy archive itself: its own observations, its own real clouds.

No gap-free product and no simulated clouds are needed. From an archive opened
with :func:`unisst_lib.data.archive.open_archive` (``sst`` in °C with NaN where
not observed, ``land``):

* :func:`split_archive` withholds a share of the observed sea pixels under the
  real clouds of other dates (:func:`unisst_lib.data.cloud_holdout.cv_plan`) for
  model selection; training never sees them;
* :class:`ArchiveClouds` draws windows of the archive's real cloud masks
  (``seq_len`` frames × ``tile`` × ``tile`` pixels, anywhere in the record) to
  re-occlude a filled sequence for the critics and to hide observed pixels for
  the self-supervised term;
* :class:`ArchiveSequences` serves windows of the observations in the items
  :class:`unisst_lib.data.dataset.OccludedSequenceDataset` serves (``y``,
  ``mask``, ``missing``, ``mean``, ``std``, ``index``, ``cloud_start``), so the
  training step is the same; validation items also carry ``withheld`` and
  ``target`` (the withheld observations, normalised);
* :meth:`ArchiveSequences.guess`: with an interpolation given, a sample's first
  guess from ``guess_context`` frames either side of its window (what a
  whole-record method sees), in the sample's normalised units — in validation
  items as ``guess``; training adds it once the pixels hidden from the sample
  are known, so a hidden observation never shapes its own guess.

A domain smaller than a tile is padded with land (occluded, never scored).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from unisst_lib.core.errors import UnisstError
from unisst_lib.data.cloud_holdout import cv_plan
from unisst_lib.data.masks import CloudWindow
from unisst_lib.data.normalise import NormalisationError, normalise

log = logging.getLogger(__name__)

__all__ = [
    "ArchiveClouds",
    "ArchiveSequences",
    "ArchiveSplit",
    "ArchiveTrainingError",
    "split_archive",
]


class ArchiveTrainingError(UnisstError, ValueError):
    """An archive cannot be trained on (too short, nothing observed, bad options)."""


@dataclass
class ArchiveSplit:
    """An archive's observations split into what training sees and what selects the model.

    ``sst``: (T, H, W) float32 °C, NaN where not observed (clouds, land, absent
    dates, low quality). ``train_observed``: observed and not withheld.
    ``withheld``: the observed pixels kept for validation. ``land``: (H, W).
    """

    sst: np.ndarray
    land: np.ndarray
    train_observed: np.ndarray
    withheld: np.ndarray


def split_archive(
    sst: np.ndarray, land: np.ndarray, *, val_share: float, seed: int, times=None
) -> ArchiveSplit:
    """Withhold ``val_share`` of the observed sea pixels under real clouds of other dates."""
    sst = np.asarray(sst, dtype=np.float32)
    land = np.asarray(land, dtype=bool)
    if sst.ndim != 3 or land.shape != sst.shape[1:]:
        raise ArchiveTrainingError(
            f"an archive to train on is sst (time, lat, lon) and land (lat, lon); got "
            f"{sst.shape} and {land.shape}"
        )
    observed = np.isfinite(sst) & ~land[None]
    if not observed.any():
        raise ArchiveTrainingError("the archive has no observed sea pixel to train on")
    withheld = cv_plan(observed, share=val_share, seed=seed, land=land, times=times).hidden
    return ArchiveSplit(sst=sst, land=land, train_observed=observed & ~withheld, withheld=withheld)


def _pad(a: np.ndarray, tile: int, value) -> np.ndarray:
    """Pad the last two axes of ``a`` up to ``tile`` with ``value`` (a domain under a tile)."""
    ph, pw = max(0, tile - a.shape[-2]), max(0, tile - a.shape[-1])
    if not (ph or pw):
        return a
    widths = [(0, 0)] * (a.ndim - 2) + [(0, ph), (0, pw)]
    return np.pad(a, widths, constant_values=value)


class ArchiveClouds:
    """Windows of an archive's real cloud masks: (seq_len, tile, tile) bool, True = cloud.

    ``clouds`` is (T, H, W), True where a sea pixel is not observed (an absent
    date is all cloud, as a real record has them); land is never cloud here —
    the dataset adds each sample's own land. A window is (start, row, col),
    drawn anywhere in the record; ``avoid`` keeps it off the dates of a sample's
    own window, so a sample is never re-occluded with its own clouds.
    """

    def __init__(self, clouds: np.ndarray, *, seq_len: int, tile: int) -> None:
        self.clouds = _pad(np.asarray(clouds, dtype=bool), tile, False)
        self.seq_len, self.tile = int(seq_len), int(tile)
        self.n_starts = self.clouds.shape[0] - self.seq_len + 1
        if self.n_starts < 1:
            raise ArchiveTrainingError(
                f"the archive has {clouds.shape[0]} frames, fewer than one training window "
                f"({seq_len}): lower data.seq_len or give a longer record"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.seq_len, self.tile, self.tile

    def _random_offset(self, rng: np.random.Generator) -> tuple[int, int]:
        h, w = self.clouds.shape[1:]
        return int(rng.integers(h - self.tile + 1)), int(rng.integers(w - self.tile + 1))

    def draw(self, rng: np.random.Generator, *, avoid: int | None = None) -> CloudWindow:
        """A random window; with ``avoid``, one whose dates do not overlap ``avoid``'s window."""
        starts = np.arange(self.n_starts)
        if avoid is not None:
            away = np.abs(starts - int(avoid)) >= self.seq_len
            starts = starts[away] if away.any() else starts[starts != avoid]
            starts = starts if starts.size else np.arange(self.n_starts)
        return CloudWindow(int(rng.choice(starts)), *self._random_offset(rng))

    def mask(self, where: CloudWindow) -> np.ndarray:
        s, r, c = where
        return self.clouds[s : s + self.seq_len, r : r + self.tile, c : c + self.tile].copy()


class ArchiveSequences(Dataset):
    """Windows of an archive's observations, normalised, as the training step takes them.

    Parameters
    ----------
    split
        From :func:`split_archive`. Inputs are ``split.train_observed`` only.
    seq_len, tile
        Frames and pixels per side of a window.
    mode
        ``"train"``: item ``i`` is the window starting at frame ``i`` at a random
        place (from the generator given to :meth:`sample`). ``"eval"``: up to
        ``max_items`` fixed windows spread over the record and the domain, each
        holding withheld pixels; items carry ``withheld`` and ``target``.
    seed
        Places of the evaluation windows.
    std_factor, fill_value
        Normalisation (the manifest's).
    interp
        ``interp(values) -> (filled, defined)`` along axis 0 of a (T, P, P) array with
        NaN where not available (e.g. linear in time); None: no first guess.
    guess_context
        Frames either side of a window that its first guess is made from.
    """

    def __init__(
        self,
        split: ArchiveSplit,
        *,
        seq_len: int,
        tile: int = 64,
        mode: Literal["train", "eval"] = "train",
        seed: int = 0,
        max_items: int | None = None,
        std_factor: float = 3.0,
        fill_value: float = 1.0,
        interp: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
        guess_context: int = 0,
    ) -> None:
        self.mode, self.seq_len, self.tile = mode, int(seq_len), int(tile)
        self.interp, self.guess_context = interp, int(guess_context)
        self.std_factor, self.fill_value = float(std_factor), float(fill_value)
        land = _pad(split.land, tile, True)
        self.land = land
        self.inputs = _pad(np.where(split.train_observed, split.sst, np.nan), tile, np.nan)
        self.targets = _pad(np.where(split.withheld, split.sst, np.nan), tile, np.nan)
        self.clouds = ArchiveClouds(
            ~split.train_observed & ~split.land[None], seq_len=seq_len, tile=tile
        )
        self.windows = self._eval_windows(seed, max_items) if mode == "eval" else None

    def __len__(self) -> int:
        return len(self.windows) if self.windows is not None else self.clouds.n_starts

    def _eval_windows(self, seed: int, max_items: int | None) -> list[CloudWindow]:
        """Fixed windows with withheld pixels: evenly spaced starts, tile places from ``seed``."""
        rng = np.random.default_rng([seed, 0xA11])
        n = self.clouds.n_starts
        has = np.isfinite(self.targets).any(axis=(1, 2))
        per_start = np.convolve(has, np.ones(self.seq_len), "valid") > 0  # (n,)
        candidates = np.flatnonzero(per_start[:n])
        if candidates.size == 0:
            raise ArchiveTrainingError(
                "no validation window holds a withheld pixel: raise data.val_share or give "
                "a longer record"
            )
        k = len(candidates) if max_items is None else min(max_items, len(candidates))
        picks = candidates[np.linspace(0, len(candidates) - 1, k).round().astype(int)]
        return [CloudWindow(int(s), *self.clouds._random_offset(rng)) for s in np.unique(picks)]

    def __getitem__(self, i: int) -> dict:
        return self.sample(i)

    def sample(self, i: int, rng: np.random.Generator | None = None) -> dict:
        """Item ``i``; a training window's place comes from ``rng``."""
        if self.windows is not None:
            where = self.windows[int(i)]
        else:
            rng = rng if rng is not None else np.random.default_rng(int(i))
            where = CloudWindow(int(i), *self.clouds._random_offset(rng))
        return self._item(where, index=int(i))

    def guess(
        self, where: CloudWindow, mean: float, std: float, hide: np.ndarray | None = None
    ) -> np.ndarray:
        """(T, P, P) float32 first guess of window ``where``, normalised; 0 where undefined.

        Interpolated from the training inputs of ``guess_context`` frames either side,
        without the pixels ``hide`` (T, P, P) removes from the window.
        """
        if self.interp is None:
            raise ArchiveTrainingError("this data set has no first guess (interp=None)")
        s, r, c = where
        t0 = max(0, s - self.guess_context)
        t1 = min(self.inputs.shape[0], s + self.seq_len + self.guess_context)
        ctx = self.inputs[t0:t1, r : r + self.tile, c : c + self.tile].copy()  # (Tc, P, P) °C
        if hide is not None:
            ctx[s - t0 : s - t0 + self.seq_len][np.asarray(hide, bool)] = np.nan
        filled, defined = self.interp(ctx)
        g = filled[s - t0 : s - t0 + self.seq_len]
        g = (g - float(mean)) / (self.std_factor * float(std))
        return np.where(defined[s - t0 : s - t0 + self.seq_len], g, 0.0).astype(np.float32)

    def _item(self, where: CloudWindow, *, index: int) -> dict:
        s, r, c = where
        win = (slice(s, s + self.seq_len), slice(r, r + self.tile), slice(c, c + self.tile))
        x = self.inputs[win]  # (T, P, P) °C
        land = np.broadcast_to(self.land[win[1:]], x.shape)
        observed = np.isfinite(x)
        try:
            y, _, mean, std = normalise(
                x, observed, std_factor=self.std_factor, fill_value=self.fill_value
            )
        except NormalisationError:  # nothing observed here: the climatological tile of zeros
            y, mean, std = np.full(x.shape, self.fill_value, np.float32), 0.0, 1.0
        item = {
            "y": torch.from_numpy(np.asarray(y, np.float32))[None],  # (1, T, P, P)
            "mask": torch.from_numpy((~observed).astype(np.float32))[None],
            "missing": torch.from_numpy(land.astype(np.float32))[None],
            "mean": torch.tensor(float(mean), dtype=torch.float64),
            "std": torch.tensor(float(std), dtype=torch.float64),
            "index": index,
            "cloud_start": int(s),
            "window": where,
        }
        if self.windows is not None:
            t = self.targets[win]
            scale = self.std_factor * float(std)
            target = np.where(np.isfinite(t), (t - float(mean)) / scale, 0.0)
            item["withheld"] = torch.from_numpy(np.isfinite(t).astype(np.float32))[None]
            item["target"] = torch.from_numpy(target.astype(np.float32))[None]
            if self.interp is not None:
                item["guess"] = torch.from_numpy(self.guess(where, mean, std))[None]
        return item
