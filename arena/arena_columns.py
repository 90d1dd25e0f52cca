"""Chatbot Arena's battle logs read by column.

The row reader (arena.battle_log.read_arena_log) checks each row in Python; on a published log
of millions of battles that is most of `arena rate`'s time. Here each field the reader uses
becomes one Arrow column (pyarrow's JSON reader parses JSON lines in C++; a JSON list, which is
how the public `clean_battle_*.json` files come, is loaded by `json` and each field gathered
into a column), and the row reader's checks run once per column.

Only files whose every column is plainly valid take this path; anything else (a wrong type, a
null where the row reader would object, mixed types, a value out of bounds) returns None and
the caller reads row by row, which raises its one-line error naming the row and field. So the
table and the errors are the row reader's, exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from arena.battle_columns import text_objects
from arena.records import OUTCOME_OF_WINNER, WINNERS

FIELDS = ("model_a", "model_b", "winner", "judge", "turn", "tstamp", "anony", "question_id", "category", "conv_metadata")
_COUNTS = {"headers": "header_count", "lists": "list_count", "bold": "bold_count"}

Column = pa.Array | pa.ChunkedArray


def read_jsonl_columns(path: Path) -> dict[str, Column] | None:
    """The used fields of a JSON-lines log as columns (absent fields left out), or None where
    pyarrow cannot read it with one type per field."""
    try:
        table = pa_json.read_json(path, read_options=pa_json.ReadOptions(block_size=16 << 20))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError):
        return None
    return {f: table.column(f) for f in FIELDS if f in table.column_names}


def list_columns(rows: list[Any]) -> dict[str, Column] | None:
    """The used fields of a JSON list's rows as columns, or None where a row is not an object
    or a field's values are not of one type."""
    if not all(isinstance(row, dict) for row in rows):
        return None
    columns: dict[str, Column] = {}
    for f in FIELDS:
        values = [row.get(f) for row in rows]
        if all(v is None for v in values) and not any(f in row for row in rows):
            continue
        try:
            column = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError, OverflowError):
            return None
        # Arrow reads true as 1 among numbers; the row reader rejects it.
        if (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)) and any(type(v) is bool for v in values):
            return None
        columns[f] = column
    return columns


def arena_frame(columns: dict[str, Column], n: int, battle_columns: tuple[str, ...], style_columns: tuple[str, ...]) -> pd.DataFrame | None:
    """The battle table of `n` rows the row reader would make from these columns, or None
    wherever it might object (the caller then reads row by row)."""
    if n == 0:
        return None
    model_a = _text(columns.get("model_a"), nonempty=True)
    model_b = _text(columns.get("model_b"), nonempty=True)
    winner = _text(columns.get("winner"))
    if model_a is None or model_b is None or winner is None:
        return None
    if (model_a == model_b).any() or not np.isin(winner, WINNERS).all():
        return None
    judge = _text(columns["judge"]) if "judge" in columns else np.full(n, "", dtype=object)
    category = _text(columns["category"]) if "category" in columns else np.full(n, "", dtype=object)
    if judge is None or category is None:
        return None
    turn = _turns(columns.get("turn"), n)
    tstamp = _times(columns.get("tstamp"), n)
    anony = _flags(columns.get("anony"), n)
    qid = _question_ids(columns.get("question_id"), n)
    style = _style(columns.get("conv_metadata"), n)
    if turn is None or tstamp is None or anony is None or qid is None or style is None:
        return None
    codes, uniques = pd.factorize(winner)
    outcome = np.array([OUTCOME_OF_WINNER[u] for u in uniques], dtype=np.float64)[codes]
    data: dict[str, Any] = {
        "model_a": model_a, "model_b": model_b, "winner": winner, "outcome": outcome, "weight": np.ones(n),
        "judge": judge, "turn": turn, "category": category, "question_id": qid, "tstamp": tstamp,
    }
    data.update({c: style.get(c, np.full(n, np.nan)) for c in style_columns})
    text = ("model_a", "model_b", "winner", "judge", "category", "question_id")
    frame = pd.DataFrame({c: pd.Series(data[c], dtype=object) if c in text else data[c] for c in battle_columns})
    frame["anony"] = anony
    return frame


