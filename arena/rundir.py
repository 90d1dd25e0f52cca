"""The run folder: where each stage's files live, the run manifest and the run summary."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from arena import __version__
from arena.config import RunConfig
from arena.errors import ConfigError, DataError
from arena.provenance import HISTORY, merge
from arena.store import write_json_atomic


class RunDir:
    """Paths inside one run's output folder (so no stage spells them out itself)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock: Any = None

    def lock(self) -> None:
        """Hold the folder's lock: two runs on one folder would pay twice for every call and race
        on the derived files. Released by `release()` or when the process ends."""
        handle = open(self.root / ".lock", "a+")  # noqa: SIM115 - held open while the run lasts
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ConfigError(f"{self.root}: another arena run is using this folder; wait for it or choose another output_dir") from None
        self._lock = handle

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def answers(self, model: str) -> Path:
        return self.root / "answers" / f"{model}.jsonl"

    def reviews(self, judge: str) -> Path:
        return self.root / "reviews" / f"{judge}.jsonl"

    def batch_journal(self, stage: str, name: str) -> Path:
        """The record of a stage's batch jobs for one model or judge (client.batch)."""
        return self.root / "batches" / f"{stage}-{name}.jsonl"

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
    """Create the output folder and its manifest, refusing to mix dry-run and real records and
    to share the folder with another run in progress (the lock lasts until `run.release()`)."""
    run = RunDir(config.out_dir)
    run.root.mkdir(parents=True, exist_ok=True)
    run.lock()
    _remove_stale_temp_files(run.root)
    if run.manifest.exists():
        try:
            manifest = read_manifest(run)
        except DataError:
            run.release()
            raise
        if bool(manifest.get("dry_run")) != config.dry_run:
            kind = "a dry run" if manifest.get("dry_run") else "a real run"
            run.release()
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
            "config": str(config.source_path.resolve()),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "arena_version": __version__,
        },
    )
    return run


def record_provenance(run: RunDir, block: dict[str, Any], status: str) -> None:
    """Write `block` (arena.provenance.build_provenance) into run.json's `provenance`, keeping the
    sections it lacks from the last recording, and note it in `history`: one entry per
    invocation, its status updated from "started" when the stages end."""
    manifest = read_manifest(run)
    block = merge(manifest.get("provenance"), block)
    history = [h for h in manifest.get("history") or [] if isinstance(h, dict)]
    entry = {"recorded": block["recorded"], "stages": block["stages"], "config_sha256": block["config_sha256"],
             "arena_version": block["arena_version"], "status": status}
    if status != "started" and history and history[-1].get("status") == "started" and history[-1].get("pid") == os.getpid():
        entry["started"] = history[-1]["recorded"]
        history[-1] = entry
    else:
        history.append(entry)
    if status == "started":
        entry["pid"] = os.getpid()
    else:
        entry.pop("pid", None)
    manifest["provenance"] = block
    manifest["history"] = history[-HISTORY:]
    write_json_atomic(run.manifest, manifest)


def read_manifest(run: RunDir) -> dict[str, Any]:
    """run.json as a mapping ({} where there is none); DataError where it is not one."""
    try:
        manifest = json.loads(run.manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError:
        raise DataError(f"{run.manifest}: not valid JSON; restore or delete it") from None
    if not isinstance(manifest, dict):
        raise DataError(f"{run.manifest}: expected a JSON object (the run's manifest); restore or delete it")
    return manifest


def _remove_stale_temp_files(root: Path) -> None:
    """Temporary files of atomic writes that a killed run left behind (never a finished file)."""
    for tmp in root.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
