"""Which battle a reviewer sees next, and in which order its answers are shown (no Streamlit).

An item is a battle without its judge: a question, a turn and a model pair, whichever order each
judge's battles name the pair in (arena.human_votes.battle_item). `ReviewItems` indexes a run's
battle log by item once (kept as columns; 2M battles stay in pyarrow and numpy), so that on every
vote the page finds the next item and one item's judge verdicts without scanning the log.

Orders ("sampling"):
- random: one shuffle of the run's items, the same for every reviewer, so that reviewers who
  vote for a while meet the same battles and their agreement with each other can be measured
  (skip what others voted on to spread a team's effort instead);
- judge order flips first: items where a judge's verdicts in the two answer orders disagree;
- least confident first: items judged with probability-weighted verdicts, the verdict nearest
  to an even split first (|outcome - 0.5|, averaged over those judges);
each narrowed to one category where asked. The answers are shown in an order drawn per reviewer
and item (stable, so a reviewer who comes back to a battle sees it as before).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from arena.battle_columns import SCHEMA, text_objects
from arena.errors import DataError
from arena.human_votes import Item

SAMPLINGS = ("random", "judge order flips first", "least confident first")
_COLUMNS = ("question_id", "category", "model_a", "model_b", "winner", "judge", "turn", "outcome", "mode",
            "games", "consistent", "score_a", "score_b")


def read_battle_columns(path: Path) -> pa.Table:
    """The battle log's columns the review needs, parsed by pyarrow (games stay arrow lists); a
    file pyarrow cannot read cleanly goes through the checked record reader for its error."""
    try:
        # question_id is a number or a string per question set: the one field left to inference.
        table = pa_json.read_json(
            path,
            read_options=pa_json.ReadOptions(block_size=16 << 20),
            parse_options=pa_json.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="infer"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        from arena.battle_log import read_battle_records

        read_battle_records(path)  # raises the one-line error naming the line and field
        raise DataError(f"{path}: not readable as a battle log") from None
    missing = [c for c in ("question_id", "model_a", "model_b", "judge", "winner") if c not in table.column_names]
    if missing:
        raise DataError(f"{path}: missing field(s) {', '.join(missing)}")
    return table.select([c for c in _COLUMNS if c in table.column_names])


@dataclass
class ReviewItems:
    """The items of a battle log and, per item, the rows (battles) of every judge."""

    table: pa.Table            # the battle log's columns, one row per battle
    qid: np.ndarray            # per item: question id (str)
    turn: np.ndarray           # per item: turn
    low: np.ndarray            # per item: the pair's model names, sorted
    high: np.ndarray
    category: np.ndarray       # per item: category (str)
    flips: np.ndarray          # per item: some judge's two orders disagree
    confidence: np.ndarray     # per item: mean |outcome - 0.5| over probability judges (NaN: none)
    row_order: np.ndarray      # battle rows sorted by item
    row_start: np.ndarray      # item i's rows: row_order[row_start[i]:row_start[i + 1]]
    codes: tuple[dict[str, int], dict[int, int], dict[str, int]]  # question id, turn, model -> code
    keys: np.ndarray           # items' codes (as `_code` makes them), sorted
    key_items: np.ndarray      # the item of each sorted code

    def __len__(self) -> int:
        return len(self.qid)

    def item(self, i: int) -> Item:
        return (str(self.qid[i]), int(self.turn[i]), str(self.low[i]), str(self.high[i]))

    def find(self, item: Item) -> int | None:
        """The index of an item (None where the log has no such battle)."""
        qids, turns, models = self.codes
        try:
            code = _code(qids[item[0]], turns[int(item[1])], models[item[2]], models[item[3]], len(turns), len(models))
        except KeyError:
            return None
        at = int(np.searchsorted(self.keys, code))
        return int(self.key_items[at]) if at < len(self.keys) and self.keys[at] == code else None

    def categories(self) -> list[str]:
        return self._categories

    def has_confidence(self) -> bool:
        return self._has_confidence

    def __post_init__(self) -> None:
        # Asked on every rerun of the page: computed once, not over 2M items per vote.
        self._categories = sorted(str(c) for c in pd.unique(self.category) if c)
        self._has_confidence = bool(np.isfinite(self.confidence).any())

    def rows(self, i: int) -> list[dict[str, Any]]:
        """Item i's battles (one per judge), as dicts."""
        rows = self.row_order[self.row_start[i]:self.row_start[i + 1]]
        return self.table.take(pa.array(rows)).to_pylist()


