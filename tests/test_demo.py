"""The README's first command: the dry-run demo shows the arena's ratings beside rule-based
scores (a multiple-choice set in three styles and an exact-match set), the simulated scores
follow the same latent strengths as the verdicts, and the output says how well they agree."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml
from scipy.stats import spearmanr

from arena.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_demo_runs_scores_beside_the_arena_and_they_agree(tmp_path, capsys):
    config = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    config["output_dir"] = str(tmp_path / "demo")
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", "-c", str(path)]) == 0
    printed = capsys.readouterr().out
    strengths = {m["name"]: m["simulated"]["strength"] for m in config["models"]}
    with open(tmp_path / "demo" / "scores" / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    figures = {(r["benchmark"], r["style"]) for r in rows}
    assert figures == {("arith_mc", "letter_logprob"), ("arith_mc", "text_logprob"), ("arith_mc", "generate_letter"),
                       ("arith_em", "exact_match")}
    for benchmark, style in figures:
        accuracy = {r["model"]: float(r["value"]) for r in rows if (r["benchmark"], r["style"]) == (benchmark, style)}
        models = sorted(strengths)
        rho = spearmanr([strengths[m] for m in models], [accuracy[m] for m in models]).statistic
        assert rho >= 0.9, (benchmark, style, accuracy)
    # Printed: the scores beside the ratings and the rank correlation of each benchmark.
    assert "rule-based scores beside the ratings" in printed
    assert "rank correlation of the arena rating with each benchmark" in printed
    assert "arith_mc letter_logprob (2-shot)" in printed
