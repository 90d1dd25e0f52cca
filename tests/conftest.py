"""Shared fixtures: small runs built with the simulator, written to a temporary folder."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def base_config(out_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A small valid dry-run config: 3 simulated models, the tiny question set, one judge."""
    config: dict[str, Any] = {
        "name": "t",
        "output_dir": str(out_dir),
        "dry_run": True,
        "seed": 0,
        "questions": "tiny",
        "models": [
            {"name": "m1", "provider": "simulated", "simulated": {"strength": 1100}},
            {"name": "m2", "provider": "simulated", "simulated": {"strength": 1000}},
            {"name": "m3", "provider": "simulated", "simulated": {"strength": 900}},
        ],
        "judges": [{"name": "j", "provider": "simulated", "mode": "pairwise-all"}],
        "ratings": {"bootstrap": 50},
    }
    config.update(copy.deepcopy(overrides))
    return config


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a config mapping (or raw YAML text) to tmp_path and return its path."""

    def _write(data: dict[str, Any] | str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return _write
