"""Benchmark: Bradley-Terry fit + 1000 bootstrap rounds, ours against FastChat's current method.

    python bench/bench_rating.py [--battles 2000000] [--models 100] [--rounds 1000] [--workers 0]

Simulates Chatbot-Arena-like battles (a few popular models get most battles; 15% ties), then
times, in this one process and on the same battles:

- ours: names -> indices, cells (arena.rating.counts.aggregate), one Newton fit, 1000 rounds of
  multinomial draws over the cells (Poisson tables corrected to N, arena.rating.bootstrap)
  fitted together by batched Newton (arena.rating.ratings);
- the reference: FastChat's current method, written here from its description (not its code):
  unique (model_a, model_b, outcome) rows with counts, one L-BFGS fit from zero ratings for the
  point estimate and one per round on a multinomial draw of the counts, rounds spread over a
  process pool with one process per core.

It prints both times, their ratio, our peak memory, and how far apart the two methods' ratings
and intervals are (they estimate the same thing). It then does the same on AlpacaEval's
weighted annotator battles from ../shared/data (skipped where that folder is absent).

    python bench/bench_rating.py --end-to-end [--battles 2000000] [--models 100] [--keep DIR]

End to end, as a user runs it: writes a battles.jsonl in our format (with style), then times whole
processes, each one's wall time and peak RSS (os.wait4), in this order:

- `arena rate FILE --out DIR --no-style-control` (default tables: overall, categories, turns);
- the same with style control on; and both again with `--bootstrap 0`, so the share of the
  style-controlled bootstrap (one per-battle fit per round) can be told apart (`--no-style`
  skips the style-controlled runs);
- the same through a run folder's columnar copy (battles.arrow beside battles.jsonl, written
  first by a read, as the reviews stage writes it);
- FastChat's way, written here from its description: pandas reads the JSONL, then its BT fit
  and 1000-round bootstrap (above) on the overall table only.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, log_expit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arena.battle_log import read_battle_log  # noqa: E402
from arena.rating.bootstrap import workers_for  # noqa: E402
from arena.rating.bt import ELO_PER_UNIT, INITIAL  # noqa: E402
from arena.rating.counts import aggregate  # noqa: E402
from arena.rating.ratings import bradley_terry  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ARENA_SHARED_DATA", REPO / ".." / "shared" / "data"))
OUTCOME = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}


def simulate(n_battles: int, n_models: int, seed: int) -> pd.DataFrame:
    """Arena-like battles: model popularity follows a heavy tail (a few models with most of the
    battles), strengths spread over ~600 Elo points, 15% ties."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 1.0, n_models)
    popularity = rng.pareto(1.2, n_models) + 0.05
    popularity /= popularity.sum()
    a = rng.choice(n_models, n_battles, p=popularity)
    b = rng.choice(n_models - 1, n_battles, p=None)
    b = np.where(b >= a, b + 1, b)  # an opponent other than model_a, uniform
    p_a = expit(strength[a] - strength[b])
    tie = rng.random(n_battles) < 0.15
    a_wins = rng.random(n_battles) < p_a
    winner = np.where(tie, "tie", np.where(a_wins, "model_a", "model_b"))
    names = np.array([f"model-{i:03d}" for i in range(n_models)], dtype=object)
    return pd.DataFrame({"model_a": names[a], "model_b": names[b], "winner": winner})


# --- ours --------------------------------------------------------------------------------------


