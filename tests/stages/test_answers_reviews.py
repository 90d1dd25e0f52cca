"""The answers and reviews stages on small simulated runs: files, fields, resume, errors."""

from __future__ import annotations

import json

import pytest

from arena.cli import main
from arena.records import Answer, Battle, Review
from arena.store import read_records
from tests.conftest import base_config


def _run(write_config, config, *extra):
    return main(["run", "-c", str(write_config(config)), *extra])


def test_answers_have_fastchat_fields_plus_tokens_and_latency(tmp_path, write_config):
    out = tmp_path / "run"
    assert _run(write_config, base_config(out), "--stages", "answers") == 0
    rows = [json.loads(line) for line in (out / "answers" / "m1.jsonl").read_text().splitlines()]
    assert len(rows) == 8
    for row in rows:
        assert {"question_id", "answer_id", "model_id", "choices", "tstamp"} <= row.keys()
        assert row["model_id"] == "m1"
        assert len(row["choices"][0]["turns"]) == 2
        assert len(row["output_tokens"]) == 2 and all(t > 0 for t in row["output_tokens"])
        assert len(row["latency_s"]) == 2
    # Per-category temperature from the registry: writing samples, math is greedy.
    by_id = {r["question_id"]: r for r in rows}
    assert by_id["t1"]["generation"]["temperature"] == 0.7
    assert by_id["t2"]["generation"]["temperature"] == 0.0


def test_n_choices_continue_their_own_conversations(tmp_path, write_config):
    out = tmp_path / "run"
    config = base_config(out)
    config["models"][0]["generation"] = {"n": 3}
    assert _run(write_config, config, "--stages", "answers") == 0
    answer = read_records(out / "answers" / "m1.jsonl", Answer)[0]
    assert [c.index for c in answer.choices] == [0, 1, 2]
    assert len({c.turns[0] for c in answer.choices}) == 3
    assert all(len(c.turns) == 2 for c in answer.choices)


def test_reviews_rows_and_battles(tmp_path, write_config):
    out = tmp_path / "run"
    assert _run(write_config, base_config(out), "--stages", "answers,reviews") == 0
    reviews = read_records(out / "reviews" / "j.jsonl", Review)
    assert len(reviews) == 3 * 2 * 8 * 2  # pairs x orders x questions x turns
    for r in reviews:
        assert r.status == "ok" and r.raw and r.prompt_hash and r.verdict in ("A", "B", "tie")
        assert r.first in (r.model_a, r.model_b)
    battles = read_records(out / "battles.jsonl", Battle)
    assert len(battles) == 3 * 8 * 2
    assert {b.winner for b in battles} <= {"model_a", "model_b", "tie", "tie (bothbad)"}
    assert all(b.category and b.judge == "j" and b.turn in (1, 2) and b.style_a.tokens > 0 for b in battles)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reviews"]["j"]["reviews"] == len(reviews)
    assert 0 <= summary["reviews"]["j"]["position_consistency"] <= 1


def test_rerun_makes_no_new_calls(tmp_path, write_config):
    out = tmp_path / "run"
    config = write_config(base_config(out))
    assert main(["run", "-c", str(config), "--stages", "answers,reviews"]) == 0
    before = {p.name: p.read_bytes() for p in (out / "reviews").iterdir()}
    answers_before = (out / "answers" / "m1.jsonl").read_bytes()
    assert main(["run", "-c", str(config), "--stages", "answers,reviews"]) == 0
    assert {p.name: p.read_bytes() for p in (out / "reviews").iterdir()} == before
    assert (out / "answers" / "m1.jsonl").read_bytes() == answers_before
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reviews"]["j"]["calls_this_run"] == 0


def test_missing_verdicts_are_reasked_then_recorded_as_errors(tmp_path, write_config):
    out = tmp_path / "run"
    config = base_config(out)
    config["judges"][0]["simulated"] = {"no_verdict_rate": 0.5}
    config["judges"][0]["verdict_retries"] = 1
    config["judges"][0]["max_error_rate"] = 0.5  # this test is about re-asks; the limit has its own tests
    assert _run(write_config, config, "--stages", "answers,reviews") == 0
    reviews = read_records(out / "reviews" / "j.jsonl", Review)
    errors = [r for r in reviews if r.status == "error"]
    reasked_ok = [r for r in reviews if r.status == "ok" and r.attempts == 2]
    # Half the first replies lack a verdict; a re-ask fixes half of those.
    assert 0.15 < len(errors) / len(reviews) < 0.35
    assert reasked_ok, "a re-ask that gets a verdict is recorded as ok"
    for r in errors:
        assert r.verdict is None and r.winner is None and r.attempts == 2 and "no verdict" in r.error
    for r in reasked_ok:
        assert "[re-asked for a verdict]" in r.raw
    battles = read_records(out / "battles.jsonl", Battle)
    n_games = sum(len(b.games) for b in battles)
    assert n_games == len(reviews) - len(errors), "error rows never become battle games"
    summary = json.loads((out / "summary.json").read_text())["reviews"]["j"]
    assert summary["errors"] == len(errors)


