from __future__ import annotations

import pytest

from arena.config import JudgeConfig
from arena.errors import ConfigError
from arena.judging.pairing import Game
from arena.judging.prompts import judge_messages
from arena.judging.templates import load_template
from arena.records import Answer, Choice, Question

SHIPPED = ["single-rating", "pairwise-abc", "pairwise-five-level"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_templates_load(name):
    template = load_template(name, where="cfg", key="judges[0].template")
    assert "default" in template.variants


def _answer(model, turns):
    return Answer(question_id=1, answer_id="x", model_id=model, choices=[Choice(0, turns)], tstamp=0)


def test_turn_two_with_reference_shows_the_whole_context():
    template = load_template("pairwise-abc", where="cfg", key="k")
    question = Question(question_id=1, category="math", turns=["What is 2+2?", "And times 3?"], reference=["4", "12"])
    answers = {"a": _answer("a", ["four", "twelve"]), "b": _answer("b", ["5", "15"])}
    judge = JudgeConfig(name="j", provider="simulated", mode="pairwise-all")
    messages = judge_messages(template, judge, Game(question, 2, "a", "b", "b"), answers)
    user = messages[-1]["content"]
    assert messages[0]["role"] == "system" and "[[A]]" in messages[0]["content"]
    # b is shown first, as assistant A; both turns of each conversation and both references appear.
    assert user.index("Conversation with assistant A") < user.index("15") < user.index("Conversation with assistant B") < user.index("twelve")
    assert "And times 3?" in user and "12" in user and "What is 2+2?" in user


def test_reference_only_for_reference_categories():
    template = load_template("single-rating", where="cfg", key="k")
    question = Question(question_id=1, category="writing", turns=["Write."], reference=["A poem."])
    judge = JudgeConfig(name="j", provider="simulated", mode="single")
    user = judge_messages(template, judge, Game(question, 1, "a", None, "a"), {"a": _answer("a", ["Roses."])})[-1]["content"]
    assert "A poem." not in user and "Roses." in user


def test_answers_with_braces_are_not_treated_as_placeholders():
    template = load_template("single-rating", where="cfg", key="k")
    question = Question(question_id=1, category="coding", turns=["Write JSON."])
    judge = JudgeConfig(name="j", provider="simulated", mode="single")
    answer = _answer("a", ['{"key": "{value}"}'])
    user = judge_messages(template, judge, Game(question, 1, "a", None, "a"), {"a": answer})[-1]["content"]
    assert '{"key": "{value}"}' in user


@pytest.mark.parametrize(
    "body, expected",
    [
        ("kind: single\nverdict: abc\nvariants: {default: x}\n", "does not fit a single template"),
        ("kind: pairwise\nverdict: abc\nvariants: {default: 'Q {questoin}'}\n", "unknown placeholder {questoin}"),
        ("kind: pairwise\nverdict: abc\nvariants: {other: x}\n", "at least a 'default' prompt"),
        ("kind: judge\nverdict: abc\nvariants: {default: x}\n", "kind: expected 'single' or 'pairwise'"),
        ("kind: pairwise\nverdict: abc\nvariants: {default: 'Q {question'}\n", "bad placeholder syntax"),
    ],
)
def test_a_dropped_in_template_is_checked(tmp_path, body, expected):
    path = tmp_path / "mine.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError, match="mine.yaml") as info:
        load_template("mine", where="cfg", key="judges[0].template", base_dir=tmp_path)
    assert expected in str(info.value)


def test_reask_after_an_empty_reply_sends_no_empty_assistant_turn():
    """Anthropic refuses an empty assistant message (HTTP 400): the re-ask shows a placeholder."""
    from arena.judging.prompts import reask_messages

    base = [{"role": "user", "content": "judge this"}]
    for reply in ("", "  \n"):
        messages = reask_messages(base, reply, "abc")
        assert messages[1] == {"role": "assistant", "content": "(no reply)"}
        assert messages[2]["role"] == "user" and "[[A]]" in messages[2]["content"]
    assert reask_messages(base, "A is better.", "abc")[1]["content"] == "A is better."
