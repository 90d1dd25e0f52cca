"""Does `arena diff` mark the rating changes that are real, and only those? Checked on dry runs.

Each replication runs the demo's arena (six candidates, 80 MT-Bench questions, pairwise-all in
both orders, position bias 60, 15% ties) twice with different seeds, so answers and verdicts are
drawn afresh on the same questions:

1. Null: nothing changed between the two runs. The share of models whose change is marked
   (p < 0.05) should be near 5%.
2. A real change: in run B one model (cirrus-13b, 1020) is 30 or 60 Elo stronger. How often is it
   marked, and does the diff's estimate recover the change? (Centred on the six models, a gain of
   g shows as 5g/6 for that model, and -g/6 for each of the others.)

    python bench/check_diff.py --seeds 40 --out docs/diff_check.json

Dry runs only: no GPU, no key. Results are recorded in docs/RATINGS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
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
from arena.run_diff import diff_runs  # noqa: E402

DEMO = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text(encoding="utf-8"))
MOVED = "cirrus-13b"


def run(folder: Path, name: str, seed: int, gain: float) -> Path:
    out = folder / name
    models = [dict(m, simulated=dict(m["simulated"])) for m in DEMO["models"]]
    for m in models:
        if m["name"] == MOVED:
            m["simulated"]["strength"] += gain
    data = {"name": "diff", "dry_run": True, "seed": seed, "output_dir": str(out), "stages": ["answers", "reviews"],
            "questions": "mt_bench", "models": models, "judges": DEMO["judges"]}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = arena_main(["run", "-c", str(path)])
    if code != 0:
        raise SystemExit(f"dry run {name} failed with exit code {code}")
    return out


def diff(a: Path, b: Path, rounds: int, seed: int):
    return diff_runs(a, b, read_battles_jsonl(a / "battles.jsonl").battles, read_battles_jsonl(b / "battles.jsonl").battles,
                     rounds=rounds, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--gains", type=float, nargs="+", default=[30.0, 60.0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    start = time.perf_counter()
    null_marked = null_tests = holm_marked = 0
    found = {g: [] for g in args.gains}
    estimate = {g: [] for g in args.gains}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for seed in range(args.seeds):
            a = run(folder, f"a{seed}", seed, 0.0)
            b = run(folder, f"b{seed}", 10_000 + seed, 0.0)
            result = diff(a, b, args.rounds, seed)
            null_marked += sum(bool(m.significant) for m in result.models)
            holm_marked += sum(m.p_holm is not None and m.p_holm < 0.05 for m in result.models)
            null_tests += len(result.models)
            for gain in args.gains:
                moved = run(folder, f"g{gain:g}-{seed}", 20_000 + seed, gain)
                change = {m.model: m for m in diff(a, moved, args.rounds, seed).models}[MOVED]
                found[gain].append(bool(change.significant))
                estimate[gain].append(change.change.value)
            print(f"seed {seed}: null marked {null_marked}/{null_tests}; "
                  + "; ".join(f"+{g:g} found {sum(found[g])}/{len(found[g])}" for g in args.gains), flush=True)
    report = {
        "seeds": args.seeds, "rounds": args.rounds, "seconds": round(time.perf_counter() - start, 1),
        "null": {"tests": null_tests, "marked": null_marked, "rate": null_marked / null_tests,
                 "binomial_se": float(np.sqrt(0.05 * 0.95 / null_tests)), "holm_marked": holm_marked},
        "changes": {
            f"{g:g}": {"found": sum(found[g]), "of": len(found[g]), "rate": float(np.mean(found[g])),
                       "expected_estimate": 5 * g / 6, "mean_estimate": float(np.mean(estimate[g])),
                       "sd_estimate": float(np.std(estimate[g]))}
            for g in args.gains
        },
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
