"""A dry run is a real test: the simulated judge draws verdicts from Bradley-Terry over latent
strengths (with position bias and ties), and the pipeline must recover them."""

from __future__ import annotations

import csv

import pytest
from scipy.stats import spearmanr

from arena.cli import main

STRENGTHS = {"m1": 1160, "m2": 1090, "m3": 1030, "m4": 970, "m5": 910, "m6": 840}  # mean 1000


@pytest.mark.slow
def test_six_models_eighty_questions_pairwise_all_recover_the_latent_order(tmp_path, write_config):
    out = tmp_path / "run"
    config = {
        "name": "latent",
        "output_dir": str(out),
        "dry_run": True,
        "seed": 7,
        "questions": "mt_bench",
        "models": [{"name": m, "provider": "simulated", "simulated": {"strength": s}} for m, s in STRENGTHS.items()],
        "judges": [{"name": "j", "provider": "simulated", "mode": "pairwise-all",
                    "simulated": {"position_bias": 60, "tie_rate": 0.15}}],
        "ratings": {"bootstrap": 300, "seed": 0},
    }
    assert main(["run", "-c", str(write_config(config))]) == 0
    with open(out / "ratings" / "leaderboard.csv", newline="") as handle:
        rows = {r["model"]: r for r in csv.DictReader(handle)}
    assert set(rows) == set(STRENGTHS)
    models = list(STRENGTHS)
    fitted = [float(rows[m]["rating"]) for m in models]
    rho = spearmanr([STRENGTHS[m] for m in models], fitted).statistic
    assert rho >= 0.9, f"Spearman {rho:.3f}: {dict(zip(models, fitted))}"
    inside = [m for m in models if float(rows[m]["ci_low"]) <= STRENGTHS[m] <= float(rows[m]["ci_high"])]
    assert len(inside) >= 5, f"latent strengths inside their 95% interval: {inside}; rows: {rows}"
