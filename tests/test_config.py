"""Config validation: every bad config stops before any work, with one line naming the file,
the key path and what is expected, and exit code 2."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from arena.cli import main
from arena.config import load_config
from tests.conftest import base_config


def _set(config: dict, path: str, value: object) -> dict:
    """Set a dotted path ('judges.0.mode') in a nested config, creating mappings as needed."""
    config = copy.deepcopy(config)
    node = config
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return config


_DELETE = object()

# (case id, dotted path to change, new value, text the error must contain)
BAD_CONFIGS = [
    ("unknown top-level key", "judgez", [], "judgez: unknown key"),
    ("unknown model key", "models.0.temprature", 0.5, "models[0].temprature: unknown key"),
    ("typo gets a suggestion", "ratings.bootstrp", 10, "did you mean 'bootstrap'"),
    ("wrong type: bootstrap string", "ratings.bootstrap", "many", "ratings.bootstrap: expected an integer"),
    ("wrong type: bool for int", "ratings.bootstrap", True, "ratings.bootstrap: expected an integer"),
    ("wrong type: models mapping", "models", {"name": "x"}, "models: expected a list"),
    ("missing question file", "questions", "no/such/file.jsonl", "questions: 'no/such/file.jsonl' is neither a registry question set"),
    ("baseline not a candidate", "judges.0", {"name": "j", "provider": "simulated", "mode": "pairwise-baseline", "baseline": "gpt-9"}, "judges[0].baseline: 'gpt-9' is not a candidate"),
    ("baseline missing", "judges.0", {"name": "j", "provider": "simulated", "mode": "pairwise-baseline"}, "judges[0].baseline: required"),
    ("baseline with another mode", "judges.0.baseline", "m1", "judges[0].baseline: only used with mode 'pairwise-baseline'"),
    ("duplicate model name", "models.1.name", "m1", "models[1].name: duplicate model name 'm1'"),
    ("mode that does not exist", "judges.0.mode", "pairwise", "judges[0].mode: expected one of 'single', 'pairwise-baseline', 'pairwise-all'"),
    ("missing provider", "models.0.provider", _DELETE, "models[0].provider: required key is missing"),
    ("unknown provider", "models.0.provider", "huggingface", "models[0].provider: expected one of"),
    ("temperature out of range", "models.0.generation", {"temperature": 3.0}, "models[0].generation.temperature: expected a number between 0 and 2"),
    ("max_tokens zero", "judges.0.generation", {"max_tokens": 0}, "judges[0].generation.max_tokens: expected an integer >= 1"),
    ("anchor not a candidate", "ratings.anchor", {"model": "zz", "rating": 1000}, "ratings.anchor.model: 'zz' is not a candidate"),
    ("unknown template", "judges.0.template", "no-such-template", "judges[0].template: unknown judge template 'no-such-template'"),
    ("template kind mismatch", "judges.0.template", "single-rating", "judges[0].template: 'single-rating' is a single template"),
    ("turn beyond the questions", "judges.0.turns", [3], "judges[0].turns: turn 3 asked"),
    ("model name with a slash", "models.0.name", "org/model", "models[0].name: 'org/model' must start with a letter or digit"),
    ("pairs_per_question with baseline mode", "judges.0", {"name": "j", "provider": "simulated", "mode": "pairwise-baseline", "baseline": "m1", "pairs_per_question": 2}, "judges[0].pairs_per_question: only used with mode 'pairwise-all'"),
    ("openai_compatible without base_url", "judges.0", {"name": "j", "provider": "openai_compatible", "model": "x", "mode": "single"}, "judges[0].client.base_url: required"),
    ("unknown stage", "stages", ["answers", "judging"], "stages[1]: expected one of 'answers', 'reviews', 'ratings'"),
    ("unknown category", "questions", {"source": "tiny", "categories": ["poetry"]}, "questions.categories: poetry not in"),
    ("api_key_env holding a key", "judges.0", {"name": "j", "provider": "openai", "model": "gpt-4o", "mode": "single", "client": {"api_key_env": "sk-abc123"}}, "judges[0].client.api_key_env: expected the name of an environment variable"),
    # Keys that are valid variable names too (Groq's, Fireworks'): refused, and never echoed.
    ("api_key_env holding a groq key", "judges.0", {"name": "j", "provider": "openai", "model": "gpt-4o", "mode": "single", "client": {"api_key_env": "gsk_4fQ9zLr2Xv8TqW1nB7mKp3HdYs6Ue0Ja"}}, "judges[0].client.api_key_env: expected the name of an environment variable, not a key"),
    ("api_key_env holding a mixed-case key", "judges.0", {"name": "j", "provider": "openai", "model": "gpt-4o", "mode": "single", "client": {"api_key_env": "Zq8LmX2vR7tYp4Kc9Wn3Hb6Jd1Fs5Ga"}}, "judges[0].client.api_key_env: expected the name of an environment variable, not a key"),
    ("duplicate judge name", "judges", [{"name": "j", "provider": "simulated", "mode": "single"}, {"name": "j", "provider": "simulated", "mode": "single"}], "judges[1].name: duplicate judge name 'j'"),
    ("tie rate not a probability", "judges.0.simulated", {"tie_rate": 1.5}, "judges[0].simulated.tie_rate: expected a probability"),
    ("no models", "models", [], "models: expected at least one candidate model"),
    ("pairwise with one model", "models", [{"name": "solo", "provider": "simulated"}], "judges[0].mode: 'pairwise-all' needs at least two candidate models"),
    ("anthropic weighting", "judges.0", {"name": "j", "provider": "anthropic", "model": "claude-x", "mode": "single", "verdict_weighting": "probability"}, "judges[0].verdict_weighting: 'probability' needs token log-probabilities"),
    ("unknown constraint", "judges.0", {"name": "j", "provider": "vllm", "model": "x", "mode": "single", "verdict_constraint": "regex"}, "judges[0].verdict_constraint"),
    ("judge vllm url offline", "judges.0", {"name": "j", "provider": "vllm", "model": "x", "mode": "single", "vllm": {"url": "http://h:1"}}, "judges[0].vllm.url: only used with vllm.mode 'server'"),
    ("negative bootstrap", "ratings.bootstrap", -1, "ratings.bootstrap: expected an integer >= 0"),
    ("negative seed", "ratings.seed", -1, "ratings.seed: expected an integer >= 0"),
    ("not a finite number", "ratings.elo_k", float("nan"), "ratings.elo_k: expected a finite number"),
    ("typo inside a questions mapping", "questions", {"sourc": "tiny"}, "questions.sourc: unknown key; did you mean 'source'"),
    ("bad gpu memory fraction", "models.0.vllm", {"gpu_memory_utilization": 1.5}, "models[0].vllm.gpu_memory_utilization: expected a fraction"),
    ("unknown data-parallel backend", "judges.0", {"name": "j", "provider": "vllm", "model": "x", "mode": "single", "vllm": {"data_parallel_backend": "replica"}}, "judges[0].vllm.data_parallel_backend: expected one of 'auto', 'replicas', 'engine', got 'replica' (did you mean 'replicas'?)"),
    ("data-parallel backend in server mode", "judges.0", {"name": "j", "provider": "vllm", "model": "x", "mode": "single", "vllm": {"mode": "server", "data_parallel_backend": "replicas"}}, "judges[0].vllm.data_parallel_backend: only used with vllm.mode 'offline'"),
]


@pytest.mark.parametrize("case, path, value, expected", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_exits_2_naming_the_key(case, path, value, expected, tmp_path, write_config, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out_dir = tmp_path / "out"
    config = _set(base_config(out_dir), path, value)
    config_path = write_config(config)
    code = main(["run", "-c", str(config_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.count("\n") == 0, f"expected one line, got: {err}"
    assert str(config_path) in err
    assert expected in err
    assert not out_dir.exists(), "a bad config must stop before any work"
    for secret in ("gsk_4fQ9zLr2Xv8TqW1nB7mKp3HdYs6Ue0Ja", "Zq8LmX2vR7tYp4Kc9Wn3Hb6Jd1Fs5Ga", "sk-abc123"):
        assert secret not in err, "a key pasted into the config must not be echoed"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name: t\nmodels: [\n", "YAML syntax error"),
        ("- just\n- a list\n", "(top level): expected a mapping"),
        ("", "(top level): expected a mapping"),
    ],
)
def test_unparseable_config(text, expected, write_config, capsys):
    path = write_config(text)
    assert main(["run", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and expected in err


def test_missing_config_file(tmp_path, capsys):
    assert main(["run", "-c", str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_missing_api_key_is_caught_before_any_call(tmp_path, write_config, capsys, monkeypatch):
    monkeypatch.delenv("MY_JUDGE_KEY", raising=False)
    judge = {"name": "j", "provider": "openai", "model": "gpt-4o", "mode": "pairwise-all", "client": {"api_key_env": "MY_JUDGE_KEY"}}
    config = base_config(tmp_path / "out", dry_run=False, judges=[judge])
    path = write_config(config)
    assert main(["run", "-c", str(path), "--stages", "reviews"]) == 2
    err = capsys.readouterr().err
    assert "judges[0].client.api_key_env: environment variable MY_JUDGE_KEY is not set" in err
    assert not (tmp_path / "out").exists()


def test_dry_run_needs_no_key_and_writes_beside_the_real_run(tmp_path, write_config, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    judge = {"name": "j", "provider": "openai", "model": "gpt-4o", "mode": "pairwise-all"}
    path = write_config(base_config(tmp_path / "out", dry_run=False, judges=[judge]))
    config = load_config(path, dry_run=True)
    assert config.dry_run
    assert Path(config.output_dir) == tmp_path / "out-dryrun"


def test_defaults_fill_in(write_config, tmp_path):
    config = load_config(write_config(base_config(tmp_path / "o")))
    judge = config.judges[0]
    assert judge.template_name == "pairwise-abc"
    assert judge.generation.temperature == 0.0  # judges default to greedy
    assert config.models[0].generation.temperature is None  # candidates: per-category default
    assert config.stages == ["answers", "reviews", "ratings"]


@pytest.mark.parametrize(
    "explicit, model_id, family",
    [
        ("mine", "gpt-4o", "mine"),
        (None, "gpt-4o-2024-08-06", "openai"),
        (None, "claude-3-5-sonnet-20241022", "anthropic"),
        (None, "meta-llama/Llama-3.1-8B-Instruct", "llama"),
        (None, "Qwen/Qwen2-7B-Instruct", "qwen"),
        (None, "/models/my-finetune", None),
        (None, None, None),
    ],
)
def test_model_families_for_the_self_preference_report(explicit, model_id, family):
    from arena.config import family_of

    assert family_of(explicit, model_id) == family


def test_questions_are_needed_only_by_answers_and_reviews(tmp_path, write_config, capsys):
    config = base_config(tmp_path / "out")
    del config["questions"]
    path = write_config(config)
    assert main(["run", "-c", str(path)]) == 2
    assert "questions: required for the answers and reviews stages" in capsys.readouterr().err
    assert load_config(path, stages=["ratings"]).questions is None


def test_presets_start_an_entry_and_its_own_keys_win(tmp_path, write_config):
    config = base_config(tmp_path / "o", dry_run=False)
    config["judges"] = [{"name": "j", "preset": "gpt-4o", "mode": "pairwise-all", "client": {"max_concurrency": 4}}]
    loaded = load_config(write_config(config), stages=["ratings"])
    judge = loaded.judges[0]
    assert (judge.provider, judge.model, judge.family) == ("openai", "gpt-4o", "openai")
    assert judge.client.max_concurrency == 4 and judge.client.requests_per_minute == 500


def test_unknown_preset_lists_the_available_ones(tmp_path, write_config, capsys):
    config = base_config(tmp_path / "o")
    config["judges"] = [{"name": "j", "preset": "gpt-9", "mode": "single"}]
    assert main(["run", "-c", str(write_config(config))]) == 2
    err = capsys.readouterr().err
    assert "judges[0].preset: unknown preset 'gpt-9'; available: " in err and "gpt-4o" in err


@pytest.mark.parametrize("layout", ["file", "under a file"])
def test_cache_dir_that_cannot_hold_the_cache_stops_before_any_call(layout, tmp_path, write_config, capsys):
    """Found after a paid call, it would pay without keeping the answer: checked up front."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    cache_dir = blocker if layout == "file" else blocker / "cache"
    out_dir = tmp_path / "out"
    config = base_config(out_dir, dry_run=False, cache_dir=str(cache_dir), stages=["reviews"])
    config["judges"] = [{"name": "j", "provider": "openai_compatible", "model": "x", "mode": "pairwise-all",
                         "client": {"base_url": "http://127.0.0.1:9/v1"}}]
    config_path = write_config(config)
    assert main(["run", "-c", str(config_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(config_path) in err
    assert f"cache_dir: {blocker} is not a folder" in err
    assert not out_dir.exists()
