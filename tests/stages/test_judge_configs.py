"""The shipped judge configs (OpenAI, Anthropic, local OpenAI-compatible) load, and run dry."""

from __future__ import annotations

import json

import pytest
import yaml

from arena.cli import main
from arena.config import load_config
from tests.conftest import REPO

CONFIGS = {"judge_openai": "openai", "judge_anthropic": "anthropic", "judge_local": "openai_compatible"}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_judge_config_loads_and_dry_runs(name, tmp_path):
    path = REPO / "configs" / f"{name}.yaml"
    config = load_config(path)
    assert config.judges[0].provider == CONFIGS[name] and not config.dry_run
    data = yaml.safe_load(path.read_text())
    data["output_dir"] = str(tmp_path / "run")
    data["questions"] = {"source": "mt_bench", "limit": 3}
    data["ratings"]["bootstrap"] = 20
    small = tmp_path / f"{name}.yaml"
    small.write_text(yaml.safe_dump(data))
    assert main(["run", "-c", str(small), "--dry-run", "--stages", "answers,reviews,ratings"]) == 0
    summary = json.loads((tmp_path / "run-dryrun" / "summary.json").read_text())
    judge = config.judges[0].name
    assert summary["reviews"][judge]["reviews"] > 0 and summary["reviews"][judge]["failed"] == 0


@pytest.mark.parametrize("name,env", [("judge_openai", "OPENAI_API_KEY"), ("judge_anthropic", "ANTHROPIC_API_KEY")])
def test_judge_config_without_key_stops_with_one_line(name, env, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(env, raising=False)
    data = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
    data["output_dir"] = str(tmp_path / "run")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert main(["run", "-c", str(path), "--stages", "reviews"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and env in err[0]
    assert not (tmp_path / "run" / "reviews").exists()


def test_jury_config_dry_runs_with_its_jury(tmp_path):
    path = REPO / "configs" / "jury.yaml"
    config = load_config(path)
    assert config.jury is not None and config.jury.judges == [j.name for j in config.judges]
    data = yaml.safe_load(path.read_text())
    data["output_dir"] = str(tmp_path / "run")
    data["questions"] = {"source": "mt_bench", "limit": 3}
    data["ratings"]["bootstrap"] = 20
    small = tmp_path / "jury.yaml"
    small.write_text(yaml.safe_dump(data))
    assert main(["run", "-c", str(small), "--dry-run"]) == 0
    summary = json.loads((tmp_path / "run-dryrun" / "summary.json").read_text())
    assert summary["reviews"]["jury"]["games"] == 3 * 2 * 6 * 2
    assert len(summary["judge_agreement"]["pairwise"]["pairs"]) == 3
    assert json.loads((tmp_path / "run-dryrun" / "ratings" / "summary.json").read_text())["main_judges"] == ["jury"]