def ours(frame: pd.DataFrame, outcome: np.ndarray, rounds: int, workers: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    codes, names = pd.factorize(pd.concat([frame["model_a"], frame["model_b"]], ignore_index=True), sort=True)
    n = len(frame)
    cells = aggregate(codes[:n], codes[n:], outcome, len(names))
    rated = bradley_terry(cells, list(names), rounds=rounds, seed=0, workers=workers)
    return list(names), rated.rating, rated.ci_low, rated.ci_high


# --- the reference: FastChat's current method, from its description ----------------------------


def _reference_loss(ratings: np.ndarray, pairs: np.ndarray, outcomes: np.ndarray, weights: np.ndarray):
    # Weighted logistic loss over the unique rows and its gradient; a row's gradient goes to
    # model_a with a plus sign and to model_b with a minus sign.
    logits = ratings[pairs[:, 0]] - ratings[pairs[:, 1]]
    loss = -(weights * (outcomes * log_expit(logits) + (1.0 - outcomes) * log_expit(-logits))).sum()
    row_grad = weights * (expit(logits) - outcomes)
    grad = np.zeros_like(ratings)
    np.add.at(grad, pairs[:, 0], row_grad)
    np.add.at(grad, pairs[:, 1], -row_grad)
    return loss, grad


def _reference_fit(weights: np.ndarray) -> np.ndarray:
    pairs, outcomes, n_models = _REFERENCE["pairs"], _REFERENCE["outcomes"], _REFERENCE["n_models"]
    result = minimize(
        _reference_loss,
        np.zeros(n_models),
        args=(pairs, outcomes, weights / weights.sum()),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-6, "maxiter": 1000},
    )
    return result.x


_REFERENCE: dict = {}


