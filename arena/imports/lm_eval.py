"""lm-evaluation-harness results files -> rows of a run's scores/summary.csv.

The harness writes one JSON file per run (`results_<timestamp>.json`, or `results.json` in older
versions) with:
- `results`: task -> {"<metric>,<filter>": value, "<metric>_stderr,<filter>": stderr, "alias": ...}
  (versions before 0.4 wrote bare "<metric>" / "<metric>_stderr"); groups such as `mmlu` appear
  beside their subtasks;
- `n-samples`: task -> {"original": n, "effective": n} (newer versions);
- `group_subtasks`: group -> subtasks (to count a group's samples);
- `model_name`, or `config.model_args` ("pretrained=org/name,dtype=...").

Each numeric metric of each task becomes one row: benchmark = the task, style = `lm-eval:<metric>`
(`lm-eval:<metric>,<filter>` where the filter is not `none`), metric = the metric's name,
ci = value +- 1.96 stderr where the harness gives a stderr, n = the task's effective samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.scoring.imported import (
    check_model_name,
    model_label,
    number,
    read_json_object,
    write_imported,
)
from arena.scoring.rows import SummaryRow
from arena.scoring.stats import normal_interval

_NOT_METRICS = {"alias", "name", "sample_len", "samples", "sample_count"}


def import_scores(path: str | Path, run_dir: str | Path, model: str | None = None) -> int:
    """Read an lm-evaluation-harness results file (or every `results*.json` under a folder, as
    `--output_path` leaves them, oldest first) into `run_dir`'s scores folder; returns the
    number of rows written."""
    path = Path(path)
    files = sorted(path.rglob("results*.json")) if path.is_dir() else [path]
    if not files:
        raise DataError(f"{path}: no results*.json files in the folder")
    written = 0
    for file in files:
        data = read_json_object(file, "lm-evaluation-harness results")
        rows = read_results(data, "", str(file))  # the format first, then whose results they are
        if not rows:
            raise DataError(f"{file}: results: no numeric metrics to import")
        name = check_model_name(model) if model else _model_name(data, file)
        for row in rows:
            row.model = name
        written += write_imported(Path(run_dir), rows)
    return written


def read_results(data: dict[str, Any], model: str, where: str = "results file") -> list[SummaryRow]:
    """Rows for every numeric metric of every task in a parsed results file."""
    results = data.get("results")
    if not isinstance(results, dict) or not results:
        raise DataError(f"{where}: results: expected a mapping of task names to metrics (lm-evaluation-harness format)")
    counts = _sample_counts(data)
    rows = []
    for task, metrics in results.items():
        if not isinstance(metrics, dict):
            raise DataError(f"{where}: results.{task}: expected a mapping of metrics")
        for key, raw in metrics.items():
            metric, _, filt = key.partition(",")
            value = number(raw)
            if value is None or metric in _NOT_METRICS or metric.endswith("_stderr"):
                continue
            stderr_key = f"{metric}_stderr,{filt}" if filt else f"{metric}_stderr"
            stderr = number(metrics.get(stderr_key))
            low, high = normal_interval(value, stderr) if stderr is not None else (None, None)
            style = f"lm-eval:{metric}" if filt in ("", "none") else f"lm-eval:{metric},{filt}"
            rows.append(SummaryRow(model=model, benchmark=task, style=style, metric=metric, value=value,
                                   n=counts.get(task), ci_low=low, ci_high=high))
    return rows


def _sample_counts(data: dict[str, Any]) -> dict[str, int]:
    """Effective samples per task; a group's is the sum over its subtasks (recursively)."""
    counts: dict[str, int] = {}
    for task, entry in (data.get("n-samples") or {}).items():
        if isinstance(entry, dict):
            n = entry.get("effective", entry.get("original"))
            if isinstance(n, int) and not isinstance(n, bool):
                counts[task] = n
    groups = data.get("group_subtasks") or {}

    def total(task: str, seen: frozenset[str]) -> int | None:
        if task in counts:
            return counts[task]
        subtasks = groups.get(task)
        if not subtasks or task in seen:
            return None
        parts = [total(sub, seen | {task}) for sub in subtasks]
        return sum(parts) if all(p is not None for p in parts) else None  # type: ignore[misc]

    for group in groups:
        n = total(group, frozenset())
        if n is not None:
            counts[group] = n
    return counts


def _model_name(data: dict[str, Any], path: Path) -> str:
    model_id = data.get("model_name")
    if not model_id:
        args = (data.get("config") or {}).get("model_args")
        if isinstance(args, dict):
            model_id = args.get("pretrained") or args.get("model")
        elif isinstance(args, str):
            for part in args.split(","):
                key, _, value = part.partition("=")
                if key.strip() in ("pretrained", "model") and value.strip():
                    model_id = value.strip()
                    break
    if not model_id or not isinstance(model_id, str):
        raise DataError(f"{path}: no model name in the file (model_name, config.model_args); name it with --model")
    return model_label(model_id)
