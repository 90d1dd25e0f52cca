"""Before the scores stage runs: load every benchmark and check that every model can run every
style asked of it, so a style a provider cannot do stops the run with one line, not an hour in.

What a provider can return besides text is declared by its module (`scoring_abilities(cfg)`,
a set of arena.providers.base.CONTINUATION / NEXT_TOKEN); a module without that function can only
generate. The scores stage builds its providers through `scoring_provider` so that OpenAI and
OpenAI-compatible models get the completions-endpoint client (arena.providers.openai_logprobs).
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from arena.config import BenchmarkConfig, ModelConfig, RunConfig
from arena.errors import ConfigError
from arena.providers import MODULES, make_provider
from arena.providers.base import CONTINUATION, NEXT_TOKEN, Provider
from arena.schema import to_plain
from arena.scoring.datasets import Item, load_items, resolve_source

# Changing the prompt layout changes this, so stored rows made with the old one are redone.
PROMPT_VERSION = "mmlu-1"

# provider -> module with the scoring-capable provider, where it is not the chat module
SCORING_MODULES = {
    "openai": "arena.providers.openai_logprobs",
    "openai_compatible": "arena.providers.openai_logprobs",
}

# style -> the abilities that can serve it (any one of them); generation needs none
STYLE_NEEDS: dict[str, tuple[str, ...]] = {
    "letter_logprob": (CONTINUATION, NEXT_TOKEN),
    "text_logprob": (CONTINUATION,),
    "generate_letter": (),
    "exact_match": (),
}


@dataclass
class PreparedBenchmark:
    """A benchmark ready to score: its items, few-shot pool and the styles each model runs."""

    config: BenchmarkConfig
    items: list[Item]
    dev_items: list[Item]
    setting: str
    styles_by_model: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)


def _module(provider: str) -> ModuleType | None:
    name = SCORING_MODULES.get(provider) or (f"arena.providers.{MODULES[provider]}" if provider in MODULES else None)
    if name is None:
        return None
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None  # no such provider module in this checkout: it declares no abilities
        raise


def model_abilities(model: ModelConfig, dry_run: bool) -> frozenset[str]:
    """The log-probability methods this model's provider offers (the simulator offers all)."""
    if dry_run or model.provider == "simulated":
        return frozenset({CONTINUATION, NEXT_TOKEN})
    module = _module(model.provider)
    declare = getattr(module, "scoring_abilities", None)
    return frozenset(declare(model)) if declare is not None else frozenset()


def scoring_provider(model: ModelConfig, run: RunConfig) -> Provider:
    """The provider the scores stage uses for a model: the simulator in a dry run, the
    completions-endpoint client for OpenAI(-compatible) APIs, otherwise the usual provider."""
    if run.dry_run or model.provider == "simulated" or model.provider not in SCORING_MODULES:
        return make_provider(model, run)
    return importlib.import_module(SCORING_MODULES[model.provider]).create(model)


def benchmark_setting(bench: BenchmarkConfig) -> str:
    """A short fingerprint of everything that changes a benchmark's rows (not which items run)."""
    settings = to_plain(bench)
    for key in ("name", "limit", "subjects", "styles", "skip_unsupported"):
        settings.pop(key, None)
    settings["prompt"] = PROMPT_VERSION
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8")).hexdigest()[:12]


def prepare_benchmarks(config: RunConfig) -> list[PreparedBenchmark]:
    """Load each benchmark (and its dev split) and decide each model's styles; raises
    ConfigError/DataError naming the config key or data file on any fault."""
    where = str(config.source_path)
    base_dir: Path = config.source_path.parent
    prepared = []
    for i, bench in enumerate(config.benchmarks):
        key = f"benchmarks[{i}]"
        path = resolve_source(bench.source, base_dir, where, f"{key}.source")
        items = load_items(bench, path, where=where, key=key)
        dev_items: list[Item] = []
        if bench.k_shot > 0 and bench.dev is not None:
            dev_path = resolve_source(bench.dev, base_dir, where, f"{key}.dev")
            dev_items = load_items(bench, dev_path, apply_filters=False, where=where, key=f"{key}.dev")
        entry = PreparedBenchmark(config=bench, items=items, dev_items=dev_items, setting=benchmark_setting(bench))
        for model in config.models:
            abilities = model_abilities(model, config.dry_run)
            runnable, unable = [], []
            for style in bench.style_list:
                needs = STYLE_NEEDS[style]
                (runnable if not needs or abilities & set(needs) else unable).append(style)
            if unable and not bench.skip_unsupported:
                raise ConfigError(
                    f"{where}: {key}.styles: model {model.name!r} (provider {model.provider!r}) cannot run "
                    f"{', '.join(unable)}: {_why(model, abilities)}; drop the style, set {key}.skip_unsupported: true, "
                    "or score this model through vLLM or an OpenAI-compatible completions server"
                )
            entry.styles_by_model[model.name] = runnable
            if unable:
                entry.skipped[model.name] = unable
        prepared.append(entry)
    return prepared


def _why(model: ModelConfig, abilities: frozenset[str]) -> str:
    if not abilities:
        return "its provider returns no log-probabilities"
    if abilities == {NEXT_TOKEN}:
        return "its provider returns only the top next-token log-probabilities, not those of given text"
    return "its provider lacks the log-probabilities this style needs"
