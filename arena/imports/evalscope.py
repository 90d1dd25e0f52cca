"""EvalScope report files -> rows of a run's scores/summary.csv and scores/subjects.csv.

EvalScope writes one report per model and dataset, `outputs/<time>/reports/<model>/<dataset>.json`:

    {"name": ..., "dataset_name": "mmlu", "model_name": "qwen2.5-7b-instruct", "score": 0.71,
     "metrics": [{"name": "AverageAccuracy", "num": 14042, "score": 0.71, "macro_score": 0.70,
                  "categories": [{"name": ["STEM"], "num": ..., "score": ...,
                                  "subsets": [{"name": "abstract_algebra", "score": 0.45, "num": 100}]}]}]}

(older versions write a category's `name` as a string). Each metric becomes one summary row:
benchmark = `dataset_name`, style = `evalscope:<metric>`, metric = the metric's name, value =
its (micro-averaged) score, n = its `num`. Each subset becomes a row of subjects.csv, benchmark
`<dataset>/<subset>`. EvalScope reports no spread, so the interval columns stay empty. A path
to a folder imports every report under it.

The report says nothing of how it was scored; the run's task config beside it does
(`<time>/configs/task_config.yaml`, or `task_config_<hash>.yaml` in older releases): the dataset's
`few_shot_num` in `dataset_args.<dataset>` (or `resolved_benchmarks.<dataset>` in the newest
layout) becomes the rows' n_shot, and `eval_type` (an API model, whose server applies its own chat
template, or a local checkpoint, templated when its tokenizer has one) and a custom
`chat_template` their setting. Without a task config those stay unknown (empty).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from arena.errors import DataError
from arena.scoring.imported import (
    check_model_name,
    model_label,
    number,
    read_json_object,
    write_imported,
)
from arena.scoring.rows import SummaryRow, setting_text


def import_scores(path: str | Path, run_dir: str | Path, model: str | None = None) -> int:
    """Read an EvalScope report (or every report under a folder) into `run_dir`'s scores
    folder; returns the number of rows written."""
    path = Path(path)
    if path.is_dir():
        files = [f for f in sorted(path.rglob("*.json")) if _looks_like_report(f)]
        if not files:
            raise DataError(f"{path}: no EvalScope report files (JSON with dataset_name and metrics) in the folder")
    else:
        files = [path]
    rows: list[SummaryRow] = []
    subjects: list[SummaryRow] = []
    for file in files:
        data = read_json_object(file, "EvalScope report")
        report_rows, subset_rows = read_report(data, "", str(file))  # the format first
        if not model and not data.get("model_name"):
            raise DataError(f"{file}: model_name: missing; name the model with --model")
        name = check_model_name(model) if model else model_label(str(data["model_name"]))
        shots, setting = scoring_setting(file, str(data["dataset_name"]))
        for row in report_rows + subset_rows:
            row.model = name
            row.n_shot, row.setting = shots, setting
        rows += report_rows
        subjects += subset_rows
    return write_imported(Path(run_dir), rows, subjects)


def read_report(data: dict[str, Any], model: str, where: str = "report") -> tuple[list[SummaryRow], list[SummaryRow]]:
    """(summary rows, per-subset rows) of one parsed report."""
    dataset = data.get("dataset_name")
    metrics = data.get("metrics")
    if not isinstance(dataset, str) or not dataset:
        raise DataError(f"{where}: dataset_name: expected the dataset's name (EvalScope report format)")
    if not isinstance(metrics, list) or not metrics:
        raise DataError(f"{where}: metrics: expected a non-empty list (EvalScope report format)")
    rows, subsets = [], []
    for i, metric in enumerate(metrics):
        if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
            raise DataError(f"{where}: metrics[{i}]: expected a mapping with a name")
        name = metric["name"]
        style = f"evalscope:{name}"
        value = number(metric.get("score"))
        if value is None:
            raise DataError(f"{where}: metrics[{i}].score: expected a number")
        rows.append(SummaryRow(model=model, benchmark=dataset, style=style, metric=name, value=value,
                               n=_count(metric.get("num"))))
        for j, category in enumerate(metric.get("categories") or []):
            for k, subset in enumerate((category or {}).get("subsets") or []):
                score = number((subset or {}).get("score"))
                label = (subset or {}).get("name")
                if score is None or not isinstance(label, str):
                    raise DataError(f"{where}: metrics[{i}].categories[{j}].subsets[{k}]: expected a name and a score")
                if subset.get("is_aggregate"):
                    continue  # EvalScope's derived summary subsets, not real ones
                subsets.append(SummaryRow(model=model, benchmark=f"{dataset}/{label}", style=style, metric=name,
                                          value=score, n=_count(subset.get("num"))))
    return rows, subsets


def task_configs(report: Path) -> list[Path]:
    """The task config files of the run a report belongs to (`<time>/reports/<model>/<dataset>.json`
    -> `<time>/configs/task_config*.yaml`)."""
    folder = report.resolve().parent.parent.parent / "configs"
    return sorted(folder.glob("task_config*.yaml")) if folder.is_dir() else []


def scoring_setting(report: Path, dataset: str) -> tuple[int | None, str]:
    """(few-shot count, setting) of a report's dataset from its run's task config; (None, '')
    where there is none or the configs disagree."""
    found: set[tuple[int | None, str]] = set()
    for path in task_configs(report):
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not a readable task config ({exc})") from None
        if not isinstance(config, dict):
            continue
        args = None
        for section in ("resolved_benchmarks", "dataset_args"):
            entry = (config.get(section) or {}).get(dataset) if isinstance(config.get(section), dict) else None
            if isinstance(entry, dict) and "few_shot_num" in entry:
                args = entry
                break
        datasets = config.get("datasets")
        if args is None and not (isinstance(datasets, list) and dataset in datasets):
            continue  # another run's config, or one that never names this dataset
        shots = _count((args or {}).get("few_shot_num"))
        setting = setting_text({
            "eval_type": config.get("eval_type") if isinstance(config.get("eval_type"), str) else None,
            "chat_template": "custom" if config.get("chat_template") else None,
        })
        found.add((shots, setting))
    return found.pop() if len(found) == 1 else (None, "")


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _looks_like_report(file: Path) -> bool:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and "dataset_name" in data and isinstance(data.get("metrics"), list)
