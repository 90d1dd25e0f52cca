"""Each view of the dashboard on a dry run's output, through Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.dashboard.conftest import PAYLOAD, shown


def no_failure(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def leaderboard_frame(at) -> pd.DataFrame:
    assert len(at.dataframe) in (1, 2)  # the leaderboard, and the rank correlations where there are scores
    return at.dataframe[0].value


def captions(at) -> str:
    return shown("\n".join(c.value for c in at.caption))


def test_leaderboard_default_view(app, dash_run: Path):
    at = app("--run", str(dash_run))
    no_failure(at)
    frame = leaderboard_frame(at)
    expected = pd.read_csv(dash_run / "ratings" / "leaderboard.csv")
    assert frame["model"].tolist() == expected["model"].tolist()
    assert frame["rating"].round(6).tolist() == expected["rating"].round(6).tolist()
    for column in ("ci_low", "ci_high", "ranks", "n_battles", "win_rate"):
        assert column in frame.columns
    # Each model's paired p-value against the next one down, as the ratings stage wrote it.
    np.testing.assert_allclose(frame["p_vs_next"].to_numpy(dtype=float), expected["p_vs_next"].to_numpy(dtype=float))
    assert "cost_usd" not in frame.columns  # simulated candidates have no price: no column of blanks
    # Benchmark scores from scores/summary.csv in the same table, one column per benchmark/style.
    scores = pd.read_csv(dash_run / "scores" / "summary.csv")
    em = scores[scores["benchmark"] == "tiny_em"].set_index("model")["value"]
    assert frame.set_index("model")["tiny_em exact_match (0-shot)"].round(6).to_dict() == em.round(6).to_dict()
    assert "tiny_mc letter_logprob (0-shot)" in frame.columns
    # How well the rating and each benchmark rank the models alike.
    correlations = at.dataframe[1].value.set_index("benchmark")
    assert set(correlations.index) == {"tiny_em exact_match (0-shot)", "tiny_mc letter_logprob (0-shot)"}
    assert correlations["n_models"].tolist() == [4, 4]
    assert ((correlations["ci_low"] <= correlations["spearman"]) & (correlations["spearman"] <= correlations["ci_high"])).all()
    assert "Spearman rank correlation between the rating shown above" in captions(at)
    assert at.get("download_button")[0].label == "Download CSV"
    assert len(at.get("vega_lite_chart")) == 1  # the error-bar chart
    assert "ratings/leaderboard.csv" in captions(at)


def test_leaderboard_switches(app, dash_run: Path):
    at = app("--run", str(dash_run))
    at.sidebar.selectbox(key="sw_judge").set_value("pj").run()
    no_failure(at)
    assert "ratings/by_judge.csv" in captions(at)
    by_judge = pd.read_csv(dash_run / "ratings" / "by_judge.csv")
    assert leaderboard_frame(at)["model"].tolist() == by_judge[by_judge["judge"] == "pj"]["model"].tolist()

    # A combination the stage did not precompute is fitted from the battles.
    at.sidebar.selectbox(key="sw_category").set_value("math").run()
    no_failure(at)
    assert "fitted on demand" in captions(at)
    assert set(leaderboard_frame(at)["model"]) == {"m1", "m2", "m3", "m4"}

    at.sidebar.selectbox(key="sw_judge").set_value("all").run()
    at.sidebar.selectbox(key="sw_category").set_value("all").run()
    at.sidebar.radio(key="sw_method").set_value("Elo").run()
    no_failure(at)
    elo = pd.read_csv(dash_run / "ratings" / "leaderboard.csv").sort_values("elo", ascending=False)
    assert leaderboard_frame(at)["rating"].round(6).tolist() == elo["elo"].round(6).tolist()
    assert "p_vs_next" not in leaderboard_frame(at)  # it tests the Bradley-Terry order, not this one

    at.sidebar.radio(key="sw_method").set_value("Bradley-Terry").run()
    at.sidebar.radio(key="sw_style").set_value("style-controlled").run()
    no_failure(at)
    style = pd.read_csv(dash_run / "ratings" / "style_control.csv")
    assert leaderboard_frame(at)["rating"].round(6).tolist() == style["rating"].round(6).tolist()
    assert "p_vs_next" not in leaderboard_frame(at)

    at.sidebar.radio(key="sw_style").set_value("raw").run()
    at.sidebar.selectbox(key="sw_turn").set_value("2").run()
    no_failure(at)
    assert "ratings/by_turn.csv" in captions(at)


def test_mode_switch_picks_the_judges_of_that_mode(app, dash_run: Path):
    at = app("--run", str(dash_run))
    at.sidebar.selectbox(key="sw_mode").set_value("single").run()
    no_failure(at)
    assert "ratings/by_judge.csv" in captions(at)
    by_judge = pd.read_csv(dash_run / "ratings" / "by_judge.csv")
    assert leaderboard_frame(at)["model"].tolist() == by_judge[by_judge["judge"] == "grader"]["model"].tolist()


def test_heatmaps(app, dash_run: Path):
    at = app("--run", str(dash_run), view="heatmaps")
    no_failure(at)
    kinds = at.radio(key="heatmap_kind").options
    assert kinds == ["win rate (observed)", "predicted win rate", "battle counts"]
    for kind in kinds:
        at.radio(key="heatmap_kind").set_value(kind).run()
        no_failure(at)
        assert len(at.get("vega_lite_chart")) == 1


def test_battle_browser_shows_both_orders_and_escapes_html(app, dash_run: Path):
    at = app("--run", str(dash_run), view="battles")
    no_failure(at)
    at.selectbox(key="browser_judge").set_value("pj").run()
    at.selectbox(key="browser_question").set_value("t1").run()
    at.selectbox(key="browser_pair").set_value("m1 vs m2").run()
    no_failure(at)
    text = "\n".join(m.value for m in at.markdown)
    # The payload is shown as text (HTML escaped), and never with HTML allowed.
    assert "\\<script\\>document" in text and "\\<img src\\=x onerror\\=" in text
    assert PAYLOAD in shown(text)
    assert all(not m.proto.allow_html for m in at.markdown)
    assert text.count("shown first") == 2  # the judge's reply for each order
    # Raw text mode shows the answer verbatim in a code block.
    at.toggle(key="browser_markdown").set_value(False).run()
    assert any(PAYLOAD in c.value for c in at.code)


def test_battle_browser_reference_answer(app, dash_run: Path):
    at = app("--run", str(dash_run), view="battles")
    at.selectbox(key="browser_judge").set_value("pj").run()
    at.selectbox(key="browser_question").set_value("t2").run()
    no_failure(at)
    assert [e.label for e in at.expander] == ["reference answer"]
    assert any("215 minutes" in m.value for m in at.expander[0].markdown)


def test_battle_browser_filters(app, dash_run: Path):
    import json

    battles = [json.loads(x) for x in (dash_run / "battles.jsonl").read_text().splitlines()]
    at = app("--run", str(dash_run), view="battles")
    at.selectbox(key="browser_judge").set_value("pj").run()
    pj = [b for b in battles if b["judge"] == "pj"]
    for kind, expected in (
        ("ties", sum(b["winner"] in ("tie", "tie (bothbad)") for b in pj)),
        ("disagreements between orders", sum(b["consistent"] is False for b in pj)),
    ):
        at.selectbox(key="browser_filter").set_value(kind).run()
        no_failure(at)
        assert expected > 0
        assert f"{expected} of {len(pj)} battles match" in captions(at)
    at.selectbox(key="browser_filter").set_value("losses of one model").run()
    at.selectbox(key="browser_loser").set_value("m1").run()
    lost = sum((b["model_a"] == "m1" and b["winner"] == "model_b") or (b["model_b"] == "m1" and b["winner"] == "model_a") for b in pj)
    assert f"{lost} of {len(pj)} battles match" in captions(at)
    at.selectbox(key="browser_filter").set_value("errors").run()
    no_failure(at)
    assert any("no judge call ended in an error" in i.value for i in at.info)


def test_battle_browser_error_calls(app, copy_run):
    import json

    run = copy_run()
    reviews = run / "reviews" / "pj.jsonl"
    row = json.loads(reviews.read_text().splitlines()[0])
    row.update(status="error", verdict=None, winner=None, error="no verdict after 3 attempts", raw="I cannot decide <b>x</b>", question_id="t3", first=row["model_a"])
    with reviews.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    at = app("--run", str(run), view="battles")
    at.selectbox(key="browser_judge").set_value("pj").run()
    at.selectbox(key="browser_filter").set_value("errors").run()
    no_failure(at)
    assert "1 of" in captions(at)
    text = "\n".join(m.value for m in at.markdown)
    assert "error: no verdict after 3 attempts" in shown(text)
    assert "I cannot decide \\<b\\>x\\<\\/b\\>" in text
    assert "I cannot decide <b>x</b>" in shown(text)


def test_single_grading_view(app, dash_run: Path):
    at = app("--run", str(dash_run), view="single")
    no_failure(at)
    # Mean grades, per-category bars, and the distribution of grades.
    assert len(at.get("vega_lite_chart")) == 3
    at.radio(key="single_turn").set_value("1").run()
    no_failure(at)
    assert len(at.get("vega_lite_chart")) == 3


def test_single_grading_battle_shows_each_models_grade(app, dash_run: Path):
    at = app("--run", str(dash_run), view="battles")
    at.selectbox(key="browser_judge").set_value("grader").run()
    no_failure(at)
    text = "\n".join(m.value for m in at.markdown)
    assert text.count("grade of") == 2


def test_serving_view(app, dash_run: Path):
    at = app("--run", str(dash_run), view="serving")
    no_failure(at)
    serving = at.dataframe[0].value
    assert sorted(serving["model"]) == ["m1", "m2", "m3", "m4"]
    assert "output_tokens_per_s" in serving.columns
    assert len(at.get("vega_lite_chart")) >= 2
    judges = at.dataframe[1].value
    assert sorted(judges["judge"]) == ["grader", "pj"]


def test_compare_runs(app, dash_run: Path):
    at = app("--run", str(dash_run), view="compare")
    no_failure(at)
    assert at.selectbox(key="compare_pick").value.endswith("dash-before")
    table = at.dataframe[0].value
    assert table["change"].round(6).tolist() == [10.0] * 4


def test_review_file_alone(app, dash_run: Path):
    at = app("--review-file", str(dash_run / "battles.jsonl"))
    no_failure(at)
    assert set(leaderboard_frame(at)["model"]) == {"m1", "m2", "m3", "m4"}
    at = app("--review-file", str(dash_run / "battles.jsonl"), view="heatmaps")
    no_failure(at)
    assert len(at.get("vega_lite_chart")) == 1
    at = app("--review-file", str(dash_run / "battles.jsonl"), view="battles")
    no_failure(at)
    assert any("no answers file" in c for c in captions(at).splitlines())



def test_battle_links(app, dash_run: Path):
    """?view=battles&judge=..&question=..&pair=..&turn=.. opens that battle."""
    at = app("--run", str(dash_run), view="battles", params={"judge": "pj", "question": "t3", "pair": "m2 vs m4", "turn": "2"})
    no_failure(at)
    assert at.selectbox(key="browser_judge").value == "pj"
    assert at.selectbox(key="browser_question").value == "t3"
    assert at.selectbox(key="browser_pair").value == "m2 vs m4"
    assert at.selectbox(key="browser_turn").value == 2
    assert "turn 2" in "\n".join(m.value for m in at.markdown)


def test_one_task_scored_two_ways_is_two_columns_with_a_note(app, copy_run):
    """An imported 0-shot and 5-shot result of one task never share a column: each header says
    how it was scored, and the page says the two are not comparable."""
    from arena.scoring.rows import SummaryRow, merge_summary

    run = copy_run()
    merge_summary(run / "scores" / "summary.csv", [
        SummaryRow(model="m1", benchmark="mmlu", style="lm-eval:acc", metric="acc", value=0.61, n_shot=5,
                   setting="chat_template=no"),
        SummaryRow(model="m2", benchmark="mmlu", style="lm-eval:acc", metric="acc", value=0.52, n_shot=0,
                   setting="chat_template=no"),
    ])
    at = app("--run", str(run))
    no_failure(at)
    frame = leaderboard_frame(at).set_index("model")
    assert frame.loc["m1", "mmlu lm-eval:acc (5-shot, chat_template=no)"] == 0.61
    assert frame.loc["m2", "mmlu lm-eval:acc (0-shot, chat_template=no)"] == 0.52
    assert "mmlu lm-eval:acc" not in frame.columns
    assert "mmlu lm-eval:acc acc was scored 2 ways (0-shot, chat_template=no; 5-shot, chat_template=no)" in captions(at)


def test_answer_cost_column_where_a_candidate_has_a_price(dash_run: Path, monkeypatch):
    from arena.dashboard import leaderboard
    from arena.dashboard.loaders import Source

    monkeypatch.setattr(leaderboard, "answer_costs", lambda source: {"m1": 0.125})
    board = pd.read_csv(dash_run / "ratings" / "leaderboard.csv")
    shown = leaderboard.table(Source(root=dash_run), board).set_index("model")
    assert shown.loc["m1", "cost_usd"] == 0.125 and shown["cost_usd"].isna().sum() == len(shown) - 1
