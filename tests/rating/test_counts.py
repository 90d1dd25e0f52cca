"""Battles aggregated into cells and pair totals, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from arena.rating.counts import aggregate, battle_counts, pair_totals


def test_identical_battles_merge_and_sides_are_canonical():
    # (1 beats 0) twice, written both ways round, plus a tie and a loss of 0 to 2.
    a = np.array([1, 0, 0, 0, 2])
    b = np.array([0, 1, 1, 2, 0])
    x = np.array([1.0, 0.0, 0.5, 0.0, 1.0])
    cells = aggregate(a, b, x, 3)
    got = sorted(zip(cells.i.tolist(), cells.j.tolist(), cells.score.tolist(), cells.count.tolist()))
    # Stored with the lower index first and model 0's score: 0 lost twice to 1, tied once,
    # and lost twice to 2.
    assert got == [(0, 1, 0.0, 2), (0, 1, 0.5, 1), (0, 2, 0.0, 2)]
    assert cells.n_battles == 5


def test_fractional_outcomes_and_weights_make_fractional_wins():
    a = np.array([0, 0, 1])
    b = np.array([1, 1, 0])
    x = np.array([0.75, 0.75, 0.2])
    w = np.array([1.0, 1.0, 3.0])
    cells = aggregate(a, b, x, 2, w)
    assert len(cells) == 2 and sorted(cells.count.tolist()) == [1, 2]
    wins, games = pair_totals(cells)
    # wins[0,1] = 0.75 + 0.75 + 3 * (1 - 0.2); wins[1,0] = 0.25 + 0.25 + 3 * 0.2
    assert wins[0, 1] == pytest.approx(3.9)
    assert wins[1, 0] == pytest.approx(1.1)
    assert games[0, 1] == games[1, 0] == pytest.approx(5.0)
    assert battle_counts(cells)[0, 1] == 3


def test_pair_totals_with_drawn_counts():
    # A bootstrap draw replaces the counts: three losses of model 0 and no win.
    cells = aggregate(np.array([0, 0]), np.array([1, 1]), np.array([1.0, 0.0]), 2)
    assert cells.score.tolist() == [0.0, 1.0]
    wins, games = pair_totals(cells, count=np.array([3, 0]))
    assert wins[0, 1] == 0.0 and wins[1, 0] == 3.0 and games[0, 1] == 3.0


@pytest.mark.parametrize(
    "a, b, x, w, message",
    [
        ([0], [0], [1.0], None, "itself"),
        ([0], [1], [1.5], None, "outcomes"),
        ([0], [1], [1.0], [0.0], "weights"),
    ],
)
def test_invalid_battles_are_rejected(a, b, x, w, message):
    with pytest.raises(ValueError, match=message):
        aggregate(np.array(a), np.array(b), np.array(x), 2, None if w is None else np.array(w))
