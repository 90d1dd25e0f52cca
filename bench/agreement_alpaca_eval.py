"""AlpacaEval's annotators against AlpacaEval's published leaderboards, in arena-hard's figures
(the tables of docs/AGREEMENT.md).

    python bench/agreement_alpaca_eval.py [--data ../shared/data/alpaca-eval] [--rounds 1000] [--json docs/agreement_alpaca_eval.json]

Each annotator's judgments in preferences.csv.gz are rated here (Bradley-Terry anchored at the
annotator's baseline, paired bootstrap over instructions) and set against:

1. the published AlpacaEval 2.0 leaderboard of the weighted GPT-4 Turbo annotator (win_rate);
2. the same leaderboard's length-controlled win rate, AlpacaEval 2.0's headline figure;
3. each annotator's own published leaderboard (what our reading of its judgments reproduces).

Prints the markdown tables; with --json also writes every row and note.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from arena.benchmark_agreement import benchmarks_of, compare_to_reference, format_report
from arena.boards import read_leaderboard

LEADERBOARDS = {
    "weighted_alpaca_eval_gpt4_turbo": "data_AlpacaEval_2/weighted_alpaca_eval_gpt4_turbo_leaderboard.csv",
    "alpaca_eval_gpt4_turbo_fn": "data_AlpacaEval_2/alpaca_eval_gpt4_turbo_fn_leaderboard.csv",
    "alpaca_eval_cot_gpt4_turbo_fn": "data_AlpacaEval_2/alpaca_eval_cot_gpt4_turbo_fn_leaderboard.csv",
    "alpaca_eval_gpt4": "data_AlpacaEval/alpaca_eval_gpt4_leaderboard.csv",
}
# The GPT-4 Turbo annotators' own leaderboards call their baseline gpt4_turbo; their judgments
# call it gpt4_1106_preview.
ALIASES = {"alpaca_eval_gpt4_turbo_fn": {"gpt4_1106_preview": "gpt4_turbo"}, "alpaca_eval_cot_gpt4_turbo_fn": {"gpt4_1106_preview": "gpt4_turbo"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca-eval")
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write every row and note here")
    args = parser.parse_args()
    prefs = args.data / "preferences.csv.gz"
    boards = args.data / "leaderboards"
    started = time.perf_counter()
    benchmarks, notes = benchmarks_of(prefs)
    by_name = {b.label: b for b in benchmarks}
    weighted = boards / LEADERBOARDS["weighted_alpaca_eval_gpt4_turbo"]
    sections = []
    for title, column in (("AlpacaEval 2.0 weighted leaderboard, win_rate", None),
                          ("AlpacaEval 2.0 weighted leaderboard, length_controlled_winrate", "length_controlled_winrate")):
        reference, ref_notes = read_leaderboard(weighted, column)
        report = compare_to_reference(benchmarks, reference, weighted.name, rounds=args.rounds, seed=args.seed)
        report.notes[:0] = ref_notes
        sections.append((title, report))
    for annotator, relative in LEADERBOARDS.items():
        if annotator not in by_name:
            continue
        path = boards / relative
        reference, ref_notes = read_leaderboard(path)
        report = compare_to_reference(
            [by_name[annotator]], reference, path.name, rounds=args.rounds, seed=args.seed, aliases=ALIASES.get(annotator),
        )
        report.notes[:0] = ref_notes
        sections.append((f"{annotator} against its own published leaderboard ({path.name})", report))
    elapsed = time.perf_counter() - started
    for title, report in sections:
        print(f"### {title}\n")
        print(format_report(report, markdown=True))
        print()
    print(f"{len(sections)} comparisons, {args.rounds} rounds, seed {args.seed}: {elapsed:.1f} s")
    if args.json:
        payload = {
            "rounds": args.rounds, "seed": args.seed, "seconds": round(elapsed, 1), "source_notes": notes,
            "sections": [{"title": t, "reference": r.reference, "measure": r.measure, "rows": r.rows, "notes": r.notes} for t, r in sections],
        }
        args.json.write_text(json.dumps(payload, indent=2, default=float) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
