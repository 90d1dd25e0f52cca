"""Style control: the length effect is removed on simulated battles, the fit does not depend on
which side a model sat, and on AlpacaEval the ranking tracks the published length-controlled one."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import spearmanr

from arena.battle_log import STYLE_COLUMNS
from arena.rating.bt import ELO_PER_UNIT, to_elo
from arena.rating.counts import aggregate
from arena.rating.ratings import bradley_terry, style_controlled
from arena.rating.style import fit_bt_style, independent_covariates, style_covariates


def simulated(seed: int = 0, n: int = 6000):
    """Six models; model 5 is weak but verbose and a length-loving judge rewards it."""
    rng = np.random.default_rng(seed)
    m = 6
    truth = np.array([0.6, 0.3, 0.1, -0.1, -0.3, -0.6])
    mean_len = np.array([300, 300, 300, 300, 300, 1200.0])
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    len_a = rng.gamma(8.0, mean_len[a] / 8.0)
    len_b = rng.gamma(8.0, mean_len[b] / 8.0)
    style_a = np.zeros((n, 5))
    style_b = np.zeros((n, 5))
    style_a[:, 0], style_b[:, 0] = np.round(len_a) + 1, np.round(len_b) + 1
    style_a[:, 1], style_b[:, 1] = 4 * style_a[:, 0], 4 * style_b[:, 0]
    length_effect = 1.5 * (len_a - len_b) / (len_a + len_b)
    x = (rng.random(n) < expit(truth[a] - truth[b] + length_effect)).astype(float)
    return a, b, x, style_a, style_b, truth


def test_covariates_normalise_and_drop_empty_features():
    sa = np.array([[100, 400, 0, 2, 0], [50, 200, 0, 0, 0]], dtype=float)
    sb = np.array([[300, 1200, 0, 2, 0], [50, 200, 0, 2, 0]], dtype=float)
    z, names = style_covariates(sa, sb)
    assert names == ["length_tokens", "lists"]  # no headers or bold anywhere
    raw_length = np.array([(100 - 300) / 400, 0.0])
    np.testing.assert_allclose(z[:, 0], raw_length / np.sqrt(np.mean(raw_length**2)))
    # Without token counts the length is measured in characters.
    sa[:, 0] = 0
    assert style_covariates(sa, sb)[1][0] == "length_chars"


def test_style_control_removes_the_length_advantage():
    a, b, x, sa, sb, truth = simulated()
    names = [f"m{i}" for i in range(6)]
    raw = bradley_terry(aggregate(a, b, x, 6), names, rounds=0).rating
    controlled = style_controlled(a, b, x, sa, sb, names, rounds=0)
    true_elo = to_elo(truth)
    # The verbose weak model looks strong raw, and is put back near its true rating.
    assert raw[5] > true_elo[5] + 100
    assert abs(controlled.rating[5] - true_elo[5]) < 60
    assert controlled.features[0] == "length_tokens" and controlled.coef[0] > 0
    assert np.abs(controlled.rating - true_elo).max() < np.abs(raw - true_elo).max() / 2


def test_style_fit_does_not_depend_on_sides():
    a, b, x, sa, sb, _ = simulated(seed=1, n=1500)
    z, _ = style_covariates(sa, sb)
    theta, beta = fit_bt_style(a, b, x, z, 6)
    flip = np.arange(len(a)) % 2 == 0
    a2, b2 = np.where(flip, b, a), np.where(flip, a, b)
    x2 = np.where(flip, 1 - x, x)
    z2, _ = style_covariates(np.where(flip[:, None], sb, sa), np.where(flip[:, None], sa, sb))
    theta2, beta2 = fit_bt_style(a2, b2, x2, z2, 6)
    np.testing.assert_allclose(theta * ELO_PER_UNIT, theta2 * ELO_PER_UNIT, atol=1e-6)
    np.testing.assert_allclose(beta, beta2, atol=1e-8)


def test_style_bootstrap_interval_brackets_the_fit():
    a, b, x, sa, sb, _ = simulated(seed=2, n=1200)
    rated = style_controlled(a, b, x, sa, sb, [f"m{i}" for i in range(6)], rounds=100, seed=0, workers=2)
    assert np.all(rated.ci_low < rated.rating) and np.all(rated.rating < rated.ci_high)
    assert np.all(rated.coef_low < rated.coef) and np.all(rated.coef < rated.coef_high)


def test_style_controlled_ranking_tracks_alpaca_eval_length_controlled(alpaca_dir, weighted_battles: pd.DataFrame):
    battles = weighted_battles
    codes, names = pd.factorize(pd.concat([battles["model_a"], battles["model_b"]]), sort=True)
    n = len(battles)
    a, b, x = codes[:n], codes[n:], battles["outcome"].to_numpy()
    sa = battles[[c for c in STYLE_COLUMNS if c.startswith("style_a_")]].to_numpy()
    sb = battles[[c for c in STYLE_COLUMNS if c.startswith("style_b_")]].to_numpy()
    names = list(names)
    raw = pd.Series(bradley_terry(aggregate(a, b, x, len(names)), names, rounds=0).rating, index=names)
    controlled = pd.Series(style_controlled(a, b, x, sa, sb, names, rounds=0).rating, index=names)
    published = pd.read_csv(
        alpaca_dir / "leaderboards" / "data_AlpacaEval_2" / "weighted_alpaca_eval_gpt4_turbo_leaderboard.csv", index_col=0
    )
    # The baseline's published row is itself (50%); ours rates it against every model.
    common = [m for m in names if m in published.index and m != "gpt4_1106_preview"]
    lc = published.loc[common, "length_controlled_winrate"]
    rho = spearmanr(controlled[common], lc).statistic
    rho_raw = spearmanr(raw[common], lc).statistic
    table = pd.DataFrame({"style_controlled": controlled[common], "published_lc_winrate": lc, "raw": raw[common]})
    table = table.sort_values("style_controlled", ascending=False)
    table["rank_ours"] = range(1, len(table) + 1)
    table["rank_published_lc"] = table["published_lc_winrate"].rank(ascending=False).astype(int)
    print(f"\n{table.round(1).to_string()}")
    print(f"Spearman(style-controlled, published LC) = {rho:.3f} over {len(common)} models; raw BT vs LC = {rho_raw:.3f}")
    assert rho >= 0.9
    # Removing length shrinks the gap between verbose and concise versions of one model.
    for stem in ("gpt-3.5-turbo-1106",):
        verbose, concise = f"{stem}_verbose", f"{stem}_concise"
        raw_gap = raw[verbose] - raw[concise]
        assert raw_gap > 50
        assert abs(controlled[verbose] - controlled[concise]) < raw_gap / 2
    assert controlled["claude-2.1_concise"] - controlled["claude-2.1"] > raw["claude-2.1_concise"] - raw["claude-2.1"]


def test_style_fit_without_covariates_equals_plain_bt():
    # With no covariate left (no style signal at all) the fit is plain BT.
    rng = np.random.default_rng(4)
    a = rng.integers(0, 4, 400)
    b = (a + rng.integers(1, 4, 400)) % 4
    x = (rng.random(400) < 0.55).astype(float)
    theta, beta = fit_bt_style(a, b, x, np.zeros((400, 0)), 4)
    plain = bradley_terry(aggregate(a, b, x, 4), list("abcd"), rounds=0).rating
    np.testing.assert_allclose(to_elo(theta), plain, atol=1e-6)


def test_collinear_features_are_left_out_with_a_warning():
    a, b, x, sa, sb, truth = simulated(seed=3, n=2000)
    # Lists always one more than bold on both sides, in proportion: the same normalised
    # difference in every battle, so the two cannot be told apart.
    sa[:, 3], sb[:, 3] = sa[:, 0] // 10, sb[:, 0] // 10
    sa[:, 4], sb[:, 4] = sa[:, 3] * 2, sb[:, 3] * 2
    z, names = style_covariates(sa, sb)
    assert names == ["length_tokens", "lists", "bold"]
    assert independent_covariates(a, b, z, 6).tolist() == [True, True, False]
    rated = style_controlled(a, b, x, sa, sb, [f"m{i}" for i in range(6)], rounds=0)
    assert rated.features == ["length_tokens", "lists"]
    assert any("bold" in w and "left out" in w for w in rated.warnings)
