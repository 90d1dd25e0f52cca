"""`arena diff RUN_A RUN_B`: what changed between two runs, and which rating changes are real.

First the provenance recorded in each run.json (arena.provenance): config keys, package
versions, the model ids the judges' and candidates' APIs answered as, template contents, the
question set. Then each model's rank and rating in both runs, with the change B - A tested by a
paired bootstrap over questions (arena.rating.paired.paired_runs_bootstrap): the questions both
runs rated are drawn once for both, each run's own questions separately, so what the runs share
cancels and what changed is measured against the noise of the questions themselves.

Ratings are Bradley-Terry on the Elo scale, centred on the models both runs rate (so a model
added to one run does not move the others), or pinned at the anchor model where both runs'
configs anchor the same one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from arena import rundir
from arena.errors import DataError
from arena.rating.bootstrap import workers_for
from arena.rating.bt import INITIAL, to_elo
from arena.rating.paired import Difference, difference, paired_runs_bootstrap, question_sums
from arena.rundir import RunDir
from arena.significance import PairedLog, format_p, paired_log

# Config keys that say where and which stages, not how: not listed as changes.
_QUIET_KEYS = ("output_dir", "stages")
_SHOWN = 60  # characters of a value in the text report


@dataclass
class Change:
    """One thing that differs: `what` is config, version, answered_as, template, questions or
    gpu; `before`/`after` None where the item is absent on that side."""

    what: str
    key: str
    before: Any
    after: Any


@dataclass
class QuestionOverlap:
    shared: int
    only_a: int
    only_b: int
    #: Shared question ids whose text, category or reference changed (from the provenance).
    changed: list[str] = field(default_factory=list)


@dataclass
class ModelChange:
    model: str
    rank_a: int
    rank_b: int
    rating_a: float
    rating_b: float
    #: rating_b - rating_a with its paired interval and p-value (None: not tested).
    change: Difference | None
    p_holm: float | None = None
    significant: bool | None = None


@dataclass
class RunDiff:
    run_a: str
    run_b: str
    config_sha256_a: str | None
    config_sha256_b: str | None
    changes: list[Change]
    questions: QuestionOverlap
    models: list[ModelChange]
    only_a: list[str]
    only_b: list[str]
    judges_a: list[str]
    judges_b: list[str]
    scale: str
    rounds: int
    seed: int
    alpha: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- provenance ---------------------------------------------------------------------------------


def read_manifest(root: Path) -> dict[str, Any]:
    """A run folder's run.json (DataError where `root` is not a run folder)."""
    if not root.is_dir():
        raise DataError(f"{root}: not a run folder (arena diff compares two run folders)")
    run = RunDir(root)
    if not run.manifest.is_file():
        raise DataError(f"{run.manifest}: not found; {root} is not a run folder")
    manifest = rundir.read_manifest(run)
    if manifest.get("provenance") is not None and not isinstance(manifest["provenance"], dict):
        raise DataError(f"{run.manifest}: provenance: expected a JSON object")
    return manifest


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested config data as dotted keys. Lists of named entries (models, judges, benchmarks)
    are keyed by name, `judges[gpt4].model`, so reordering them is no change; other lists are
    values."""
    if isinstance(obj, dict) and obj:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(obj, list) and obj and all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in obj):
        names = [e["name"] for e in obj]
        if len(set(names)) == len(names):
            out = {}
            for entry in obj:
                out.update(flatten({k: v for k, v in entry.items() if k != "name"}, f"{prefix}[{entry['name']}]"))
            return out
    return {prefix: obj}


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Every dotted config key whose value differs (added and removed keys included), in key
    order; output_dir and stages left out."""
    a = {k: v for k, v in flatten(before).items() if k.split(".")[0].split("[")[0] not in _QUIET_KEYS}
    b = {k: v for k, v in flatten(after).items() if k.split(".")[0].split("[")[0] not in _QUIET_KEYS}
    return [Change("config", k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k) or (k in a) != (k in b)]


