"""The records that flow between stages, with exactly the fields written to disk.

`to_json` / `from_json` are the one place that converts them to and from JSON lines. Field names
follow the formats users already know: FastChat's model-answer files for `Answer`, Chatbot Arena's
battle logs for `Battle` (`model_a`, `model_b`, `winner`, `judge`, `turn`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from arena.errors import DataError
from arena.schema import build, to_plain

QuestionId = int | str

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
Winner = Literal["model_a", "model_b", "tie", "tie (bothbad)"]

# Score of model_a for each battle winner: ties, bothbad included, are half a win each way.
OUTCOME_OF_WINNER = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}


@dataclass
class Question:
    """One question of a set: one or more user turns, optionally reference answers per turn."""

    question_id: QuestionId
    category: str
    turns: list[str]
    reference: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Choice:
    index: int
    turns: list[str]


@dataclass
class Answer:
    """A model's answer to every turn of one question (FastChat's model-answer fields, plus
    per-turn token counts and timings, summed over choices where there are several)."""

    question_id: QuestionId
    answer_id: str
    model_id: str
    choices: list[Choice]
    tstamp: float
    prompt_tokens: list[int] = field(default_factory=list)
    output_tokens: list[int] = field(default_factory=list)
    latency_s: list[float] = field(default_factory=list)
    ttft_s: list[float | None] = field(default_factory=list)
    finish_reasons: list[str | None] = field(default_factory=list)
    generation: dict[str, Any] = field(default_factory=dict)

    def turn_text(self, turn: int, choice: int = 0) -> str:
        """Text of 1-based `turn` of the given choice."""
        return self.choices[choice].turns[turn - 1]


@dataclass
class Review:
    """One judge call (one game): a single grading of one answer, or one order of a pair.

    `model_a`/`model_b` are the battle's pair in canonical order; `first` names the model whose
    answer was shown in position A. `verdict` is what the judge said, in its own terms (positions
    "A"/"B"/"tie", a five-level "A>>B", or None for single grading); `winner` is the same verdict
    in model terms. A call whose verdict could not be parsed is kept with status "error".
    """

    judge: str
    template: str
    mode: str
    question_id: QuestionId
    turn: int
    model_a: str
    model_b: str | None
    first: str
    prompt_hash: str
    raw: str
    status: Literal["ok", "error"]
    verdict: str | None = None
    winner: Winner | None = None
    score: float | None = None
    error: str | None = None
    attempts: int = 1
    prompt_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    cached: bool = False
    tstamp: float = 0.0
    #: Hash of who answered and how (provider, model, endpoint, sampling): a review by another
    #: model under the same judge name is stale. None in imported reviews.
    judge_id: str | None = None
    #: Probability-weighted verdicts (verdict_weighting: probability): pairwise, model_a's
    #: expected outcome P(model_a wins) + 0.5 P(tie); single, the expected rating. `verdict`,
    #: `winner` and `score` keep the written (argmax) verdict beside it.
    weighted: float | None = None
    #: The judge's distribution over the verdict's options (by label), one per slot.
    verdict_probs: list[dict[str, float]] | None = None
    #: The model id as the API answered it (a dated snapshot behind an alias, a gateway's
    #: deployment); None where the backend names none, and in reviews from before it was kept.
    served_model: str | None = None

    @property
    def key(self) -> str:
        return review_key(self.question_id, self.turn, self.model_a, self.model_b, self.first)


def review_key(question_id: QuestionId, turn: int, model_a: str, model_b: str | None, first: str) -> str:
    return f"{question_id}|{turn}|{model_a}|{model_b or ''}|{first}"


@dataclass
class Style:
    """Style features of one answer (the covariates of style-controlled ratings)."""

    tokens: int = 0
    chars: int = 0
    headers: int = 0
    lists: int = 0
    bold: int = 0


@dataclass
class Battle:
    """One battle between two models on one question and turn, as judged by one judge.

    `outcome` is model_a's score in [0, 1] (1 win, 0.5 tie, 0 loss, fractional where the judge's
    verdict is graded); `winner` is the categorical verdict Chatbot Arena's logs use. `games`
    holds the verdict of each order judged (model terms), `consistent` whether they agree.
    """

    question_id: QuestionId
    category: str
    model_a: str
    model_b: str
    winner: Winner
    judge: str
    turn: int
    outcome: float
    weight: float = 1.0
    mode: str = ""
    games: list[str] = field(default_factory=list)
    consistent: bool | None = None
    score_a: float | None = None
    score_b: float | None = None
    style_a: Style | None = None
    style_b: Style | None = None


#: A reviewer's choice as shown (answer A is the one shown first), and the battle winner it means.
HUMAN_VOTES = ("A", "B", "tie", "both bad")
HumanChoice = Literal["A", "B", "tie", "both bad"]


@dataclass
class HumanVote:
    """One person's blind vote on one battle (a question, turn and model pair), as the
    dashboard's review view stores it in `human/votes.jsonl`.

    `shown` is the order the answers were shown in (`shown[0]` was answer A); `vote` what the
    reviewer chose in those terms; `winner` the same choice in the battle's terms (model_a,
    model_b, tie, tie (bothbad)), so the file reads as a Chatbot Arena log too. A reviewer may
    vote again on a battle: the latest line counts, earlier ones stay as history. `vote_id` is
    unique per vote cast, so a vote sent twice is stored once.
    """

    vote_id: str
    reviewer: str
    question_id: QuestionId
    turn: int
    model_a: str
    model_b: str
    shown: list[str]
    vote: HumanChoice
    winner: Winner
    time: str
    category: str = ""
    note: str = ""


R = TypeVar("R")


def to_json(record: Any) -> str:
    """One JSON line (no trailing newline) for a record."""
    return json.dumps(to_plain(record), ensure_ascii=False, separators=(",", ":"))


def from_json(cls: type[R], data: dict[str, Any], where: str) -> R:
    """A record from a parsed JSON object; extra keys are ignored, a missing or mistyped field is
    a DataError naming `where` (file and line) and the field."""
    return build(cls, data, where=where, strict=False, error=DataError)


def replace(record: R, **changes: Any) -> R:
    return dataclasses.replace(record, **changes)  # type: ignore[type-var]
