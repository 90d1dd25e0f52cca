"""Loading benchmark items: the registry's tiny sets, a user's CSV and JSONL with a column
mapping, bad files (errors name file, line and field), and the real MMLU files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from arena.config import BenchmarkColumns, BenchmarkConfig
from arena.errors import ConfigError, DataError
from arena.registry import registry_dir
from arena.scoring.datasets import few_shot_pool, gold_index, load_items, resolve_source
from arena.scoring.prompts import multiple_choice_prompt

SHARED = Path(os.environ.get("ARENA_SHARED_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
MMLU = SHARED / "mmlu"


def bench(**kw) -> BenchmarkConfig:
    kw.setdefault("name", "b")
    kw.setdefault("source", "x")
    return BenchmarkConfig(**kw)


def test_registry_tiny_mc_in_mmlu_layout():
    path = resolve_source("tiny_mc", None, "cfg", "benchmarks[0].source")
    assert path == registry_dir() / "benchmarks" / "tiny_mc"
    items = load_items(bench(), path)
    assert len(items) == 12
    assert {i.subject for i in items} == {"arithmetic", "geography"}
    first = items[0]
    assert first.item_id == "arithmetic/0" and first.question == "What is 7 times 8?"
    assert first.choices == ["54", "56", "58", "64"] and first.gold == 1 and first.gold_text == "B"
    dev = load_items(bench(), resolve_source("tiny_mc_dev", None, "cfg", "k"), apply_filters=False)
    assert [i.subject for i in few_shot_pool(dev, "geography", 2)] == ["geography", "geography"]
    assert len(few_shot_pool(dev, "geography", 5)) == 3  # the dev split has three of that subject


def test_registry_tiny_em_jsonl():
    items = load_items(bench(kind="exact_match"), resolve_source("tiny_em", None, "cfg", "k"))
    assert len(items) == 10
    by_id = {i.item_id: i for i in items}
    assert by_id["em-4"].references == ["6"]  # a number in the file
    assert by_id["em-6"].references == ["Mercury", "the planet Mercury"]
    assert by_id["em-1"].gold_text == "60" and by_id["em-1"].choices == []


def test_subjects_and_limit():
    path = resolve_source("tiny_mc", None, "cfg", "k")
    assert [i.subject for i in load_items(bench(subjects=["geography"], limit=2), path)] == ["geography"] * 2
    with pytest.raises(ConfigError, match=r"cfg: benchmarks\[0\].subjects: astronomy not in"):
        load_items(bench(subjects=["astronomy"]), path, where="cfg", key="benchmarks[0]")


def test_user_csv_with_column_mapping(tmp_path):
    file = tmp_path / "mine.csv"
    file.write_text(
        "qid,prompt,opt1,opt2,opt3,right,topic\n"
        "q1,Capital of France?,Lyon,Paris,Nice,Paris,geo\n"
        "q2,2+2?,3,4,5,1,math\n"
        'q3,"Quoted, with comma?",x,y,z,c,math\n',
        encoding="utf-8",
    )
    columns = BenchmarkColumns(question="prompt", choices=["opt1", "opt2", "opt3"], answer="right", id="qid", subject="topic")
    items = load_items(bench(columns=columns), file)
    assert [(i.item_id, i.subject, i.gold) for i in items] == [("q1", "geo", 1), ("q2", "math", 1), ("q3", "math", 2)]
    assert items[2].question == "Quoted, with comma?"


def test_user_jsonl_with_a_list_of_choices(tmp_path):
    file = tmp_path / "mine.jsonl"
    file.write_text(
        '{"q": "Sky colour?", "options": ["green", "blue"], "label": 1}\n'
        '\n'
        '{"q": "Grass colour?", "options": ["green", "blue"], "label": "A"}\n',
        encoding="utf-8",
    )
    items = load_items(bench(columns=BenchmarkColumns(question="q", choices=["options"], answer="label")), file)
    assert [(i.item_id, i.gold) for i in items] == [("mine/0", 1), ("mine/1", 0)]


@pytest.mark.parametrize("content, columns, message", [
    ("Q?,a,b,c,d,E\n", None, r"bad\.csv:1: answer: 'E' is out of range for 4 options"),
    ("Q?,a,b\n", None, r"bad\.csv:1: expected MMLU's layout"),
    ("prompt,A,B,answer\nQ?,a,b,A\n", BenchmarkColumns(question="question", choices=["A", "B"]),
     r"bad\.csv:1: columns question not in the header"),
    ("Q?,a,b,c,d,maybe\n", None, r"bad\.csv:1: answer: 'maybe' is not a letter"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, content, columns, message):
    file = tmp_path / "bad.csv"
    file.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_items(bench(columns=columns), file)


def test_bad_jsonl_names_the_missing_key(tmp_path):
    file = tmp_path / "bad.jsonl"
    file.write_text('{"question": "Q?", "choices": ["a", "b"]}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:1: missing field 'answer'"):
        load_items(bench(), file)


def test_unknown_source_lists_the_registry():
    with pytest.raises(ConfigError, match=r"cfg: benchmarks\[0\].source: 'nope' is neither a registry benchmark \(arith_em, arith_mc, tiny_em, tiny_mc\)"):
        resolve_source("nope", None, "cfg", "benchmarks[0].source")


def test_gold_index_forms():
    choices = ["x", "y", "z"]
    assert gold_index("b", choices, "w") == 1
    assert gold_index(2, choices, "w") == 2
    assert gold_index("0", choices, "w") == 0
    assert gold_index("z", choices, "w") == 2  # not a letter of these options: the option's text
    assert gold_index("C", ["C", "B", "A"], "w") == 2  # a letter in range is a letter


needs_mmlu = pytest.mark.skipif(not (MMLU / "test").is_dir(), reason=f"MMLU data not found at {MMLU} (set ARENA_SHARED_DATA)")


@needs_mmlu
def test_real_mmlu_test_and_dev_splits():
    test = load_items(bench(), MMLU / "test")
    dev = load_items(bench(), MMLU / "dev", apply_filters=False)
    assert len(test) == 14079 and len({i.subject for i in test}) == 57
    assert len(dev) == 57 * 5
    assert {len(i.choices) for i in test} == {4}
    assert {i.gold_text for i in test} == {"A", "B", "C", "D"}
    # Every subject's 5 dev questions are its few-shot pool, in file order.
    shots = few_shot_pool(dev, "abstract_algebra", 5)
    assert [s.item_id for s in shots] == [f"abstract_algebra/{k}" for k in range(5)]
    item = next(i for i in test if i.subject == "abstract_algebra")
    prompt = multiple_choice_prompt(item, shots)
    assert prompt.startswith(
        "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
        "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer: B\n\n"
    )
    assert prompt.endswith(f"{item.question}\nA. {item.choices[0]}\nB. {item.choices[1]}\nC. {item.choices[2]}\nD. {item.choices[3]}\nAnswer:")
    assert prompt.count("Answer:") == 6


@needs_mmlu
def test_real_mmlu_subset_by_subject():
    items = load_items(bench(subjects=["college_physics", "marketing"]), MMLU / "test")
    assert {i.subject for i in items} == {"college_physics", "marketing"}
    assert len(items) == 102 + 234
