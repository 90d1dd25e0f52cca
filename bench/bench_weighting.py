"""Does probability weighting recover the demo's latent strengths better than the written verdict?

For each seed and each level of the simulated judge's belief noise (how far its stated verdict
probabilities stray from the truth, per game, in logits), the demo's six candidates are judged
pairwise-all in both orders twice, in one run folder each: `verdict_weighting: argmax` (the
written verdict counts) and `probability` (P(first) + 0.5 P(tie) from the verdict token's
probabilities). Bradley-Terry ratings are compared with the latent strengths they should recover:
Spearman's rank correlation and the mean absolute rating error (Elo points; both sides centred on
1000). Printed: mean and standard deviation over seeds, per noise level and weighting; written to
--out as JSON. Dry runs only: no GPU, no key.

    python bench/bench_weighting.py --seeds 20 --out /tmp/weighting.json
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
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from arena.cli import main as arena_main  # noqa: E402

DEMO = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text(encoding="utf-8"))
LATENT = {m["name"]: float(m["simulated"]["strength"]) for m in DEMO["models"]}


def config(folder: Path, seed: int, noise: float, weighting: str, questions: int) -> Path:
    data = {
        "name": f"w-{seed}-{noise}-{weighting}",
        "dry_run": True,
        "seed": seed,
        "output_dir": str(folder / f"run-{seed}-{noise}-{weighting}"),
        "stages": ["answers", "reviews", "ratings"],
        "questions": {"source": "mt_bench", "limit": questions},
        "models": DEMO["models"],
        "judges": [{
            "name": "sim-judge", "provider": "simulated", "mode": "pairwise-all", "template": "pairwise-abc",
            "verdict_weighting": weighting,
            "simulated": {"position_bias": 60, "tie_rate": 0.15, "belief_noise": noise},
        }],
        "ratings": {"methods": ["bt"], "bootstrap": 0, "seed": seed},
    }
    path = folder / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def recovery(run: Path) -> tuple[float, float]:
    """(Spearman, mean absolute error in Elo points) of the overall ratings against LATENT."""
    with open(run / "ratings" / "leaderboard.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return recovery_of({r["model"]: float(r["rating"]) for r in rows})


def recovery_of(rating: dict[str, float]) -> tuple[float, float]:
    """(Spearman, mean absolute error in Elo points, both sides centred) of ratings against LATENT."""
    models = sorted(LATENT)
    rho = spearmanr([rating[m] for m in models], [LATENT[m] for m in models]).statistic
    centre = statistics.fmean(rating.values()) - statistics.fmean(LATENT.values())
    mae = statistics.fmean(abs(rating[m] - centre - LATENT[m]) for m in models)
    return float(rho), mae


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    parser.add_argument("--questions", type=int, default=80, help="MT-Bench questions per run (both turns)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results: dict = {"seeds": args.seeds, "questions": args.questions, "latent": LATENT, "cells": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for noise in args.noise:
            for weighting in ("argmax", "probability"):
                rhos, maes = [], []
                for seed in range(args.seeds):
                    path = config(folder, seed, noise, weighting, args.questions)
                    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                        code = arena_main(["run", "-c", str(path)])
                    if code != 0:
                        raise SystemExit(f"run {path.name} exited {code}")
                    rho, mae = recovery(folder / f"run-{seed}-{noise}-{weighting}")
                    rhos.append(rho)
                    maes.append(mae)
                cell = {"belief_noise": noise, "weighting": weighting,
                        "spearman_mean": statistics.fmean(rhos), "spearman_sd": statistics.pstdev(rhos),
                        "spearman_min": min(rhos), "mae_mean": statistics.fmean(maes), "mae_sd": statistics.pstdev(maes)}
                results["cells"].append(cell)
                print(f"belief_noise {noise:>3}  {weighting:>11}: Spearman {cell['spearman_mean']:.3f} "
                      f"(sd {cell['spearman_sd']:.3f}, min {cell['spearman_min']:.3f}), "
                      f"rating error {cell['mae_mean']:.1f} (sd {cell['mae_sd']:.1f}) Elo points", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
