"""People's blind votes on battles (the dashboard's review view): cast one, store it, read them
back as a battle log or as agreement votes.

The votes live in `<run>/human/votes.jsonl`, one `HumanVote` per line, appended under a lock by
`store.append_shared` (several reviewers on one dashboard, each in a thread of its server, or
several servers on one folder). A battle here is judge-free: a question, a turn and a pair of
models, whichever order a judge's battles name them in (`battle_item`). A reviewer who votes
again on a battle replaces their vote: the latest line counts, the earlier ones stay in the file.

As judges, reviewers are pooled under `POOLED` ("human"), as the MT-Bench paper pools its
experts, so "human" against "human" is the agreement of people with each other, comparing the
votes of two reviewers on the same battle; `humans="each"` keeps every reviewer apart as
`human:<name>`.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from arena.errors import DataError
from arena.records import HUMAN_VOTES, OUTCOME_OF_WINNER, HumanVote, from_json, to_json
from arena.store import append_shared, read_jsonl

POOLED = "human"
HUMAN_MODES = ("pooled", "each")
MAX_REVIEWER = 64
MAX_NOTE = 4000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Item = tuple[str, int, str, str]


def votes_path(run_root: Path) -> Path:
    return Path(run_root) / "human" / "votes.jsonl"


def battle_item(question_id: object, turn: int, model_a: str, model_b: str) -> Item:
    """The battle a vote is about, the same whichever order the pair is named in."""
    low, high = sorted((str(model_a), str(model_b)))
    return (str(question_id), int(turn), low, high)


def reviewer_name(text: object) -> str:
    """A reviewer's name as stored (stripped), or a ValueError that says what is wrong."""
    name = str(text or "").strip()
    if not name:
        raise ValueError("a reviewer name is needed (it is stored with every vote)")
    if len(name) > MAX_REVIEWER:
        raise ValueError(f"a reviewer name has at most {MAX_REVIEWER} characters")
    if _CONTROL.search(name):
        raise ValueError("a reviewer name cannot hold control characters (tabs, newlines)")
    return name


def judge_of(vote: HumanVote, humans: str) -> str:
    return POOLED if humans == "pooled" else f"{POOLED}:{vote.reviewer}"


def cast_vote(
    *,
    reviewer: str,
    question_id: object,
    turn: int,
    model_a: str,
    model_b: str,
    shown: list[str],
    vote: str,
    category: str = "",
    note: str = "",
    vote_id: str | None = None,
    now: datetime | None = None,
) -> HumanVote:
    """A checked vote: `vote` is one of HUMAN_VOTES in the shown order's terms (A = shown[0])."""
    if vote not in HUMAN_VOTES:
        raise ValueError(f"vote: {vote!r}; expected one of {', '.join(HUMAN_VOTES)}")
    if sorted(shown) != sorted((model_a, model_b)) or model_a == model_b:
        raise ValueError("shown: must be the battle's two models in the order they were shown")
    note = str(note or "")
    if len(note) > MAX_NOTE:
        raise ValueError(f"note: at most {MAX_NOTE} characters")
    return HumanVote(
        vote_id=vote_id or uuid.uuid4().hex,
        reviewer=reviewer_name(reviewer),
        question_id=question_id,  # type: ignore[arg-type]
        turn=int(turn),
        model_a=model_a,
        model_b=model_b,
        shown=list(shown),
        vote=vote,  # type: ignore[arg-type]
        winner=winner_of(vote, shown, model_a),  # type: ignore[arg-type]
        time=(now or datetime.now(timezone.utc)).isoformat(timespec="milliseconds"),
        category=str(category or ""),
        note=note,
    )


def winner_of(vote: str, shown: list[str], model_a: str) -> str:
    """A vote in the shown order's terms as the battle's winner."""
    if vote == "tie":
        return "tie"
    if vote == "both bad":
        return "tie (bothbad)"
    chosen = shown[0] if vote == "A" else shown[1]
    return "model_a" if chosen == model_a else "model_b"


def append_vote(path: Path, vote: HumanVote) -> bool:
    """Store one vote (False where this vote_id is already stored: a form sent twice)."""
    return append_shared(path, to_json(vote), unless=f'"vote_id":{json.dumps(vote.vote_id)}')


