"""`arena rate`: any battle log in, the ratings folder out; bad input is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arena.cli import main


def arena_log(path: Path, n: int = 600, seed: int = 0) -> Path:
    """Chatbot Arena rows: three models, strengths A > B > C, two categories."""
    rng = np.random.default_rng(seed)
    names = ["model-A", "model-B", "model-C"]
    strength = np.array([0.7, 0.0, -0.7])
    rows = []
    for t in range(n):
        i, j = rng.choice(3, 2, replace=False)
        p = 1 / (1 + np.exp(-(strength[i] - strength[j])))
        u = rng.random()
        winner = "tie" if u < 0.1 else ("model_a" if rng.random() < p else "model_b")
        rows.append({"model_a": names[i], "model_b": names[j], "winner": winner, "judge": f"user{t % 5}",
                     "turn": 1, "anony": bool(t % 4), "tstamp": 1.7e9 + t, "category": "code" if t % 2 else "chat"})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_rate_an_arena_log(tmp_path, capsys):
    log = arena_log(tmp_path / "arena.jsonl")
    out = tmp_path / "out"
    assert main(["rate", str(log), "--out", str(out), "--bootstrap", "40", "--method", "bt,elo", "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "model-A" in printed and "wrote" in printed
    lb = pd.read_csv(out / "leaderboard.csv")
    assert lb.columns.tolist()[:6] == ["model", "rating", "ci_low", "ci_high", "n_battles", "win_rate"]
    assert lb["model"].tolist() == ["model-A", "model-B", "model-C"]
    assert "elo" in lb.columns
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_battles"] == 600 and summary["bootstrap"] == 40
    # Five judges: per-judge leaderboards; two categories: per-category ones.
    assert (out / "by_judge.csv").exists() and (out / "by_category.csv").exists()
    # No style in these rows: style control is skipped, and the summary says so.
    assert not (out / "style_control.csv").exists()
    assert any("style control" in s for s in summary["skipped"])


def test_filters_anchor_and_elo_method(tmp_path):
    log = arena_log(tmp_path / "arena.jsonl")
    out = tmp_path / "out"
    code = main(["rate", str(log), "--out", str(out), "--bootstrap", "0", "--category", "code",
                 "--anonymous-only", "--anchor", "model-B=1200", "--method", "elo", "--elo-k", "16"])
    assert code == 0
    lb = pd.read_csv(out / "leaderboard.csv").set_index("model")
    assert lb.loc["model-B", "rating"] == pytest.approx(1200.0)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "elo" and summary["elo_k"] == 16
    assert summary["categories"] == ["code"]
    # Odd rows are "code"; of those, anony is t % 4 != 0, which every odd t satisfies.
    assert summary["n_battles"] == 300


def test_several_files_are_pooled(tmp_path):
    first = arena_log(tmp_path / "a.jsonl", n=200, seed=1)
    second = arena_log(tmp_path / "b.jsonl", n=100, seed=2)
    out = tmp_path / "out"
    assert main(["rate", str(first), str(second), "--out", str(out), "--bootstrap", "0"]) == 0
    assert json.loads((out / "summary.json").read_text())["n_battles"] == 300


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--anchor", "model-B"], "--anchor: 'model-B'; expected MODEL=RATING"),
        (["--anchor", "nobody=1000"], "ratings.anchor.model (--anchor): 'nobody' has no battles"),
        (["--method", "glicko"], "--method: 'glicko'; expected bt, elo or bt,elo"),
        (["--bootstrap", "-1"], "--bootstrap: expected an integer >= 0"),
        (["--category", "poetry"], "--category: no battles with category poetry"),
        (["--annotator", "x"], "--annotator applies to AlpacaEval judgments only"),
        (["--seed", "-1"], "--seed: expected an integer >= 0"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, extra, message):
    log = arena_log(tmp_path / "arena.jsonl", n=50)
    assert main(["rate", str(log), "--out", str(tmp_path / "out"), "--bootstrap", "0", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_disconnected_log_exit_2_naming_groups(tmp_path, capsys):
    path = tmp_path / "arena.jsonl"
    rows = [{"model_a": "a", "model_b": "b", "winner": "model_a"}, {"model_a": "b", "model_b": "a", "winner": "model_a"},
            {"model_a": "c", "model_b": "d", "winner": "tie"}]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert main(["rate", str(path), "--out", str(tmp_path / "out"), "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err
    assert "{a, b} | {c, d}" in err


def test_bad_row_exit_2(tmp_path, capsys):
    path = tmp_path / "arena.jsonl"
    path.write_text(json.dumps({"model_a": "a", "model_b": "b", "winner": "A>B"}) + "\n", encoding="utf-8")
    assert main(["rate", str(path), "--out", str(tmp_path / "out")]) == 2
    assert f"{path}:1: winner: 'A>B' is not one of" in capsys.readouterr().err


def test_baseline_keeps_battles_against_it(tmp_path):
    log = arena_log(tmp_path / "arena.jsonl", n=300)
    out = tmp_path / "out"
    assert main(["rate", str(log), "--out", str(out), "--bootstrap", "0", "--baseline", "model-B"]) == 0
    h2h = pd.read_csv(out / "head_to_head.csv")
    assert set(map(tuple, h2h[["model", "opponent"]].to_numpy())) == {
        ("model-A", "model-B"), ("model-B", "model-A"), ("model-B", "model-C"), ("model-C", "model-B"),
    }
    summary = json.loads((out / "summary.json").read_text())
    assert any("against the baseline model-B" in n for n in summary["notes"])


def test_out_must_not_be_a_run_folder(tmp_path, capsys):
    log = arena_log(tmp_path / "arena.jsonl", n=50)
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    (run / "summary.json").write_text('{"answers": {"m": 1}}')
    assert main(["rate", str(log), "--out", str(run), "--bootstrap", "0"]) == 2
    assert "is a run folder" in capsys.readouterr().err
    assert json.loads((run / "summary.json").read_text()) == {"answers": {"m": 1}}, "the run's summary is untouched"
