"""Bootstrap intervals: resample battles, refit, take percentiles.

Resampling N battles with replacement is a multinomial draw of N over the distinct battles
(cells) with probabilities count / N, so a round costs one draw over the cells and one
Bradley-Terry fit on the resulting counts, whatever N is. The draw is exact but not numpy's
multinomial (a binomial per cell, 75 to 100 ns each): independent Poisson counts from inversion
tables (about 10 ns each), corrected to exactly N battles (`Resampler`). Rounds run in chunks of `CHUNK`, each
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
from scipy.special import pdtr
from threadpoolctl import threadpool_limits

from arena.rating.bt import VIRTUAL_TIES, Pairs, fit_bt_pairs, strongly_connected
from arena.rating.counts import Cells

CHUNK = 50

# How a round's resample is drawn, recorded in summary.json: runs before it (no such field) drew
# numpy's multinomial, so the same seed gave other (equally distributed) resamples.
DRAWS = "multinomial as Poisson tables corrected to N (2026-12)"

# A round's refit stops once its next Newton step would be below this (log-odds): 2e-4 Elo
# points, a thousandth of the Monte-Carlo error of a 1000-round percentile. From the full-data
# fit that is two steps where stopping at a step below 1e-10 took four (step sizes run about
# 4e-2, 4e-4, 4e-8, 4e-16 on 2M battles).
ROUND_TOL = 1e-6


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


# Up to this many battles a resampler keeps each battle's cell (4 bytes a battle) to place the
# few battles a Poisson draw leaves out in constant time; beyond it, a binary search per battle.
_OWNER_BATTLES = 16_000_000

# Cells seen up to this many times draw their Poisson counts from inversion tables, at most this
# many tables (the most common counts) a log; other cells from numpy's Poisson sampler, whose
# cost does not grow with the mean. Bounds the tables to 8 MiB of guides and 6 MiB of CDFs.
_TABLE_MEAN = 1024
_TABLES = 512

# Buckets of a table's guide: a uniform number's bucket names its draw outright unless a step
# of the CDF falls inside the bucket (a few percent of buckets at a leaderboard's means).
_GUIDE = 4096


def draw_counts(count: np.ndarray, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """`rounds` multinomial draws of N = sum(count) battles over the cells, P(cell) = count / N:
    one bootstrap resample of the battles per row. Returns (rounds, cells) integers."""
    return Resampler(count)(rng, rounds)


def poisson_support(mean: int) -> int:
    """Values 0 .. support - 1 of a Poisson(mean) table: the mass beyond is below 1e-20 (a test
    checks every mean a table serves), far under the 2^-53 steps of the uniform numbers that
    inversion starts from, so no draw can land there."""
    return mean + math.ceil(10.0 * math.sqrt(mean)) + 40


class PoissonTables:
    """Poisson(mean) draws by inversion, for a few integer means at once: the draw is the
    smallest k with U < F(k) for a uniform U, which a guide table (the first candidate k for
    each of `_GUIDE` buckets of U, and whether it is certain) settles with one lookup for most
    draws; the rest step through F. Exact as inversion is: up to the rounding of F and U.
    About 10 ns a draw, all of it numpy work that releases the interpreter lock, where numpy's
    Poisson sampler takes 30 to 40 ns at the means of a leaderboard's cells."""

    def __init__(self, means: np.ndarray):
        means = np.asarray(means, dtype=np.int64)
        support = np.array([poisson_support(int(m)) for m in means], dtype=np.int64)
        self.f_start = np.concatenate([[0], np.cumsum(support)[:-1]]).astype(np.int64)
        k = np.arange(int(support.sum())) - np.repeat(self.f_start, support)
        self.cdf = pdtr(k, np.repeat(means, support).astype(np.float64))
        self.cdf[np.cumsum(support) - 1] = 1.0
        # Guide: bucket b of table t holds min{k : F(k) > b / G}; F(k) covers the buckets
        # b < G F(k), so value k of a table fills ceil(G F(k)) - ceil(G F(k - 1)) of them.
        edge = np.minimum(np.ceil(self.cdf * _GUIDE).astype(np.int64), _GUIDE)
        first = np.zeros_like(edge)
        first[1:] = edge[:-1]
        first[self.f_start] = 0
        lo = np.repeat(k, edge - first)
        table = np.repeat(np.arange(len(means)), _GUIDE)
        certain = self.cdf[self.f_start[table] + lo] >= (np.tile(np.arange(_GUIDE), len(means)) + 1) / _GUIDE
        # A certain bucket holds its k; an uncertain one -(k + 1), the k to search from.
        self.guide = np.where(certain, lo, -lo - 1).astype(np.int32)

    def draw(self, table: np.ndarray, rounds: int, rng: np.random.Generator) -> np.ndarray:
        """(rounds, len(table)) draws, column c from table `table[c]`."""
        u = rng.random((rounds, len(table)))
        bucket = (u * _GUIDE).astype(np.int64)
        bucket += table * _GUIDE
        k = self.guide[bucket]
        unsure = np.flatnonzero(k < 0)
        if len(unsure):
            found = -k.ravel()[unsure].astype(np.int64) - 1
            at = self.f_start[table[unsure % len(table)]]
            point = u.ravel()[unsure]
            todo = np.arange(len(unsure))
            while len(todo):
                todo = todo[self.cdf[at[todo] + found[todo]] <= point[todo]]
                found[todo] += 1
            k.ravel()[unsure] = found
        return k


