"""The dashboard's Judges and jury view, and the leaderboard of a run with a jury."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from arena.cli import main
from tests.dashboard.conftest import shown
from tests.dashboard.test_views import captions, no_failure
from tests.stages.test_jury_run import jury_config


@pytest.fixture(scope="module")
def jury_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("dash-jury")
    path = base / "config.yaml"
    path.write_text(yaml.safe_dump(jury_config(base / "run", min_agreement=0.6)), encoding="utf-8")
    assert main(["run", "-c", str(path)]) == 0
    return base / "run"


def text_of(at) -> str:
    return shown("\n".join(m.value for m in at.markdown))


def test_judges_view_shows_agreement_jury_and_bias(app, jury_run: Path):
    summary = json.loads((jury_run / "summary.json").read_text(encoding="utf-8"))
    at = app("--run", str(jury_run), view="judges")
    no_failure(at)
    pairs = at.dataframe[0].value
    assert len(pairs) == 3 and set(pairs.columns) == {"judge A", "judge B", "games", "agreement", "Cohen's kappa"}
    expected = pd.DataFrame(summary["judge_agreement"]["pairwise"]["pairs"])
    assert pairs["Cohen's kappa"].tolist() == expected["kappa"].tolist()
    fleiss = summary["judge_agreement"]["pairwise"]["fleiss_kappa"]
    text = text_of(at)
    assert f"Fleiss' kappa over 3 judges: {fleiss:.3f}" in text
    entry = summary["reviews"]["jury"]
    assert f"{entry['combined']} of {entry['games']} games combined, {entry['contested']} contested" in text
    members = at.dataframe[1].value
    assert members.set_index("member")["agrees with the jury"].to_dict() == entry["member_agreement"]
    assert "first contested games" in captions(at)
    bias = at.dataframe[2].value
    assert set(bias["judge"]) == {"pos", "verb", "noisy", "jury"}


def test_leaderboard_of_a_jury_run_is_the_jurys(app, jury_run: Path):
    at = app("--run", str(jury_run))
    no_failure(at)
    board = at.dataframe[0].value
    expected = pd.read_csv(jury_run / "ratings" / "leaderboard.csv")
    assert board["rating"].round(6).tolist() == expected["rating"].round(6).tolist()
    at.sidebar.selectbox(key="sw_judge").set_value("pos").run()
    no_failure(at)
    by_judge = pd.read_csv(jury_run / "ratings" / "by_judge.csv")
    pos = by_judge[by_judge["judge"] == "pos"]
    assert sorted(at.dataframe[0].value["rating"].round(6)) == sorted(pos["rating"].round(6))


def test_judges_view_with_one_judge(app, dash_run: Path):
    at = app("--run", str(dash_run), view="judges")
    no_failure(at)
    assert any("one judge per kind of verdict" in i.value for i in at.info)
    assert set(at.dataframe[0].value["judge"]) == {"pj", "grader"}  # the bias table still shows
