"""Judge agreement as the MT-Bench paper defines it: hand-computed cases on MT-Bench's human-
judgment format (rows written by hand; the data set is not reachable from here), and the
AlpacaEval judges of ../shared/data checked against an independent pandas computation."""

from __future__ import annotations

import io
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arena.agreement import agreement_table, canonical_votes, cohen_kappa, markdown_table
from arena.cli import main
from arena.imports.votes import read_votes
from tests.imports.conftest import need, pair_row, write_jsonl

REPO = Path(__file__).resolve().parents[1]

# MT-Bench human judgments (question_id, model_a, model_b, winner, judge, turn), pairs named in
# either order. GPT-4's rows carry [model, prompt] as the judge, as in the published data set.
HUMAN_ROWS = [
    {"question_id": 81, "model_a": "alpaca", "model_b": "vicuna", "winner": "model_b", "judge": ["gpt-4", "pair-v2"], "turn": 1},
    {"question_id": 81, "model_a": "vicuna", "model_b": "alpaca", "winner": "model_a", "judge": "expert_0", "turn": 1},
    {"question_id": 81, "model_a": "alpaca", "model_b": "vicuna", "winner": "tie", "judge": "expert_1", "turn": 1},
    {"question_id": 81, "model_a": "alpaca", "model_b": "vicuna", "winner": "model_a", "judge": "author_0", "turn": 1},
    {"question_id": 82, "model_a": "alpaca", "model_b": "llama", "winner": "model_b", "judge": ["gpt-4", "pair-v2"], "turn": 1},
    {"question_id": 82, "model_a": "llama", "model_b": "alpaca", "winner": "model_a", "judge": "expert_0", "turn": 1},
    {"question_id": 81, "model_a": "alpaca", "model_b": "vicuna", "winner": "tie", "judge": ["gpt-4", "pair-v2-multi-turn"], "turn": 2},
    {"question_id": 81, "model_a": "vicuna", "model_b": "alpaca", "winner": "tie (bothbad)", "judge": "expert_2", "turn": 2},
]


def _row(table: pd.DataFrame, a: str, b: str, ties: str) -> dict:
    hit = table[(table.judge_a == a) & (table.judge_b == b) & (table.ties == ties)]
    assert len(hit) == 1, table
    return hit.iloc[0].to_dict()


@pytest.fixture
def human_file(tmp_path: Path) -> Path:
    path = tmp_path / "human_judgments.json"
    path.write_text(json.dumps(HUMAN_ROWS), encoding="utf-8")
    return path


def test_cohen_kappa_textbook_case():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15: p_o 0.7, p_e 0.5*0.6 + 0.5*0.4 = 0.5.
    x = ["yes"] * 25 + ["no"] * 25
    y = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(x, y) == pytest.approx(0.4)
    assert np.isnan(cohen_kappa(["a", "a"], ["a", "a"]))
    assert cohen_kappa(["a", "b"], ["b", "a"], pooled=True) == pytest.approx(-1.0)


def test_orientation_is_normalised_before_matching():
    votes = pd.DataFrame(
        [("j", 1, 1, "b", "a", "model_a"), ("j", 1, 1, "a", "b", "tie (bothbad)")],
        columns=["judge", "question_id", "turn", "model_a", "model_b", "winner"],
    )
    out = canonical_votes(votes)
    assert out[["model_a", "model_b", "winner"]].values.tolist() == [["a", "b", "model_b"], ["a", "b", "tie"]]
    assert out["question_id"].tolist() == ["1", "1"]


def test_judge_against_humans_counts_every_human_vote(human_file):
    votes, _ = read_votes(human_file)
    table = agreement_table(votes)
    with_ties = _row(table, "gpt-4_pair", "human", "include")
    # 81/t1: GPT-4 says vicuna; expert_0 vicuna (agree), expert_1 tie (disagree). 82/t1: llama,
    # llama (agree). 81/t2: tie, tie (bothbad) (agree). Four comparisons, three agree.
    assert (with_ties["items"], with_ties["n"], with_ties["agree"]) == (3, 4, 3)
    assert with_ties["agreement"] == pytest.approx(0.75)
    # kappa: GPT-4 (canonical: alpaca < vicuna, alpaca < llama) B, B, B, T; humans B, T, B, T.
    assert with_ties["kappa"] == pytest.approx(cohen_kappa(["B", "B", "B", "T"], ["B", "T", "B", "T"]))
    assert with_ties["kappa"] == pytest.approx((0.75 - (0.75 * 0.5 + 0.25 * 0.5)) / (1 - 0.5))
    without = _row(table, "gpt-4_pair", "human", "exclude")
    assert (without["n"], without["agree"], without["ties_a"], without["ties_b"]) == (2, 2, 1, 2)
    # Humans with each other: each pair of expert votes on an item (only 81/t1 has two).
    humans = _row(table, "human", "human", "include")
    assert (humans["items"], humans["n"], humans["agree"]) == (1, 1, 0)
    assert _row(table, "human", "human", "exclude")["n"] == 0
    # Authors are their own group, as in the paper.
    assert _row(table, "author", "gpt-4_pair", "include")["agreement"] == 0.0


def test_turn_filter_and_individual_voters(human_file):
    votes, _ = read_votes(human_file)
    turn2 = agreement_table(votes, turn=2, ties=("include",))
    assert _row(turn2, "gpt-4_pair", "human", "include")["n"] == 1
    each, _ = read_votes(human_file, humans="each")
    table = agreement_table(each, ties=("include",))
    assert _row(table, "expert_0", "expert_1", "include")["agree"] == 0
    assert "human" not in set(table.judge_a) | set(table.judge_b)


