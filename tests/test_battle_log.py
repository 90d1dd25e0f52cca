"""Battle-log readers: Chatbot Arena rows written by hand, AlpacaEval preferences, our battles;
a bad row is one DataError naming file, line (or row) and field."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from arena.battle_log import BATTLE_COLUMNS, detect_format, read_battle_log
from arena.errors import DataError
from arena.records import Battle, Style, to_json

ARENA_ROWS = [
    # As Chatbot Arena publishes them (clean_battle_*.json), with fields we ignore.
    {"question_id": "q1", "model_a": "gpt-4", "model_b": "vicuna-13b", "winner": "model_a", "judge": "arena_user_1",
     "turn": 1, "anony": True, "language": "English", "tstamp": 1700000300.5},
    {"question_id": "q2", "model_a": "vicuna-13b", "model_b": "claude-v1", "winner": "tie", "judge": "arena_user_2",
     "turn": 2, "anony": False, "language": "German", "tstamp": 1700000100.0},
    {"question_id": "q3", "model_a": "claude-v1", "model_b": "gpt-4", "winner": "tie (bothbad)", "judge": "arena_user_1",
     "turn": 1, "anony": True, "tstamp": 1700000200.0,
     "conv_metadata": {"sum_assistant_a_tokens": 120, "sum_assistant_b_tokens": 300,
                       "header_count_a": {"h1": 0, "h2": 1}, "header_count_b": {"h1": 1, "h2": 2},
                       "list_count_a": {"ordered": 2, "unordered": 3}, "list_count_b": {"ordered": 0, "unordered": 0},
                       "bold_count_a": {"**": 1, "__": 0}, "bold_count_b": {"**": 4, "__": 1}}},
    {"question_id": "q4", "model_a": "gpt-4", "model_b": "claude-v1", "winner": "model_b", "judge": "arena_user_3",
     "turn": 1, "anony": True, "tstamp": 1700000400.0},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("layout", ["jsonl", "list"])
def test_arena_rows_written_by_hand(tmp_path, layout):
    if layout == "jsonl":
        path = write_jsonl(tmp_path / "arena.jsonl", ARENA_ROWS)
    else:
        path = tmp_path / "clean_battle.json"
        path.write_text(json.dumps(ARENA_ROWS, indent=1), encoding="utf-8")
    assert detect_format(path) == "arena"
    log = read_battle_log(path)
    b = log.battles
    assert list(b.columns[: len(BATTLE_COLUMNS)]) == list(BATTLE_COLUMNS)
    assert b["outcome"].tolist() == [1.0, 0.5, 0.5, 0.0]
    assert b["winner"].tolist() == ["model_a", "tie", "tie (bothbad)", "model_b"]
    assert b["judge"].tolist() == ["arena_user_1", "arena_user_2", "arena_user_1", "arena_user_3"]
    assert b["turn"].tolist() == [1, 2, 1, 1]
    assert b["anony"].tolist() == [True, False, True, True]
    assert b["tstamp"].iloc[0] == 1700000300.5
    assert b["question_id"].tolist() == ["q1", "q2", "q3", "q4"]
    # Style from conv_metadata where present (tokens, markdown counts summed over kinds).
    row = b.iloc[2]
    assert (row["style_a_tokens"], row["style_a_headers"], row["style_a_lists"], row["style_a_bold"]) == (120, 1, 5, 1)
    assert (row["style_b_tokens"], row["style_b_headers"], row["style_b_lists"], row["style_b_bold"]) == (300, 3, 0, 5)
    assert np.isnan(b.iloc[0]["style_a_tokens"])


@pytest.mark.parametrize(
    "change, field",
    [
        ({"model_a": None}, "model_a: missing"),
        ({"model_b": 7}, "model_b: 7 is not a model name"),
        ({"winner": "model_c"}, "winner: 'model_c' is not one of model_a, model_b, tie, tie (bothbad)"),
        ({"turn": 0}, "turn: 0 is not a turn number"),
        ({"tstamp": "yesterday"}, "tstamp: 'yesterday' is not a number"),
        ({"model_b": "claude-v1"}, "model_b: same model as model_a"),
    ],
)
def test_bad_arena_row_names_file_line_and_field(tmp_path, change, field):
    rows = [dict(r) for r in ARENA_ROWS]
    rows[2].update(change)
    if change.get("model_a", "") is None:
        del rows[2]["model_a"]
    path = write_jsonl(tmp_path / "arena.jsonl", rows)
    with pytest.raises(DataError) as info:
        read_battle_log(path, "arena")
    assert str(info.value).startswith(f"{path}:3: {field}")


def test_bad_row_in_a_json_list_names_the_row(tmp_path):
    rows = [dict(r) for r in ARENA_ROWS]
    rows[1]["winner"] = "draw"
    path = tmp_path / "battles.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(DataError, match=r"battles.json: row 2: winner: 'draw'"):
        read_battle_log(path)


ALPACA_HEADER = "annotator,instruction_index,dataset,generator_1,generator_2,preference,len_output_1,len_output_2\n"


def write_preferences(path: Path, lines: list[str], gz: bool = True) -> Path:
    text = ALPACA_HEADER + "".join(line + "\n" for line in lines)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_alpaca_eval_preferences(tmp_path):
    path = write_preferences(tmp_path / "preferences.csv.gz", [
        "judge-a,0,oasst,base,model-x,2.0,100,150",    # model preferred
        "judge-a,1,oasst,base,model-x,1.0,100,90",     # baseline preferred
        "judge-a,2,koala,base,model-x,1.5,80,80",      # draw
        "judge-a,3,koala,base,model-x,0,80,70",        # draw (older encoding)
        "judge-a,4,koala,base,model-x,1.75,10,20",     # weighted: 0.75
        "judge-a,5,koala,base,model-x,,10,20",         # no verdict
        "judge-a,4,koala,base,model-x,1.75,10,20",     # the row of line 6 again, verbatim
        "judge-b,0,oasst,base,model-x,2.0,100,150",    # another annotator
    ])
    assert detect_format(path) == "preferences-csv"
    with pytest.raises(DataError, match="holds 2 annotators; choose one with --annotator \\(judge-a, judge-b\\)"):
        read_battle_log(path)
    with pytest.raises(DataError, match="annotator 'judge-c' not found"):
        read_battle_log(path, annotator="judge-c")
    log = read_battle_log(path, annotator="judge-a")
    b = log.battles
    assert b["outcome"].tolist() == [1.0, 0.0, 0.5, 0.5, 0.75]
    assert b["winner"].tolist() == ["model_a", "model_b", "tie", "tie", "model_a"]
    assert set(b["model_a"]) == {"model-x"} and set(b["model_b"]) == {"base"}
    assert b["category"].tolist() == ["oasst", "oasst", "koala", "koala", "koala"]
    assert b["style_a_chars"].tolist() == [150, 90, 80, 70, 20] and b["style_b_chars"].tolist() == [100, 100, 80, 80, 10]
    assert any("1 judgments of annotator judge-a have no verdict" in n for n in log.notes)
    assert any("1 judgments of annotator judge-a repeat an earlier row" in n for n in log.notes)


@pytest.mark.parametrize(
    "line, message",
    [
        ("judge-a,1,oasst,base,model-x,2.5,1,1", "line 3: preference: 2.5 is not 1 to 2"),
        ("judge-a,1,oasst,base,model-x,best,1,1", "line 3: preference: 'best' is not 1 to 2"),
        ("judge-a,0,oasst,base,model-x,1.0,1,1", "lines 2, 3: preference: annotator judge-a judged instruction 0 of model-x against base more than once, differently"),
    ],
)
def test_bad_alpaca_eval_rows(tmp_path, line, message):
    path = write_preferences(tmp_path / "p.csv", ["judge-a,0,oasst,base,model-x,2.0,1,1", line], gz=False)
    with pytest.raises(DataError) as info:
        read_battle_log(path, "preferences-csv")
    assert str(info.value) == f"{path}: {message}" or str(info.value).startswith(f"{path}: {message}")


def test_alpaca_eval_missing_column(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("annotator,generator_1,generator_2\nx,a,b\n", encoding="utf-8")
    with pytest.raises(DataError, match="missing column\\(s\\) instruction_index, preference"):
        read_battle_log(path)


def test_our_battles_file(tmp_path):
    battles = [
        Battle(question_id=81, category="writing", model_a="m1", model_b="m2", winner="model_a", judge="j", turn=1,
               outcome=0.75, weight=2.0, style_a=Style(tokens=10, chars=40, headers=1), style_b=Style(tokens=20, chars=80)),
        Battle(question_id="q2", category="math", model_a="m2", model_b="m3", winner="tie", judge="j", turn=2, outcome=0.5),
    ]
    path = tmp_path / "battles.jsonl"
    path.write_text("".join(to_json(b) + "\n" for b in battles), encoding="utf-8")
    assert detect_format(path) == "battles"
    b = read_battle_log(path).battles
    assert b["outcome"].tolist() == [0.75, 0.5] and b["weight"].tolist() == [2.0, 1.0]
    assert b["question_id"].tolist() == ["81", "q2"] and b["turn"].tolist() == [1, 2]
    assert b.iloc[0]["style_a_headers"] == 1 and np.isnan(b.iloc[1]["style_a_tokens"])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"outcome": 1.5}, ":2: outcome: 1.5 is not a score in [0, 1]"),
        ({"weight": 0}, ":2: weight: 0.0 is not a positive number"),
        ({"model_b": "m1"}, ":2: model_b: same model as model_a"),
        ({"turn": "two"}, ":2: turn"),
    ],
)
def test_bad_line_in_our_battles_file(tmp_path, change, message):
    good = json.loads(to_json(Battle(question_id=1, category="c", model_a="m1", model_b="m2", winner="model_a", judge="j", turn=1, outcome=1.0)))
    bad = dict(good, **change)
    path = write_jsonl(tmp_path / "battles.jsonl", [good, bad])
    with pytest.raises(DataError) as info:
        read_battle_log(path, "battles")
    assert str(info.value).startswith(f"{path}{message}")


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(DataError, match="battle log not found"):
        read_battle_log(tmp_path / "nope.jsonl")
    path = write_jsonl(tmp_path / "a.jsonl", ARENA_ROWS)
    with pytest.raises(DataError, match="unknown format 'csv'"):
        read_battle_log(path, "csv")
    with pytest.raises(DataError, match="--annotator applies to AlpacaEval judgments only"):
        read_battle_log(path, annotator="x")
