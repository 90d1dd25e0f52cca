"""`arena agreement --reference`: leaderboard files read in the shapes their tools publish,
boards rated from battles, and the command on a dry run, AlpacaEval's real judgments and their
published leaderboards."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arena.boards import Z95, board_from_battles, read_leaderboard
from arena.cli import main
from arena.errors import DataError
from tests.conftest import base_config
from tests.imports.conftest import need


def _csv(tmp_path: Path, text: str, name: str = "board.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_our_leaderboard_file(tmp_path):
    board, notes = read_leaderboard(_csv(tmp_path, "model,rating,ci_low,ci_high,n_battles\nb,1010,1000,1020,5\na,990,980,1000,5\n"))
    assert board.models == ["b", "a"] and board.measure == "rating" and notes == []
    assert board.low.tolist() == [1000, 980] and board.high.tolist() == [1020, 1000]


def test_arena_hard_published_leaderboard():
    path = need("arena-hard/leaderboard/arena_hard_leaderboard_20240731.csv")
    board, _ = read_leaderboard(path)
    table = pd.read_csv(path)
    assert board.measure == "score" and board.models == table["model"].tolist()
    assert np.allclose(board.low, table["rating_q025"]) and np.allclose(board.high, table["rating_q975"])


def test_alpaca_eval_published_leaderboards_use_the_standard_error():
    path = need("alpaca-eval/leaderboards/data_AlpacaEval_2/weighted_alpaca_eval_gpt4_turbo_leaderboard.csv")
    table = pd.read_csv(path)
    board, _ = read_leaderboard(path)
    assert board.models == table.iloc[:, 0].tolist() and board.measure == "win_rate"
    assert np.allclose(board.high - board.score, Z95 * table["standard_error"])
    lc, notes = read_leaderboard(path, "length_controlled_winrate")
    assert np.allclose(lc.score - lc.low, Z95 * table["lc_standard_error"], equal_nan=True)
    # some models have a length-controlled win rate without its standard error
    assert any("have no interval for length_controlled_winrate" in n for n in notes)


def test_chatbot_arena_plus_minus_interval_and_generic_columns(tmp_path):
    arena = _csv(tmp_path, 'key,Model,Arena Score,95% CI\nx,X,1300,+5/-4\ny,Y,1250,"+3/-3"\n')
    board, _ = read_leaderboard(arena)
    assert board.models == ["X", "Y"] or board.models == ["x", "y"]
    assert board.low.tolist() == [1296, 1247] and board.high.tolist() == [1305, 1253]
    generic = _csv(tmp_path, "name,elo,elo_se\np,10,1\nq,5,0.5\n", "g.csv")
    board, _ = read_leaderboard(generic)
    assert board.high.tolist() == pytest.approx([10 + Z95, 5 + Z95 * 0.5])
    bare = _csv(tmp_path, "model,score\np,1\nq,2\n,3\n", "bare.csv")
    board, notes = read_leaderboard(bare)
    assert not board.has_intervals and board.models == ["p", "q"]
    assert any("without a model name" in n for n in notes) and any("no 95% interval" in n for n in notes)


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("model,score\na,1\nb,high\n", None, "line 3: score: 'high' is not a number"),
        ("model,score\na,1\na,2\n", None, "line 3: model: model 'a' appears twice"),
        ("who,score\na,1\nb,2\n", None, "no model column"),
        ("model,points\na,1\nb,2\n", None, "no score column"),
        ("model,score\na,1\nb,2\n", "elo", "--reference-column: no column 'elo'"),
        ("model,score,rating_q025,rating_q975\na,1,2,3\nb,2,1,3\n", None, "line 2: rating_q025, rating_q975: [2, 3] is not an interval around score 1"),
        ("Model,Arena Score,95% CI\na,1,+1/-1\nb,2,about 3\n", None, "line 3: 95% CI: 'about 3' is not of the form +U/-D"),
        ("model,score\na,1\n", None, "fewer than two models"),
    ],
)
def test_bad_leaderboards_name_the_file_line_and_column(tmp_path, text, column, message):
    path = _csv(tmp_path, text)
    with pytest.raises(DataError) as caught:
        read_leaderboard(path, column)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)


def _battles(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {"model_a": [r[0] for r in rows], "model_b": [r[1] for r in rows], "outcome": [r[2] for r in rows],
         "weight": 1.0, "judge": "j", "question_id": [r[3] for r in rows]}
    )


def test_a_baseline_design_is_anchored_at_the_baseline():
    rng = np.random.default_rng(1)
    rows = [(m, "base", float(rng.random() < p), f"q{k}") for m, p in (("a", 0.8), ("b", 0.5), ("c", 0.3)) for k in range(60)]
    board, notes = board_from_battles(_battles(rows), rounds=200, seed=0)
    at = board.models.index("base")
    assert board.score[at] == 1000 and board.low[at] == board.high[at] == 1000
    assert "anchored at the baseline base" in board.measure
    # each model's rating is its win rate against the baseline on the Elo scale
    won = {m: np.mean([r[2] for r in rows if r[0] == m]) for m in "abc"}
    for m in "abc":
        expected = 1000 + 400 * math.log10(won[m] / (1 - won[m]))
        assert board.score[board.models.index(m)] == pytest.approx(expected, abs=1e-3)


def test_a_disconnected_log_is_rated_on_its_largest_group():
    rows = [("a", "b", 1.0, "q1"), ("b", "c", 0.0, "q2"), ("a", "c", 0.5, "q3"), ("x", "y", 1.0, "q4"), ("y", "x", 1.0, "q5")]
    board, notes = board_from_battles(_battles(rows), rounds=20, seed=0)
    assert board.models == ["a", "b", "c"]
    assert any("2 groups" in n and "x, y" in n for n in notes)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two dry runs of the same models: one judged without position bias, one with a strong one
    and noisy verdicts."""
    root = tmp_path_factory.mktemp("runs")
    runs = []
    for name, judge in (("clean", {"position_bias": 0}), ("noisy", {"position_bias": 150, "tie_rate": 0.4})):
        config = base_config(root / name, ratings={"bootstrap": 100})
        config["models"].append({"name": "m4", "provider": "simulated", "simulated": {"strength": 1050}})
        config["judges"] = [{"name": "j", "provider": "simulated", "mode": "pairwise-all", "simulated": judge},
                            {"name": "k", "provider": "simulated", "mode": "pairwise-all"}]
        path = root / f"{name}.yaml"
        import yaml

        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        assert main(["run", "-c", str(path)]) == 0
        runs.append(root / name)
    return runs


