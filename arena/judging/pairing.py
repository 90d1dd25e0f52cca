"""Which judge calls a mode asks for: the games (one judge call each) of every battle.

`single` grades each answer once. `pairwise-baseline` pits every candidate against the baseline,
`pairwise-all` every pair (or a seeded random subset of pairs per question, to bound cost). Pairs
are judged in both orders by default, so position bias cancels in the battle's outcome; with one
order only, the order alternates by a seeded draw so the bias still averages out.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from arena.config import JudgeConfig
from arena.records import Question, review_key
from arena.seeding import keyed_rng


@dataclass(frozen=True)
class Game:
    """One judge call. For pairwise games `first` is the model shown in position A."""

    question: Question
    turn: int
    model_a: str
    model_b: str | None
    first: str

    @property
    def second(self) -> str | None:
        if self.model_b is None:
            return None
        return self.model_b if self.first == self.model_a else self.model_a

    @property
    def key(self) -> str:
        return review_key(self.question.question_id, self.turn, self.model_a, self.model_b, self.first)


def judged_turns(judge: JudgeConfig, question: Question) -> list[int]:
    turns = judge.turns or list(range(1, len(question.turns) + 1))
    return [t for t in turns if t <= len(question.turns)]


def pairs_for(judge: JudgeConfig, models: list[str], question: Question, seed: int) -> list[tuple[str, str]]:
    """The model pairs (model_a, model_b) judged on one question."""
    if judge.mode == "pairwise-baseline":
        return [(m, judge.baseline) for m in models if m != judge.baseline]  # type: ignore[misc]
    pairs = list(itertools.combinations(models, 2))
    if judge.pairs_per_question is not None and judge.pairs_per_question < len(pairs):
        pairs = keyed_rng(seed, judge.name, "pairs", question.question_id).sample(pairs, judge.pairs_per_question)
    return pairs


def games_for(judge: JudgeConfig, models: list[str], questions: list[Question], seed: int) -> list[Game]:
    """Every game a judge plays over the question set, in a stable order."""
    games: list[Game] = []
    for question in questions:
        for turn in judged_turns(judge, question):
            if judge.mode == "single":
                games += [Game(question, turn, m, None, m) for m in models]
                continue
            for a, b in pairs_for(judge, models, question, seed):
                if judge.both_orders:
                    games += [Game(question, turn, a, b, a), Game(question, turn, a, b, b)]
                else:
                    first = a if keyed_rng(seed, judge.name, "order", question.question_id, turn, a, b).random() < 0.5 else b
                    games.append(Game(question, turn, a, b, first))
    return games
