"""What made a run's numbers: the `provenance` block of run.json, which `arena diff` compares.

Recorded by every `run_arena` (before the first stage, with what is known then, and again when
the stages end, with what the APIs answered):

- `config`: the resolved config (presets applied, defaults filled), and `config_sha256` over it,
  leaving out `output_dir` and `stages` (they say where and which stages ran, not how);
- `arena_version`, `python`, and `packages`: the versions of vllm, torch, openai and anthropic
  where this process imported them or the config's providers use them, and of the numeric
  libraries the ratings come from;
- `questions`: the question file, its count, a hash of the set and one per question (so a diff
  can say which questions changed), recorded when a stage that reads them ran;
- `templates`: each judge template's file and a hash of its content (kind, verdict, prompts);
- `judges` / `models`: provider, model id as configured, endpoint, and `answered_as`, the model
  ids the API named in its replies with how many records each answered (from the stage
  summaries; a dated snapshot behind an alias shows here);
- `gpu`: the GPU names where a vLLM engine or server ran.

Sections a run did not refresh (questions on a ratings-only re-run, say) keep their last value;
`history` lists every recording (time, stages, config hash), so a config changed between stages
of one folder shows. No API key is ever written: endpoints lose their credentials, a vLLM
`--api-key` argument is masked, and the values of every key variable the config names are
masked in the whole block before it is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from arena import __version__

log = logging.getLogger(__name__)

#: Libraries whose version can change a run's numbers: the backends, and the rating maths.
PACKAGES = ("vllm", "torch", "openai", "anthropic", "numpy", "scipy", "pandas", "pyarrow")
#: What each provider runs on, recorded even where this process did not import it (a vLLM
#: server runs in a child process).
PROVIDER_PACKAGES = {
    "vllm": ("vllm", "torch"),
    "openai": ("openai",),
    "openai_compatible": ("openai",),
    "anthropic": ("anthropic",),
}
#: How many recordings `history` keeps.
HISTORY = 200
MASK = "***"
_SECRET_PARAM = re.compile(r"key|token|secret|sig|password|auth", re.IGNORECASE)
_KEY_ARGS = ("--api-key", "--api_key")


def answered_as(served: Iterable[str | None]) -> dict[str, int]:
    """How many records each served model id answered, most first; records that name none
    (backends that do not say, records from before it was kept) count under ""."""
    counts = Counter(s or "" for s in served)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def sha256_of(obj: Any) -> str:
    """SHA-256 of an object's canonical JSON (sorted keys, no spaces)."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# --- the parts ------------------------------------------------------------------------------------


def config_record(config: Any) -> dict[str, Any]:
    """The resolved config as plain data, without credentials (see `safe_url`, `safe_args`)."""
    # Through JSON once: tuples become lists and any Path a string, as run.json will hold them.
    record = json.loads(json.dumps(dataclasses.asdict(config), default=str))
    record.pop("source_path", None)
    record.pop("no_wait", None)
    for section in ("models", "judges"):
        for entry in record.get(section) or []:
            client = entry.get("client") or {}
            if client.get("base_url"):
                client["base_url"] = safe_url(client["base_url"])
            vllm = entry.get("vllm") or {}
            if vllm.get("url"):
                vllm["url"] = safe_url(vllm["url"])
            if vllm.get("extra_args"):
                vllm["extra_args"] = safe_args(vllm["extra_args"])
    return record


def config_hash(record: dict[str, Any]) -> str:
    """The hash of a config record, `output_dir` and `stages` left out: two runs of the same
    settings into different folders, or with different stages, hash alike."""
    return sha256_of({k: v for k, v in record.items() if k not in ("output_dir", "stages")})


def safe_url(url: str) -> str:
    """An endpoint without its user:password part and with key-like query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = "&".join(f"{quote(k)}={MASK if _SECRET_PARAM.search(k) else quote(v)}"
                     for k, v in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def safe_args(args: list[str]) -> list[str]:
    """vLLM server arguments with the value of --api-key masked."""
    out: list[str] = []
    mask_next = False
    for arg in args:
        if mask_next:
            out.append(MASK)
            mask_next = False
        elif arg in _KEY_ARGS:
            out.append(arg)
            mask_next = True
        elif arg.startswith(tuple(f"{a}=" for a in _KEY_ARGS)):
            out.append(arg.split("=", 1)[0] + "=" + MASK)
        else:
            out.append(arg)
    return out


def template_record(template: Any) -> dict[str, Any]:
    """A judge template's file and the hash of what it says (kind, verdict format, prompts): an
    edited prompt changes the hash, a moved or reformatted file does not."""
    content = {"kind": template.kind, "verdict": template.verdict, "system": template.system, "variants": template.variants}
    return {"path": str(template.path), "verdict": template.verdict, "sha256": sha256_of(content)}


def question_hash(question: Any) -> str:
    """A question's content hash (category, turns, reference answers), 16 hex digits."""
    return sha256_of([question.category, question.turns, question.reference])[:16]