def test_reviews_before_answers_says_what_to_run(tmp_path, write_config, capsys):
    out = tmp_path / "run"
    assert _run(write_config, base_config(out), "--stages", "reviews") == 2
    err = capsys.readouterr().err
    assert "m1.jsonl: no answers for model 'm1'; run the answers stage first" in err


def test_dry_run_and_real_records_never_mix(tmp_path, write_config, capsys):
    out = tmp_path / "run"
    assert _run(write_config, base_config(out), "--stages", "answers") == 0
    config = base_config(out, dry_run=False)
    config["models"] = [{"name": f"m{i}", "provider": "simulated"} for i in (1, 2, 3)]
    assert _run(write_config, config, "--stages", "answers") == 2
    assert "holds a dry run's records" in capsys.readouterr().err


@pytest.mark.parametrize("mode, extra", [("single", {}), ("pairwise-baseline", {"baseline": "m2"})])
def test_other_modes_end_in_battles(tmp_path, write_config, mode, extra):
    out = tmp_path / "run"
    config = base_config(out, judges=[{"name": "j", "provider": "simulated", "mode": mode, **extra}])
    assert _run(write_config, config, "--stages", "answers,reviews") == 0
    battles = read_records(out / "battles.jsonl", Battle)
    assert battles
    if mode == "single":
        assert all(b.score_a is not None and b.mode == "single" for b in battles)
    else:
        assert all(b.model_b == "m2" for b in battles)


@pytest.mark.parametrize("seed", [0, 3, 5])
def test_two_models_on_the_tiny_set_rate_with_style_control(tmp_path, write_config, seed):
    # 16 battles: some bootstrap resamples separate the outcomes on a style feature, where the
    # style coefficients' maximum likelihood is infinite; the fit must still finish.
    out = tmp_path / "run"
    config = base_config(out, seed=seed, models=[{"name": "a", "provider": "simulated"}, {"name": "b", "provider": "simulated"}])
    config["ratings"] = {"bootstrap": 1000, "seed": seed}
    assert _run(write_config, config) == 0
    board = (out / "ratings" / "leaderboard.csv").read_text().splitlines()
    assert board[0].startswith("model,rating,ci_low,ci_high,n_battles")
    assert len(board) == 3


def test_a_folder_in_use_by_another_run_is_refused(tmp_path, write_config, capsys):
    from arena.rundir import RunDir

    out = tmp_path / "run"
    out.mkdir()
    other = RunDir(out)
    other.lock()
    try:
        assert _run(write_config, base_config(out), "--stages", "answers") == 2
        assert "another arena run is using this folder" in capsys.readouterr().err
    finally:
        other.release()
    assert _run(write_config, base_config(out), "--stages", "answers") == 0


def test_a_manifest_that_is_not_an_object_is_a_one_line_error(tmp_path, write_config, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text("[1, 2]")
    assert _run(write_config, base_config(out), "--stages", "answers") == 2
    assert "run.json: expected a JSON object" in capsys.readouterr().err


def test_progress_shows_calls_per_second_only_where_calls_and_units_differ():
    import io

    from arena.progress import Progress

    progress = Progress("reviews j", 4, stream=io.StringIO())
    for _ in range(2):
        progress.note_call()
        progress.advance()
    assert "calls/s" not in progress.line()  # one call per unit: the unit rate says it all
    progress.note_call()  # a re-ask: a second call for the next unit
    progress.note_call()
    progress.advance()
    assert "calls/s" in progress.line()

def test_answer_short_of_the_judged_turns_is_named(tmp_path, write_config, capsys):
    out = tmp_path / "run"
    config = base_config(out)
    assert _run(write_config, config, "--stages", "answers") == 0
    capsys.readouterr()
    path = out / "answers" / "m2.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[1]["choices"][0]["turns"] = rows[1]["choices"][0]["turns"][:1]  # a 2-turn question, 1 turn answered
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert _run(write_config, config, "--stages", "reviews") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "m2.jsonl" in err[0] and f"question {rows[1]['question_id']} has 1 turn(s)" in err[0] and "turn 2" in err[0]
    config["judges"][0]["turns"] = [1]  # a judge of first turns only needs no more
    assert _run(write_config, config, "--stages", "reviews") == 0
