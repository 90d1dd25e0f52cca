from __future__ import annotations

import pytest

from arena.errors import DataError
from arena.records import Answer, Choice
from arena.store import RecordStore, read_jsonl, read_records, write_atomic


def _answer(qid: int) -> Answer:
    return Answer(question_id=qid, answer_id=f"a{qid}", model_id="m", choices=[Choice(0, [f"text {qid}"])], tstamp=1.0)


def _store(path):
    return RecordStore(path, Answer, key=lambda a: str(a.question_id))


def test_append_and_reload(tmp_path):
    path = tmp_path / "a.jsonl"
    with _store(path) as store:
        assert store.append(_answer(1))
        assert store.append(_answer(2))
        assert not store.append(_answer(1)), "a key already stored is never written twice"
    reloaded = _store(path)
    assert sorted(reloaded.records) == ["1", "2"]
    assert path.read_text().count("\n") == 2


def test_torn_last_line_is_truncated_and_the_unit_redone(tmp_path):
    path = tmp_path / "a.jsonl"
    with _store(path) as store:
        store.append(_answer(1))
    good = path.read_bytes()
    path.write_bytes(good + b'{"question_id": 2, "answer_id": "a2", "mod')  # killed mid-write
    store = _store(path)
    assert list(store.records) == ["1"]
    assert path.read_bytes() == good, "the torn tail is cut back to the last complete line"
    store.append(_answer(2))
    store.close()
    assert [r.question_id for r in read_records(path, Answer)] == [1, 2]


def test_a_whole_last_record_without_its_newline_is_kept(tmp_path):
    # A cut JSON object never parses, so a tail that parses is a record whose newline an editor
    # dropped: keep it (re-paying for it would be wrong) and restore the newline.
    path = tmp_path / "a.jsonl"
    path.write_text('{"question_id": 1, "answer_id": "x", "model_id": "m", "choices": [], "tstamp": 1}')
    store = _store(path)
    assert list(store.records) == ["1"]
    store.append(_answer(2))
    store.close()
    assert [r.question_id for r in read_records(path, Answer)] == [1, 2]


def test_user_files_without_final_newline_are_read(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"x": 1}\n{"x": 2}')
    assert [obj["x"] for _, obj in read_jsonl(path)] == [1, 2]


def test_corruption_in_the_middle_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"x": 1}\nnot json\n{"x": 3}\n')
    with pytest.raises(DataError, match=r"a\.jsonl:2: not valid JSON"):
        list(read_jsonl(path, repair=True))
    assert path.read_text().count("\n") == 3, "nothing is thrown away on a corrupt file"


def test_a_record_missing_a_field_names_file_line_and_field(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"question_id": 1, "answer_id": "x", "model_id": "m", "tstamp": 1}\n')
    with pytest.raises(DataError, match=r"a\.jsonl:1: choices: required key is missing"):
        read_records(path, Answer)


def test_write_atomic_replaces_whole_file(tmp_path):
    path = tmp_path / "t.csv"
    write_atomic(path, "a\n")
    write_atomic(path, "b\n")
    assert path.read_text() == "b\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"], "no temporary file is left behind"
