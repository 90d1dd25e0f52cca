"""A missing or malformed file is one message on the page naming the file, not a traceback."""

from __future__ import annotations

from pathlib import Path

from tests.dashboard.conftest import shown


def only_error(at) -> str:
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1, [e.value for e in at.error]
    return shown(at.error[0].value)


def test_missing_run_folder(app, tmp_path: Path):
    message = only_error(app("--run", str(tmp_path / "nope")))
    assert f"{tmp_path / 'nope'}: run folder not found" in message


def test_no_arguments_and_bad_arguments(app):
    assert "give a run folder or a battle log" in only_error(app())
    assert "unrecognized arguments: --bogus" in only_error(app("--bogus"))


def test_missing_leaderboard(app, copy_run):
    run = copy_run()
    (run / "ratings" / "leaderboard.csv").unlink()
    message = only_error(app("--run", str(run)))
    assert str(run / "ratings" / "leaderboard.csv") in message and "run the ratings stage" in message


def test_malformed_leaderboard_names_line_and_column(app, copy_run):
    run = copy_run()
    path = run / "ratings" / "leaderboard.csv"
    lines = path.read_text().splitlines()
    cells = lines[2].split(",")
    cells[1] = "oops"
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    assert f"{path}: line 3: rating: expected a number, got 'oops'" in only_error(app("--run", str(run)))


def test_leaderboard_missing_column(app, copy_run):
    run = copy_run()
    path = run / "ratings" / "leaderboard.csv"
    path.write_text("model,score\nm1,3\n")
    assert f"{path}: missing column(s) rating, ci_low, ci_high" in only_error(app("--run", str(run)))


def test_malformed_scores_summary(app, copy_run):
    run = copy_run()
    path = run / "scores" / "summary.csv"
    path.write_text("model,benchmark\nm1,x\n")
    assert f"{path}: missing column(s) style, metric, value" in only_error(app("--run", str(run)))


def test_malformed_ratings_summary_json(app, copy_run):
    run = copy_run()
    path = run / "ratings" / "summary.json"
    path.write_text("{not json")
    assert f"{path}: not valid JSON" in only_error(app("--run", str(run)))


def test_malformed_matrix(app, copy_run):
    run = copy_run()
    path = run / "ratings" / "win_rate.csv"
    path.write_text("model,m1,m2\nm1,,x\nm2,0.5,\n")
    assert f"{path}: expected numbers in every cell" in only_error(app("--run", str(run), view="heatmaps"))


def test_malformed_battles_names_the_line(app, copy_run):
    run = copy_run()
    path = run / "battles.jsonl"
    lines = path.read_text().splitlines()
    lines[4] = "{this is not json"
    path.write_text("\n".join(lines) + "\n")
    assert f"{path}:5: not valid JSON" in only_error(app("--run", str(run), view="battles"))
    # The leaderboard does not read the battles: it still works.
    at = app("--run", str(run))
    assert not at.error and not at.exception


def test_malformed_answers_file(app, copy_run):
    run = copy_run()
    path = run / "answers" / "m1.jsonl"
    path.write_text('{"question_id": "t1", "choices": "nope"}\n')
    at = app("--run", str(run), view="battles")
    at.selectbox(key="browser_judge").set_value("pj").run()
    at.selectbox(key="browser_question").set_value("t1").run()
    at.selectbox(key="browser_pair").set_value("m1 vs m2").run()
    assert f"{path}:1: expected question_id and choices[0].turns" in only_error(at)


def test_missing_battles_file(app, copy_run):
    run = copy_run()
    (run / "battles.jsonl").unlink()
    assert f"{run / 'battles.jsonl'}: file not found" in only_error(app("--run", str(run), view="battles"))


def test_moved_config_only_hides_the_questions(app, copy_run):
    run = copy_run()
    manifest = run / "run.json"
    manifest.write_text(manifest.read_text().replace("config.yaml", "gone.yaml"))
    at = app("--run", str(run), view="battles")
    assert not at.error and not at.exception
    assert any("config file not found" in c.value for c in at.caption)


def test_missing_review_file(app, tmp_path: Path):
    assert f"{tmp_path / 'b.jsonl'}: battle file not found" in only_error(app("--review-file", str(tmp_path / "b.jsonl")))