def provenance_changes(pa: dict[str, Any], pb: dict[str, Any]) -> list[Change]:
    """What differs between two provenance blocks, config first, then versions, served model
    ids, templates, GPUs (the question set is `question_overlap`'s)."""
    changes = config_changes(pa.get("config") or {}, pb.get("config") or {})
    versions_a = {"arena": pa.get("arena_version"), "python": pa.get("python"), **(pa.get("packages") or {})}
    versions_b = {"arena": pb.get("arena_version"), "python": pb.get("python"), **(pb.get("packages") or {})}
    changes += [Change("version", k, versions_a.get(k), versions_b.get(k))
                for k in sorted(versions_a.keys() | versions_b.keys()) if versions_a.get(k) != versions_b.get(k)]
    for section in ("judges", "models"):
        sa, sb = pa.get(section) or {}, pb.get(section) or {}
        for name in sorted(sa.keys() & sb.keys()):
            served_a, served_b = (sa[name] or {}).get("answered_as"), (sb[name] or {}).get("answered_as")
            if served_a is None or served_b is None:
                continue  # the stage never ran on one side: nothing known to compare
            if set(served_a) != set(served_b):
                changes.append(Change("answered_as", f"{section}[{name}]", served_a, served_b))
    ta, tb = pa.get("templates") or {}, pb.get("templates") or {}
    for name in sorted(ta.keys() | tb.keys()):
        ha, hb = (ta.get(name) or {}).get("sha256"), (tb.get(name) or {}).get("sha256")
        if ha != hb:
            changes.append(Change("template", name, ha, hb))
    if "gpu" in pa and "gpu" in pb and pa["gpu"] != pb["gpu"]:
        changes.append(Change("gpu", "gpu", pa["gpu"], pb["gpu"]))
    return changes


def question_overlap(ids_a: set[str], ids_b: set[str], pa: dict[str, Any] | None, pb: dict[str, Any] | None) -> QuestionOverlap:
    """How the rated question ids overlap, and which shared ones changed content (where both
    provenances hold per-question hashes)."""
    shared = ids_a & ids_b
    items_a = ((pa or {}).get("questions") or {}).get("items") or {}
    items_b = ((pb or {}).get("questions") or {}).get("items") or {}
    changed = sorted((q for q in shared if q in items_a and q in items_b and items_a[q] != items_b[q]), key=_natural)
    return QuestionOverlap(len(shared), len(ids_a - ids_b), len(ids_b - ids_a), changed)


def _natural(text: str) -> tuple[int, int | str]:
    return (0, int(text)) if text.isdigit() else (1, text)


# --- ratings --------------------------------------------------------------------------------------


def rating_changes(
    battles_a: pd.DataFrame,
    battles_b: pd.DataFrame,
    *,
    rounds: int = 1000,
    seed: int = 0,
    workers: int = 0,
    alpha: float = 0.05,
    anchor: tuple[str, float] | None = None,
) -> tuple[list[ModelChange], list[str], list[str], str, list[str]]:
    """Each shared model's rank in both runs and its rating change B - A, tested by the paired
    bootstrap over questions. Returns (changes, only in A, only in B, the scale, notes)."""
    la, lb = paired_log(battles_a), paired_log(battles_b)
    common = sorted(set(la.models) & set(lb.models))
    only_a = sorted(set(la.models) - set(lb.models))
    only_b = sorted(set(lb.models) - set(la.models))
    notes = [f"A: {w}" for w in la.warnings] + [f"B: {w}" for w in lb.warnings]
    if len(common) < 2:
        notes.append(f"the runs share {len(common)} model(s); ratings are relative, so changes need two shared models or more")
        return [], only_a, only_b, "", notes
    ia = np.array([la.models.index(m) for m in common])
    ib = np.array([lb.models.index(m) for m in common])
    if anchor is not None and anchor[0] in common:
        k = common.index(anchor[0])
        scale = f"Bradley-Terry, Elo scale, anchored at {anchor[0]} = {anchor[1]:g}"

        def place(theta: np.ndarray, idx: np.ndarray) -> np.ndarray:
            return to_elo(theta[..., idx], anchor=k, anchor_rating=anchor[1])
    else:
        scale = f"Bradley-Terry, Elo scale, centred on the {len(common)} models both runs rate ({INITIAL:g})"

        def place(theta: np.ndarray, idx: np.ndarray) -> np.ndarray:
            return to_elo(theta[..., idx])

    rating_a, rating_b = place(la.theta, ia), place(lb.theta, ib)
    rank_a, rank_b = _ranks(la), _ranks(lb)
    codes_a, codes_b, shared = _aligned_questions(battles_a, battles_b)
    tested: list[Difference | None] = [None] * len(common)
    if shared == 0:
        notes.append("the runs share no question: rating changes are shown, not tested (the paired test needs shared questions)")
    else:
        sums_a = question_sums(codes_a, la.a, la.b, la.x, len(la.models), la.w)
        sums_b = question_sums(codes_b, lb.a, lb.b, lb.x, len(lb.models), lb.w)
        theta_a, theta_b, regularised = paired_runs_bootstrap(
            sums_a, sums_b, shared, rounds, seed, start_a=la.theta, start_b=lb.theta, prior_a=la.prior,
            prior_b=lb.prior, workers=workers_for(workers),
        )
        samples = place(theta_b, ib) - place(theta_a, ia)
        tested = [difference(float(rating_b[k] - rating_a[k]), samples[:, k]) for k in range(len(common))]
        if regularised and not (la.prior or lb.prior):
            notes.append(f"{regularised} of {rounds} resamples left some model without a loss or a win and were regularised")
    holm = holm_adjust([d.p_value for d in tested]) if shared else [None] * len(common)
    changes = [
        ModelChange(
            model=m, rank_a=rank_a[m], rank_b=rank_b[m], rating_a=float(rating_a[k]), rating_b=float(rating_b[k]),
            change=tested[k], p_holm=holm[k],
            significant=None if tested[k] is None else bool(tested[k].p_value < alpha),
        )
        for k, m in enumerate(common)
    ]
    changes.sort(key=lambda c: (c.rank_b, c.model))
    return changes, only_a, only_b, scale, notes


