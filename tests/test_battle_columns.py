"""battles.jsonl read by column (arena.battle_columns): the same table as the record reader, the
record reader's errors for anything else, and the run folder's columnar copy kept in step."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from arena.battle_columns import COLUMNAR_NAME, read_columnar, read_fast, write_columnar
from arena.battle_log import (
    BATTLE_COLUMNS,
    read_battle_log,
    read_battle_records,
    read_battles_jsonl,
)
from arena.cli import main
from arena.errors import DataError
from arena.records import Battle, Style, to_json

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def battle(i: int, **changes) -> dict:
    row = json.loads(to_json(Battle(
        question_id=i, category="math" if i % 2 else "writing", model_a=f"m{i % 3}", model_b=f"m{(i + 1) % 3}",
        winner=("model_a", "model_b", "tie", "tie (bothbad)")[i % 4], judge="j", turn=1 + i % 2,
        outcome=(1.0, 0.0, 0.5, 0.5)[i % 4], weight=1.0 + (i % 2), mode="pairwise-all", games=["model_a"],
        consistent=i % 3 == 0, style_a=Style(tokens=10 + i, chars=40, headers=1, lists=2, bold=0) if i % 5 else None,
        style_b=Style(tokens=20, chars=80 + i, headers=0, lists=1, bold=3),
    )))
    row.update(changes)
    return row


def write(path: Path, rows: list[dict], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail, encoding="utf-8")
    return path


def test_fast_reader_gives_the_record_readers_table(tmp_path):
    path = write(tmp_path / "b.jsonl", [battle(i) for i in range(50)])
    fast = read_fast(path, BATTLE_COLUMNS)
    assert fast is not None
    pd.testing.assert_frame_equal(fast, read_battle_records(path).battles, check_exact=True)


def test_string_question_ids_and_missing_optional_fields(tmp_path):
    rows = [{k: v for k, v in battle(i, question_id=f"q{i}").items() if k not in ("weight", "games", "style_a")}
            for i in range(20)]
    path = write(tmp_path / "b.jsonl", rows)
    fast = read_fast(path, BATTLE_COLUMNS)
    assert fast is not None and list(fast["question_id"][:2]) == ["q0", "q1"]
    pd.testing.assert_frame_equal(fast, read_battle_records(path).battles, check_exact=True)


BAD = {
    "winner not allowed": {"winner": "model_c"},
    "outcome above 1": {"outcome": 1.5},
    "outcome a string": {"outcome": "1"},
    "weight zero": {"weight": 0.0},
    "same model": {"model_b": "m1"},
    "turn a float": {"turn": 1.5},
    "model a number": {"model_a": 3},
    "games not a list": {"games": 5},
    "style field a string": {"style_a": {"tokens": "x"}},
    "judge missing": {"judge": None},
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_line_gets_the_record_readers_error(tmp_path, name):
    rows = [battle(i) for i in range(6)]
    rows[4] = {**battle(4, model_a="m1", model_b="m2"), **BAD[name]}
    if BAD[name].get("judge", "") is None:
        del rows[4]["judge"]
    path = write(tmp_path / "b.jsonl", rows)
    assert read_fast(path, BATTLE_COLUMNS) is None  # not read by column ...
    with pytest.raises(DataError) as record_error:
        read_battle_records(path)
    with pytest.raises(DataError) as error:
        read_battles_jsonl(path)
    assert str(error.value) == str(record_error.value)  # ... so the error is the record reader's
    assert f"{path}:5:" in str(error.value) and "\n" not in str(error.value)


def test_torn_last_line_and_mixed_question_ids_fall_back(tmp_path):
    torn = write(tmp_path / "torn.jsonl", [battle(i) for i in range(3)], tail='{"question_id": 9, "cat')
    assert read_fast(torn, BATTLE_COLUMNS) is None
    mixed = write(tmp_path / "mixed.jsonl", [battle(0), battle(1, question_id="q1")])
    assert read_fast(mixed, BATTLE_COLUMNS) is None
    pd.testing.assert_frame_equal(read_battles_jsonl(mixed).battles, read_battle_records(mixed).battles)


def test_columnar_copy_is_used_only_while_it_matches_the_jsonl(tmp_path):
    path = write(tmp_path / "battles.jsonl", [battle(i) for i in range(30)])
    frame = read_battle_records(path).battles
    assert write_columnar(path, frame) == tmp_path / COLUMNAR_NAME
    pd.testing.assert_frame_equal(read_columnar(path), frame, check_exact=True)
    # The JSONL changes after the copy was made (an edit, a crash between the two writes).
    write(path, [battle(i) for i in range(31)])
    os.utime(path, ns=(1, 1))
    assert read_columnar(path) is None


def test_text_columns_are_stored_as_dictionaries_and_older_copies_still_read(tmp_path):
    path = write(tmp_path / "battles.jsonl", [battle(i) for i in range(30)])
    frame = read_battle_records(path).battles
    write_columnar(path, frame)
    table = ipc.open_file(pa.BufferReader((tmp_path / COLUMNAR_NAME).read_bytes())).read_all()
    assert pa.types.is_dictionary(table.column("model_a").type)
    # A copy written before text was stored as dictionaries: plain strings, read alike.
    plain = table.cast(pa.schema([
        pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in table.schema
    ], metadata=table.schema.metadata))
    with ipc.new_file(str(tmp_path / COLUMNAR_NAME), plain.schema) as writer:
        writer.write_table(plain)
    pd.testing.assert_frame_equal(read_columnar(path), frame, check_exact=True)


def test_run_folder_keeps_a_columnar_copy_in_step(tmp_path):
    """The reviews stage writes battles.arrow beside battles.jsonl; ratings read it; a stale copy
    is ignored and rebuilt from the JSONL."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: cols\nseed: 0\nquestions: tiny\noutput_dir: " + str(tmp_path / "run") + "\n"
        "models:\n  - {name: a, provider: simulated}\n  - {name: b, provider: simulated}\n  - {name: c, provider: simulated}\n"
        "judges:\n  - {name: j, provider: simulated, mode: pairwise-all}\nratings: {bootstrap: 50}\n",
        encoding="utf-8")
    assert main(["run", "-c", str(config), "--dry-run"]) == 0
    run = tmp_path / "run-dryrun"
    jsonl, arrow = run / "battles.jsonl", run / COLUMNAR_NAME
    assert arrow.exists()
    reference = read_battle_records(jsonl).battles
    pd.testing.assert_frame_equal(read_columnar(jsonl), reference, check_exact=True)
    first = (run / "ratings" / "leaderboard.csv").read_text()
    # A stale copy (the JSONL rewritten since): read from the JSONL, same ratings, copy rebuilt.
    arrow.write_bytes(arrow.read_bytes())  # same content ...
    os.utime(jsonl, ns=(2, 2))             # ... but no longer made from this JSONL
    assert read_columnar(jsonl) is None
    assert main(["run", "-c", str(config), "--dry-run", "--stages", "ratings"]) == 0
    assert (run / "ratings" / "leaderboard.csv").read_text() == first
    pd.testing.assert_frame_equal(read_columnar(jsonl), reference, check_exact=True)


