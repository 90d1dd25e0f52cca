"""A jury in a dry run: config checks, its reviews and battles beside its members', the
leaderboard from its battles alone, judge agreement in summary.json, and the commands that read
a run (rate, compare, diff) taking the jury by default."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from arena.battle_log import read_battles_jsonl
from arena.cli import main
from tests.conftest import base_config

JUDGES = [
    {"name": "pos", "provider": "simulated", "mode": "pairwise-all", "simulated": {"position_bias": 150, "tie_rate": 0.1}},
    {"name": "verb", "provider": "simulated", "mode": "pairwise-all", "simulated": {"length_bias": 150, "tie_rate": 0.1}},
    {"name": "noisy", "provider": "simulated", "mode": "pairwise-all", "simulated": {"belief_noise": 2.0, "tie_rate": 0.1}},
]


def jury_config(out: Path, **jury) -> dict:
    return base_config(out, judges=JUDGES, jury={"judges": ["pos", "verb", "noisy"], **jury})


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def jury_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("jury")
    out = base / "run"
    import yaml

    path = base / "config.yaml"
    path.write_text(yaml.safe_dump(jury_config(out, min_agreement=0.6)), encoding="utf-8")
    assert main(["run", "-c", str(path)]) == 0
    return out


BAD = [
    ("unknown member", {"judges": ["pos", "nope"]}, "jury.judges: 'nope' is not a configured judge"),
    ("one member", {"judges": ["pos"]}, "jury.judges: expected at least two different judge names"),
    ("repeated member", {"judges": ["pos", "pos"]}, "jury.judges: expected at least two different judge names"),
    ("name of a judge", {"judges": ["pos", "verb"], "name": "noisy"}, "jury.name: 'noisy' is already a judge or model name"),
    ("name of a model", {"judges": ["pos", "verb"], "name": "m1"}, "jury.name: 'm1' is already a judge or model name"),
    ("threshold", {"judges": ["pos", "verb"], "min_agreement": 1.5}, "jury.min_agreement: expected a share in [0, 1]"),
    ("method", {"judges": ["pos", "verb"], "method": "vote"}, "jury.method: expected one of 'majority', 'mean'"),
]


@pytest.mark.parametrize("case, jury, expected", BAD, ids=[b[0] for b in BAD])
def test_bad_jury_config_exits_2_naming_the_key(case, jury, expected, tmp_path, write_config, capsys):
    config = base_config(tmp_path / "out", judges=JUDGES, jury=jury)
    code = main(["run", "-c", str(write_config(config))])
    err = capsys.readouterr().err.strip()
    assert code == 2 and expected in err and err.count("\n") == 0, err
    assert not (tmp_path / "out").exists()


def test_members_must_judge_the_same_games(tmp_path, write_config, capsys):
    judges = [JUDGES[0], {"name": "g", "provider": "simulated", "mode": "single"}]
    assert main(["run", "-c", str(write_config(base_config(tmp_path / "o", judges=judges, jury={"judges": ["pos", "g"]})))]) == 2
    assert "members must judge the same games (same mode and baseline); pos: pairwise-all, g: single" in capsys.readouterr().err
    judges = [JUDGES[0], {**JUDGES[1], "pairs_per_question": 1}]
    assert main(["run", "-c", str(write_config(base_config(tmp_path / "o", judges=judges, jury={"judges": ["pos", "verb"]})))]) == 2
    assert "judge 'verb' sets pairs_per_question" in capsys.readouterr().err


def test_jury_reviews_battles_and_summary(jury_run: Path):
    summary = json.loads((jury_run / "summary.json").read_text(encoding="utf-8"))
    entry = summary["reviews"]["jury"]
    games = 8 * 2 * 3 * 2  # questions x turns x pairs x orders
    assert (entry["jury"], entry["members"], entry["method"], entry["quorum"]) == (True, ["pos", "verb", "noisy"], "majority", 2)
    assert entry["games"] == games and entry["incomplete"] == 0
    assert entry["combined"] + entry["contested"] == games and entry["contested"] > 0
    assert len(entry["first_contested"]) == min(10, entry["contested"])
    reviews = lines(jury_run / "reviews" / "jury.jsonl")
    assert len(reviews) == entry["combined"]
    assert {r["template"] for r in reviews} == {"jury:majority"}
    # Every jury verdict is the majority of the members' on that game, and agreement >= 0.6.
    members = {name: {(r["question_id"], r["turn"], r["model_a"], r["model_b"], r["first"]): r["winner"]
                      for r in lines(jury_run / "reviews" / f"{name}.jsonl")} for name in ("pos", "verb", "noisy")}
    for r in reviews:
        key = (r["question_id"], r["turn"], r["model_a"], r["model_b"], r["first"])
        votes = ["tie" if members[m][key].startswith("tie") else members[m][key] for m in members]
        label = "tie" if r["winner"].startswith("tie") else r["winner"]
        assert votes.count(label) >= 2
    battles = read_battles_jsonl(jury_run / "battles.jsonl").battles
    assert set(battles["judge"]) == {"pos", "verb", "noisy", "jury"}
    # Inter-judge agreement over the three members (the jury is not a judge of its own there).
    agreement = summary["judge_agreement"]["pairwise"]
    assert agreement["judges"] == ["noisy", "pos", "verb"]
    assert len(agreement["pairs"]) == 3 and agreement["fleiss_games"] == games
    assert -1 <= agreement["fleiss_kappa"] <= 1
    # The bias report covers the jury like any judge.
    assert "jury" in summary["bias"]


def test_leaderboard_is_the_jurys_and_by_judge_has_everyone(jury_run: Path):
    ratings = json.loads((jury_run / "ratings" / "summary.json").read_text(encoding="utf-8"))
    assert ratings["main_judges"] == ["jury"]
    assert ratings["judges"] == ["jury", "noisy", "pos", "verb"]
    jury_battles = int((read_battles_jsonl(jury_run / "battles.jsonl").battles["judge"] == "jury").sum())
    board = pd.read_csv(jury_run / "ratings" / "leaderboard.csv")
    assert board["n_battles"].sum() == 2 * jury_battles  # each battle counts for both its models
    by_judge = pd.read_csv(jury_run / "ratings" / "by_judge.csv")
    assert set(by_judge["judge"]) == {"jury", "pos", "verb", "noisy"}
    jury_board = by_judge[by_judge["judge"] == "jury"].set_index("model")["rating"]
    pd.testing.assert_series_equal(jury_board.sort_index(), board.set_index("model")["rating"].sort_index(),
                                   check_names=False, atol=1e-6)
    # arena rate on the run's battles.jsonl makes the same leaderboard (the jury's), unless told a judge.
    out = jury_run.parent / "rated"
    assert main(["rate", str(jury_run / "battles.jsonl"), "--out", str(out), "--bootstrap", "50", "--no-style-control"]) == 0
    assert json.loads((out / "summary.json").read_text())["main_judges"] == ["jury"]
    rated = pd.read_csv(out / "leaderboard.csv").set_index("model")["rating"]
    pd.testing.assert_series_equal(rated.sort_index(), board.set_index("model")["rating"].sort_index(), check_names=False, atol=1e-6)
    assert main(["rate", str(jury_run / "battles.jsonl"), "--out", str(out), "--bootstrap", "0", "--judge", "pos"]) == 0
    assert json.loads((out / "summary.json").read_text())["main_judges"] is None


def test_compare_and_diff_take_the_jury_by_default(jury_run: Path, capsys):
    assert main(["compare", str(jury_run), "--models", "m1", "m3", "--rounds", "100", "--json"]) == 0
    by_jury = json.loads(capsys.readouterr().out)
    assert main(["compare", str(jury_run), "--models", "m1", "m3", "--rounds", "100", "--json", "--judge", "jury"]) == 0
    assert json.loads(capsys.readouterr().out) == by_jury
    assert main(["compare", str(jury_run), "--models", "m1", "m3", "--rounds", "100", "--json", "--judge", "pos"]) == 0
    assert json.loads(capsys.readouterr().out) != by_jury
    from arena.commands.diff import run_battles

    assert set(run_battles(jury_run, None)["judge"]) == {"jury"}
    assert set(run_battles(jury_run, ["pos", "verb"])["judge"]) == {"pos", "verb"}


def test_reviews_rerun_rebuilds_the_same_jury_from_its_members(jury_run: Path, tmp_path: Path):
    import shutil

    import yaml

    run = tmp_path / "run"
    shutil.copytree(jury_run, run)
    before = (run / "reviews" / "jury.jsonl").read_text(encoding="utf-8")
    (run / "reviews" / "jury.jsonl").unlink()  # derived: rebuilt from the members' reviews
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(jury_config(run, min_agreement=0.6)), encoding="utf-8")
    assert main(["run", "-c", str(path), "--stages", "reviews"]) == 0
    assert (run / "reviews" / "jury.jsonl").read_text(encoding="utf-8") == before
    # Without min_agreement every game is combined.
    path.write_text(yaml.safe_dump(jury_config(run, method="mean")), encoding="utf-8")
    assert main(["run", "-c", str(path), "--stages", "reviews"]) == 0
    entry = json.loads((run / "summary.json").read_text())["reviews"]["jury"]
    assert entry["contested"] == 0 and entry["combined"] == entry["games"] and entry["method"] == "mean"
    assert {r["template"] for r in lines(run / "reviews" / "jury.jsonl")} == {"jury:mean"}