def test_a_run_against_its_own_leaderboard(two_runs, capsys):
    clean = two_runs[0]
    assert main(["agreement", str(clean), "--reference", str(clean / "ratings" / "leaderboard.csv"), "--rounds", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["benchmark"]: r for r in out["rows"]}
    assert set(rows) == {"j", "k", "all judges"} and out["reference_measure"] == "rating"
    pooled = rows["all judges"]
    assert pooled["models"] == 4 and pooled["pairs"] == 6
    assert pooled["spearman"] == pytest.approx(1.0) and pooled["kendall"] == pytest.approx(1.0)
    assert pooled["agree"] + pooled["disagree"] + pooled["undecided"] == round(pooled["reference_separability"] * 6)


def test_a_run_against_another_run_and_the_text_table(two_runs, capsys, tmp_path):
    clean, noisy = two_runs
    out_csv = tmp_path / "agreement.csv"
    assert main(["agreement", str(noisy), "--reference", str(clean), "--reference-judge", "j", "--judge", "j",
                 "--rounds", "100", "--out", str(out_csv)]) == 0
    text = capsys.readouterr().out
    assert "separability" in text and "Kendall" in text and f"wrote {out_csv}" in text
    table = pd.read_csv(out_csv)
    assert table["benchmark"].tolist() == ["j"] and table.loc[0, "models"] == 4
    assert 0.0 <= table.loc[0, "brier"] <= 1.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--reference-column", "rating"], "--reference-column: "),
        (["--turn", "1"], "--turn: applies to the agreement of verdicts"),
        (["--rounds", "0"], "--rounds: expected an integer >= 1"),
    ],
)
def test_reference_mode_errors_are_one_line(two_runs, capsys, extra, message):
    clean, noisy = two_runs
    assert main(["agreement", str(noisy), "--reference", str(clean), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_no_shared_models_says_so(two_runs, capsys):
    path = need("arena-hard/leaderboard/arena_hard_leaderboard_20240731.csv")
    assert main(["agreement", str(two_runs[0]), "--reference", str(path), "--rounds", "20"]) == 2
    err = capsys.readouterr().err
    assert "no benchmark shares two models with the reference" in err and "gpt-4-turbo-2024-04-09" in err


def test_options_of_the_reference_mode_are_refused_without_it(two_runs, capsys):
    assert main(["agreement", str(two_runs[0]), "--annotator", "x"]) == 2
    assert "--annotator: applies with --reference only" in capsys.readouterr().err


def test_alpaca_eval_annotators_against_the_published_weighted_leaderboard(capsys):
    prefs = need("alpaca-eval/preferences.csv.gz")
    board = need("alpaca-eval/leaderboards/data_AlpacaEval_2/weighted_alpaca_eval_gpt4_turbo_leaderboard.csv")
    assert main(["agreement", str(prefs), "--reference", str(board), "--rounds", "300", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["benchmark"]: r for r in out["rows"]}
    assert set(rows) == {"alpaca_eval_cot_gpt4_turbo_fn", "alpaca_eval_gpt4", "alpaca_eval_gpt4_turbo_fn", "weighted_alpaca_eval_gpt4_turbo"}
    own = rows["weighted_alpaca_eval_gpt4_turbo"]
    # The annotator against its own published win rates: with one baseline, a Bradley-Terry rating
    # is a monotone function of the win rate, so the rankings are the same
    assert own["spearman"] == pytest.approx(1.0) and own["kendall"] == pytest.approx(1.0)
    assert own["disagree"] == 0 and own["agreement"] > 0.95
    # and anchored at the baseline, our intervals separate as many pairs as AlpacaEval's
    # standard errors do (both are the spread of a win rate over redrawn instructions)
    assert abs(own["separability"] - own["reference_separability"]) < 0.05
    # AlpacaEval 1.0's annotator (another baseline) ranks the shared models less alike
    assert 0.8 < rows["alpaca_eval_gpt4"]["spearman"] < own["spearman"]
    assert any("alpaca_eval_gpt4_turbo_fn" in n or "groups" in n for n in out["notes"])


def test_an_alias_matches_a_model_the_reference_names_differently(capsys):
    prefs = need("alpaca-eval/preferences.csv.gz")
    board = need("alpaca-eval/leaderboards/data_AlpacaEval_2/alpaca_eval_cot_gpt4_turbo_fn_leaderboard.csv")
    args = ["agreement", str(prefs), "--annotator", "alpaca_eval_cot_gpt4_turbo_fn", "--reference", str(board), "--rounds", "100", "--json"]
    assert main(args) == 0
    plain = json.loads(capsys.readouterr().out)["rows"][0]
    assert main([*args, "--alias", "gpt4_1106_preview=gpt4_turbo"]) == 0
    aliased = json.loads(capsys.readouterr().out)["rows"][0]
    # the baseline joins the shared models; the rankings are then the same
    assert aliased["models"] == plain["models"] + 1 and aliased["spearman"] == pytest.approx(1.0)
    assert main([*args, "--alias", "gpt4_1106_preview"]) == 2
    assert "--alias: expected OURS=THEIRS" in capsys.readouterr().err
