"""Are the paired p-values and the power figures right? Checked on dry runs with known strengths.

1. False positives, pairwise-all: the demo's six candidates and a twin of each (same latent
   strength and verbosity), judged as in the demo (every pair, both orders, position bias 60,
   15% ties). Over seeded replications, the share of twin pairs with p < 0.05 should be near 5%.
2. False positives and power, pairwise-baseline on Arena-Hard's questions (its design): the demo's
   six, a twin of cirrus-13b (1020), and a probe 50 Elo below it (970), each judged against
   delta-8b. `arena power` on a 100-question run says how many questions 50 Elo needs for 80%
   power; the replications are then run at that many questions (questions.limit), and the share of
   replications where cirrus-13b vs the probe has p < 0.05 should be near 80%. For every
   adjacent pair, the power predicted from each replication's own bootstrap standard error is
   printed beside the rejection rate observed.

    python bench/check_significance.py --seeds 40 --out docs/significance_check.json

Dry runs only: no GPU, no key. Results are recorded in docs/RATINGS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from arena.battle_log import read_battles_jsonl  # noqa: E402
from arena.cli import main as arena_main  # noqa: E402
from arena.rating.paired import power_of  # noqa: E402
from arena.significance import gap_of, paired_log, paired_samples, power_analysis  # noqa: E402

DEMO = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text(encoding="utf-8"))
JUDGE = {"name": "sim-judge", "provider": "simulated", "simulated": {"position_bias": 60, "tie_rate": 0.15}}


def models_with(extra: list[tuple[str, dict]]) -> list[dict]:
    return [dict(m) for m in DEMO["models"]] + [{"name": n, "provider": "simulated", "simulated": s} for n, s in extra]


def run(folder: Path, seed: int, models: list[dict], judge: dict, limit: int | None = None, source: str = "mt_bench") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"run-{seed}-{limit}"
    questions = {"source": source, "limit": limit} if limit else source
    data = {"name": "sig", "dry_run": True, "seed": seed, "output_dir": str(out), "stages": ["answers", "reviews"],
            "questions": questions, "models": models, "judges": [judge]}
    path = folder / f"config-{seed}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = arena_main(["run", "-c", str(path)])
    if code != 0:
        raise SystemExit(f"dry run failed for seed {seed}")
    return out


def p_values(run_dir: Path, pairs: list[tuple[str, str]], rounds: int, seed: int) -> list[tuple[float, float, float]]:
    """(gap, p, se) of each pair, from one paired bootstrap of the run's battles."""
    log = paired_log(read_battles_jsonl(run_dir / "battles.jsonl").battles)
    samples, _ = paired_samples(log, rounds, seed)
    out = []
    for a, b in pairs:
        d = gap_of(log.rating, samples, log.models.index(a), log.models.index(b))
        out.append((d.value, d.p_value, d.se))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=40, help="replications per design")
    parser.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds per test")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    report: dict = {"seeds": args.seeds, "rounds": args.rounds}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # 1. pairwise-all with a twin of every demo model.
        twins = [(f"{m['name']}-twin", dict(m["simulated"])) for m in DEMO["models"]]
        pairs = [(m["name"], f"{m['name']}-twin") for m in DEMO["models"]]
        judge = dict(JUDGE, mode="pairwise-all", template="pairwise-abc")
        rejects = []
        for seed in range(args.seeds):
            result = p_values(run(folder / "all", seed, models_with(twins), judge), pairs, args.rounds, seed)
            rejects += [p < 0.05 for _, p, _ in result]
        rate = float(np.mean(rejects))
        report["pairwise_all"] = {"tests": len(rejects), "false_positive_rate": rate,
                                  "binomial_se": float(np.sqrt(0.05 * 0.95 / len(rejects)))}
        print(f"pairwise-all, 12 models (6 twin pairs), 80 questions: false-positive rate {rate:.3f} "
              f"over {len(rejects)} tests (5% expected; binomial SE {report['pairwise_all']['binomial_se']:.3f})")

        # 2. pairwise-baseline: how many questions does 50 Elo need, and is that right?
        extra = [("cirrus-twin", {"strength": 1020}), ("probe-970", {"strength": 970})]
        judge = dict(JUDGE, mode="pairwise-baseline", baseline="delta-8b", template="pairwise-abc")
        first = run(folder / "base", 10_000, models_with(extra), judge, 100, "arena_hard_v0.1")
        plan = power_analysis(read_battles_jsonl(first / "battles.jsonl").battles, gaps=(50.0,),
                              models=("cirrus-13b", "probe-970"), rounds=args.rounds, seed=0)
        needed = plan.needed[50.0][0]
        print(f"pairwise-baseline: arena power on one 100-question run says {needed} questions separate 50 Elo "
              f"with 80% power (SE exponent {plan.pairs[0].exponent:+.2f})")
        latent = {m["name"]: m["simulated"]["strength"] for m in models_with(extra)}
        ranked = sorted((n for n in latent if n not in ("cirrus-twin", "delta-8b")), key=lambda n: -latent[n])
        checked = [(ranked[k], ranked[k + 1]) for k in range(len(ranked) - 1)] + [("cirrus-13b", "cirrus-twin")]
        limit = min(needed, 500)
        outcomes: dict[tuple[str, str], list[tuple[float, float, float]]] = {pair: [] for pair in checked}
        for seed in range(args.seeds):
            result = p_values(run(folder / "base", seed, models_with(extra), judge, limit, "arena_hard_v0.1"), checked, args.rounds, seed)
            for pair, r in zip(checked, result):
                outcomes[pair].append(r)
        rows = []
        for a, b in checked:
            true_gap = latent[a] - latent[b]
            got = outcomes[(a, b)]
            observed = float(np.mean([p < 0.05 for _, p, _ in got]))
            predicted = float(np.mean([power_of(true_gap, se) for _, _, se in got])) if true_gap else 0.05
            rows.append({"pair": f"{a} vs {b}", "true_gap": true_gap, "rejection_rate": observed, "predicted": predicted,
                         "mean_gap": float(np.mean([g for g, _, _ in got]))})
            print(f"  {a} vs {b}: true gap {true_gap:+.0f} Elo, estimated {rows[-1]['mean_gap']:+.1f}; p < 0.05 in "
                  f"{100 * observed:.0f}% of {len(got)} runs at {limit} questions (predicted {100 * predicted:.0f}%)")
        report["pairwise_baseline"] = {"questions_needed_for_50": needed, "questions_run": limit, "pairs": rows}
    report["seconds"] = time.perf_counter() - start
    print(f"{report['seconds']:.0f} s")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