def read_human_votes(path: Path) -> list[HumanVote]:
    """Every vote line, history included, in the order cast. A torn last line (a server killed
    mid-write) is skipped here and cut by the next vote's write; any other bad line is a
    DataError naming the file, line and field."""
    votes = []
    for number, obj in read_jsonl(path):
        where = f"{path}:{number}"
        vote = from_json(HumanVote, obj, where)
        if vote.model_a == vote.model_b:
            raise DataError(f"{where}: model_b: same model as model_a ({vote.model_a!r})")
        if sorted(vote.shown) != sorted((vote.model_a, vote.model_b)):
            raise DataError(f"{where}: shown: expected the battle's two models, got {vote.shown!r}")
        if winner_of(vote.vote, vote.shown, vote.model_a) != vote.winner:
            raise DataError(f"{where}: winner: {vote.winner!r} does not match vote {vote.vote!r} with shown {vote.shown!r}")
        votes.append(vote)
    return votes


def latest_votes(votes: Iterable[HumanVote]) -> tuple[list[HumanVote], int]:
    """Each reviewer's latest vote per battle (in the order of those votes), and how many
    earlier votes they replaced."""
    latest: dict[tuple[str, Item], HumanVote] = {}
    total = 0
    for vote in votes:
        total += 1
        key = (vote.reviewer, battle_item(vote.question_id, vote.turn, vote.model_a, vote.model_b))
        latest.pop(key, None)  # re-inserted last: the dict keeps the order of the latest votes
        latest[key] = vote
    return list(latest.values()), total - len(latest)


def vote_table(votes: Iterable[HumanVote], humans: str = "pooled") -> pd.DataFrame:
    """Votes as agreement votes (arena.agreement.VOTE_COLUMNS)."""
    from arena.agreement import VOTE_COLUMNS

    rows = [(judge_of(v, humans), str(v.question_id), int(v.turn), v.model_a, v.model_b, v.winner) for v in votes]
    return pd.DataFrame(rows, columns=list(VOTE_COLUMNS))


def read_vote_table(path: Path, humans: str = "pooled") -> tuple[pd.DataFrame, list[str]]:
    """The latest votes of a votes file as agreement votes, and a note on replaced votes."""
    latest, replaced = latest_votes(_nonempty(path))
    return vote_table(latest, humans), replaced_notes(path, replaced)


def battle_table(votes: Iterable[HumanVote], humans: str = "pooled") -> pd.DataFrame:
    """Votes as a battle table (arena.battle_log.BATTLE_COLUMNS): outcome 1, 0.5 or 0, weight 1."""
    from arena.battle_log import BATTLE_COLUMNS, STYLE_COLUMNS, typed_frame

    votes = list(votes)
    frame = pd.DataFrame({
        "model_a": [v.model_a for v in votes],
        "model_b": [v.model_b for v in votes],
        "winner": [v.winner for v in votes],
        "outcome": [OUTCOME_OF_WINNER[v.winner] for v in votes],
        "weight": 1.0,
        "judge": [judge_of(v, humans) for v in votes],
        "turn": [int(v.turn) for v in votes],
        "category": [v.category for v in votes],
        "question_id": [str(v.question_id) for v in votes],
        "tstamp": [_seconds(v.time) for v in votes],
        **{c: math.nan for c in STYLE_COLUMNS},
    }, columns=list(BATTLE_COLUMNS))
    return typed_frame(frame)


def read_vote_battles(path: Path, humans: str = "pooled") -> tuple[pd.DataFrame, list[str]]:
    """The latest votes of a votes file as a battle table, and a note on replaced votes."""
    latest, replaced = latest_votes(_nonempty(path))
    return battle_table(latest, humans), replaced_notes(path, replaced)


def _nonempty(path: Path) -> list[HumanVote]:
    votes = read_human_votes(path)
    if not votes:
        raise DataError(f"{path}: no votes yet (cast them in the dashboard's Review view)")
    return votes


def replaced_notes(path: Path, replaced: int) -> list[str]:
    if not replaced:
        return []
    return [f"{path}: {replaced} vote(s) replaced by the same reviewer's later vote on the battle (the latest counts)"]


def _seconds(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return math.nan
