"""A jury of judges: the members' verdicts on each game combined into one verdict, as a panel of
judges is used in place of one (Verga et al., 2024, "Replacing Judges with Juries").

A game is one judge call's subject: a question, a turn, a pair in one order (or one answer, in
single grading). The members' reviews of the same game are combined, and the jury's reviews then
become battles like any judge's.

- **majority**, pairwise: the verdict (model_a wins, model_b wins, tie; in model terms, five-level
  strong and slight wins alike) that most members gave; where two verdicts share the most votes,
  a tie. Single grading: the most common (rounded) score, or the median where several share it.
- **mean**, pairwise: the mean of the members' outcomes for model_a (1 win, 0.5 tie, 0 loss, or a
  member's probability-weighted outcome where it gave one); the verdict is the side the mean
  favours. Single grading: the mean of the scores (the expected rating where given).
- **agreement** of a game: the share of the members with a verdict that agree with the jury's
  (pairwise: the same verdict; single: the same score once both are rounded). With
  `min_agreement`, a game below it is contested: left out of the jury's battles and counted.
- **quorum**: a game needs verdicts from more than half of the members (both, for two); games
  with fewer (a member's error rows, a member not run yet) are counted as incomplete.

Pure: reviews in, reviews and counts out.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from arena.records import OUTCOME_OF_WINNER, Review

_EPS = 1e-9
_SHOWN_CONTESTED = 10


@dataclass
class JuryResult:
    """The jury's reviews (one per combined game) and how the games went."""

    reviews: list[Review]
    games: int
    contested: int
    incomplete: int
    #: Keys and agreement of the first contested games (for the summary).
    contested_games: list[dict[str, Any]] = field(default_factory=list)
    #: Per member: the share of combined games where its verdict agreed with the jury's.
    member_agreement: dict[str, float | None] = field(default_factory=dict)
    mean_agreement: float | None = None

    def summary(self, method: str, members: list[str], min_agreement: float | None) -> dict[str, Any]:
        return {
            "jury": True,
            "members": members,
            "method": method,
            "min_agreement": min_agreement,
            "quorum": quorum(len(members)),
            "games": self.games,
            "combined": len(self.reviews),
            "contested": self.contested,
            "incomplete": self.incomplete,
            "mean_agreement": self.mean_agreement,
            "member_agreement": self.member_agreement,
            "first_contested": self.contested_games,
        }


def quorum(n_members: int) -> int:
    """Members with a verdict a game needs: more than half."""
    return n_members // 2 + 1


def combine_jury(name: str, method: str, members: dict[str, list[Review]], *, min_agreement: float | None = None) -> JuryResult:
    """The jury `name`'s reviews from its members' (member name -> its reviews, in the jury's
    order). Reviews with status "error" count as a member without a verdict on that game."""
    names = list(members)
    verdicts: dict[str, dict[str, Review]] = {m: {} for m in names}
    keys: dict[str, None] = {}  # every game any member played, in first-seen order
    for member, reviews in members.items():
        for r in reviews:
            keys.setdefault(r.key)
            if _has_verdict(r):
                verdicts[member][r.key] = r
    need = quorum(len(names))
    out: list[Review] = []
    contested: list[dict[str, Any]] = []
    n_contested = incomplete = 0
    agreed = Counter[str]()
    voted = Counter[str]()
    agreements: list[float] = []
    for key in keys:
        given = [(m, verdicts[m][key]) for m in names if key in verdicts[m]]
        if len(given) < need:
            incomplete += 1
            continue
        combined = _combine_pairwise(given, method) if given[0][1].model_b is not None else _combine_single(given, method)
        agreement = sum(combined.agrees(r) for _, r in given) / len(given)
        if min_agreement is not None and agreement < min_agreement - _EPS:
            n_contested += 1
            if len(contested) < _SHOWN_CONTESTED:
                contested.append({"game": key, "agreement": round(agreement, 4)})
            continue
        agreements.append(agreement)
        for member, r in given:
            voted[member] += 1
            agreed[member] += combined.agrees(r)
        out.append(_review(name, method, given, combined, agreement, len(names)))
    return JuryResult(
        reviews=out, games=len(keys), contested=n_contested, incomplete=incomplete, contested_games=contested,
        member_agreement={m: (round(agreed[m] / voted[m], 4) if voted[m] else None) for m in names},
        mean_agreement=round(sum(agreements) / len(agreements), 4) if agreements else None,
    )


