"""`arena diff`: what changed between two runs (hand-made provenance and real runs), and the
paired test of each model's rating change (hand-checked cases and calibration)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.special import expit

from arena.cli import main
from arena.rating.bt import fit_bt
from arena.rating.counts import aggregate, pair_totals
from arena.rating.paired import paired_runs_bootstrap, question_sums
from arena.run_diff import (
    _aligned_questions,
    config_changes,
    flatten,
    holm_adjust,
    provenance_changes,
    question_overlap,
    rating_changes,
)
from arena.significance import paired_log

from .conftest import base_config
from .test_significance import frame

NAMES = ["a", "b", "c", "d"]


def runs_of(seed: int, questions: int = 40, shift: float = 0.0, spread: float = 1.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two runs of pairwise-all over four models on the same questions: each question moves
    every model's strength by a draw shared by both runs (the question's own character), and
    run B adds `shift` to model b."""
    rng = np.random.default_rng(seed)
    strength = np.array([0.5, 0.0, 0.0, -0.5])
    offsets = rng.normal(0.0, spread, (questions, 4))
    out = []
    for bump in (0.0, shift):
        rows = []
        for q in range(questions):
            s = strength + offsets[q] + np.array([0.0, bump, 0.0, 0.0])
            for _turn in (1, 2):
                for i in range(4):
                    for j in range(i + 1, 4):
                        rows.append((q, NAMES[i], NAMES[j], float(rng.random() < expit(s[i] - s[j]))))
        out.append(frame(rows))
    return out[0], out[1]


# --- what changed -------------------------------------------------------------------------------


def test_flatten_keys_named_entries_by_name_so_reordering_is_no_change():
    before = {"models": [{"name": "x", "model": "m1"}, {"name": "y", "model": "m2"}], "seed": 0,
              "ratings": {"anchor": None, "bootstrap": 1000}, "output_dir": "a", "stages": ["answers"]}
    after = {"models": [{"name": "y", "model": "m2"}, {"name": "x", "model": "m1"}], "seed": 0,
             "ratings": {"anchor": None, "bootstrap": 1000}, "output_dir": "b", "stages": ["ratings"]}
    assert flatten(before)["models[x].model"] == "m1"
    assert config_changes(before, after) == []
    after["models"][0]["model"] = "m3"
    after["models"].append({"name": "z", "model": "m4"})
    after["ratings"]["anchor"] = {"model": "x", "rating": 1000}
    changed = {c.key: (c.before, c.after) for c in config_changes(before, after)}
    assert changed == {
        "models[y].model": ("m2", "m3"), "models[z].model": (None, "m4"),
        "ratings.anchor": (None, None),  # the scalar None is gone ...
        "ratings.anchor.model": (None, "x"), "ratings.anchor.rating": (None, 1000),  # ... for a mapping
    }


def test_provenance_changes_name_versions_served_ids_templates_and_gpu():
    pa = {"config": {"seed": 0}, "arena_version": "0.1", "python": "3.11.7", "packages": {"openai": "1.50.0", "numpy": "2.0"},
          "judges": {"g": {"answered_as": {"gpt-4o-2024-05-13": 10}}, "h": {"answered_as": None}},
          "models": {"m": {"answered_as": {"": 3}}},
          "templates": {"pairwise-abc": {"sha256": "aa"}, "old": {"sha256": "cc"}}, "gpu": ["NVIDIA H100"]}
    pb = {"config": {"seed": 0}, "arena_version": "0.1", "python": "3.11.7", "packages": {"openai": "1.54.0", "numpy": "2.0", "vllm": "0.9"},
          "judges": {"g": {"answered_as": {"gpt-4o-2024-08-06": 10}}, "h": {"answered_as": {"x": 1}}},
          "models": {"m": {"answered_as": {"": 3}}},
          "templates": {"pairwise-abc": {"sha256": "bb"}}, "gpu": ["NVIDIA H200"]}
    got = {(c.what, c.key): (c.before, c.after) for c in provenance_changes(pa, pb)}
    assert got == {
        ("version", "openai"): ("1.50.0", "1.54.0"),
        ("version", "vllm"): (None, "0.9"),
        ("answered_as", "judges[g]"): ({"gpt-4o-2024-05-13": 10}, {"gpt-4o-2024-08-06": 10}),
        ("template", "old"): ("cc", None),
        ("template", "pairwise-abc"): ("aa", "bb"),
        ("gpu", "gpu"): (["NVIDIA H100"], ["NVIDIA H200"]),
    }


def test_question_overlap_counts_and_names_reworded_questions():
    pa = {"questions": {"items": {"1": "h1", "2": "h2", "3": "h3"}}}
    pb = {"questions": {"items": {"1": "h1", "2": "XX", "4": "h4", "10": "y"}}}
    overlap = question_overlap({"1", "2", "3", "10"}, {"1", "2", "4", "10"}, pa, pb)
    assert (overlap.shared, overlap.only_a, overlap.only_b) == (3, 1, 1)
    assert overlap.changed == ["2"]  # "10" has no hash on side A: not claimed changed


