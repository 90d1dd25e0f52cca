"""lm-evaluation-harness results files -> rows of a run's scores/summary.csv.

The harness writes one JSON file per run (`results_<timestamp>.json`, or `results.json` in older
versions) with:
- `results`: task -> {"<metric>,<filter>": value, "<metric>_stderr,<filter>": stderr, "alias": ...}
  (versions before 0.4 wrote bare "<metric>" / "<metric>_stderr"); groups such as `mmlu` appear
  beside their subtasks;
- `n-samples`: task -> {"original": n, "effective": n} (newer versions);
- `group_subtasks`: group -> subtasks (to count a group's samples);
- `model_name`, or `config.model_args` ("pretrained=org/name,dtype=...").

- `n-shot`: task -> the few-shot count used (groups: their first subtask's before 0.4.4, absent
  from 0.4.4 to 0.4.11, present where all subtasks agree from 0.4.12), and `configs`: task ->
  its config (`num_fewshot`);
- from 0.4.3, top-level `chat_template` (null: no chat template; the template's text, or "" for
  API models, when one was applied), `fewshot_as_multiturn` and `system_instruction`.

Each numeric metric of each task becomes one row: benchmark = the task, style = `lm-eval:<metric>`
(`lm-eval:<metric>,<filter>` where the filter is not `none`), metric = the metric's name,
ci = value +- 1.96 stderr where the harness gives a stderr, n = the task's effective samples,
n_shot = the task's few-shot count (a group's: its subtasks', where they agree), setting = the
chat-template flag and what goes with it, where the file records them (`chat_template=yes;
fewshot_as_multiturn=no`). A 0-shot and a 5-shot result of one task are two rows, never one.
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
from arena.scoring.rows import SummaryRow, setting_text
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
    setting = _chat_setting(data)
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
                                   n=counts.get(task), ci_low=low, ci_high=high,
                                   n_shot=shots_of(data, task), setting=setting))
    return rows


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def shots_of(data: dict[str, Any], task: str, seen: frozenset[str] = frozenset()) -> int | None:
    """The few-shot count of a task: `n-shot`, else its config's `num_fewshot`; for a group
    that records none, its subtasks' count where they all agree (None where they differ or
    nothing says)."""
    subtasks = (data.get("group_subtasks") or {}).get(task) or []
    if subtasks and task not in seen:
        counts = {shots_of(data, sub, seen | {task}) for sub in subtasks}
        if len(counts) == 1:
            return counts.pop()
        if len(counts) > 1:
            return None
    shots = _int((data.get("n-shot") or {}).get(task))
    if shots is None:
        config = (data.get("configs") or {}).get(task)
        shots = _int(config.get("num_fewshot")) if isinstance(config, dict) else None
    return shots


def _chat_setting(data: dict[str, Any]) -> str:
    """Whether a chat template was applied, and how few-shot examples and a system instruction
    went in, where the file records it (0.4.3 and later); '' for older files."""
    if "chat_template" not in data:
        return ""
    applied = data.get("chat_template") is not None
    return setting_text({
        "chat_template": applied,
        "fewshot_as_multiturn": bool(data.get("fewshot_as_multiturn")) if applied and "fewshot_as_multiturn" in data else None,
        "system_instruction": True if data.get("system_instruction") else None,
    })


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
