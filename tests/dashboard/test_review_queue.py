"""The review's index and orders (arena.dashboard.review_queue), on battle tables written by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from arena.dashboard.review_queue import (
    build_items,
    judge_votes,
    next_item,
    queue,
    read_battle_columns,
    shown_order,
)
from arena.errors import DataError

# Two judges; J1 names the q1 pair (x, y), J2 the other way round: one item, two rows.
ROWS = [
    {"question_id": "q1", "category": "math", "model_a": "x", "model_b": "y", "winner": "model_a", "judge": "J1", "turn": 1,
     "outcome": 1.0, "games": ["model_a", "model_a"], "consistent": True},
    {"question_id": "q1", "category": "math", "model_a": "y", "model_b": "x", "winner": "tie", "judge": "J2", "turn": 1,
     "outcome": 0.45, "games": ["model_a"], "consistent": None},
    {"question_id": "q1", "category": "math", "model_a": "x", "model_b": "y", "winner": "tie", "judge": "J1", "turn": 2,
     "outcome": 0.5, "games": ["model_a", "model_b"], "consistent": False},
    {"question_id": "q2", "category": "code", "model_a": "x", "model_b": "z", "winner": "model_b", "judge": "J2", "turn": 1,
     "outcome": 0.1, "games": ["model_b"], "consistent": None},
    {"question_id": "q3", "category": "code", "model_a": "y", "model_b": "z", "winner": "model_a", "judge": "J1", "turn": 1,
     "outcome": 1.0, "games": ["model_a", "model_a"], "consistent": True},
]


def table(rows: list[dict] = ROWS) -> pa.Table:
    return pa.Table.from_pylist(rows)


def test_items_merge_judges_and_pair_orders():
    items = build_items(table(), probability_judges=["J2"])
    assert len(items) == 4
    found = {items.item(i): i for i in range(len(items))}
    assert set(found) == {("q1", 1, "x", "y"), ("q1", 2, "x", "y"), ("q2", 1, "x", "z"), ("q3", 1, "y", "z")}
    q1 = found[("q1", 1, "x", "y")]
    assert sorted(r["judge"] for r in items.rows(q1)) == ["J1", "J2"]
    assert items.find(("q1", 1, "x", "y")) == q1 and items.find(("q1", 1, "y", "x")) is None  # items are sorted pairs
    assert items.find(("q9", 1, "x", "y")) is None and items.find(("q1", 3, "x", "y")) is None
    assert items.flips[found[("q1", 2, "x", "y")]] and not items.flips[q1]
    # Confidence from J2's (probability) battles only: |0.45 - 0.5| and |0.1 - 0.5|.
    assert items.confidence[q1] == pytest.approx(0.05)
    assert items.confidence[found[("q2", 1, "x", "z")]] == pytest.approx(0.4)
    assert np.isnan(items.confidence[found[("q3", 1, "y", "z")]])
    assert items.categories() == ["code", "math"] and items.has_confidence()
    assert not build_items(table()).has_confidence()


def test_orders_put_flips_or_the_least_confident_first_and_keep_one_category():
    items = build_items(table(), probability_judges=["J2"])
    labels = lambda order: [items.item(i)[:2] for i in order]  # noqa: E731
    random = queue(items, "random")
    assert sorted(random) == list(range(4))
    assert np.array_equal(random, queue(items, "random"))  # the same for every reviewer
    assert labels(queue(items, "judge order flips first"))[0] == ("q1", 2)
    assert labels(queue(items, "least confident first"))[:2] == [("q1", 1), ("q2", 1)]
    assert sorted(labels(queue(items, "random", "code"))) == [("q2", 1), ("q3", 1)]
    with pytest.raises(ValueError, match="sampling"):
        queue(items, "worst first")


def test_next_item_skips_what_was_voted():
    items = build_items(table())
    order = queue(items, "random")
    voted = {items.item(int(order[0])), items.item(int(order[1]))}
    assert next_item(items, order, lambda item: item in voted) == int(order[2])
    assert next_item(items, order, lambda item: True) is None


def test_the_shown_order_is_stable_per_reviewer_and_a_fair_coin_overall():
    item = ("q1", 1, "x", "y")
    assert shown_order("ana", item) == shown_order("ana", item)
    assert sorted(shown_order("ana", item)) == ["x", "y"]
    firsts = [shown_order("ana", (f"q{k}", 1, "x", "y"))[0] for k in range(2000)]
    assert 900 < firsts.count("x") < 1100
    # Reviewers differ: over many items, two reviewers see some in opposite orders.
    assert any(shown_order("ana", (f"q{k}", 1, "x", "y")) != shown_order("ben", (f"q{k}", 1, "x", "y")) for k in range(50))


def test_judge_votes_count_ties_as_mt_bench_does():
    items = build_items(table())
    votes = judge_votes(items, [("q1", 1, "x", "y"), ("q1", 2, "x", "y"), ("q1", 1, "x", "y"), ("q7", 1, "x", "y")])
    got = sorted(zip(votes["judge"], votes["turn"], votes["model_a"], votes["winner"]))
    # J1 q1/1: both orders x; J2 q1/1: one order, outcome 0.45 -> model_b (x, named second);
    # J1 q1/2: the orders disagree -> tie. A duplicate and an unknown item add nothing.
    assert got == [("J1", 1, "x", "model_a"), ("J1", 2, "x", "tie"), ("J2", 1, "y", "model_b")]


def test_reading_a_battle_log_by_column(tmp_path: Path):
    path = tmp_path / "battles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    got = read_battle_columns(path)
    assert got.num_rows == 5 and got.column("games").to_pylist()[0] == ["model_a", "model_a"]
    path.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps({**ROWS[1], "turn": "two"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"battles.jsonl:2: turn"):
        read_battle_columns(path)
