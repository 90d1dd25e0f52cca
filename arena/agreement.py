"""Agreement between judges on pairwise verdicts, as the MT-Bench paper (Zheng et al., 2023,
"Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena") defines it.

Pure functions over vote tables (pandas DataFrames with VOTE_COLUMNS: judge, question_id, turn,
model_a, model_b, winner), no I/O; arena.imports.votes reads them from files.

- An item is one question, turn and model pair. Sources may name the pair in either order, so
  votes are first put in canonical order (model_a < model_b by name, the winner flipped to
  match); "tie (bothbad)" counts as a tie.
- Two judges are compared on the items both voted on. With several votes of a judge on an item
  (several human experts), every vote is a comparison of its own, not a majority: a judge's
  vote is compared with each of the other judge's votes on the item, and a judge with itself
  ("humans with each other") over every pair of its votes on the item, as the paper's
  computation (FastChat's compute_agreement.py) counts them.
- With ties ("include"): the share of comparisons whose two votes are the same of model_a wins,
  model_b wins, tie. Without ties ("exclude"): only comparisons where neither vote is a tie.
- Cohen's kappa on the same comparisons, with the categories as in the canonical orientation;
  chance agreement from each side's marginal shares (for a judge with itself, both sides share
  the pooled marginals, so the figure does not depend on which vote of a pair came first).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

VOTE_COLUMNS = ("judge", "question_id", "turn", "model_a", "model_b", "winner")
ITEM = ["question_id", "turn", "model_a", "model_b"]
TIE_MODES = ("include", "exclude")
TABLE_COLUMNS = [
    "judge_a", "judge_b", "ties", "turn", "items", "n", "agree", "agreement", "kappa", "ties_a", "ties_b",
]
_FLIP = {"model_a": "model_b", "model_b": "model_a", "tie": "tie"}


def canonical_votes(votes: pd.DataFrame) -> pd.DataFrame:
    """Votes with model_a < model_b (winner flipped where the pair was swapped), ties merged
    into "tie", question ids as strings; rows keep their order."""
    out = votes.loc[:, list(VOTE_COLUMNS)].copy()
    winner = out["winner"].astype(str).where(~out["winner"].astype(str).str.startswith("tie"), "tie")
    bad = ~winner.isin(list(_FLIP))
    if bad.any():
        raise ValueError(f"unknown winner {votes['winner'][bad].iloc[0]!r}; expected model_a, model_b or tie")
    swap = out["model_a"].astype(str) > out["model_b"].astype(str)
    a, b = out["model_a"].copy(), out["model_b"].copy()
    out["model_a"] = a.where(~swap, b)
    out["model_b"] = b.where(~swap, a)
    out["winner"] = winner.where(~swap, winner.map(_FLIP))
    out["question_id"] = out["question_id"].astype(str)
    out["turn"] = out["turn"].astype(np.int64)
    return out.reset_index(drop=True)


def comparisons(votes_x: pd.DataFrame, votes_y: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every comparison of a vote of x with a vote of y on the same item: columns ITEM, vote_x,
    vote_y. Without `votes_y`, x is compared with itself: each unordered pair of x's votes on an
    item once. Both tables must be canonical (`canonical_votes`)."""
    left = votes_x.loc[:, ITEM + ["winner"]].assign(_row=np.arange(len(votes_x)))
    right = left if votes_y is None else votes_y.loc[:, ITEM + ["winner"]].assign(_row=np.arange(len(votes_y)))
    merged = left.merge(right, on=ITEM, suffixes=("_x", "_y"))
    if votes_y is None:
        merged = merged[merged["_row_x"] < merged["_row_y"]]
    return merged.rename(columns={"winner_x": "vote_x", "winner_y": "vote_y"}).loc[:, ITEM + ["vote_x", "vote_y"]].reset_index(drop=True)


def cohen_kappa(x: Sequence[str] | np.ndarray, y: Sequence[str] | np.ndarray, *, pooled: bool = False) -> float:
    """Cohen's kappa of paired labels: (p_o - p_e) / (1 - p_e), p_e from each side's marginal
    shares, or from the pooled shares of both sides with `pooled` (two draws of one rater).
    NaN when it is undefined (no pairs, or both sides always gave one and the same label)."""
    x, y = np.asarray(x, dtype=object), np.asarray(y, dtype=object)
    n = len(x)
    if n == 0:
        return float("nan")
    observed = float(np.mean(x == y))
    labels = sorted(set(x) | set(y))
    share_x = np.array([np.mean(x == label) for label in labels])
    share_y = np.array([np.mean(y == label) for label in labels])
    if pooled:
        share_x = share_y = (share_x + share_y) / 2.0
    expected = float(share_x @ share_y)
    if expected >= 1.0:
        return float("nan")
    return (observed - expected) / (1.0 - expected)


