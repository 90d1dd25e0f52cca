"""Benchmark: Chatbot Arena's battle logs read by column against row by row.

    python bench/bench_read_arena.py [--battles 1000000] [--keep DIR]

Writes an Arena-shaped log (the fields of the public clean_battle files, conv_metadata with
token and markdown counts on every row, fields we ignore) as a JSON list and as JSON lines, then
in this one process reads each both ways: `read_arena_rows` (the row reader: each row checked in
Python) and `read_battle_log(..., "arena")` (by column, arena/arena_columns.py). Prints the times,
their ratio, and whether the two tables are equal (they must be).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arena.battle_log import read_arena_rows, read_battle_log  # noqa: E402

WINNERS = ["model_a", "model_b", "tie", "tie (bothbad)"]


def write_logs(root: Path, n: int, seed: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    models = [f"model-{k:03d}" for k in range(100)]
    a = rng.integers(0, 100, n)
    b = (a + rng.integers(1, 100, n)) % 100
    winner = rng.integers(0, 4, n)
    tokens = rng.integers(10, 1500, (n, 2))
    rows = [
        {
            "question_id": f"{i:08x}", "model_a": models[a[i]], "model_b": models[b[i]], "winner": WINNERS[winner[i]],
            "judge": f"arena_user_{i % 5000}", "turn": 1 + i % 3, "anony": bool(i % 5), "language": "English",
            "tstamp": 1.7e9 + i * 0.5,
            "conv_metadata": {
                "sum_user_tokens": 30, "sum_assistant_a_tokens": int(tokens[i, 0]), "sum_assistant_b_tokens": int(tokens[i, 1]),
                "context_a_tokens": 40, "context_b_tokens": 40, "turns": 1,
                "header_count_a": {"h1": 0, "h2": i % 3, "h3": 0}, "header_count_b": {"h1": 0, "h2": 0, "h3": i % 2},
                "list_count_a": {"ordered": i % 4, "unordered": 1}, "list_count_b": {"ordered": 0, "unordered": i % 5},
                "bold_count_a": {"**": i % 2, "__": 0}, "bold_count_b": {"**": 3, "__": 0},
            },
            "is_code": False, "is_refusal": False, "dedup_tag": {"high_freq": False, "sampled": True},
        }
        for i in range(n)
    ]
    listed, lines = root / "clean_battle.json", root / "arena.jsonl"
    listed.write_text(json.dumps(rows), encoding="utf-8")
    with open(lines, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    return listed, lines


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--keep", metavar="DIR", help="keep (and reuse) the logs in DIR")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-arena-"))
    root.mkdir(parents=True, exist_ok=True)
    listed, lines = root / "clean_battle.json", root / "arena.jsonl"
    if not (listed.exists() and lines.exists()):
        listed, lines = write_logs(root, args.battles, args.seed)
    print(f"{args.battles:,} battles; JSON list {listed.stat().st_size / 2**20:.0f} MiB, JSON lines {lines.stat().st_size / 2**20:.0f} MiB")
    for label, path in (("JSON list", listed), ("JSON lines", lines)):
        rows, row_s = timed(read_arena_rows, path)
        columns, column_s = timed(read_battle_log, path, "arena")
        rows, columns = rows.battles, columns.battles
        same = rows.equals(columns) and list(rows.dtypes) == list(columns.dtypes)
        pd.testing.assert_frame_equal(rows, columns, check_exact=True)
        print(f"{label:<11} row by row {row_s:6.2f} s   by column {column_s:6.2f} s   ratio {row_s / column_s:4.1f}x   tables equal: {same}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
