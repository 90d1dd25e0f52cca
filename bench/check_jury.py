"""Does a jury of biased judges recover the demo's latent strengths better than its members?

Three simulated judges, each biased its own way, judge the demo's six candidates pairwise-all in
both orders on MT-Bench's questions:

- `positional`: favours the answer shown first by --position-bias Elo points;
- `verbose`: favours the longer answer by --length-bias Elo points per doubling of length (the
  demo's boreal-34b writes 1.5 times as much as the others, delta-8b 0.7 times);
- `noisy`: its belief about each game strays from the truth by --belief-noise logits (sd).

Each calls --tie-rate ties. Per seed, one run folder: the members' reviews once, then the jury
rebuilt from them (no new calls) as `majority`, `majority` with min_agreement 0.6 (three-way
splits left out), and `mean`. Each board (every member's and each jury's, from ratings/by_judge.csv;
and the three members' battles pooled, what a run without a jury ranks by) is compared with the
latent strengths: Spearman's rank correlation and the mean absolute rating error (Elo points, both
sides centred). Printed: mean and spread over seeds; written to --out as JSON. Dry runs only.

    python bench/check_jury.py --seeds 20 --out docs/jury_check.json
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from arena.cli import main as arena_main  # noqa: E402
from bench.bench_weighting import DEMO, LATENT, recovery_of  # noqa: E402

MEMBERS = ("positional", "verbose", "noisy")
JURIES = {  # label -> the jury: settings
    "jury majority": {"method": "majority"},
    "jury majority, contested out": {"method": "majority", "min_agreement": 0.6},
    "jury mean": {"method": "mean"},
}
POOLED = "members pooled (no jury)"


def config(run: Path, seed: int, args: argparse.Namespace, jury: dict) -> Path:
    tie = args.tie_rate
    data = {
        "name": f"jury-{seed}",
        "dry_run": True,
        "seed": seed,
        "output_dir": str(run),
        "stages": ["answers", "reviews", "ratings"],
        "questions": {"source": "mt_bench", "limit": args.questions},
        "models": DEMO["models"],
        "judges": [
            {"name": "positional", "provider": "simulated", "mode": "pairwise-all",
             "simulated": {"position_bias": args.position_bias, "tie_rate": tie}},
            {"name": "verbose", "provider": "simulated", "mode": "pairwise-all",
             "simulated": {"length_bias": args.length_bias, "tie_rate": tie}},
            {"name": "noisy", "provider": "simulated", "mode": "pairwise-all",
             "simulated": {"belief_noise": args.belief_noise, "tie_rate": tie}},
        ],
        "jury": {"judges": list(MEMBERS), **jury},
        "ratings": {"methods": ["bt"], "bootstrap": 0, "seed": seed, "style_control": False, "per_category": False},
    }
    path = run.parent / f"jury-{seed}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def quiet(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = arena_main(argv)
    if code != 0:
        raise SystemExit(f"arena {' '.join(argv)} exited {code}")


def boards(csv_path: Path) -> dict[str, dict[str, float]]:
    """judge -> model -> rating, from a by_judge.csv."""
    out: dict[str, dict[str, float]] = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["judge"], {})[row["model"]] = float(row["rating"])
    return out


def one_seed(folder: Path, seed: int, args: argparse.Namespace) -> dict[str, dict]:
    run = folder / f"run-{seed}"
    found: dict[str, dict] = {}
    for k, (label, jury) in enumerate(JURIES.items()):
        stages = "answers,reviews,ratings" if k == 0 else "reviews,ratings"  # later juries: no new calls
        quiet(["run", "-c", str(config(run, seed, args, jury)), "--stages", stages])
        by_judge = boards(run / "ratings" / "by_judge.csv")
        if k == 0:
            for member in MEMBERS:
                found[member] = {"rating": by_judge[member]}
        found[label] = {"rating": by_judge["jury"]}
        entry = json.loads((run / "summary.json").read_text(encoding="utf-8"))["reviews"]["jury"]
        found[label].update(contested=entry["contested"], games=entry["games"], mean_agreement=entry["mean_agreement"])
        if k == 0:
            kappa = json.loads((run / "summary.json").read_text(encoding="utf-8"))["judge_agreement"]["pairwise"]["fleiss_kappa"]
            found["_fleiss"] = {"kappa": kappa}
    pooled = folder / f"pooled-{seed}"
    quiet(["rate", str(run / "battles.jsonl"), "--out", str(pooled), "--bootstrap", "0", "--no-style-control",
           "--no-per-category", *[a for m in MEMBERS for a in ("--judge", m)]])
    with open(pooled / "leaderboard.csv", newline="") as f:
        found[POOLED] = {"rating": {r["model"]: float(r["rating"]) for r in csv.DictReader(f)}}
    return found


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--questions", type=int, default=80, help="MT-Bench questions per run (both turns)")
    parser.add_argument("--position-bias", type=float, default=150.0)
    parser.add_argument("--length-bias", type=float, default=150.0)
    parser.add_argument("--belief-noise", type=float, default=2.0)
    parser.add_argument("--tie-rate", type=float, default=0.15)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    labels = [*MEMBERS, POOLED, *JURIES]
    per: dict[str, dict[str, list[float]]] = {label: {"spearman": [], "mae": []} for label in labels}
    extra: dict[str, list[dict]] = {label: [] for label in JURIES}
    fleiss: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            found = one_seed(Path(tmp), seed, args)
            fleiss.append(found.pop("_fleiss")["kappa"])
            for label in labels:
                rho, mae = recovery_of(found[label]["rating"])
                per[label]["spearman"].append(rho)
                per[label]["mae"].append(mae)
                if label in JURIES:
                    extra[label].append({k: v for k, v in found[label].items() if k != "rating"})
            print(f"seed {seed}: " + ", ".join(f"{label} {per[label]['mae'][-1]:.1f}" for label in labels), flush=True)
    rows = []
    for label in labels:
        rho, mae = per[label]["spearman"], per[label]["mae"]
        row = {"board": label, "spearman_mean": statistics.fmean(rho), "spearman_min": min(rho),
               "mae_mean": statistics.fmean(mae), "mae_sd": statistics.pstdev(mae)}
        if label in JURIES:
            row["contested_share"] = statistics.fmean(e["contested"] / e["games"] for e in extra[label])
            row["mean_agreement"] = statistics.fmean(e["mean_agreement"] for e in extra[label])
        rows.append(row)
    members = [r for r in rows if r["board"] in MEMBERS]
    worst = max(members, key=lambda r: r["mae_mean"])
    best = min(members, key=lambda r: r["mae_mean"])
    print(f"\n{args.seeds} seeds, {args.questions} questions x 2 turns, 6 models; Fleiss' kappa of the members "
          f"{statistics.fmean(fleiss):.3f}")
    print(f"{'board':<30} {'Spearman':>9} {'(min)':>6} {'error (Elo)':>12} {'(sd)':>6}")
    for r in rows:
        line = f"{r['board']:<30} {r['spearman_mean']:>9.3f} {r['spearman_min']:>6.2f} {r['mae_mean']:>12.1f} {r['mae_sd']:>6.1f}"
        if "contested_share" in r:
            line += f"   contested {r['contested_share']:.1%}, agreement {r['mean_agreement']:.1%}"
        print(line)
    verdicts = {}
    for r in rows:
        if r["board"] in JURIES:
            verdicts[r["board"]] = {"beats_worst": r["mae_mean"] < worst["mae_mean"], "beats_best": r["mae_mean"] < best["mae_mean"]}
            print(f"{r['board']}: rating error {r['mae_mean']:.1f} against the worst member's {worst['mae_mean']:.1f} "
                  f"({worst['board']}) and the best's {best['mae_mean']:.1f} ({best['board']})")
    result = {"seeds": args.seeds, "questions": args.questions, "latent": LATENT,
              "judges": {"position_bias": args.position_bias, "length_bias": args.length_bias,
                         "belief_noise": args.belief_noise, "tie_rate": args.tie_rate},
              "fleiss_kappa_mean": statistics.fmean(fleiss), "boards": rows, "verdicts": verdicts,
              "worst_member": worst["board"], "best_member": best["board"]}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
