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
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import minimum_spanning_tree
from threadpoolctl import threadpool_limits

from arena.rating.bt import VIRTUAL_TIES, Pairs, fit_bt_pairs, strongly_connected
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
    return run_many([fn], rounds, seed, workers=workers, chunk=chunk)[0]


def run_many(
    fns: list[Callable[[np.random.Generator, int], np.ndarray]],
    rounds: int,
    seed: int,
    *,
    workers: int = 1,
    chunk: int = CHUNK,
) -> list[np.ndarray]:
    """`run_rounds` for several functions (the leaderboards of one log: overall, per category,
    per turn) in one pool, so the threads stay busy from the first table to the last. Each
    function gets the same streams as `run_rounds(fn, rounds, seed)` would give it alone."""
    if rounds <= 0:
        raise ValueError("rounds must be positive")
    n_chunks = math.ceil(rounds / chunk)
    sizes = [min(chunk, rounds - k * chunk) for k in range(n_chunks)]
    seeds = np.random.SeedSequence(seed).spawn(n_chunks)
    # Chunk k of every function before chunk k + 1 of any: the last tasks are all small.
    tasks = [(f, k) for k in range(n_chunks) for f in range(len(fns))]

    def run(task: tuple[int, int]) -> np.ndarray:
        f, k = task
        return fns[f](np.random.default_rng(seeds[k]), sizes[k])

    # One BLAS thread per worker: the solves are many small systems, which OpenBLAS spreads over
    # every core at a loss (twice the CPU time for the same wall time, measured), and several
    # workers each asking for every core oversubscribe the machine.
    with threadpool_limits(limits=1, user_api="blas"):
        if workers <= 1 or len(tasks) == 1:
            done = [run(t) for t in tasks]
        else:
            with ThreadPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
                done = list(pool.map(run, tasks))
    parts: list[list[np.ndarray]] = [[] for _ in fns]
    for (f, _), part in zip(tasks, done):
        parts[f].append(part)
    return [np.concatenate(p) for p in parts]


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


class PairDraws:
    """Bootstrap draws of one set of cells summed per pair of models, the form
    `bt.fit_bt_pairs` takes: (won, lost), each (rounds, pairs)."""

    def __init__(self, cells: Cells):
        m = cells.n_models
        code = cells.i * m + cells.j
        # Cells come from `aggregate` sorted by pair; sort here only where they are not.
        self.order = None if np.all(code[1:] >= code[:-1]) else np.argsort(code, kind="stable")
        code = code if self.order is None else code[self.order]
        self.starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
        self.pairs = Pairs(*np.divmod(code[self.starts], m), m)
        self.cells = cells
        weight = cells.weight if self.order is None else cells.weight[self.order]
        score = cells.score if self.order is None else cells.score[self.order]
        self._won = weight * score
        self._lost = weight - self._won

    def sums(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = counts if self.order is None else counts[..., self.order]
        won = np.add.reduceat(counts * self._won, self.starts, axis=-1)
        lost = np.add.reduceat(counts * self._lost, self.starts, axis=-1)
        return won, lost


def _tree_pairs(won: np.ndarray, lost: np.ndarray, pairs: Pairs) -> np.ndarray | None:
    """Pairs forming a spanning tree of models that scored against each other both ways, the
    ones with the fewest points the weaker way being avoided: a resample that keeps both
    directions of every one of these pairs is strongly connected without a graph search.
    None where the full data has no such tree."""
    both = (won > 0) & (lost > 0)
    if both.sum() < pairs.n_models - 1:
        return None
    m = pairs.n_models
    weight = 1.0 / np.minimum(won[both], lost[both])
    graph = csr_matrix((weight, (pairs.i[both], pairs.j[both])), shape=(m, m))
    tree = minimum_spanning_tree(graph).tocoo()
    if tree.nnz != m - 1:
        return None
    index = {(int(i), int(j)): p for p, (i, j) in enumerate(zip(pairs.i, pairs.j))}
    return np.array([index[(min(i, j), max(i, j))] for i, j in zip(tree.row, tree.col)], dtype=np.int64)


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
    return bootstrap_bt_many([(cells, start, prior)], rounds, seed, workers=workers)[0]


def bootstrap_bt_many(
    fits: list[tuple[Cells, np.ndarray, float]],
    rounds: int,
    seed: int,
    *,
    workers: int = 1,
) -> list[tuple[np.ndarray, int]]:
    """`bootstrap_bt` for several sets of cells (cells, start, prior) in one pool of threads;
    each gets the rounds `bootstrap_bt` would give it alone."""
    return [_split(out) for out in run_many([_round_fn(*fit) for fit in fits], rounds, seed, workers=workers)]


def _split(out: np.ndarray) -> tuple[np.ndarray, int]:
    # Column 0 records whether the round was regularised.
    return out[:, 1:], int(out[:, 0].sum())


def _round_fn(cells: Cells, start: np.ndarray, prior: float) -> Callable[[np.random.Generator, int], np.ndarray]:
    draws = PairDraws(cells)
    fit = RoundFits(*draws.sums(cells.count), draws.pairs, start, prior)

    def chunk(rng: np.random.Generator, n: int) -> np.ndarray:
        return fit(*draws.sums(draw_counts(cells.count, n, rng)))

    return chunk


class RoundFits:
    """Bradley-Terry fits of resampled per-pair sums (won, lost), each (rounds, pairs), from the
    full data's sums `won`, `lost` and fit `start`: a round whose resample has no finite maximum
    (some model without a loss or a win) gets the virtual-tie prior, as does every round where
    the full data needed it (`prior` > 0). Returns (rounds, 1 + m): whether the round was
    regularised, then the strengths."""

    def __init__(self, won: np.ndarray, lost: np.ndarray, pairs: Pairs, start: np.ndarray, prior: float):
        self.pairs = pairs
        self.start = start
        self.prior = prior
        self.tree = None if prior > 0 else _tree_pairs(won, lost, pairs)

    def __call__(self, won: np.ndarray, lost: np.ndarray) -> np.ndarray:
        n = len(won)
        if self.prior > 0:
            priors = np.full(n, self.prior)
        else:
            tree = self.tree
            kept = np.zeros(n, dtype=bool) if tree is None else ((won[:, tree] > 0) & (lost[:, tree] > 0)).all(axis=1)
            priors = np.zeros(n)
            for r in np.flatnonzero(~kept):
                if not _strongly_connected_pairs(won[r], lost[r], self.pairs):
                    priors[r] = VIRTUAL_TIES
        theta = fit_bt_pairs(won, lost, self.pairs, prior=priors, start=self.start)
        return np.column_stack([priors > 0, theta])


def _strongly_connected_pairs(won: np.ndarray, lost: np.ndarray, pairs: Pairs) -> bool:
    m = pairs.n_models
    wins = np.zeros((m, m))
    wins[pairs.i, pairs.j] = won
    wins[pairs.j, pairs.i] = lost
    return strongly_connected(wins)


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed percentile interval per column of bootstrap samples (rounds, m)."""
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail], axis=0)
    return low, high
