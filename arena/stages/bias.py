"""The bias report of a run's judges, written into summary.json (section "bias").

The reviews stage calls `run_bias` once its battles are rebuilt; imports call `write_bias` with
the records they just wrote. The math is arena.judging.bias; fields are listed in docs/BIAS.md.
"""

from __future__ import annotations

from typing import Any

from arena.config import RunConfig, family_of
from arena.judging.bias import bias_reports
from arena.records import Battle, Review
from arena.rundir import RunDir
from arena.store import read_records


def read_reviews(run: RunDir, judge: str) -> list[Review]:
    """Every line of a judge's reviews file (none yet: empty)."""
    path = run.reviews(judge)
    return read_records(path, Review) if path.exists() else []


def write_bias(
    run: RunDir,
    reviews_by_judge: dict[str, list[Review]],
    battles: list[Battle],
    *,
    position_known: dict[str, bool] | None = None,
    judge_families: dict[str, str | None] | None = None,
    model_families: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Compute every judge's report and store it as the summary's "bias" section."""
    report = bias_reports(
        reviews_by_judge, battles,
        position_known=position_known, judge_families=judge_families, model_families=model_families,
    )
    run.update_summary("bias", report)
    return report


def run_bias(config: RunConfig, run: RunDir, battles: list[Battle],
             reviews: dict[str, list[Review]] | None = None) -> dict[str, Any]:
    """The report for a pipeline run: the configured judges' reviews (read from the run unless
    the caller has just read them), families from the config."""
    if reviews is None:
        reviews = {judge.name: read_reviews(run, judge.name) for judge in config.judges}
    return write_bias(
        run, reviews, battles,
        judge_families={j.name: family_of(j.family, j.model) for j in config.judges},
        model_families={m.name: family_of(m.family, m.model) for m in config.models},
    )