def _text(column: Column | None, *, nonempty: bool = False) -> np.ndarray | None:
    if column is None or not pa.types.is_string(column.type) or column.null_count:
        return None
    if nonempty and pc.any(pc.equal(pc.utf8_length(column), 0)).as_py():
        return None
    return text_objects(column)


def _turns(column: Column | None, n: int) -> np.ndarray | None:
    if column is None:
        return np.ones(n, dtype=np.int64)
    if not pa.types.is_integer(column.type) or column.null_count:
        return None
    turn = np.asarray(column.to_numpy(), dtype=np.int64)
    return turn if (turn >= 1).all() else None


def _times(column: Column | None, n: int) -> np.ndarray | None:
    if column is None or pa.types.is_null(column.type):
        return np.full(n, np.nan)
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        return None
    return np.asarray(column.cast(pa.float64()).fill_null(np.nan).to_numpy(), dtype=np.float64)


def _flags(column: Column | None, n: int) -> np.ndarray | None:
    if column is None:
        return np.ones(n, dtype=bool)
    # A null `anony` is falsy to the row reader; a missing one true: they cannot be told apart here.
    if not pa.types.is_boolean(column.type) or column.null_count:
        return None
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=bool)


def _question_ids(column: Column | None, n: int) -> np.ndarray | None:
    if column is None:
        return np.array([str(i) for i in range(1, n + 1)], dtype=object)
    if column.null_count or not (pa.types.is_string(column.type) or pa.types.is_integer(column.type)):
        return None
    return text_objects(column if pa.types.is_string(column.type) else column.cast(pa.string()))


def _style(column: Column | None, n: int) -> dict[str, np.ndarray] | None:
    """Style from `conv_metadata`: answer tokens and markdown counts, for the rows that carry
    both sides' token counts (the others have none); None where a count is not a plain number
    or a dict of numbers."""
    if column is None or pa.types.is_null(column.type):
        return {}
    if not pa.types.is_struct(column.type):
        return None
    meta = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    names = {meta.type.field(k).name for k in range(meta.type.num_fields)}
    if not {"sum_assistant_a_tokens", "sum_assistant_b_tokens"} <= names:
        return {}
    tokens = {side: _field(meta, f"sum_assistant_{side}_tokens") for side in "ab"}
    if any(t is None for t in tokens.values()):
        return None
    styled = ~(np.isnan(tokens["a"]) | np.isnan(tokens["b"]))
    style: dict[str, np.ndarray] = {}
    for side in "ab":
        style[f"style_{side}_tokens"] = np.where(styled, tokens[side], np.nan)
        style[f"style_{side}_chars"] = np.where(styled, 0.0, np.nan)
        for name, key in _COUNTS.items():
            field = f"{key}_{side}"
            counts = _counts(meta, field, styled) if field in names else np.zeros(n)
            if counts is None:
                return None
            style[f"style_{side}_{name}"] = np.where(styled, counts, np.nan)
    return style


def _field(meta: pa.StructArray, name: str) -> np.ndarray | None:
    # Struct fields are read through the parent's validity: a null conv_metadata reads as null.
    values = pc.struct_field(meta, name)
    if pa.types.is_null(values.type):
        return np.full(len(meta), np.nan)
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        return None
    return np.asarray(values.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False), dtype=np.float64)


def _counts(meta: pa.StructArray, name: str, styled: np.ndarray) -> np.ndarray | None:
    """A markdown count: a number, or a dict of numbers summed (a key absent from a row's dict,
    or null there, adds nothing, as in the row reader); None where a styled row's count itself
    is null, which the row reader rejects."""
    values = pc.struct_field(meta, name)
    if pa.types.is_struct(values.type):
        parts = []
        for k in range(values.type.num_fields):
            part = _field(values, values.type.field(k).name)
            if part is None:
                return None
            parts.append(part)
        present = ~np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if (styled & ~present).any():
            return None
        total = np.nansum(np.vstack(parts), axis=0) if parts else np.zeros(len(meta))
        return total
    number = _field(meta, name)
    if number is None or (styled & np.isnan(number)).any():
        return None
    return number