def _has_verdict(r: Review) -> bool:
    if r.status != "ok":
        return False
    if r.model_b is None:
        return r.score is not None
    return r.winner in OUTCOME_OF_WINNER


@dataclass
class _Combined:
    label: str  # pairwise: model_a / model_b / tie; single: the score as text
    winner: str | None = None
    weighted: float | None = None
    score: float | None = None

    def agrees(self, r: Review) -> bool:
        if r.model_b is None:
            return _round_half_up(r.score) == _round_half_up(self.score)  # type: ignore[arg-type]
        return _label(r) == self.label


def _label(r: Review) -> str:
    return "tie" if str(r.winner).startswith("tie") else str(r.winner)


def _outcome(r: Review) -> float:
    return r.weighted if r.weighted is not None else OUTCOME_OF_WINNER[r.winner]  # type: ignore[index]


def _combine_pairwise(given: list[tuple[str, Review]], method: str) -> _Combined:
    if method == "mean":
        outcome = sum(_outcome(r) for _, r in given) / len(given)
        label = "model_a" if outcome > 0.5 + _EPS else "model_b" if outcome < 0.5 - _EPS else "tie"
        weighted: float | None = round(outcome, 6)
    else:
        counts = Counter(_label(r) for _, r in given)
        top = max(counts.values())
        leaders = [lab for lab, c in counts.items() if c == top]
        label = leaders[0] if len(leaders) == 1 else "tie"
        weighted = None
    winner = label
    ties = [r.winner for _, r in given if _label(r) == "tie"]
    if label == "tie" and ties and all(w == "tie (bothbad)" for w in ties):
        winner = "tie (bothbad)"
    return _Combined(label=label, winner=winner, weighted=weighted)


def _combine_single(given: list[tuple[str, Review]], method: str) -> _Combined:
    if method == "mean":
        score = sum((r.weighted if r.weighted is not None else r.score) for _, r in given) / len(given)  # type: ignore[misc]
    else:
        rounded = Counter(_round_half_up(r.score) for _, r in given)  # type: ignore[arg-type]
        top = max(rounded.values())
        leaders = [s for s, c in rounded.items() if c == top]
        score = float(leaders[0]) if len(leaders) == 1 else float(statistics.median(r.score for _, r in given))  # type: ignore[type-var]
    return _Combined(label=f"{score:g}", score=round(score, 6))


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _review(name: str, method: str, given: list[tuple[str, Review]], c: _Combined, agreement: float, n_members: int) -> Review:
    first = given[0][1]
    pairwise = first.model_b is not None
    if pairwise:
        shown = {"model_a": "A" if first.first == first.model_a else "B", "model_b": "B" if first.first == first.model_a else "A"}
        verdict: str | None = shown.get(c.label, "tie")
        votes = ", ".join(f"{m}: {shown.get(_label(r), 'tie')}" for m, r in given)
    else:
        verdict = None
        votes = ", ".join(f"{m}: {r.score:g}" for m, r in given)
    outcome = verdict if pairwise else c.label
    raw = (f"Jury {name} ({method}) of {len(given)} of {n_members} members: {votes} -> {outcome}; "
           f"agreement {agreement:.2f}")
    members_id = json.dumps(sorted((m, r.judge_id or "", r.prompt_hash) for m, r in given))
    digest = hashlib.sha256(f"{method}|{members_id}".encode()).hexdigest()
    return Review(
        judge=name, template=f"jury:{method}", mode=first.mode, question_id=first.question_id, turn=first.turn,
        model_a=first.model_a, model_b=first.model_b, first=first.first, prompt_hash=digest[:16], raw=raw, status="ok",
        verdict=verdict, winner=c.winner,  # type: ignore[arg-type]
        score=c.score, weighted=c.weighted if pairwise else None,
        cached=all(r.cached for _, r in given), tstamp=max(r.tstamp for _, r in given), judge_id=digest[16:32],
    )