def test_holm_adjustment_by_hand():
    # Sorted 0.01, 0.03, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04).
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm_adjust([]) == []


# --- the paired test ----------------------------------------------------------------------------


def test_identical_runs_change_nothing_in_any_round():
    a, _ = runs_of(0)
    changes, only_a, only_b, scale, notes = rating_changes(a, a.copy(), rounds=100, seed=0)
    assert only_a == only_b == [] and "centred on the 4 models" in scale
    for c in changes:
        assert c.rating_a == pytest.approx(c.rating_b) and c.rank_a == c.rank_b
        assert c.change.value == pytest.approx(0.0) and c.change.low == pytest.approx(0.0) == c.change.high
        assert c.change.p_value == 1.0 and c.significant is False


def test_shared_questions_are_drawn_once_for_both_runs():
    a, b = runs_of(1)
    m = 4
    q = a["question_id"].astype(int).to_numpy()

    def sums(t):
        idx = {n: i for i, n in enumerate(NAMES)}
        return question_sums(q, t["model_a"].map(idx).to_numpy(), t["model_b"].map(idx).to_numpy(), t["outcome"].to_numpy(), m)

    def theta(t):
        idx = {n: i for i, n in enumerate(NAMES)}
        cells = aggregate(t["model_a"].map(idx).to_numpy(), t["model_b"].map(idx).to_numpy(), t["outcome"].to_numpy(), m)
        return fit_bt(pair_totals(cells)[0])

    # The same run on both sides: every round's two fits are the same fit.
    ta, tb, _ = paired_runs_bootstrap(sums(a), sums(a), 40, 50, 3, start_a=theta(a), start_b=theta(a))
    np.testing.assert_allclose(ta, tb)
    # Paired, the change of b is measured more tightly than with the questions drawn apart.
    pa, pb, _ = paired_runs_bootstrap(sums(a), sums(b), 40, 400, 3, start_a=theta(a), start_b=theta(b))
    ua, ub, _ = paired_runs_bootstrap(sums(a), sums(b), 0, 400, 3, start_a=theta(a), start_b=theta(b))
    paired_sd = np.std((pb[:, 1] - pb.mean(axis=1)) - (pa[:, 1] - pa.mean(axis=1)))
    apart_sd = np.std((ub[:, 1] - ub.mean(axis=1)) - (ua[:, 1] - ua.mean(axis=1)))
    assert paired_sd < 0.8 * apart_sd, (paired_sd, apart_sd)


def test_a_real_change_is_found_and_the_others_move_only_by_the_centring():
    a, b = runs_of(2, questions=80, shift=1.0)
    changes, *_ = rating_changes(a, b, rounds=300, seed=0)
    by = {c.model: c for c in changes}
    assert by["b"].significant and by["b"].change.value > 100
    assert by["b"].rank_a >= 2 and by["b"].rank_b == 1
    # Centred on the shared models: b's gain is a quarter of it off each of the others.
    assert sum(c.rating_b - c.rating_a for c in changes) == pytest.approx(0.0, abs=1e-6)


def test_models_in_one_run_only_are_listed_and_the_rest_compared():
    a, b = runs_of(3)
    b = b[(b["model_a"] != "d") & (b["model_b"] != "d")]
    changes, only_a, only_b, scale, _ = rating_changes(a, b, rounds=50, seed=0)
    assert only_a == ["d"] and only_b == [] and [c.model for c in sorted(changes, key=lambda c: c.model)] == ["a", "b", "c"]
    assert "centred on the 3 models" in scale


def test_no_shared_questions_means_no_test():
    a, b = runs_of(4)
    b = b.assign(question_id="other-" + b["question_id"])
    changes, _, _, _, notes = rating_changes(a, b, rounds=50, seed=0)
    assert all(c.change is None and c.significant is None for c in changes)
    assert any("share no question" in n for n in notes)


def test_an_anchor_both_runs_pin_is_kept():
    a, b = runs_of(5)
    changes, *_, scale, _ = rating_changes(a, b, rounds=50, seed=0, anchor=("d", 900.0))
    by = {c.model: c for c in changes}
    assert by["d"].rating_a == pytest.approx(900.0) == by["d"].rating_b
    assert by["d"].change.low == pytest.approx(0.0) and "anchored at d = 900" in scale


