"""Judge prompt templates: plain YAML files in registry/templates/, chosen by name.

A template declares what it judges (`kind`: single or pairwise), the verdict format its prompt
asks for (`verdict`: one of the grammars declared in arena.judging.grammar: rating, abc,
five_level, result_1to5, result_ab, two_score), a system prompt, and up to four
user-prompt variants: `default`, `reference` (a reference answer is shown), `multi_turn` (a later
turn judged with the earlier ones as context) and `multi_turn_reference`. A user adds a template by
dropping a file there (or beside the config) and naming it in `judges[].template`.
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass
from pathlib import Path

from arena.errors import ConfigError
from arena.judging.grammar import GRAMMARS
from arena.registry import available, read_yaml, registry_dir

VERDICT_FORMATS = tuple(GRAMMARS)
VARIANTS = ("default", "reference", "multi_turn", "multi_turn_reference")
PLACEHOLDERS = {
    "single": {"question", "answer", "reference", "conversation", "reference_conversation"},
    "pairwise": {"question", "answer_a", "answer_b", "reference", "conversation_a", "conversation_b", "reference_conversation"},
}


@dataclass(frozen=True)
class Template:
    name: str
    kind: str
    verdict: str
    system: str
    variants: dict[str, str]
    path: Path

    def variant_for(self, turn: int, with_reference: bool) -> str:
        """The best variant for a turn: multi-turn context after turn 1, reference where given,
        falling back to what the template has (a turn-1-only template judges a later turn alone)."""
        order = []
        if turn > 1:
            order += ["multi_turn_reference"] if with_reference else []
            order += ["multi_turn"]
        order += ["reference"] if with_reference else []
        order += ["default"]
        return next(v for v in order if v in self.variants)


def template_path(name: str, base_dir: Path | None = None) -> Path | None:
    candidates = [registry_dir() / "templates" / f"{name}.yaml"]
    if base_dir is not None:
        candidates += [base_dir / f"{name}.yaml", base_dir / "templates" / f"{name}.yaml"]
    candidates.append(Path(name))
    return next((p for p in candidates if p.is_file()), None)


def load_template(name: str, *, where: str, key: str, base_dir: Path | None = None) -> Template:
    """Load and check a template; every fault names the template file and the field."""
    path = template_path(name, base_dir)
    if path is None:
        names = ", ".join(available("templates", ".yaml"))
        raise ConfigError(f"{where}: {key}: unknown judge template {name!r}; available: {names} (or a path to a .yaml file)")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with kind, verdict, system and variants")
    kind = data.get("kind")
    if kind not in PLACEHOLDERS:
        raise ConfigError(f"{path}: kind: expected 'single' or 'pairwise', got {kind!r}")
    verdict = data.get("verdict")
    if verdict not in VERDICT_FORMATS:
        raise ConfigError(f"{path}: verdict: expected one of {', '.join(VERDICT_FORMATS)}, got {verdict!r}")
    if GRAMMARS[verdict].kind != kind:
        raise ConfigError(f"{path}: verdict: {verdict!r} does not fit a {kind} template")
    system = data.get("system", "")
    if not isinstance(system, str):
        raise ConfigError(f"{path}: system: expected a string")
    variants = data.get("variants")
    if not isinstance(variants, dict) or "default" not in variants:
        raise ConfigError(f"{path}: variants: expected a mapping with at least a 'default' prompt")
    for variant, text in variants.items():
        if variant not in VARIANTS:
            raise ConfigError(f"{path}: variants.{variant}: unknown variant; expected some of {', '.join(VARIANTS)}")
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{path}: variants.{variant}: expected a non-empty prompt string")
        _check_placeholders(text, PLACEHOLDERS[kind], f"{path}: variants.{variant}")
    _check_placeholders(system, PLACEHOLDERS[kind], f"{path}: system")
    return Template(name=name, kind=kind, verdict=verdict, system=system, variants=dict(variants), path=path)


def _check_placeholders(text: str, allowed: set[str], where: str) -> None:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise ConfigError(f"{where}: bad placeholder syntax ({exc}); write literal braces as {{{{ and }}}}") from None
    unknown = sorted(f for f in fields if f not in allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown placeholder {{{unknown[0]}}}; allowed: {', '.join(sorted(allowed))}")


def render_conversation(questions: list[str], answers: list[str], *, assistant: str = "Assistant") -> str:
    """A dialogue up to the last turn given, as the multi-turn variants show it."""
    parts = []
    for question, answer in zip(questions, answers):
        parts.append(f"### User:\n{question}\n\n### {assistant}:\n{answer}")
    return "\n\n".join(parts)


def prompt_hash(messages: list[dict[str, str]]) -> str:
    """Stable hash of the full prompt, recorded with each judge call."""
    blob = json.dumps(messages, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
