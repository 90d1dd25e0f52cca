"""Scores computed by other tools, written into a run's scores folder beside our own.

The readers (arena.imports.lm_eval, arena.imports.evalscope) turn a results file into
`SummaryRow`s whose style names the tool and its metric (`lm-eval:acc`, `evalscope:AverageAccuracy`),
so a reader of summary.csv always sees where a figure came from; this module names the model and
merges the rows in.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from arena.errors import ConfigError, DataError
from arena.scoring.rows import SummaryRow, merge_summary

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def model_label(model_id: str) -> str:
    """Our name for a model known by a hub id or path: its last component, in the characters our
    model names allow ('EleutherAI/pythia-160m' -> 'pythia-160m')."""
    last = model_id.rstrip("/").split("/")[-1]
    label = _UNSAFE.sub("-", last).strip("-.")
    return label or "model"


def check_model_name(name: str, option: str = "--model") -> str:
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$", name):
        raise ConfigError(f"{option}: {name!r} must start with a letter or digit and hold only letters, digits, '.', '_', '+' or '-'")
    return name


def number(value: Any) -> float | None:
    """A finite number, or None for anything else (lm-eval writes 'N/A' for a missing stderr)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def write_imported(run_dir: Path, rows: list[SummaryRow], subject_rows: list[SummaryRow] | None = None) -> int:
    """Merge rows into <run>/scores/summary.csv (and per-subject rows into subjects.csv),
    replacing earlier imports of the same model, benchmark, style and metric scored the same way
    (shots and setting); a result scored another way is kept beside it. Returns how many rows
    were written."""
    scores = Path(run_dir) / "scores"
    merge_summary(scores / "summary.csv", rows)
    if subject_rows:
        merge_summary(scores / "subjects.csv", subject_rows)
    return len(rows) + len(subject_rows or [])


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON file holding one object; a missing file, bad JSON or another shape is a DataError
    naming the file and what was expected (`what`: the tool's format)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object ({what})")
    return data
