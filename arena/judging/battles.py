"""From judge calls to battles: combining the orders of a pair, and battles from single scores.

Pairwise: the games of one (question, turn, pair) combine into one battle whose outcome is model_a's
mean score over the games (1 win, 0.5 tie, 0 loss), weighted by `strong_verdict_weight` for
five-level strong wins. So a win in one order and a loss in the other is a tie (outcome 0.5), a win
and a tie is a fractional 0.75 (rating code uses it as such), and `winner` names the side the
outcome favours. Error games are not battles; a pair with one valid order gives a battle from that
order alone (counted in the summary).

Single: every two models graded on the same question and turn make a battle: the higher score
wins, equal scores tie, and equal scores at or below BOTHBAD_SCORE are "tie (bothbad)".

Probability-weighted reviews (verdict_weighting: probability) count by their weighted outcome
instead of the written verdict: pairwise, the review's expected outcome; single, P(score_a >
score_b) + 0.5 P(equal) from the two grade distributions (taken as independent), with the
expected ratings as the battle's scores.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict

from arena.records import OUTCOME_OF_WINNER, Answer, Battle, Question, Review, Style

BOTHBAD_SCORE = 3.0

_HEADER = re.compile(r"^\s{0,3}#{1,6}\s", re.MULTILINE)
_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def style_of(text: str, tokens: int | None = None) -> Style:
    """Style covariates of one answer: length and markdown elements (Chatbot Arena's set)."""
    return Style(
        tokens=tokens if tokens else max(1, len(text) // 4),
        chars=len(text),
        headers=len(_HEADER.findall(text)),
        lists=len(_LIST.findall(text)),
        bold=len(_BOLD.findall(text)),
    )


def _winner_of(outcome: float, games: list[str]) -> str:
    if outcome > 0.5:
        return "model_a"
    if outcome < 0.5:
        return "model_b"
    if games and all(g == "tie (bothbad)" for g in games):
        return "tie (bothbad)"
    return "tie"


def _style(answers: dict[str, dict[str, Answer]], model: str, question_id: object, turn: int) -> Style | None:
    answer = answers.get(model, {}).get(str(question_id))
    if answer is None or len(answer.choices[0].turns) < turn:
        return None
    tokens = answer.output_tokens[turn - 1] if len(answer.output_tokens) >= turn and len(answer.choices) == 1 else None
    return style_of(answer.choices[0].turns[turn - 1], tokens)


def _question_order(questions: dict[str, Question]) -> dict[str, int]:
    return {qid: i for i, qid in enumerate(questions)}


def battles_from_reviews(
    reviews: list[Review],
    questions: dict[str, Question],
    answers: dict[str, dict[str, Answer]],
    *,
    strong_weight: float = 1.0,
) -> list[Battle]:
    """Battles of one judge from its reviews (status "ok" only), in a stable order. Single
    gradings and pairwise games are told apart per review (model_b is None for a grading), so a
    file mixing both (a judge whose mode changed) cannot mix them up."""
    ok = [r for r in reviews if r.status == "ok"]
    single = [r for r in ok if r.model_b is None]
    pairwise = [r for r in ok if r.model_b is not None and r.winner in OUTCOME_OF_WINNER]
    battles = _battles_from_scores(single, questions, answers) if single else []
    return battles + _battles_from_games(pairwise, questions, answers, strong_weight) if pairwise else battles


def _battles_from_games(
    ok: list[Review], questions: dict[str, Question], answers: dict[str, dict[str, Answer]], strong_weight: float
) -> list[Battle]:
    groups: dict[tuple, list[Review]] = defaultdict(list)
    for r in ok:
        groups[(str(r.question_id), r.turn, r.model_a, r.model_b)].append(r)
    order = _question_order(questions)
    battles = []
    for (qid, turn, model_a, model_b), games in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], len(order)), kv[0])):
        games.sort(key=lambda r: r.first != model_a)  # model_a shown first comes first
        weights = [strong_weight if r.verdict and ">>" in r.verdict else 1.0 for r in games]
        outcome = sum(w * _game_outcome(r) for w, r in zip(weights, games)) / sum(weights)
        labels = [r.winner for r in games]
        question = questions.get(qid)
        battles.append(
            Battle(
                question_id=games[0].question_id,
                category=question.category if question else "",
                model_a=model_a,
                model_b=model_b,  # type: ignore[arg-type]
                winner=_winner_of(outcome, labels),  # type: ignore[arg-type]
                judge=games[0].judge,
                turn=turn,
                outcome=outcome,
                weight=sum(weights) / len(weights),
                mode=games[0].mode,
                games=labels,  # type: ignore[arg-type]
                consistent=(labels[0] == labels[1]) if len(labels) == 2 else None,
                style_a=_style(answers, model_a, qid, turn),
                style_b=_style(answers, model_b, qid, turn),  # type: ignore[arg-type]
            )
        )
    return battles


def _game_outcome(review: Review) -> float:
    """model_a's score in one game: the weighted outcome where the judge gave one."""
    if review.weighted is not None:
        return review.weighted
    return OUTCOME_OF_WINNER[review.winner]  # type: ignore[index]


def _graded_outcome(ra: Review, rb: Review) -> float | None:
    """P(a graded above b) + 0.5 P(equal) from two grade distributions, or None without them."""
    if not ra.verdict_probs or not rb.verdict_probs:
        return None
    pa, pb = ra.verdict_probs[0], rb.verdict_probs[0]
    try:
        return sum(p * q * (1.0 if float(a) > float(b) else 0.5 if float(a) == float(b) else 0.0)
                   for a, p in pa.items() for b, q in pb.items())
    except ValueError:
        return None


def _battles_from_scores(reviews: list[Review], questions: dict[str, Question], answers: dict[str, dict[str, Answer]]) -> list[Battle]:
    by_item: dict[tuple, list[Review]] = defaultdict(list)
    for r in reviews:
        if r.score is not None:
            by_item[(str(r.question_id), r.turn)].append(r)
    order = _question_order(questions)
    battles = []
    for (qid, turn), graded in sorted(by_item.items(), key=lambda kv: (order.get(kv[0][0], len(order)), kv[0])):
        question = questions.get(qid)
        graded.sort(key=lambda r: r.model_a)
        for ra, rb in itertools.combinations(graded, 2):
            sa, sb = ra.score, rb.score
            graded_outcome = _graded_outcome(ra, rb)
            if graded_outcome is not None:
                outcome = graded_outcome
                sa = ra.weighted if ra.weighted is not None else sa
                sb = rb.weighted if rb.weighted is not None else sb
                winner = _winner_of(outcome, [])
                if winner == "tie" and max(sa, sb) <= BOTHBAD_SCORE:  # type: ignore[type-var]
                    winner = "tie (bothbad)"
            elif sa > sb:  # type: ignore[operator]
                winner, outcome = "model_a", 1.0
            elif sa < sb:  # type: ignore[operator]
                winner, outcome = "model_b", 0.0
            else:
                winner = "tie (bothbad)" if sa <= BOTHBAD_SCORE else "tie"  # type: ignore[operator]
                outcome = 0.5
            battles.append(
                Battle(
                    question_id=ra.question_id,
                    category=question.category if question else "",
                    model_a=ra.model_a,
                    model_b=rb.model_a,
                    winner=winner,  # type: ignore[arg-type]
                    judge=ra.judge,
                    turn=turn,
                    outcome=outcome,
                    mode="single",
                    score_a=sa,
                    score_b=sb,
                    style_a=_style(answers, ra.model_a, qid, turn),
                    style_b=_style(answers, rb.model_a, qid, turn),
                )
            )
    return battles
