"""Fixtures for the rating tests: AlpacaEval's published judgments from ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from arena.battle_log import read_battle_log

REPO = Path(__file__).resolve().parents[2]
WEIGHTED = "weighted_alpaca_eval_gpt4_turbo"


def shared_data() -> Path:
    return Path(os.environ.get("ARENA_SHARED_DATA", REPO / ".." / "shared" / "data"))


@pytest.fixture(scope="session")
def alpaca_dir() -> Path:
    folder = shared_data() / "alpaca-eval"
    if not (folder / "preferences.csv.gz").exists():
        pytest.skip(f"AlpacaEval data not found at {folder} (../shared/data is absent; set ARENA_SHARED_DATA)")
    return folder


@pytest.fixture(scope="session")
def weighted_battles(alpaca_dir: Path) -> pd.DataFrame:
    """The weighted GPT-4 Turbo annotator's battles (fractional outcomes), read once."""
    return read_battle_log(alpaca_dir / "preferences.csv.gz", "preferences-csv", annotator=WEIGHTED).battles
