"""An import that fails half-way leaves nothing behind, so the same command can run again."""

from __future__ import annotations

import pytest

from arena.imports import common
from arena.imports.common import ImportedRun, write_imported_run


def _imported(tmp_path):
    return ImportedRun(tool="fastchat", source=tmp_path, questions=[{"question_id": 1, "category": "x", "turns": ["q"]}])


def test_failure_half_way_leaves_no_folder(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(common, "write_bias", boom)
    target = tmp_path / "runs" / "imported"
    with pytest.raises(RuntimeError):
        write_imported_run(_imported(tmp_path), target)
    assert not target.exists()
    assert list((tmp_path / "runs").iterdir()) == [], "no staging folder is left behind"


def test_success_renames_into_place_with_the_target_name(tmp_path):
    target = tmp_path / "imported"
    target.mkdir()  # an empty folder is fine
    write_imported_run(_imported(tmp_path), target)
    assert (target / "run.json").exists() and (target / "question.jsonl").exists()
    assert '"name": "imported"' in (target / "run.json").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["imported"]