def test_cli_compares_a_fastchat_judge_with_the_humans(human_file, tmp_path, capsys):
    # GPT-4 judgments as FastChat writes them: on 81/t1 both orders prefer vicuna; on 82/t1 the
    # orders disagree, which counts as a tie (the paper's rule).
    judgments = write_jsonl(tmp_path / "gpt-4_pair.jsonl", [
        pair_row(81, "vicuna", "alpaca", "model_1", "model_1"),
        pair_row(82, "alpaca", "llama", "model_1", "model_2"),
    ])
    out = tmp_path / "agreement.csv"
    assert main(["agreement", str(judgments), str(human_file), "--ties", "include", "--turn", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "gpt-4_pair" in printed and "human" in printed
    table = pd.read_csv(out)
    row = _row(table, "gpt-4_pair", "human", "include")
    # 81: vicuna vs expert_0 vicuna (agree), expert_1 tie; 82: tie vs llama.
    assert (row["n"], row["agree"], str(row["turn"])) == (3, 1, "1")
    assert set(table.ties) == {"include"}
    assert set(table.judge_a) == {"gpt-4_pair"}


def test_cli_help_says_how_several_votes_count(capsys):
    with pytest.raises(SystemExit):
        main(["agreement", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "every vote is a separate comparison, not a majority vote" in text


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"question_id": 1, "model_a": "a", "model_b": "b", "winner": "a", "judge": "expert_0", "turn": 1}]))
    assert main(["agreement", str(bad)]) == 2
    assert f"{bad}: row 1: winner: 'a' is not one of model_a, model_b, tie, tie (bothbad)" in capsys.readouterr().err
    assert main(["agreement", str(tmp_path / "nothing.json")]) == 2


def test_run_folders_agree_with_their_own_battles(tmp_path, write_config):
    from tests.conftest import base_config

    out = tmp_path / "run"
    config = base_config(out)
    config["judges"].append({"name": "k", "provider": "simulated", "mode": "pairwise-all", "simulated": {"position_bias": 0}})
    assert main(["run", "-c", str(write_config(config)), "--stages", "answers,reviews"]) == 0
    votes, _ = read_votes(out)
    table = agreement_table(votes)
    row = _row(table, "j", "k", "include")
    assert row["items"] == 8 * 2 * 3 and 0.0 < row["agreement"] < 1.0


# --- AlpacaEval's judges, real data ----------------------------------------------------------


def independent_agreement(path: Path) -> pd.DataFrame:
    """The same table computed directly with pandas from preferences.csv.gz: votes of the three
    AlpacaEval 2.0 judges per (instruction, model, baseline), pairs in name order."""
    d = pd.read_csv(path)
    d = d.dropna(subset=["preference"]).drop_duplicates()
    d["preference"] = d["preference"].replace(0.0, 1.5)
    low = np.where(d["generator_2"] < d["generator_1"], d["generator_2"], d["generator_1"])
    preferred = np.where(d["preference"] > 1.5, d["generator_2"], np.where(d["preference"] < 1.5, d["generator_1"], "="))
    d["vote"] = np.where(preferred == "=", "tie", np.where(preferred == low, "low", "high"))
    d["low"] = low
    rows = []
    for a, b in itertools.combinations(sorted(d["annotator"].unique()), 2):
        m = d[d.annotator == a].merge(d[d.annotator == b], on=["instruction_index", "generator_1", "generator_2"])
        if m.empty:
            continue
        for ties in ("include", "exclude"):
            k = m if ties == "include" else m[(m.vote_x != "tie") & (m.vote_y != "tie")]
            cross = pd.crosstab(k.vote_x, k.vote_y)
            labels = sorted(set(cross.index) | set(cross.columns))
            cross = cross.reindex(index=labels, columns=labels, fill_value=0)
            n = int(cross.values.sum())
            p_o = np.trace(cross.values) / n
            p_e = float(cross.sum(axis=1).values @ cross.sum(axis=0).values) / n**2
            rows.append({"judge_a": a, "judge_b": b, "ties": ties, "items": len(m), "n": n,
                         "agree": int(np.trace(cross.values)), "agreement": p_o, "kappa": (p_o - p_e) / (1 - p_e)})
    return pd.DataFrame(rows)


def test_alpaca_eval_judges_agreement_equals_an_independent_computation(capsys):
    prefs = need("alpaca-eval/preferences.csv.gz")
    assert main(["agreement", str(prefs), "--out", "-"]) == 0
    ours = pd.read_csv(io.StringIO(capsys.readouterr().out))
    theirs = independent_agreement(prefs)
    assert len(theirs) == 6  # three judge pairs, with and without ties
    merged = ours.merge(theirs, on=["judge_a", "judge_b", "ties"], suffixes=("", "_pd"), validate="one_to_one")
    assert len(merged) == len(ours) == len(theirs)
    for column in ("items", "n", "agree"):
        assert (merged[column] == merged[f"{column}_pd"]).all(), column
    for column in ("agreement", "kappa"):
        assert np.allclose(merged[column], merged[f"{column}_pd"], rtol=0, atol=1e-12), column
    # The table in docs/AGREEMENT.md is this table.
    doc = (REPO / "docs" / "AGREEMENT.md").read_text(encoding="utf-8")
    assert markdown_table(ours.assign(turn="all")) in doc
    assert re.search(r"arena agreement \S*preferences\.csv\.gz", doc)