@pytest.mark.skipif(not (SHARED / "alpaca-eval" / "preferences.csv.gz").exists(),
                    reason="../shared/data/alpaca-eval/preferences.csv.gz is not here")
def test_alpaca_eval_battles_read_alike_to_1e9(tmp_path):
    """AlpacaEval's weighted annotator (fractional outcomes) written as our battles.jsonl: both
    readers give the same table, and the same ratings."""
    log = read_battle_log(SHARED / "alpaca-eval" / "preferences.csv.gz", "preferences-csv",
                          annotator="weighted_alpaca_eval_gpt4_turbo").battles
    rows = [{"question_id": r.question_id, "category": r.category, "model_a": r.model_a, "model_b": r.model_b,
             "winner": r.winner, "judge": r.judge, "turn": int(r.turn), "outcome": float(r.outcome),
             "weight": float(r.weight)} for r in log.itertuples()]
    path = write(tmp_path / "alpaca.jsonl", rows)
    fast = read_fast(path, BATTLE_COLUMNS)
    assert fast is not None
    pd.testing.assert_frame_equal(fast, read_battle_records(path).battles, check_exact=False, rtol=1e-9)
    out_fast, out_records = tmp_path / "fast", tmp_path / "records"
    assert main(["rate", str(path), "--out", str(out_fast), "--bootstrap", "100", "--no-style-control"]) == 0
    import arena.battle_log as battle_log

    original = battle_log.read_battles_jsonl
    try:
        battle_log.read_battles_jsonl = battle_log.read_battle_records
        assert main(["rate", str(path), "--out", str(out_records), "--bootstrap", "100", "--no-style-control"]) == 0
    finally:
        battle_log.read_battles_jsonl = original
    a = pd.read_csv(out_fast / "leaderboard.csv")
    b = pd.read_csv(out_records / "leaderboard.csv")
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)
