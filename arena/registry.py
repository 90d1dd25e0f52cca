"""Where the registry's data files live, and small readers for its tables.

The registry is data, not code: question sets, judge templates, presets, default sampling
settings and prices. Set ARENA_REGISTRY to use another folder (for example a copy with a user's
own templates); names not found there are an error that lists what is available.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml

from arena.errors import ConfigError, DataError


def registry_dir() -> Path:
    override = os.environ.get("ARENA_REGISTRY")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "registry"


def available(kind: str, suffix: str = "") -> list[str]:
    """Names of the entries in registry/<kind>/ (files with `suffix`, or folders)."""
    folder = registry_dir() / kind
    if not folder.is_dir():
        return []
    if suffix:
        return sorted(p.name[: -len(suffix)] for p in folder.iterdir() if p.name.endswith(suffix))
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise DataError(f"{path}{line}: YAML syntax error: {getattr(exc, 'problem', None) or exc}") from None


@functools.cache
def _generation_defaults() -> dict[str, Any]:
    data = read_yaml(registry_dir() / "generation.yaml") or {}
    return data


def default_temperature(category: str) -> float:
    """The registry's default sampling temperature for a question category."""
    data = _generation_defaults()
    table = data.get("temperature_by_category") or {}
    return float(table.get(category, data.get("default_temperature", 0.7)))


@functools.cache
def prices() -> dict[str, tuple[float, float, float, float]]:
    """Model id -> USD per million tokens: (input, output, batch input, batch output). A batch
    price not listed is half the standard one, as both OpenAI's and Anthropic's batch APIs charge."""
    path = registry_dir() / "prices.yaml"
    data = read_yaml(path) or {}
    table = {}
    for model, entry in data.items():
        try:
            standard = (float(entry["input_per_mtok"]), float(entry["output_per_mtok"]))
            batch = (float(entry.get("batch_input_per_mtok", standard[0] / 2)),
                     float(entry.get("batch_output_per_mtok", standard[1] / 2)))
        except (TypeError, KeyError, ValueError, AttributeError):
            raise DataError(f"{path}: {model}: expected input_per_mtok and output_per_mtok numbers "
                            "(and optionally batch_input_per_mtok, batch_output_per_mtok)") from None
        table[str(model)] = (*standard, *batch)
    return table


def preset(kind: str, name: str, where: str, key: str) -> dict[str, Any]:
    """A model or judge preset from registry/presets/<kind>/<name>.yaml, as a mapping."""
    path = registry_dir() / "presets" / kind / f"{name}.yaml"
    if not path.is_file():
        names = ", ".join(available(f"presets/{kind}", ".yaml")) or "none"
        raise ConfigError(f"{where}: {key}: unknown preset {name!r}; available: {names}")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of {kind[:-1]} settings")
    return data