def agreement_of(pairs: pd.DataFrame, ties: str, *, pooled: bool = False) -> dict[str, float | int]:
    """items, n, agree, agreement, kappa, ties_a, ties_b of one judge pair's comparisons."""
    if ties not in TIE_MODES:
        raise ValueError(f"ties must be one of {TIE_MODES}, got {ties!r}")
    tie_x, tie_y = pairs["vote_x"] == "tie", pairs["vote_y"] == "tie"
    kept = pairs if ties == "include" else pairs[~tie_x & ~tie_y]
    agree = int((kept["vote_x"] == kept["vote_y"]).sum())
    n = len(kept)
    return {
        "items": int(pairs.loc[:, ITEM].drop_duplicates().shape[0]),
        "n": n,
        "agree": agree,
        "agreement": agree / n if n else float("nan"),
        "kappa": cohen_kappa(kept["vote_x"].to_numpy(), kept["vote_y"].to_numpy(), pooled=pooled),
        "ties_a": int(tie_x.sum()),
        "ties_b": int(tie_y.sum()),
    }


def judge_pairs(judges_a: Sequence[str], judges_b: Sequence[str] | None, repeated: set[str]) -> list[tuple[str, str]]:
    """Which judges to compare: with two sources every judge of A with every judge of B; with
    one, every two of its judges, and a judge with itself where it voted more than once on an
    item (`repeated`)."""
    if judges_b is not None:
        return [(a, b) for a in judges_a for b in judges_b]
    names = sorted(judges_a)
    pairs = []
    for i, a in enumerate(names):
        if a in repeated:
            pairs.append((a, a))
        pairs += [(a, b) for b in names[i + 1:]]
    return pairs


def agreement_table(
    votes_a: pd.DataFrame,
    votes_b: pd.DataFrame | None = None,
    *,
    ties: Sequence[str] = TIE_MODES,
    turn: int | None = None,
    judges: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The agreement table (TABLE_COLUMNS): one row per judge pair and tie mode, pairs with no
    common item left out. `votes_b` None compares the judges of `votes_a` with each other;
    `turn` keeps one turn; `judges` keeps only the judges named."""
    a = canonical_votes(votes_a)
    b = None if votes_b is None else canonical_votes(votes_b)
    if turn is not None:
        a = a[a["turn"] == turn]
        b = None if b is None else b[b["turn"] == turn]
    if judges:
        a = a[a["judge"].isin(judges)]
        b = None if b is None else b[b["judge"].isin(judges)]
    groups_a = {j: g for j, g in a.groupby("judge", sort=True)}
    groups_b = None if b is None else {j: g for j, g in b.groupby("judge", sort=True)}
    repeated = {j for j, g in groups_a.items() if g.duplicated(ITEM).any()} if groups_b is None else set()
    rows = []
    for ja, jb in judge_pairs(list(groups_a), None if groups_b is None else list(groups_b), repeated):
        same = groups_b is None and ja == jb
        if same:
            pairs = comparisons(groups_a[ja])
        else:
            pairs = comparisons(groups_a[ja], (groups_a if groups_b is None else groups_b)[jb])
        if pairs.empty:
            continue
        for mode in ties:
            rows.append({"judge_a": ja, "judge_b": jb, "ties": mode, "turn": "all" if turn is None else turn,
                         **agreement_of(pairs, mode, pooled=same)})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text (agreement as a percentage, kappa to three places)."""
    if table.empty:
        return "no judge pair has an item (question, turn, model pair) in common"
    shown = table.copy()
    shown["agreement"] = shown["agreement"].map(lambda v: "-" if pd.isna(v) else f"{100 * v:.1f}%")
    shown["kappa"] = shown["kappa"].map(lambda v: "-" if pd.isna(v) else f"{v:.3f}")
    return shown.to_string(index=False)


def markdown_table(table: pd.DataFrame) -> str:
    """The table in markdown (for docs)."""
    header = "| " + " | ".join(TABLE_COLUMNS) + " |"
    rule = "| " + " | ".join("---" for _ in TABLE_COLUMNS) + " |"
    lines = [header, rule]
    for row in table.itertuples(index=False):
        cells = []
        for column, value in zip(TABLE_COLUMNS, row):
            if column == "agreement":
                cells.append("-" if pd.isna(value) else f"{100 * value:.1f}%")
            elif column == "kappa":
                cells.append("-" if pd.isna(value) else f"{value:.3f}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def people_table(judge_votes: pd.DataFrame, people: pd.DataFrame, people_each: pd.DataFrame,
                 ties: Sequence[str] = TIE_MODES) -> pd.DataFrame:
    """How far to trust a judge: each judge against people pooled ("human") and against each
    reviewer, and people with each other, pooled ("human" with "human": two reviewers' votes on
    one item) and reviewer by reviewer. `people` and `people_each` are the same votes under the
    pooled name and under one name per reviewer."""
    parts = [
        agreement_table(judge_votes, people, ties=ties) if len(judge_votes) and len(people) else None,
        agreement_table(judge_votes, people_each, ties=ties) if len(judge_votes) and len(people_each) else None,
        agreement_table(people, ties=ties) if len(people) else None,
        agreement_table(people_each, ties=ties) if len(people_each) else None,
    ]
    parts = [p for p in parts if p is not None and not p.empty]
    if not parts:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    return pd.concat(parts, ignore_index=True)