def _ranks(log: PairedLog) -> dict[str, int]:
    """Each model's place in its run (1 = highest rating; equal ratings by name)."""
    order = sorted(range(len(log.models)), key=lambda i: (-round(float(log.theta[i]), 12), log.models[i]))
    return {log.models[i]: place + 1 for place, i in enumerate(order)}


def _aligned_questions(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """Question codes of both runs' battles with the shared questions first (0..shared-1, the
    same code in both), then each run's own; a log without question ids shares none."""
    if "question_id" not in a or "question_id" not in b:
        return np.arange(len(a), dtype=np.int64), np.arange(len(b), dtype=np.int64), 0
    ids_a, ids_b = a["question_id"].astype(str), b["question_id"].astype(str)
    shared = pd.Index(sorted(set(ids_a.unique()) & set(ids_b.unique())))

    def codes(ids: pd.Series) -> np.ndarray:
        own = pd.Index(sorted(set(ids.unique()) - set(shared)))
        lookup = pd.Index(list(shared) + list(own))
        return lookup.get_indexer(ids).astype(np.int64)

    return codes(ids_a), codes(ids_b), len(shared)


def holm_adjust(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: p-values that hold for all the tests at once."""
    n = len(p_values)
    order = sorted(range(n), key=lambda i: p_values[i])
    out = [0.0] * n
    running = 0.0
    for step, i in enumerate(order):
        running = max(running, min(1.0, (n - step) * p_values[i]))
        out[i] = running
    return out


# --- the whole diff -------------------------------------------------------------------------------


def diff_runs(
    root_a: Path,
    root_b: Path,
    battles_a: pd.DataFrame,
    battles_b: pd.DataFrame,
    *,
    rounds: int = 1000,
    seed: int = 0,
    workers: int = 0,
    alpha: float = 0.05,
) -> RunDiff:
    """Compare two run folders: their provenance, then their ratings on the battles given
    (each run's own, already narrowed to the judges asked for)."""
    if rounds < 1:
        raise DataError("--rounds: expected an integer >= 1")
    if not 0 < alpha < 1:
        raise DataError("--alpha: expected a number between 0 and 1")
    manifest_a, manifest_b = read_manifest(root_a), read_manifest(root_b)
    pa, pb = manifest_a.get("provenance"), manifest_b.get("provenance")
    notes = []
    for name, root, p in (("A", root_a, pa), ("B", root_b, pb)):
        if p is None:
            notes.append(f"{name} ({root}) has no provenance in run.json (an import, or a run from before it was recorded): "
                         "only its ratings are compared")
    changes = provenance_changes(pa, pb) if pa is not None and pb is not None else []
    ids_a = set(battles_a["question_id"].astype(str)) if "question_id" in battles_a else set()
    ids_b = set(battles_b["question_id"].astype(str)) if "question_id" in battles_b else set()
    overlap = question_overlap(ids_a, ids_b, pa, pb)
    if pa is not None and pb is not None:
        qa, qb = pa.get("questions") or {}, pb.get("questions") or {}
        if qa.get("sha256") and qb.get("sha256") and qa["sha256"] != qb["sha256"]:
            changes.append(Change("questions", "question set", _set_label(qa), _set_label(qb)))
    models, only_a, only_b, scale, rating_notes = rating_changes(
        battles_a, battles_b, rounds=rounds, seed=seed, workers=workers, alpha=alpha, anchor=_shared_anchor(pa, pb),
    )
    return RunDiff(
        run_a=str(root_a), run_b=str(root_b),
        config_sha256_a=(pa or {}).get("config_sha256"), config_sha256_b=(pb or {}).get("config_sha256"),
        changes=changes, questions=overlap, models=models, only_a=only_a, only_b=only_b,
        judges_a=sorted(map(str, battles_a["judge"].unique())), judges_b=sorted(map(str, battles_b["judge"].unique())),
        scale=scale, rounds=rounds, seed=seed, alpha=alpha, notes=notes + rating_notes,
    )


def _set_label(q: dict[str, Any]) -> str:
    return f"{q.get('source')} ({q.get('count')} questions, {str(q.get('sha256'))[:12]})"


def _shared_anchor(pa: dict[str, Any] | None, pb: dict[str, Any] | None) -> tuple[str, float] | None:
    """The anchor both runs' ratings configs pin, where they pin the same model at the same rating."""
    anchors = [(((p or {}).get("config") or {}).get("ratings") or {}).get("anchor") for p in (pa, pb)]
    if anchors[0] and anchors[0] == anchors[1] and isinstance(anchors[0], dict) and "model" in anchors[0]:
        return str(anchors[0]["model"]), float(anchors[0].get("rating", INITIAL))
    return None


# --- the report -----------------------------------------------------------------------------------


def format_diff(d: RunDiff) -> str:
    """The text report: what changed, then the ratings table."""
    lines = [f"A: {d.run_a}" + (f"  (config {d.config_sha256_a[:12]})" if d.config_sha256_a else ""),
             f"B: {d.run_b}" + (f"  (config {d.config_sha256_b[:12]})" if d.config_sha256_b else ""), ""]
    if d.config_sha256_a and d.config_sha256_a == d.config_sha256_b:
        lines.append("Same config (output_dir and stages aside).")
    titles = {"config": "Config", "version": "Versions", "answered_as": "Model ids as the APIs answered",
              "template": "Judge templates (content hash)", "questions": "Question set", "gpu": "GPU"}
    for what, title in titles.items():
        group = [c for c in d.changes if c.what == what]
        if group:
            lines.append(f"{title}:")
            lines += [f"  {c.key}: {_shown(c.before)} -> {_shown(c.after)}" for c in group]
    if not d.changes and d.config_sha256_a and d.config_sha256_b:
        lines.append("No change in config, versions, served model ids, templates or questions.")
    q = d.questions
    line = f"Questions rated: {q.shared} shared, {q.only_a} only in A, {q.only_b} only in B"
    if q.changed:
        shown = ", ".join(q.changed[:10]) + (f" and {len(q.changed) - 10} more" if len(q.changed) > 10 else "")
        line += f"; {len(q.changed)} shared ones changed content ({shown})"
    lines += [line, ""]
    judges = ", ".join(d.judges_a) if d.judges_a == d.judges_b else f"A: {', '.join(d.judges_a)}; B: {', '.join(d.judges_b)}"
    if d.models:
        tested = any(m.change is not None for m in d.models)
        how = (f"paired bootstrap over questions, {d.rounds} rounds, seed {d.seed}" if tested else "not tested")
        lines.append(f"Ratings ({d.scale}; judges {judges}; {how}):")
        width = max(len("model"), *(len(m.model) for m in d.models))
        lines.append(f"  {'model':<{width}}  rank A  rank B  rating A  rating B   change  95% interval           p  p(Holm)")
        for m in d.models:
            moved = f"{m.rank_a:>6}  {m.rank_b:>6}"
            row = f"  {m.model:<{width}}  {moved}  {m.rating_a:8.1f}  {m.rating_b:8.1f}  {m.rating_b - m.rating_a:+7.1f}"
            if m.change is not None:
                interval = f"[{m.change.low:+.1f}, {m.change.high:+.1f}]"
                row += f"  {interval:<16} {format_p(m.change.p_value, d.rounds):>7}  {format_p(m.p_holm, d.rounds):>7}"
                row += "  *" if m.significant else ""
            lines.append(row)
        if tested:
            n_sig = sum(bool(m.significant) for m in d.models)
            n_holm = sum(m.p_holm is not None and m.p_holm < d.alpha for m in d.models)
            lines.append(f"  * p < {d.alpha:g}: {n_sig} of {len(d.models)} changes ({n_holm} after Holm's correction for "
                         f"testing {len(d.models)} models at once)")
    if d.only_a:
        lines.append(f"Only in A: {', '.join(d.only_a)}")
    if d.only_b:
        lines.append(f"Only in B: {', '.join(d.only_b)}")
    lines += [f"Note: {n}" for n in d.notes]
    return "\n".join(lines).rstrip()


def _shown(value: Any) -> str:
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
