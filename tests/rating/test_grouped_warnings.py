"""Per-table rating warnings are grouped: one line per kind and split column, with the count and
the slices; the overall leaderboard's warnings stay on their own; numbers print plainly."""

from __future__ import annotations

import numpy as np
import pandas as pd

from arena.battle_log import BATTLE_COLUMNS, STYLE_COLUMNS
from arena.config import RatingConfig
from arena.leaderboard import compute_ratings


def _battles() -> pd.DataFrame:
    """3 models in 5 categories and 2 turns: `a` beats everyone everywhere, b and c tie."""
    rows = []
    for q in range(40):
        category, turn = f"cat{q % 5}", np.int64(1 + q % 2)
        for model_b, outcome in (("b", 1.0), ("c", 1.0)):
            rows.append(("a", model_b, "model_a", outcome, turn, category, str(q)))
        rows.append(("b", "c", "tie", 0.5, turn, category, str(q)))
    frame = pd.DataFrame(rows, columns=["model_a", "model_b", "winner", "outcome", "turn", "category", "question_id"])
    frame["weight"], frame["judge"], frame["tstamp"] = 1.0, "j", np.nan
    for column in STYLE_COLUMNS:
        frame[column] = np.nan
    return frame[list(BATTLE_COLUMNS)]


def test_one_line_per_kind_and_table_with_the_slices():
    result = compute_ratings(_battles(), RatingConfig(bootstrap=20, style_control=False, workers=1))
    warnings = result.warnings
    overall = [w for w in warnings if not w.startswith(("category leaderboards", "turn leaderboards"))]
    # The overall leaderboard's own: a never lost, and the regularisation note that goes with it.
    assert any(w.startswith("a never lost a battle") for w in overall) and any("regularised lightly" in w for w in overall)
    by_category = [w for w in warnings if w.startswith("category leaderboards")]
    by_turn = [w for w in warnings if w.startswith("turn leaderboards")]
    # In every slice a never lost and {b, c} never beat a: two kinds, one line each per table.
    assert by_category == [
        "category leaderboards, 5 categories (cat0, cat1, cat2, cat3, cat4): a model never lost a battle; its rating "
        "there is a lower bound (lightly regularised); details in summary.json slice_findings",
        "category leaderboards, 5 categories (cat0, cat1, cat2, cat3, cat4): a model never won or tied a battle; its "
        "rating there is an upper bound (lightly regularised); details in summary.json slice_findings",
    ]
    assert [w.split(":")[0] for w in by_turn] == ["turn leaderboards, 2 turns (1, 2)"] * 2
    assert len(result.summary["slice_findings"]) == 7 * 3  # per slice: never lost, never won, regularised
    assert not any("np." in line for line in warnings + result.summary["notes"] + result.summary["skipped"])
    # Every slice's own messages stay in the summary.
    findings = result.summary["slice_findings"]
    assert {(f["column"], f["value"]) for f in findings if f["kind"] == "never_lost"} == {
        *(("category", f"cat{i}") for i in range(5)), ("turn", 1), ("turn", 2)}
    assert all(type(f["value"]) in (str, int) for f in findings)
