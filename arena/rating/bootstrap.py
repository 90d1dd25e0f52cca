"""Bootstrap intervals: resample battles, refit, take percentiles.

Resampling N battles with replacement is a multinomial draw of N over the distinct battles
(cells) with probabilities count / N, so a round costs one draw over the cells and one
Bradley-Terry fit on the resulting counts, whatever N is. Rounds run in chunks of `CHUNK`, each
with its own random stream spawned from the seed, so the result depends on the seed only, not
on how many workers ran the chunks. Chunks are fitted together (stacked matrices, see
`bt.fit_bt_batch`) from the full-data fit as a warm start, and spread over threads: the heavy
numpy work (draws, elementwise maths, batched solves) releases the interpreter lock, and threads
share the cells without copying them to other processes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from arena.rating.bt import VIRTUAL_TIES, fit_bt_batch, strongly_connected
from arena.rating.counts import Cells

CHUNK = 50


def workers_for(requested: int) -> int:
    """Worker count for a setting where 0 means every core."""
    return requested if requested > 0 else (os.cpu_count() or 1)


def run_rounds(
    fn: Callable[[np.random.Generator, int], np.ndarray],
    rounds: int,
    seed: int,
    *,
    workers: int = 1,
    chunk: int = CHUNK,
) -> np.ndarray:
    """Stack `fn(rng, n)` (an (n, ...) array for n rounds) over `rounds` rounds in chunks, each
    chunk with its own generator spawned from `seed`; chunks may run on `workers` threads."""
    if rounds <= 0:
        raise ValueError("rounds must be positive")
    n_chunks = math.ceil(rounds / chunk)
    sizes = [min(chunk, rounds - k * chunk) for k in range(n_chunks)]
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_chunks)]
    if workers <= 1 or n_chunks == 1:
        parts = [fn(rng, n) for rng, n in zip(streams, sizes)]
    else:
        # One BLAS thread per worker: several workers each asking OpenBLAS for every core
        # oversubscribe the machine and run slower than one worker alone.
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max_workers=min(workers, n_chunks)) as pool:
            parts = list(pool.map(fn, streams, sizes))
    return np.concatenate(parts)


def draw_counts(count: np.ndarray, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """`rounds` multinomial draws of N = sum(count) battles over the cells, P(cell) = count / N:
    one bootstrap resample of the battles per row. Returns (rounds, cells) integers."""
    count = np.asarray(count, dtype=np.int64)
    total = int(count.sum())
    cells = len(count)
    if 2 * cells >= total:
        # Nearly one cell per battle (graded outcomes): drawing battle indices is the same
        # distribution and cheaper than a multinomial over as many categories.
        owner = np.repeat(np.arange(cells), count)
        picked = owner[rng.integers(0, total, size=(rounds, total))]
        picked += np.arange(rounds)[:, None] * cells
        return np.bincount(picked.ravel(), minlength=rounds * cells).reshape(rounds, cells)
    return rng.multinomial(total, count / total, size=rounds)


def wins_batch(cells: Cells, counts: np.ndarray) -> np.ndarray:
    """Wins matrices (R, m, m) for R draws of cell counts (R, cells)."""
    m = cells.n_models
    rounds = counts.shape[0]
    mass = counts * cells.weight
    won = mass * cells.score
    offset = (np.arange(rounds) * m * m)[:, None]
    upper = offset + cells.i * m + cells.j
    lower = offset + cells.j * m + cells.i
    size = rounds * m * m
    wins = np.bincount(upper.ravel(), weights=won.ravel(), minlength=size)
    wins += np.bincount(lower.ravel(), weights=(mass - won).ravel(), minlength=size)
    return wins.reshape(rounds, m, m)


def bootstrap_bt(
    cells: Cells,
    rounds: int,
    seed: int,
    *,
    start: np.ndarray,
    prior: float = 0.0,
    workers: int = 1,
) -> tuple[np.ndarray, int]:
    """Bradley-Terry strengths (rounds, m) over bootstrap resamples of the battles, and how many
    rounds needed the virtual-tie prior (a resample where some model never lost, or lost every
    battle, has no finite maximum). With `prior` > 0 (the full data needed it) every round uses it."""

    def chunk(rng: np.random.Generator, n: int) -> np.ndarray:
        wins = wins_batch(cells, draw_counts(cells.count, n, rng))
        if prior > 0:
            priors = np.full(n, prior)
        else:
            priors = np.array([0.0 if strongly_connected(w) else VIRTUAL_TIES for w in wins])
        theta = fit_bt_batch(wins, prior=priors, start=start)
        # Column 0 records whether the round was regularised; the caller strips it.
        return np.column_stack([priors > 0, theta])

    out = run_rounds(chunk, rounds, seed, workers=workers)
    return out[:, 1:], int(out[:, 0].sum())


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed percentile interval per column of bootstrap samples (rounds, m)."""
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail], axis=0)
    return low, high
