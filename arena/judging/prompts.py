"""Judge prompts: a template rendered for one game, and the re-ask when no verdict came back."""

from __future__ import annotations

from arena.config import JudgeConfig
from arena.judging.pairing import Game
from arena.judging.templates import Template, render_conversation
from arena.judging.verdicts import format_hint
from arena.records import Answer


def uses_reference(judge: JudgeConfig, game: Game) -> bool:
    ref = game.question.reference
    return (
        game.question.category in judge.reference_categories
        and ref is not None
        and len(ref) >= game.turn
        and bool(ref[game.turn - 1].strip())
    )


def judge_messages(template: Template, judge: JudgeConfig, game: Game, answers: dict[str, Answer]) -> list[dict[str, str]]:
    """System and user messages for one game (first choice of each answer)."""
    q = game.question
    turn = game.turn
    with_reference = uses_reference(judge, game)
    values: dict[str, str] = {"question": q.turns[turn - 1]}
    if with_reference:
        values["reference"] = q.reference[turn - 1]  # type: ignore[index]
        values["reference_conversation"] = render_conversation(q.turns[:turn], q.reference[:turn], assistant="Reference")  # type: ignore[index]
    else:
        values["reference"] = values["reference_conversation"] = ""
    if template.kind == "single":
        answer = answers[game.first].choices[0].turns
        values["answer"] = answer[turn - 1]
        values["conversation"] = render_conversation(q.turns[:turn], answer[:turn])
    else:
        shown = {"a": answers[game.first].choices[0].turns, "b": answers[game.second].choices[0].turns}  # type: ignore[index]
        for pos, turns in shown.items():
            values[f"answer_{pos}"] = turns[turn - 1]
            values[f"conversation_{pos}"] = render_conversation(q.turns[:turn], turns[:turn], assistant=f"Assistant {pos.upper()}")
    user = template.variants[template.variant_for(turn, with_reference)].format_map(values)
    system = template.system.format_map(values) if template.system else ""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user})
    return messages


def reask_messages(messages: list[dict[str, str]], reply: str, verdict_format: str) -> list[dict[str, str]]:
    """The same conversation, with the judge's verdict-less reply and a request for the verdict.
    An empty reply is shown as a placeholder: Anthropic's API refuses an empty assistant turn
    (HTTP 400), which would turn a re-ask into a call that can never succeed."""
    return messages + [
        {"role": "assistant", "content": reply if reply.strip() else "(no reply)"},
        {"role": "user", "content": f"Your reply did not end with a verdict. Reply with only the verdict: {format_hint(verdict_format)}."},
    ]
