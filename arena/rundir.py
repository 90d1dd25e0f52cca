"""The run folder: where each stage's files live, the run manifest and the run summary."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from arena import __version__
from arena.config import RunConfig
from arena.errors import ConfigError, DataError
from arena.store import write_json_atomic


class RunDir:
    """Paths inside one run's output folder (so no stage spells them out itself)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def answers(self, model: str) -> Path:
        return self.root / "answers" / f"{model}.jsonl"

    def reviews(self, judge: str) -> Path:
        return self.root / "reviews" / f"{judge}.jsonl"

    @property
    def battles(self) -> Path:
        return self.root / "battles.jsonl"

    @property
    def ratings(self) -> Path:
        return self.root / "ratings"

    @property
    def scores(self) -> Path:
        return self.root / "scores"

    @property
    def manifest(self) -> Path:
        return self.root / "run.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    def read_summary(self) -> dict[str, Any]:
        if not self.summary.exists():
            return {}
        try:
            data = json.loads(self.summary.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{self.summary}: not valid JSON ({exc.msg} at line {exc.lineno}); delete it to rebuild") from None
        return data if isinstance(data, dict) else {}

    def update_summary(self, section: str, data: Any) -> None:
        """Replace one stage's section of summary.json, keeping the others."""
        summary = self.read_summary()
        summary[section] = data
        summary["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        write_json_atomic(self.summary, summary)


def prepare_run_dir(config: RunConfig) -> RunDir:
    """Create the output folder and its manifest, refusing to mix dry-run and real records."""
    run = RunDir(config.out_dir)
    run.root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files(run.root)
    if run.manifest.exists():
        try:
            manifest = json.loads(run.manifest.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise DataError(f"{run.manifest}: not valid JSON; restore or delete it") from None
        if bool(manifest.get("dry_run")) != config.dry_run:
            kind = "a dry run" if manifest.get("dry_run") else "a real run"
            raise ConfigError(
                f"{config.source_path}: output_dir: {run.root} holds {kind}'s records; "
                "choose another output_dir so simulated and real records never mix"
            )
        return run
    write_json_atomic(
        run.manifest,
        {
            "name": config.name,
            "dry_run": config.dry_run,
            "config": str(config.source_path),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "arena_version": __version__,
        },
    )
    return run


def _remove_stale_temp_files(root: Path) -> None:
    """Temporary files of atomic writes that a killed run left behind (never a finished file)."""
    for tmp in root.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
