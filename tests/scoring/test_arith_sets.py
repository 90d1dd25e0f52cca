"""The demo's arithmetic benchmarks are right: every gold answer is the arithmetic's result, and
the multiple-choice options hold it exactly once."""

from __future__ import annotations

import csv
import json
import operator
import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "registry" / "benchmarks"
OPS = {"plus": operator.add, "minus": operator.sub, "times": operator.mul, "divided by": operator.floordiv}
QUESTION = re.compile(r"^What is (\d+) (plus|minus|times|divided by) (\d+)\?$")


def result(question: str) -> int:
    match = QUESTION.match(question)
    assert match, question
    a, op, b = int(match[1]), match[2], int(match[3])
    if op == "divided by":
        assert a % b == 0, question
    return OPS[op](a, b)


def test_multiple_choice_gold_answers():
    files = sorted((BENCHMARKS / "arith_mc").glob("*.csv")) + sorted((BENCHMARKS / "arith_mc_dev").glob("*.csv"))
    assert len(files) == 8
    count = 0
    for path in files:
        for question, *options, gold in csv.reader(path.open(encoding="utf-8")):
            assert len(options) == 4 and options.count(str(result(question))) == 1
            assert options["ABCD".index(gold)] == str(result(question)), (path.name, question)
            count += 1
    assert count == 4 * 50 + 4 * 5


def test_exact_match_gold_answers():
    for name, n in (("arith_em.jsonl", 100), ("arith_em_dev.jsonl", 4)):
        rows = [json.loads(line) for line in (BENCHMARKS / name).read_text(encoding="utf-8").splitlines()]
        assert len(rows) == n and len({r["id"] for r in rows}) == n
        for row in rows:
            assert row["answer"] == str(result(row["question"]))
