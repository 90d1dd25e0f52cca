"""A dry-run output the dashboard tests share (built once per session in a temporary folder):
four simulated models on the tiny question set, a pairwise judge and a single-grading judge,
two small benchmarks, and one answer carrying HTML/script payloads."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from arena.config import load_config
from arena.pipeline import plan_run, run_pipeline

REPO = Path(__file__).resolve().parents[2]
VIZ = REPO / "viz.py"
# Run in a page: set document.title / window variables when they execute.
XSS_SCRIPT = "<script>document.title='PWNED-SCRIPT';window.__pwned=1</script>"
XSS_IMG = "<img src=x onerror=\"document.title='PWNED-IMG';window.__pwned=2\">"
PAYLOAD = f"Here is my answer. {XSS_SCRIPT} and an image {XSS_IMG} done."


def shown(markdown: str) -> str:
    """The text a markdown string shows: backslash escapes resolved, hard breaks as newlines."""
    text = markdown.replace("\\\n", "\n").replace("\u2060", "")  # the joiner safe.py puts in bare links
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def dry_run_config(out_dir: Path) -> dict:
    return {
        "name": "dash",
        "output_dir": str(out_dir),
        "dry_run": True,
        "seed": 0,
        "questions": "tiny",
        "stages": ["answers", "reviews", "ratings", "scores"],
        "models": [
            {"name": "m1", "provider": "simulated", "simulated": {"strength": 1150}},
            {"name": "m2", "provider": "simulated", "simulated": {"strength": 1050, "verbosity": 1.4}},
            {"name": "m3", "provider": "simulated", "simulated": {"strength": 950}},
            {"name": "m4", "provider": "simulated", "simulated": {"strength": 850}},
        ],
        "judges": [
            {"name": "pj", "provider": "simulated", "mode": "pairwise-all", "simulated": {"position_bias": 80, "tie_rate": 0.2}},
            {"name": "grader", "provider": "simulated", "mode": "single", "template": "single-rating"},
        ],
        "benchmarks": [
            {"name": "tiny_mc", "source": "tiny_mc", "kind": "multiple_choice", "styles": ["letter_logprob"]},
            {"name": "tiny_em", "source": "tiny_em", "kind": "exact_match"},
        ],
        "ratings": {"bootstrap": 50, "workers": 1},
    }


def build_run(out_dir: Path, config_dir: Path) -> Path:
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / "config.yaml"
    path.write_text(yaml.safe_dump(dry_run_config(out_dir), sort_keys=False), encoding="utf-8")
    run_pipeline(plan_run(load_config(path)))
    return out_dir


def put_payload(run: Path) -> None:
    """m1's answer to question t1, turn 1, becomes the XSS payload."""
    path = run / "answers" / "m1.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        if str(row["question_id"]) == "t1":
            row["choices"][0]["turns"][0] = PAYLOAD
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="session")
def dash_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared dry-run folder (tests must not modify it; copy it first)."""
    base = tmp_path_factory.mktemp("dashboard")
    run = build_run(base / "runs" / "dash", base / "configs")
    put_payload(run)
    # A second run beside it, with shifted ratings, for the compare view.
    other = base / "runs" / "dash-before"
    (other / "ratings").mkdir(parents=True)
    board = (run / "ratings" / "leaderboard.csv").read_text(encoding="utf-8")
    shutil.copy(run / "run.json", other / "run.json")
    import pandas as pd

    frame = pd.read_csv(run / "ratings" / "leaderboard.csv")
    frame["rating"] = frame["rating"] - 10.0
    frame.to_csv(other / "ratings" / "leaderboard.csv", index=False)
    assert board
    return run


@pytest.fixture
def copy_run(dash_run: Path, tmp_path: Path):
    """A private copy of the shared run, to break files in."""

    def _copy() -> Path:
        target = tmp_path / "runs" / "dash"
        shutil.copytree(dash_run, target)
        return target

    return _copy


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch):
    """An AppTest of viz.py with the given command-line arguments and ?view=."""
    from streamlit.testing.v1 import AppTest

    def _app(*argv: str, view: str | None = None, params: dict[str, str] | None = None):
        monkeypatch.setattr(sys, "argv", ["viz.py", *argv])
        at = AppTest.from_file(str(VIZ), default_timeout=60)
        if view:
            at.query_params["view"] = view
        for name, value in (params or {}).items():
            at.query_params[name] = value
        return at.run()

    return _app
