"""Chatbot Arena's logs read by column give the row reader's table exactly, and anything the row
reader might object to goes to it (so its errors are unchanged)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arena.arena_columns import arena_frame, list_columns, read_jsonl_columns
from arena.battle_log import BATTLE_COLUMNS, STYLE_COLUMNS, read_arena_rows, read_battle_log

WINNERS = ["model_a", "model_b", "tie", "tie (bothbad)"]


def arena_rows(n: int, seed: int = 0, *, optional: bool = True, int_ids: bool = False) -> list[dict]:
    """Rows as Chatbot Arena publishes them: some with conv_metadata (dict and plain counts,
    keys missing from some dicts, a null count), fields we ignore."""
    rng = np.random.default_rng(seed)
    models = [f"model-{k}" for k in range(12)]
    rows = []
    for i in range(n):
        a, b = rng.choice(len(models), 2, replace=False)
        row = {"model_a": models[a], "model_b": models[b], "winner": WINNERS[int(rng.integers(0, 4))],
               "language": "English", "dedup_tag": {"high_freq": False}}
        if optional:
            row.update(judge=f"arena_user_{int(rng.integers(0, 50))}", turn=int(rng.integers(1, 4)),
                       anony=bool(rng.random() < 0.8), tstamp=1.7e9 + float(rng.integers(0, 10**6)) / 4,
                       category="coding" if i % 3 else "math", question_id=i * 7 if int_ids else f"q{i:05d}")
        kind = i % 4
        if kind == 1:
            row["conv_metadata"] = {
                "sum_user_tokens": 12, "sum_assistant_a_tokens": int(rng.integers(10, 900)),
                "sum_assistant_b_tokens": int(rng.integers(10, 900)),
                "header_count_a": {"h1": 0, "h2": int(rng.integers(0, 4))}, "header_count_b": {"h1": 1},
                "list_count_a": {"ordered": 2, "unordered": None}, "list_count_b": {"ordered": 0, "unordered": 3},
                "bold_count_a": {"**": 1, "__": 0}, "bold_count_b": {"**": 4, "__": 1},
            }
        elif kind == 2:
            row["conv_metadata"] = {"sum_assistant_a_tokens": 40, "sum_assistant_b_tokens": None}
        rows.append(row)
    return rows


def write(tmp_path: Path, rows: list[dict], layout: str) -> Path:
    if layout == "jsonl":
        path = tmp_path / "arena.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        path = tmp_path / "clean_battle.json"
        path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return path


def fast_frame(path: Path, layout: str) -> pd.DataFrame | None:
    if layout == "jsonl":
        columns = read_jsonl_columns(path)
        n = len(next(iter(columns.values()))) if columns else 0
    else:
        rows = json.loads(path.read_text(encoding="utf-8"))
        columns, n = list_columns(rows), len(rows)
    assert columns is not None
    return arena_frame(columns, n, BATTLE_COLUMNS, STYLE_COLUMNS)


@pytest.mark.parametrize("layout", ["jsonl", "list"])
@pytest.mark.parametrize("variant", ["full", "bare", "int_ids"])
def test_columns_give_the_row_readers_table(tmp_path, layout, variant):
    rows = arena_rows(3000, optional=variant != "bare", int_ids=variant == "int_ids")
    path = write(tmp_path, rows, layout)
    fast = fast_frame(path, layout)
    assert fast is not None, "a clean log must take the columnar path"
    rows_read = read_arena_rows(path).battles
    pd.testing.assert_frame_equal(fast, rows_read, check_exact=True)
    pd.testing.assert_frame_equal(read_battle_log(path, "arena").battles, rows_read, check_exact=True)
    assert fast["style_a_tokens"].notna().sum() == 750  # the rows with both sides' token counts


def test_markdown_counts_as_plain_numbers(tmp_path):
    rows = arena_rows(40, optional=True)
    for row in rows:
        if "header_count_a" in row.get("conv_metadata", {}):
            row["conv_metadata"].update(header_count_a=3, header_count_b=0)
    path = write(tmp_path, rows, "jsonl")
    fast = fast_frame(path, "jsonl")
    assert fast is not None
    pd.testing.assert_frame_equal(fast, read_arena_rows(path).battles, check_exact=True)
    assert set(fast["style_a_headers"].dropna()) == {3.0}


@pytest.mark.parametrize("layout", ["jsonl", "list"])
@pytest.mark.parametrize(
    "change",
    [
        {"turn": 1.0},  # the row reader: not a turn number
        {"turn": True},
        {"turn": 0},
        {"anony": None},  # falsy to the row reader, unlike a missing one
        {"judge": None},
        {"question_id": None},
        {"question_id": 2.5},
        {"model_b": ""},
        {"model_b": "model-0", "model_a": "model-0"},
        {"winner": "draw"},
        {"tstamp": "yesterday"},
        {"tstamp": True},
        {"conv_metadata": {"sum_assistant_a_tokens": 1, "sum_assistant_b_tokens": 2, "bold_count_a": None}},
        {"conv_metadata": {"sum_assistant_a_tokens": "12", "sum_assistant_b_tokens": 2}},
    ],
)
def test_anything_doubtful_goes_to_the_row_reader(tmp_path, layout, change):
    rows = arena_rows(30, optional=True)
    rows[17].update(change)
    path = write(tmp_path, rows, layout)
    if layout == "jsonl":
        columns = read_jsonl_columns(path)
        n = 30
    else:
        columns, n = list_columns(json.loads(path.read_text(encoding="utf-8"))), 30
    assert columns is None or arena_frame(columns, n, BATTLE_COLUMNS, STYLE_COLUMNS) is None


def test_a_field_missing_from_some_rows_goes_to_the_row_reader(tmp_path):
    rows = arena_rows(30, optional=True)
    del rows[5]["judge"]  # the row reader gives "", a null here cannot be told from an explicit null
    path = write(tmp_path, rows, "jsonl")
    assert fast_frame(path, "jsonl") is None
    assert read_battle_log(path, "arena").battles["judge"].iloc[5] == ""