def reference(frame: pd.DataFrame, outcome: np.ndarray, rounds: int, workers: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    codes, names = pd.factorize(pd.concat([frame["model_a"], frame["model_b"]], ignore_index=True), sort=True)
    n = len(frame)
    rows = np.column_stack([codes[:n], codes[n:], outcome])
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    _REFERENCE.update(pairs=unique[:, :2].astype(np.int64), outcomes=unique[:, 2], n_models=len(names))
    point = _reference_fit(counts.astype(np.float64))
    rng = np.random.default_rng(0)
    draws = rng.multinomial(counts.sum(), counts / counts.sum(), size=rounds).astype(np.float64)
    # Forked workers inherit the unique rows; each round is one fit from zero ratings.
    with mp.get_context("fork").Pool(workers) as pool:
        samples = np.array(pool.map(_reference_fit, draws, chunksize=max(1, rounds // (4 * workers))))
    point = point * ELO_PER_UNIT
    samples = samples * ELO_PER_UNIT
    point += INITIAL - point.mean()
    samples += INITIAL - samples.mean(axis=1, keepdims=True)
    low, high = np.quantile(samples, [0.025, 0.975], axis=0)
    return list(names), point, low, high


# --- driver ------------------------------------------------------------------------------------


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def compare(label: str, frame: pd.DataFrame, outcome: np.ndarray, rounds: int, workers: int) -> None:
    print(f"\n== {label}: {len(frame):,} battles, {pd.concat([frame['model_a'], frame['model_b']]).nunique()} models, "
          f"{rounds} bootstrap rounds, {workers} workers")
    start = time.perf_counter()
    names, rating, low, high = ours(frame, outcome, rounds, workers)
    t_ours = time.perf_counter() - start
    rss = peak_rss_gib()
    print(f"ours:      {t_ours:8.2f} s   (peak RSS of this process so far {rss:.2f} GiB)")
    start = time.perf_counter()
    ref_names, ref_rating, ref_low, ref_high = reference(frame, outcome, rounds, workers)
    t_ref = time.perf_counter() - start
    print(f"reference: {t_ref:8.2f} s   (FastChat's method: unique rows, L-BFGS per round, process pool)")
    print(f"ratio:     {t_ref / t_ours:8.1f}x faster")
    assert names == ref_names
    print(f"max |rating difference|: {np.abs(rating - ref_rating).max():.4f} Elo points; "
          f"max |interval bound difference|: {max(np.abs(low - ref_low).max(), np.abs(high - ref_high).max()):.2f} "
          f"(independent random draws; median interval width {np.median(high - low):.1f})")


# --- end to end ---------------------------------------------------------------------------------

CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")


def write_battles_jsonl(path: Path, n_battles: int, n_models: int, seed: int) -> None:
    """A battles.jsonl as the reviews stage writes it (style included), in chunks."""
    import json

    rng = np.random.default_rng(seed)
    models = [f"model-{i:03d}" for i in range(n_models)]
    strength = rng.normal(0.0, 1.0, n_models)
    winners = ("model_a", "model_b", "tie")
    with open(path, "w", encoding="utf-8") as out:
        for start in range(0, n_battles, 200_000):
            n = min(200_000, n_battles - start)
            a = rng.integers(0, n_models, n)
            b = rng.integers(0, n_models - 1, n)
            b = np.where(b >= a, b + 1, b)
            tie = rng.random(n) < 0.15
            a_wins = rng.random(n) < expit(strength[a] - strength[b])
            w = np.where(tie, 2, np.where(a_wins, 0, 1))
            q = rng.integers(0, 4000, n)
            turn = 1 + (rng.random(n) < 0.5)
            tok = rng.integers(50, 800, (n, 2))
            lines = []
            for i in range(n):
                row = {
                    "question_id": int(q[i]), "category": CATEGORIES[q[i] % 8], "model_a": models[a[i]],
                    "model_b": models[b[i]], "winner": winners[w[i]], "judge": "judge", "turn": int(turn[i]),
                    "outcome": (1.0, 0.0, 0.5)[w[i]], "weight": 1.0, "mode": "pairwise-all",
                    "games": [winners[w[i]]] * 2, "consistent": True, "score_a": None, "score_b": None,
                    "style_a": {"tokens": int(tok[i, 0]), "chars": int(tok[i, 0]) * 4, "headers": int(q[i] % 3), "lists": int(q[i] % 5), "bold": 0},
                    "style_b": {"tokens": int(tok[i, 1]), "chars": int(tok[i, 1]) * 4, "headers": int(q[i] % 2), "lists": int(q[i] % 4), "bold": 1},
                }
                lines.append(json.dumps(row, separators=(",", ":")))
            out.write("\n".join(lines) + "\n")


def timed(argv: list[str], label: str) -> dict:
    """Run `argv` as a process; its wall time and peak RSS (from the kernel's accounting of it)."""
    import subprocess

    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    err = process.stderr.read().decode(errors="replace") if process.stderr else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{label} exited {process.returncode}: {err[-2000:]}")
    result = {"label": label, "wall_s": round(wall, 2), "peak_rss_gib": round(usage.ru_maxrss / 2**20, 3)}
    print(f"{label:<58} {result['wall_s']:7.2f} s  {result['peak_rss_gib']:5.2f} GiB", flush=True)
    return result


FASTCHAT_WAY = """
import sys, time
sys.path.insert(0, {repo!r})
import numpy as np, pandas as pd
sys.argv = ["bench"]
import bench.bench_rating as b
frame = pd.read_json({path!r}, lines=True)
outcome = frame["winner"].map(b.OUTCOME).to_numpy()
b.reference(frame, outcome, 1000, b.workers_for(0))
"""


def end_to_end(args: argparse.Namespace) -> int:
    import json
    import shutil
    import tempfile

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-rating-"))
    root.mkdir(parents=True, exist_ok=True)
    run = root / "run"
    run.mkdir(exist_ok=True)
    jsonl = run / "battles.jsonl"
    if not jsonl.exists():
        start = time.perf_counter()
        write_battles_jsonl(jsonl, args.battles, args.models, args.seed)
        print(f"wrote {jsonl} ({jsonl.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.0f} s", flush=True)
    loose = root / "battles.jsonl"  # the same file outside a run folder: no columnar copy
    if not loose.exists():
        shutil.copyfile(jsonl, loose)
    (run / "run.json").write_text(json.dumps({"name": "bench", "config": None}))
    arena = [sys.executable, "-m", "arena.cli", "rate"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.battles:,} battles, {args.models} models", flush=True)
    results = [
        timed(arena + [str(loose), "--out", str(root / "out-jsonl"), "--no-style-control"], "arena rate JSONL (style control off)"),
        timed(arena + [str(loose), "--out", str(root / "out-jsonl0"), "--no-style-control", "--bootstrap", "0"],
              "arena rate JSONL (style control off, no bootstrap)"),
    ]
    if not args.no_style:
        results += [
            timed(arena + [str(loose), "--out", str(root / "out-style")], "arena rate JSONL (style control on)"),
            timed(arena + [str(loose), "--out", str(root / "out-style0"), "--bootstrap", "0"],
                  "arena rate JSONL (style control on, no bootstrap)"),
        ]
    for stale in (run / "battles.arrow",):
        stale.unlink(missing_ok=True)
    results.append(timed(arena + [str(jsonl), "--out", str(root / "out-first"), "--no-style-control"],
                         "arena rate run folder, first read (writes battles.arrow)"))
    results.append(timed(arena + [str(jsonl), "--out", str(root / "out-arrow"), "--no-style-control"],
                         "arena rate run folder, columnar copy (style control off)"))
    results.append(timed([sys.executable, "-c", FASTCHAT_WAY.format(repo=str(REPO), path=str(loose))],
                         "FastChat's way: pandas read_json + BT + 1000 rounds (overall)"))
    by = {r["label"]: r for r in results}
    ours = by["arena rate JSONL (style control off)"]["wall_s"]
    fastchat = results[-1]["wall_s"]
    print(f"FastChat's way / arena rate JSONL: {fastchat / ours:.1f}x (target >= 8; ours writes 11 tables, it 1)")
    columnar = by["arena rate run folder, columnar copy (style control off)"]
    jsonl = by["arena rate JSONL (style control off)"]
    print(f"targets: JSONL {jsonl['wall_s']:.2f} s (<= 10), {jsonl['peak_rss_gib']:.2f} GiB (<= 2); "
          f"columnar {columnar['wall_s']:.2f} s (<= 5)")
    if not args.no_style:
        # The style-controlled bootstrap is what style control adds with rounds, less what the
        # plain tables' rounds cost.
        style_on = by["arena rate JSONL (style control on)"]["wall_s"]
        style_rounds = (style_on - by["arena rate JSONL (style control on, no bootstrap)"]["wall_s"]) - (
            ours - by["arena rate JSONL (style control off, no bootstrap)"]["wall_s"])
        print(f"style control on: {style_on:.1f} s, of which its per-battle bootstrap {style_rounds:.1f} s "
              f"({style_rounds / style_on:.0%})")
    if args.out:
        Path(args.out).write_text(json.dumps({"battles": args.battles, "models": args.models, "results": results}, indent=2))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--end-to-end", action="store_true", help="time whole `arena rate` processes on a JSONL file")
    parser.add_argument("--keep", metavar="DIR", help="end to end: keep (and reuse) the files in DIR")
    parser.add_argument("--out", metavar="FILE", help="end to end: write the figures as JSON")
    parser.add_argument("--no-style", action="store_true",
                        help="end to end: skip the two style-controlled runs (about 6 minutes of the 8 on 2M battles)")
    parser.add_argument("--battles", type=int, default=2_000_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=0, help="0: every core")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.end_to_end:
        return end_to_end(args)
    workers = workers_for(args.workers)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}")
    frame = simulate(args.battles, args.models, args.seed)
    outcome = frame["winner"].map(OUTCOME).to_numpy()
    compare("simulated Arena-like battles", frame, outcome, args.rounds, workers)
    preferences = SHARED / "alpaca-eval" / "preferences.csv.gz"
    if preferences.exists():
        battles = read_battle_log(preferences, "preferences-csv", annotator="weighted_alpaca_eval_gpt4_turbo").battles
        compare("AlpacaEval weighted_alpaca_eval_gpt4_turbo (fractional outcomes)", battles, battles["outcome"].to_numpy(), args.rounds, workers)
    else:
        print(f"\n(AlpacaEval part skipped: {preferences} not found)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