def build_items(table: pa.Table, probability_judges: Collection[str] = ()) -> ReviewItems:
    n = table.num_rows
    qid_col = table.column("question_id")
    if not pa.types.is_string(qid_col.type):
        qid_col = qid_col.cast(pa.string())
    qid = text_objects(qid_col)
    names_a, names_b = text_objects(table.column("model_a")), text_objects(table.column("model_b"))
    turn = table.column("turn").fill_null(1).to_numpy() if "turn" in table.column_names else np.ones(n, dtype=np.int64)
    codes, names = pd.factorize(np.concatenate([names_a, names_b]))
    by_name = np.argsort(np.asarray(names, dtype=str), kind="stable")
    rank = np.empty(len(names), dtype=np.int64)
    rank[by_name] = np.arange(len(names))
    models = np.asarray(names, dtype=object)[by_name]
    code_a, code_b = rank[codes[:n]], rank[codes[n:]]
    low, high = np.minimum(code_a, code_b), np.maximum(code_a, code_b)
    q_codes, q_values = pd.factorize(qid)
    t_codes, t_values = pd.factorize(turn)
    key = _code(q_codes.astype(np.int64), t_codes, low, high, len(t_values), len(models))
    item_of_row, keys = pd.factorize(key)
    first = np.full(len(keys), n, dtype=np.int64)
    np.minimum.at(first, item_of_row, np.arange(n))
    category = text_objects(table.column("category")) if "category" in table.column_names else np.full(n, "", dtype=object)
    flips = np.zeros(len(keys), dtype=bool)
    if "consistent" in table.column_names:
        disagree = pc.equal(table.column("consistent"), False).fill_null(False).to_numpy(zero_copy_only=False)
        flips[item_of_row[disagree]] = True
    confidence = np.full(len(keys), np.nan)
    judges = text_objects(table.column("judge"))
    if probability_judges and "outcome" in table.column_names:
        weighted = np.isin(judges, list(probability_judges))
        outcome = table.column("outcome").fill_null(0.5).to_numpy()
        total = np.bincount(item_of_row[weighted], np.abs(outcome[weighted] - 0.5), minlength=len(keys))
        count = np.bincount(item_of_row[weighted], minlength=len(keys))
        confidence = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    by_key = np.argsort(keys, kind="stable")
    row_order = np.argsort(item_of_row, kind="stable")
    row_start = np.searchsorted(item_of_row[row_order], np.arange(len(keys) + 1))
    return ReviewItems(
        table=table.combine_chunks(), qid=qid[first], turn=turn[first], low=models[low[first]], high=models[high[first]],
        category=category[first], flips=flips, confidence=confidence, row_order=row_order, row_start=row_start,
        codes=({str(q): c for c, q in enumerate(q_values)}, {int(t): c for c, t in enumerate(t_values)},
               {str(name): c for c, name in enumerate(models)}),
        keys=np.asarray(keys)[by_key], key_items=by_key,
    )


def _code(q: Any, t: Any, low: Any, high: Any, n_turns: int, n_models: int) -> Any:
    """One integer per (question, turn, low model, high model), from their codes."""
    return ((q * n_turns + t) * n_models + low) * n_models + high


def queue(items: ReviewItems, sampling: str, category: str | None = None, seed: int = 0) -> np.ndarray:
    """The order items are offered in (item indices), the same for every reviewer."""
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling: {sampling!r}; expected one of {', '.join(SAMPLINGS)}")
    order = np.random.default_rng(seed).permutation(len(items))
    if category:
        order = order[items.category[order] == category]
    if sampling == "judge order flips first":
        order = order[np.argsort(~items.flips[order], kind="stable")]
    elif sampling == "least confident first":
        confidence = items.confidence[order]
        rank = np.where(np.isfinite(confidence), confidence, np.inf)
        order = order[np.argsort(rank, kind="stable")]
    return order


def next_item(items: ReviewItems, order: np.ndarray, skip: Callable[[Item], bool]) -> int | None:
    """The first item of `order` that `skip` lets through, or None when every one was voted."""
    for i in order:
        if not skip(items.item(int(i))):
            return int(i)
    return None


def shown_order(reviewer: str, item: Item) -> tuple[str, str]:
    """The two models in the order one reviewer sees them (A first): a fair coin per reviewer
    and item, drawn from a hash so it is the same on every visit."""
    digest = hashlib.sha256("\x1f".join([reviewer, *map(str, item)]).encode("utf-8")).digest()
    low, high = item[2], item[3]
    return (low, high) if digest[0] & 1 else (high, low)


def judge_votes(items: ReviewItems, wanted: list[Item]) -> pd.DataFrame:
    """Every judge's vote (arena.agreement.VOTE_COLUMNS, ties as MT-Bench counts them) on the
    battles `wanted`, as their battle rows name the pair; items the log lacks are left out."""
    from arena.agreement import VOTE_COLUMNS
    from arena.imports.votes import verdict_vote

    found = [i for i in (items.find(item) for item in dict.fromkeys(wanted)) if i is not None]
    rows = [r for i in found for r in items.rows(i)]
    votes = [
        (str(r["judge"]), str(r["question_id"]), int(r["turn"] or 1), str(r["model_a"]), str(r["model_b"]),
         verdict_vote(r.get("games"), 0.5 if r.get("outcome") is None else float(r["outcome"])))
        for r in rows
    ]
    return pd.DataFrame(votes, columns=list(VOTE_COLUMNS))