class Resampler:
    """Bootstrap resamples of the battles of some cells: `resampler(rng, rounds)` is `rounds`
    multinomial draws of N = sum(count) battles with P(cell) = count / N, (rounds, cells)."""

    def __init__(self, count: np.ndarray):
        self.count = np.asarray(count, dtype=np.int64)
        self.total = int(self.count.sum())
        self._owner: np.ndarray | None = None
        self.by_index = 2 * len(self.count) >= self.total
        if not self.by_index:
            means, inverse, uses = np.unique(self.count, return_inverse=True, return_counts=True)
            keep = np.zeros(len(means), dtype=bool)
            small = np.flatnonzero(means <= _TABLE_MEAN)
            keep[small[np.argsort(-uses[small], kind="stable")[:_TABLES]]] = True
            row = np.cumsum(keep) - 1
            self.tabled = np.flatnonzero(keep[inverse])
            self.rest = np.flatnonzero(~keep[inverse])
            self.table_of = row[inverse[self.tabled]]
            self.tables = PoissonTables(means[keep]) if keep.any() else None

    def owner(self) -> np.ndarray:
        """The cell of each battle, battles numbered cell by cell."""
        if self._owner is None:
            dtype = np.int32 if len(self.count) < 2**31 else np.int64
            self._owner = np.repeat(np.arange(len(self.count), dtype=dtype), self.count)
        return self._owner

    def cells_of(self, battle: np.ndarray) -> np.ndarray:
        if self.total <= _OWNER_BATTLES:
            return self.owner()[battle]
        return np.searchsorted(np.cumsum(self.count), battle, side="right")

    def __call__(self, rng: np.random.Generator, rounds: int) -> np.ndarray:
        cells = len(self.count)
        if self.by_index:
            # Nearly one cell per battle (graded outcomes): drawing battle indices is the same
            # distribution and cheaper than a multinomial over as many categories.
            picked = self.cells_of(rng.integers(0, self.total, size=(rounds, self.total)))
            picked = picked + np.arange(rounds)[:, None] * cells
            return np.bincount(picked.ravel(), minlength=rounds * cells).reshape(rounds, cells)
        return self._multinomial(rng, rounds)

    def _poisson(self, rng: np.random.Generator, rounds: int) -> np.ndarray:
        if len(self.rest) == 0 and self.tables is not None:
            return self.tables.draw(self.table_of, rounds, rng)
        draws = np.empty((rounds, len(self.count)), dtype=np.int64)
        if self.tables is not None:
            draws[:, self.tabled] = self.tables.draw(self.table_of, rounds, rng)
        draws[:, self.rest] = rng.poisson(self.count[self.rest].astype(np.float64), size=(rounds, len(self.rest)))
        return draws

    def _multinomial(self, rng: np.random.Generator, rounds: int) -> np.ndarray:
        """Multinomial draws, exactly, at the price of Poisson ones.

        Independent Poisson(count) per cell, given their sum T, are Multinomial(T, count / N).
        A row that came out T < N gets the N - T battles it lacks as independent draws from the
        battles; one with T > N loses T - N of its battles picked uniformly without
        replacement, and a uniform subset of an independent sample is an independent sample.
        Either way the row is Multinomial(N, count / N). numpy's multinomial draws a binomial
        per cell (75 to 100 ns each on our logs); a Poisson variate from a table costs about
        10 ns, and the corrections touch about sqrt(N) battles a row."""
        total, cells = self.total, len(self.count)
        draws = self._poisson(rng, rounds)
        if total >= 2**31:  # table draws are int32; a cell may then hold more
            draws = draws.astype(np.int64)
        short = total - draws.sum(axis=1)
        under = np.flatnonzero(short > 0)
        if len(under):
            missing = short[under]
            cell = self.cells_of(rng.integers(0, total, size=int(missing.sum())))
            row = np.repeat(np.arange(len(under)), missing)
            added = np.bincount(row * cells + cell, minlength=len(under) * cells)
            draws[under] += added.reshape(len(under), cells)
        for r in np.flatnonzero(short < 0):
            excess = -int(short[r])
            picked = rng.choice(total + excess, size=excess, replace=False, shuffle=False)
            cell = np.searchsorted(np.cumsum(draws[r]), picked, side="right")
            draws[r] -= np.bincount(cell, minlength=cells)
        return draws


class PairDraws:
    """Bootstrap draws of one set of cells summed per pair of models, the form
    `bt.fit_bt_pairs` takes: (won, lost), each (rounds, pairs)."""

    def __init__(self, cells: Cells):
        m = cells.n_models
        codes, pair = np.unique(cells.i * m + cells.j, return_inverse=True)
        self.pairs = Pairs(*np.divmod(codes, m), m)
        self.cells = cells
        won = cells.weight * cells.score
        n, p = len(cells), len(codes)
        # (2P, cells): row p adds up pair p's points over its cells, row P + p its opponent's.
        # A sparse product skips the (rounds, cells) products a reduction per pair would make.
        self._sum = csr_matrix(
            (np.concatenate([won, cells.weight - won]), (np.concatenate([pair, pair + p]), np.tile(np.arange(n), 2))),
            shape=(2 * p, n),
        )

    def sums(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        both = self._sum @ np.asarray(counts, dtype=np.float64).T
        p = len(self.pairs)
        return np.ascontiguousarray(both[:p].T), np.ascontiguousarray(both[p:].T)


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
    resample = Resampler(cells.count)

    def chunk(rng: np.random.Generator, n: int) -> np.ndarray:
        return fit(*draws.sums(resample(rng, n)))

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
        theta = fit_bt_pairs(won, lost, self.pairs, prior=priors, start=self.start, tol=ROUND_TOL, predict=True)
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