def questions_record(questions: list[Any], source: str | None, path: Path | None) -> dict[str, Any]:
    """The question set: where it came from, how many, one hash of the whole set (ids and
    contents) and one per question id."""
    items = {str(q.question_id): question_hash(q) for q in questions}
    return {
        "source": source,
        "path": str(path) if path is not None else None,
        "count": len(questions),
        "sha256": sha256_of(sorted(items.items())),
        "items": items,
    }


def package_versions(providers: Iterable[str] = ()) -> dict[str, str]:
    """Installed versions of PACKAGES that this process imported, and of those `providers` run
    on; a package that is not installed is left out."""
    wanted = {name for name in PACKAGES if name in sys.modules}
    for provider in providers:
        wanted.update(PROVIDER_PACKAGES.get(provider, ()))
    out = {}
    for name in sorted(wanted):
        version = _version(name)
        if version is not None:
            out[name] = version
    return out


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None)
        return str(version) if version is not None else None


def gpu_names() -> list[str]:
    """The GPUs this machine shows, by name: from torch where this process imported it (the
    devices it was allowed), otherwise from nvidia-smi; empty where neither answers."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return [str(torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]
        except Exception as exc:  # a broken CUDA setup must not fail the run's bookkeeping
            log.debug("torch could not name the GPUs: %s", exc)
    return nvidia_smi_names()


def nvidia_smi_names() -> list[str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        done = subprocess.run([exe, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                              timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if done.returncode != 0:
        return []
    names = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() and all(v.strip().isdigit() for v in visible.split(",")):
        picked = [int(v) for v in visible.split(",")]
        names = [names[i] for i in picked if 0 <= i < len(names)]
    return names


# --- the whole block ------------------------------------------------------------------------------


def build_provenance(config: Any, *, questions: list[Any], templates: dict[str, Any], summary: dict[str, Any],
                     stages: list[str], used_gpu: bool) -> dict[str, Any]:
    """The provenance of a run as far as this invocation knows it. `questions` empty: not read
    by this invocation (that section is then carried over by `merge`); `summary`: the run's
    summary.json, whose answers and reviews sections name the served models."""
    record = config_record(config)
    providers = [m.provider for m in config.models] + [j.provider for j in config.judges]
    if config.dry_run:
        providers = []
    answers = summary.get("answers") or {}
    reviews = summary.get("reviews") or {}
    out: dict[str, Any] = {
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "stages": list(stages),
        "arena_version": __version__,
        "python": platform.python_version(),
        "packages": package_versions(providers),
        "config_sha256": config_hash(record),
        "config": record,
        "templates": {t.name: template_record(t) for t in templates.values()},
        "judges": {
            j.name: {
                "provider": j.provider,
                "model": j.model_id,
                "base_url": safe_url(j.client.base_url) if j.client.base_url else None,
                "mode": j.mode,
                "template": templates[j.name].name if j.name in templates else j.template_name,
                "answered_as": (reviews.get(j.name) or {}).get("answered_as"),
            }
            for j in config.judges
        },
        "models": {
            m.name: {
                "provider": m.provider,
                "model": m.model_id,
                "base_url": safe_url(m.client.base_url) if m.client.base_url else None,
                "answered_as": (answers.get(m.name) or {}).get("answered_as"),
            }
            for m in config.models
        },
    }
    if questions:
        qc = config.questions_config
        from arena.questions import resolve_question_file

        try:
            path = resolve_question_file(qc.source, config.source_path.parent, str(config.source_path))
        except Exception:  # the set was read a moment ago; a vanished file only loses the path
            path = None
        out["questions"] = questions_record(questions, qc.source if qc else None, path)
    if used_gpu:
        out["gpu"] = gpu_names()
    return scrub(out, secret_values(config))


def merge(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, Any]:
    """`current`, with the sections it lacks taken from `previous`; per judge and model, an
    `answered_as` this invocation did not learn (its stage did not run) is kept too."""
    if not previous:
        return current
    out = dict(previous)
    out.update(current)
    for section in ("judges", "models"):
        before = previous.get(section) or {}
        for name, entry in (out.get(section) or {}).items():
            if entry.get("answered_as") is None and (before.get(name) or {}).get("answered_as") is not None:
                entry["answered_as"] = before[name]["answered_as"]
    return out


def secret_values(config: Any) -> list[str]:
    """The values of every key variable the config's providers read (masked wherever they
    appear, whatever field a user put them in)."""
    from arena.config import api_key_env

    names = {api_key_env(e.provider, e.client) for e in [*config.models, *config.judges]}
    names.update({"OPENAI_API_KEY", "ANTHROPIC_API_KEY"})
    return sorted({os.environ[n] for n in names if n and len(os.environ.get(n) or "") >= 4}, key=len, reverse=True)


def scrub(obj: Any, secrets: list[str]) -> Any:
    """`obj` with every occurrence of each secret masked, in keys and values alike."""
    if not secrets:
        return obj
    if isinstance(obj, str):
        for secret in secrets:
            obj = obj.replace(secret, MASK)
        return obj
    if isinstance(obj, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v, secrets) for v in obj]
    return obj