@pytest.mark.slow
def test_rating_changes_are_calibrated_and_paired_finds_more_than_apart():
    """No model changed: p < 0.05 in about 5% of models; model b gained 0.35 logits: the paired
    test finds it far more often than the same test with the questions drawn apart."""
    replications, rounds = 120, 200
    false_pos = tests = found_paired = found_apart = 0
    for seed in range(replications):
        a, b = runs_of(100 + seed, questions=40, spread=1.5)
        changes, *_ = rating_changes(a, b, rounds=rounds, seed=seed)
        false_pos += sum(c.significant for c in changes)
        tests += len(changes)
        a, b = runs_of(500 + seed, questions=40, spread=1.5, shift=0.35)
        found_paired += {c.model: c for c in rating_changes(a, b, rounds=rounds, seed=seed)[0]}["b"].significant
        apart = b.assign(question_id="b" + b["question_id"])
        a2 = a.assign(question_id="a" + a["question_id"])
        # Drawn apart: the same bootstrap with nothing shared, b's centred change read directly.
        la, lb = paired_log(a2), paired_log(apart)
        ca, cb, _ = _aligned_questions(a2, apart)
        ta, tb, _ = paired_runs_bootstrap(question_sums(ca, la.a, la.b, la.x, 4, la.w), question_sums(cb, lb.a, lb.b, lb.x, 4, lb.w),
                                          0, rounds, seed, start_a=la.theta, start_b=lb.theta)
        d = (tb[:, 1] - tb.mean(axis=1)) - (ta[:, 1] - ta.mean(axis=1))
        found_apart += bool(np.quantile(d, 0.025) > 0 or np.quantile(d, 0.975) < 0)
    rate = false_pos / tests
    print(f"false positives {rate:.3f}; found: paired {found_paired}/{replications}, apart {found_apart}/{replications}")
    assert 0.02 <= rate <= 0.09, rate
    assert found_paired >= found_apart + replications // 5, (found_paired, found_apart)


# --- the command --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("diff")
    runs = []
    for name, strength, bias in (("a", 1000, 60), ("b", 1200, 90)):
        data = base_config(root / name, stages=["answers", "reviews"])
        data["models"][1]["simulated"]["strength"] = strength
        data["judges"][0]["simulated"] = {"position_bias": bias}
        path = root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        assert main(["run", "-c", str(path)]) == 0
        runs.append(root / name)
    return runs


def test_diff_command_lists_the_changes_and_marks_the_real_rating_change(two_runs, capsys, tmp_path):
    a, b = two_runs
    out = tmp_path / "diff.json"
    assert main(["diff", str(a), str(b), "--rounds", "200", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "judges[j].simulated.position_bias: 60.0 -> 90.0" in text
    assert "models[m2].simulated.strength: 1000.0 -> 1200.0" in text
    assert "Questions rated: " in text and "0 only in A, 0 only in B" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("m2 "))
    assert row.rstrip().endswith("*")
    data = json.loads(out.read_text())
    m2 = next(m for m in data["models"] if m["model"] == "m2")
    assert m2["significant"] is True and m2["change"]["value"] > 0 and m2["rank_b"] == 1
    assert data["config_sha256_a"] != data["config_sha256_b"]


def test_diff_of_a_run_with_itself_says_nothing_changed(two_runs, capsys):
    a, _ = two_runs
    assert main(["diff", str(a), str(a), "--rounds", "50", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["changes"] == [] and not any(m["significant"] for m in data["models"])


def test_diff_names_an_edited_template_and_a_changed_package(two_runs, tmp_path, capsys):
    a, b = two_runs
    manifest = json.loads((b / "run.json").read_text())
    manifest["provenance"]["packages"]["openai"] = "9.9.9"
    manifest["provenance"]["templates"]["pairwise-abc"]["sha256"] = "0" * 64
    edited = tmp_path / "edited"
    edited.mkdir()
    for name in ("battles.jsonl",):
        (edited / name).write_bytes((b / name).read_bytes())
    (edited / "run.json").write_text(json.dumps(manifest))
    assert main(["diff", str(a), str(edited), "--rounds", "50"]) == 0
    text = capsys.readouterr().out
    assert "Judge templates (content hash):" in text and "pairwise-abc: " in text
    assert re.search(r"^  openai: \S+ -> 9\.9\.9$", text, re.MULTILINE)


def test_diff_refuses_what_is_not_a_run_folder_in_one_line(two_runs, tmp_path, capsys):
    a, _ = two_runs
    assert main(["diff", str(a), str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a run folder" in err
    assert main(["diff", str(a), str(a), "--judge", "zz"]) == 2
    assert "--judge: no battles by zz" in capsys.readouterr().err


def test_diff_of_a_folder_without_provenance_compares_ratings_only(two_runs, tmp_path, capsys):
    a, b = two_runs
    old = tmp_path / "old"
    old.mkdir()
    (old / "battles.jsonl").write_bytes((b / "battles.jsonl").read_bytes())
    (old / "run.json").write_text(json.dumps({"name": "old", "dry_run": True}))
    assert main(["diff", str(a), str(old), "--rounds", "50"]) == 0
    text = capsys.readouterr().out
    assert "has no provenance" in text and "rank A" in text
