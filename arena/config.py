"""Run configs: YAML -> typed, validated dataclasses, before any work starts.

Every error is one line naming the file, the key path and what is expected, so a user can fix the
config without reading our code. `load_config` is the only entry point; the dataclasses below are
the contract every stage reads.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from arena.errors import ConfigError
from arena.schema import build

Provider = Literal["vllm", "openai", "anthropic", "openai_compatible", "simulated"]
Mode = Literal["single", "pairwise-baseline", "pairwise-all"]
Stage = Literal["answers", "reviews", "ratings", "scores"]
STAGE_ORDER = ("answers", "reviews", "ratings", "scores")
DEFAULT_STAGES = ["answers", "reviews", "ratings"]

DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
DEFAULT_TEMPLATE = {
    "single": "single-rating",
    "pairwise-baseline": "pairwise-abc",
    "pairwise-all": "pairwise-abc",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass
class ClientConfig:
    """How to reach an API (candidates and judges alike), and how hard to push it."""

    base_url: str | None = None
    api_key_env: str | None = None
    timeout_s: float = 120.0
    max_concurrency: int = 16
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_retries: int = 6
    stream: bool = False
    #: Refuse answers whose `model` is not the one asked (or a dated snapshot of it).
    check_model: bool = True
    #: Send the stage's uncached calls through the API's batch interface (OpenAI Batch API,
    #: Anthropic Message Batches): half the price, results within 24 hours. No stream then.
    batch: bool = False
    #: Seconds between two looks at the submitted batches.
    batch_poll_s: float = 30.0
    #: Resubmissions of a request that came back errored, expired or cancelled.
    batch_retries: int = 3


@dataclass
class GenerationConfig:
    """Sampling settings. temperature None means: the registry's default for the category."""

    max_tokens: int = 1024
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    n: int = 1
    stop: list[str] | None = None
    ignore_eos: bool = False


@dataclass
class VllmConfig:
    """Settings of the local vLLM engine (offline) or server (OpenAI-compatible)."""

    mode: Literal["offline", "server"] = "offline"
    url: str | None = None
    dtype: str = "auto"
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    #: How data_parallel_size > 1 runs offline: independent replicas in processes of their own,
    #: vLLM's async engine, or (auto) replicas for judges and the engine for candidates.
    data_parallel_backend: Literal["auto", "replicas", "engine"] = "auto"
    max_concurrency: int = 256
    port: int = 8000  # 0: any free port
    startup_timeout_s: float = 900.0
    trust_remote_code: bool = False
    enforce_eager: bool = False
    chat_template: str | None = None
    extra_args: list[str] = field(default_factory=list)


@dataclass
class SimulatedModelConfig:
    """The dry-run stand-in of a candidate: a latent strength on the Elo scale."""

    strength: float | None = None
    verbosity: float = 1.0
    latency_s: float = 0.0


@dataclass
class ModelConfig:
    name: str = field(metadata={"help": "a string: the model's name in files and leaderboards"})
    provider: Provider = field(metadata={"help": "one of vllm, openai, anthropic, openai_compatible, simulated"})
    model: str | None = None
    family: str | None = None
    system_prompt: str | None = None
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    client: ClientConfig = field(default_factory=ClientConfig)
    vllm: VllmConfig = field(default_factory=VllmConfig)
    simulated: SimulatedModelConfig = field(default_factory=SimulatedModelConfig)

    @property
    def model_id(self) -> str:
        return self.model or self.name


@dataclass
class SimulatedJudgeConfig:
    """The dry-run judge: Bradley-Terry verdicts over latent strengths, with known biases."""

    position_bias: float = 60.0
    tie_rate: float = 0.12
    length_bias: float = 0.0
    no_verdict_rate: float = 0.0
    score_noise: float = 1.0
    #: How far the judge's stated verdict probabilities stray from its true ones, per game
    #: (standard deviation in logits); verdicts are drawn from the stated belief.
    belief_noise: float = 0.0
    latency_s: float = 0.0


@dataclass
class PriceConfig:
    """USD per million tokens; overrides the registry's price table for this judge or model."""

    input_per_mtok: float
    output_per_mtok: float
    #: Through a batch API (client.batch); half the standard price when not given.
    batch_input_per_mtok: float | None = None
    batch_output_per_mtok: float | None = None


@dataclass
class JudgeConfig:
    name: str = field(metadata={"help": "a string: the judge's name in files"})
    provider: Provider = field(metadata={"help": "one of openai, anthropic, openai_compatible, simulated, vllm"})
    mode: Mode = field(metadata={"help": "one of 'single', 'pairwise-baseline', 'pairwise-all'"})
    model: str | None = None
    template: str | None = None
    baseline: str | None = None
    turns: list[int] | None = None
    both_orders: bool = True
    pairs_per_question: int | None = None
    verdict_retries: int = 2
    #: The reviews stage fails (exit 1, everything parsed kept) when more than this share of a
    #: judge's reviews has no verdict after the re-asks.
    max_error_rate: float = 0.1
    strong_verdict_weight: float = 1.0
    reference_categories: list[str] = field(default_factory=lambda: ["math", "reasoning", "coding"])
    family: str | None = None
    generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(max_tokens=2048))
    client: ClientConfig = field(default_factory=ClientConfig)
    vllm: VllmConfig = field(default_factory=VllmConfig)
    #: auto: a vLLM judge's reply must end with exactly one verdict of its template's grammar
    #: (vLLM structured outputs); none: free replies, re-asked when the verdict is missing.
    verdict_constraint: Literal["auto", "none"] = "auto"
    #: argmax: the verdict as written; probability: the verdict's option probabilities from the
    #: tokens' log-probabilities (vLLM, OpenAI logprobs) give a fractional outcome.
    verdict_weighting: Literal["argmax", "probability"] = "argmax"
    simulated: SimulatedJudgeConfig = field(default_factory=SimulatedJudgeConfig)
    price: PriceConfig | None = None

    @property
    def model_id(self) -> str:
        return self.model or self.name

    @property
    def template_name(self) -> str:
        return self.template or DEFAULT_TEMPLATE[self.mode]


@dataclass
class JuryConfig:
    """Several configured judges as one more judge: their verdicts on each game combined."""

    judges: list[str] = field(metadata={"help": "a list of at least two judge names from judges:"})
    name: str = "jury"
    #: majority: the verdict most members gave (ties when that is split); mean: the mean of the
    #: members' outcomes (pairwise) or scores (single), probability verdicts where given.
    method: Literal["majority", "mean"] = "majority"
    #: Games where fewer than this share of members agree with the jury's verdict are
    #: contested: left out of the jury's battles and counted in the summary.
    min_agreement: float | None = None


@dataclass
class AnchorConfig:
    model: str
    rating: float = 1000.0


@dataclass
class RatingConfig:
    methods: list[Literal["bt", "elo"]] = field(default_factory=lambda: ["bt", "elo"])
    bootstrap: int = 1000
    seed: int = 0
    anchor: AnchorConfig | None = None
    elo_k: float = 4.0
    style_control: bool = True
    per_category: bool = True
    workers: int = 0


@dataclass
class QuestionsConfig:
    source: str
    reference: str | None = None
    limit: int | None = None
    categories: list[str] | None = None


MultipleChoiceStyle = Literal["letter_logprob", "text_logprob", "generate_letter"]
MC_STYLES = ("letter_logprob", "text_logprob", "generate_letter")


@dataclass
class BenchmarkColumns:
    """Where a user's own CSV (with a header row) or JSONL file keeps each field.

    `choices` names one column per option (CSV: `[A, B, C, D]`), or a single key holding a list
    (JSONL: `[choices]`). `answer` holds the gold option as a letter, a 0-based index or the
    option's text (multiple choice), or the reference answer or a list of them (exact match).
    Without `id`, a row's `id` field names it where it has one, else its subject and position.
    """

    question: str = "question"
    choices: list[str] = field(default_factory=lambda: ["choices"])
    answer: str = "answer"
    id: str | None = None
    subject: str | None = None


@dataclass
class BenchmarkConfig:
    """One rule-based benchmark for the scores stage (docs/SCORES.md)."""

    name: str = field(metadata={"help": "a string: the benchmark's name in scores files"})
    source: str = field(metadata={"help": "a registry name, a CSV/JSONL file, or a folder of per-subject CSVs (MMLU's test/)"})
    kind: Literal["multiple_choice", "exact_match"] = "multiple_choice"
    # Multiple choice: the scoring styles to run, one row per item and style in
    # scores/<model>.jsonl; default all three. Exact match has one style of its own.
    styles: list[MultipleChoiceStyle] | None = None
    # text_logprob: also report accuracy with each option's log-probability divided by its length.
    length_normalization: Literal["none", "chars", "tokens"] = "none"
    # Few-shot examples: the first k items of the dev split (per subject where there are subjects).
    k_shot: int = 0
    dev: str | None = None
    columns: BenchmarkColumns | None = None
    limit: int | None = None
    subjects: list[str] | None = None
    # generate_letter and exact_match: tokens to generate (greedy).
    max_tokens: int = 32
    # A style some model cannot do: skip it for that model (with a note) instead of stopping.
    skip_unsupported: bool = False

    @property
    def style_list(self) -> list[str]:
        """The styles this benchmark runs: the chosen multiple-choice styles, or exact_match."""
        if self.kind == "exact_match":
            return ["exact_match"]
        return list(self.styles) if self.styles is not None else list(MC_STYLES)


@dataclass
class RunConfig:
    name: str
    models: list[ModelConfig]
    questions: str | QuestionsConfig | None = None
    judges: list[JudgeConfig] = field(default_factory=list)
    jury: JuryConfig | None = None
    output_dir: str | None = None
    stages: list[Stage] = field(default_factory=lambda: list(DEFAULT_STAGES))
    ratings: RatingConfig = field(default_factory=RatingConfig)
    dry_run: bool = False
    seed: int = 0
    cache_dir: str | None = None
    benchmarks: list[BenchmarkConfig] = field(default_factory=list)
    # Filled in by load_config, not read from YAML.
    source_path: Path = field(default=Path("."), metadata={"internal": True})
    #: `--no-wait`: submit batch jobs, collect those already finished, and stop without waiting.
    no_wait: bool = field(default=False, metadata={"internal": True})

    @property
    def questions_config(self) -> QuestionsConfig | None:
        q = self.questions
        if q is None:
            return None
        return q if isinstance(q, QuestionsConfig) else QuestionsConfig(source=q)

    @property
    def needs_questions(self) -> bool:
        """Only the answers and reviews stages read the question set."""
        return "answers" in self.stages or "reviews" in self.stages

    @property
    def out_dir(self) -> Path:
        return Path(self.output_dir) if self.output_dir else Path("data") / "runs" / self.name


def load_config(path: str | Path, *, dry_run: bool = False, stages: list[str] | None = None) -> RunConfig:
    """Read, parse and validate a run config; raise ConfigError naming file and key on any fault.

    `dry_run` and `stages` are the CLI's overrides. A dry run of a config that is not itself a
    dry-run config writes to `<output>-dryrun` so simulated records never mix with real ones.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise ConfigError(f"{where}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{where}:{line}: YAML syntax error: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not a UTF-8 text file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: (top level): expected a mapping of config keys, got {type(data).__name__}")
    data.pop("source_path", None)
    data.pop("no_wait", None)
    _apply_presets(data, where)
    config: RunConfig = build(RunConfig, data, where=where)
    config.source_path = path
    if stages is not None:
        config.stages = _check_stages(stages, where)
    if dry_run and not config.dry_run:
        config.dry_run = True
        config.output_dir = str(config.out_dir) + "-dryrun"
    validate(config, where)
    return config


def _apply_presets(data: dict, where: str) -> None:
    """`preset: NAME` in a model or judge entry starts it from registry/presets/<kind>/NAME.yaml;
    the entry's own keys win (nested mappings merge key by key)."""
    from arena.registry import preset

    for section, kind in (("models", "models"), ("judges", "judges")):
        entries = data.get(section)
        if not isinstance(entries, list):
            continue
        for i, entry in enumerate(entries):
            if isinstance(entry, dict) and "preset" in entry:
                name = entry.pop("preset")
                key = f"{section}[{i}].preset"
                if not isinstance(name, str):
                    raise ConfigError(f"{where}: {key}: expected the name of a preset")
                entries[i] = _merged(preset(kind, name, where, key), entry)


def _merged(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _check_stages(stages: list[str], where: str) -> list[Stage]:
    known = set(STAGE_ORDER)
    for stage in stages:
        if stage not in known:
            raise ConfigError(f"--stages: unknown stage {stage!r}; expected some of {', '.join(STAGE_ORDER)}")
    return [s for s in STAGE_ORDER if s in stages]  # type: ignore[misc]


def check_cache_dir(config: RunConfig) -> None:
    """Where a paid judge will run, the response cache must be a writable folder (or creatable
    in one): finding out after a paid call would pay for it without keeping the answer."""
    if config.dry_run or "reviews" not in config.stages or all(j.provider == "simulated" for j in config.judges):
        return
    where = str(config.source_path)
    folder = Path(config.cache_dir) if config.cache_dir else Path("data") / "cache"
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    key = "cache_dir" if config.cache_dir else "cache_dir (default data/cache)"
    if not probe.is_dir():
        raise ConfigError(f"{where}: {key}: {probe} is not a folder; point cache_dir at a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{where}: {key}: {probe} is not writable; point cache_dir at a folder you can write")


def validate(config: RunConfig, where: str) -> None:
    """Cross-field checks that types alone cannot express."""
    if not _NAME.match(config.name):
        raise ConfigError(f"{where}: name: {config.name!r} must be letters, digits, '.', '_', '+' or '-' (it names the output folder)")
    config.stages = _check_stages(list(config.stages), where)
    if not config.models:
        raise ConfigError(f"{where}: models: expected at least one candidate model")
    names: set[str] = set()
    for i, model in enumerate(config.models):
        key = f"models[{i}]"
        _check_name(model.name, f"{key}.name", where)
        if model.name in names:
            raise ConfigError(f"{where}: {key}.name: duplicate model name {model.name!r}; each candidate needs its own name")
        names.add(model.name)
        _check_generation(model.generation, f"{key}.generation", where)
        _check_client(model.client, f"{key}.client", where)
        _check_batch(model.provider, model.client, f"{key}.client", where)
        _check_vllm(model, key, where)
        if model.provider in ("vllm", "openai", "anthropic", "openai_compatible") and not model.model:
            if model.provider == "vllm" or model.vllm.url is None:
                raise ConfigError(f"{where}: {key}.model: required for provider {model.provider!r} (a model id or path)")
        if model.provider == "openai_compatible" and not model.client.base_url:
            raise ConfigError(f"{where}: {key}.client.base_url: required for provider 'openai_compatible'")
        if model.simulated.verbosity <= 0:
            raise ConfigError(f"{where}: {key}.simulated.verbosity: expected a number > 0")
        if model.simulated.latency_s < 0:
            raise ConfigError(f"{where}: {key}.simulated.latency_s: expected a number of seconds >= 0")
    judge_names: set[str] = set()
    for i, judge in enumerate(config.judges):
        key = f"judges[{i}]"
        _check_name(judge.name, f"{key}.name", where)
        if judge.name in judge_names:
            raise ConfigError(f"{where}: {key}.name: duplicate judge name {judge.name!r}")
        judge_names.add(judge.name)
        if judge.provider != "simulated" and not judge.model:
            raise ConfigError(f"{where}: {key}.model: required for provider {judge.provider!r} (the judge's model id)")
        if judge.provider == "openai_compatible" and not judge.client.base_url:
            raise ConfigError(f"{where}: {key}.client.base_url: required for provider 'openai_compatible'")
        _check_vllm(judge, key, where)
        if judge.verdict_weighting == "probability" and judge.provider == "anthropic":
            raise ConfigError(
                f"{where}: {key}.verdict_weighting: 'probability' needs token log-probabilities, which "
                "Anthropic's API does not return; use 'argmax' (or a vLLM or OpenAI judge)"
            )
        if judge.generation.temperature is None:
            judge.generation.temperature = 0.0
        _check_generation(judge.generation, f"{key}.generation", where)
        _check_client(judge.client, f"{key}.client", where)
        _check_batch(judge.provider, judge.client, f"{key}.client", where)
        if judge.mode == "pairwise-baseline":
            if judge.baseline is None:
                raise ConfigError(f"{where}: {key}.baseline: required for mode 'pairwise-baseline' (one of the candidate names: {', '.join(sorted(names))})")
            if judge.baseline not in names:
                raise ConfigError(f"{where}: {key}.baseline: {judge.baseline!r} is not a candidate; expected one of {', '.join(sorted(names))}")
        elif judge.baseline is not None:
            raise ConfigError(f"{where}: {key}.baseline: only used with mode 'pairwise-baseline' (this judge's mode is {judge.mode!r})")
        if judge.mode != "single" and len(config.models) < 2:
            raise ConfigError(f"{where}: {key}.mode: {judge.mode!r} needs at least two candidate models")
        if judge.turns is not None:
            if not judge.turns or any(t < 1 for t in judge.turns):
                raise ConfigError(f"{where}: {key}.turns: expected a non-empty list of turn numbers >= 1")
        if judge.pairs_per_question is not None:
            if judge.mode != "pairwise-all":
                raise ConfigError(f"{where}: {key}.pairs_per_question: only used with mode 'pairwise-all'")
            if judge.pairs_per_question < 1:
                raise ConfigError(f"{where}: {key}.pairs_per_question: expected an integer >= 1")
        if judge.verdict_retries < 0:
            raise ConfigError(f"{where}: {key}.verdict_retries: expected an integer >= 0")
        if not 0.0 <= judge.max_error_rate <= 1.0:
            raise ConfigError(f"{where}: {key}.max_error_rate: expected a share in [0, 1] (1 never fails the stage)")
        if judge.strong_verdict_weight < 1:
            raise ConfigError(f"{where}: {key}.strong_verdict_weight: expected a number >= 1")
        sim = judge.simulated
        for rate_key in ("tie_rate", "no_verdict_rate"):
            value = getattr(sim, rate_key)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"{where}: {key}.simulated.{rate_key}: expected a probability in [0, 1)")
        if sim.latency_s < 0:
            raise ConfigError(f"{where}: {key}.simulated.latency_s: expected a number of seconds >= 0")
        if sim.belief_noise < 0:
            raise ConfigError(f"{where}: {key}.simulated.belief_noise: expected a number >= 0")
        if judge.price is not None and any(v is not None and v < 0 for v in (
                judge.price.input_per_mtok, judge.price.output_per_mtok,
                judge.price.batch_input_per_mtok, judge.price.batch_output_per_mtok)):
            raise ConfigError(f"{where}: {key}.price: prices must be >= 0")
    if config.jury is not None:
        _check_jury(config, names, where)
    if ("reviews" in config.stages) and not config.judges:
        raise ConfigError(f"{where}: judges: the reviews stage needs at least one judge (or leave 'reviews' out of stages)")
    ratings = config.ratings
    if ratings.bootstrap < 0:
        raise ConfigError(f"{where}: ratings.bootstrap: expected an integer >= 0 (0 turns intervals off)")
    if not ratings.methods:
        raise ConfigError(f"{where}: ratings.methods: expected at least one of 'bt', 'elo'")
    if ratings.anchor is not None and ratings.anchor.model not in names:
        raise ConfigError(f"{where}: ratings.anchor.model: {ratings.anchor.model!r} is not a candidate; expected one of {', '.join(sorted(names))}")
    if ratings.seed < 0:
        raise ConfigError(f"{where}: ratings.seed: expected an integer >= 0")
    if config.seed < 0:
        raise ConfigError(f"{where}: seed: expected an integer >= 0")
    if ratings.elo_k <= 0:
        raise ConfigError(f"{where}: ratings.elo_k: expected a number > 0")
    if ratings.workers < 0:
        raise ConfigError(f"{where}: ratings.workers: expected an integer >= 0 (0 means all cores)")
    q = config.questions_config
    if q is None:
        if config.needs_questions:
            raise ConfigError(
                f"{where}: questions: required for the answers and reviews stages "
                "(a registry set such as mt_bench, or a path to a question file)"
            )
    elif q.limit is not None and q.limit < 1:
        raise ConfigError(f"{where}: questions.limit: expected an integer >= 1")
    _check_benchmarks(config, where)


def _check_jury(config: RunConfig, models: set[str], where: str) -> None:
    """A jury combines verdicts game by game, so its members must play the same games."""
    jury = config.jury
    assert jury is not None
    _check_name(jury.name, "jury.name", where)
    by_name = {j.name: j for j in config.judges}
    if jury.name in by_name or jury.name in models:
        raise ConfigError(f"{where}: jury.name: {jury.name!r} is already a judge or model name; name the jury apart")
    if len(jury.judges) < 2 or len(set(jury.judges)) != len(jury.judges):
        raise ConfigError(f"{where}: jury.judges: expected at least two different judge names, got {jury.judges}")
    unknown = [n for n in jury.judges if n not in by_name]
    if unknown:
        raise ConfigError(f"{where}: jury.judges: {unknown[0]!r} is not a configured judge; expected some of {', '.join(by_name)}")
    members = [by_name[n] for n in jury.judges]
    modes = {(j.mode, j.baseline) for j in members}
    if len(modes) > 1:
        shown = ", ".join(f"{j.name}: {j.mode}" + (f" against {j.baseline}" if j.baseline else "") for j in members)
        raise ConfigError(f"{where}: jury.judges: members must judge the same games (same mode and baseline); {shown}")
    for j in members:
        if j.pairs_per_question is not None or not j.both_orders:
            setting = "pairs_per_question" if j.pairs_per_question is not None else "both_orders: false"
            raise ConfigError(
                f"{where}: jury.judges: judge {j.name!r} sets {setting}, which draws its games by its own name, so the "
                "members would judge different games; remove it from the jury's members"
            )
    if jury.min_agreement is not None and not 0.0 <= jury.min_agreement <= 1.0:
        raise ConfigError(f"{where}: jury.min_agreement: expected a share in [0, 1]")


def _check_benchmarks(config: RunConfig, where: str) -> None:
    """The benchmarks' own settings; whether each model can run each style is checked later, in
    the run plan (arena.scoring.plan), where the provider modules are at hand."""
    if "scores" in config.stages and not config.benchmarks:
        raise ConfigError(f"{where}: benchmarks: the scores stage needs at least one benchmark (or leave 'scores' out of stages)")
    seen: set[str] = set()
    for i, bench in enumerate(config.benchmarks):
        key = f"benchmarks[{i}]"
        _check_name(bench.name, f"{key}.name", where)
        if bench.name in seen:
            raise ConfigError(f"{where}: {key}.name: duplicate benchmark name {bench.name!r}")
        seen.add(bench.name)
        if bench.kind == "exact_match":
            if bench.styles is not None:
                raise ConfigError(f"{where}: {key}.styles: only for kind 'multiple_choice' (exact match generates and compares)")
            if bench.length_normalization != "none":
                raise ConfigError(f"{where}: {key}.length_normalization: only for kind 'multiple_choice'")
        else:
            styles = bench.style_list
            if not styles:
                raise ConfigError(f"{where}: {key}.styles: expected at least one of {', '.join(MC_STYLES)}")
            if len(set(styles)) != len(styles):
                raise ConfigError(f"{where}: {key}.styles: each style may appear once")
            if bench.length_normalization != "none" and "text_logprob" not in styles:
                raise ConfigError(f"{where}: {key}.length_normalization: only used with style 'text_logprob'")
        if bench.k_shot < 0:
            raise ConfigError(f"{where}: {key}.k_shot: expected an integer >= 0")
        if bench.k_shot > 0 and bench.dev is None:
            raise ConfigError(f"{where}: {key}.dev: k_shot {bench.k_shot} needs a dev split to take the examples from (a file or folder)")
        if bench.limit is not None and bench.limit < 1:
            raise ConfigError(f"{where}: {key}.limit: expected an integer >= 1")
        if bench.subjects is not None and not bench.subjects:
            raise ConfigError(f"{where}: {key}.subjects: expected a non-empty list of subject names (or leave it out for all)")
        if bench.max_tokens < 1:
            raise ConfigError(f"{where}: {key}.max_tokens: expected an integer >= 1")
        if bench.columns is not None and not bench.columns.choices and bench.kind == "multiple_choice":
            raise ConfigError(f"{where}: {key}.columns.choices: expected the option columns, e.g. [A, B, C, D]")


def _check_name(name: str, key: str, where: str) -> None:
    if not _NAME.match(name):
        raise ConfigError(
            f"{where}: {key}: {name!r} must start with a letter or digit and hold only letters, digits, "
            "'.', '_', '+' or '-' (it names files); put a hub id or path in 'model'"
        )


def _check_generation(gen: GenerationConfig, key: str, where: str) -> None:
    if gen.max_tokens < 1:
        raise ConfigError(f"{where}: {key}.max_tokens: expected an integer >= 1")
    if gen.temperature is not None and not 0.0 <= gen.temperature <= 2.0:
        raise ConfigError(f"{where}: {key}.temperature: expected a number between 0 and 2")
    if gen.top_p is not None and not 0.0 < gen.top_p <= 1.0:
        raise ConfigError(f"{where}: {key}.top_p: expected a number in (0, 1]")
    if gen.n < 1:
        raise ConfigError(f"{where}: {key}.n: expected an integer >= 1")


def _check_client(client: ClientConfig, key: str, where: str) -> None:
    if client.base_url:
        # One spelling per endpoint: "…/v1" and "…/v1/" are the same server, and the endpoint is
        # part of cache keys and of a review's judge identity.
        client.base_url = client.base_url.rstrip("/")
    if client.timeout_s <= 0:
        raise ConfigError(f"{where}: {key}.timeout_s: expected a number of seconds > 0")
    if client.max_concurrency < 1:
        raise ConfigError(f"{where}: {key}.max_concurrency: expected an integer >= 1")
    for rate_key in ("requests_per_minute", "tokens_per_minute"):
        value = getattr(client, rate_key)
        if value is not None and value <= 0:
            raise ConfigError(f"{where}: {key}.{rate_key}: expected a number > 0 (or leave it out for no limit)")
    if client.max_retries < 0:
        raise ConfigError(f"{where}: {key}.max_retries: expected an integer >= 0")
    if client.batch_poll_s <= 0:
        raise ConfigError(f"{where}: {key}.batch_poll_s: expected a number of seconds > 0")
    if client.batch_retries < 0:
        raise ConfigError(f"{where}: {key}.batch_retries: expected an integer >= 0")
    if client.api_key_env is not None and (
        not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", client.api_key_env) or looks_like_key(client.api_key_env)
    ):
        # Never echo the value: it may be a key pasted in the wrong place.
        raise ConfigError(f"{where}: {key}.api_key_env: expected the name of an environment variable, not a key")


BATCH_PROVIDERS = ("openai", "anthropic", "openai_compatible")


def _check_batch(provider: str, client: ClientConfig, key: str, where: str) -> None:
    if client.batch and provider not in BATCH_PROVIDERS:
        raise ConfigError(
            f"{where}: {key}.batch: batch APIs are OpenAI's and Anthropic's (providers {', '.join(BATCH_PROVIDERS)}); "
            f"provider {provider!r} runs its calls directly"
        )


def _check_vllm(model: ModelConfig | JudgeConfig, key: str, where: str) -> None:
    v = model.vllm
    if not 0.0 < v.gpu_memory_utilization <= 1.0:
        raise ConfigError(f"{where}: {key}.vllm.gpu_memory_utilization: expected a fraction in (0, 1]")
    for size_key in ("tensor_parallel_size", "data_parallel_size", "max_concurrency"):
        if getattr(v, size_key) < 1:
            raise ConfigError(f"{where}: {key}.vllm.{size_key}: expected an integer >= 1")
    if v.max_model_len is not None and v.max_model_len < 16:
        raise ConfigError(f"{where}: {key}.vllm.max_model_len: expected an integer >= 16")
    if not 0 <= v.port <= 65535:
        raise ConfigError(f"{where}: {key}.vllm.port: expected a TCP port 1-65535, or 0 for any free port")
    if v.startup_timeout_s <= 0:
        raise ConfigError(f"{where}: {key}.vllm.startup_timeout_s: expected a number of seconds > 0")
    if v.data_parallel_backend != "auto" and v.mode == "server":
        raise ConfigError(f"{where}: {key}.vllm.data_parallel_backend: only used with vllm.mode 'offline' "
                          "(vLLM's server spreads data_parallel_size itself)")
    if v.extra_args and v.mode != "server":
        raise ConfigError(f"{where}: {key}.vllm.extra_args: only used with vllm.mode 'server' (extra flags for vLLM's server)")
    if v.url is not None:
        if v.mode != "server":
            raise ConfigError(f"{where}: {key}.vllm.url: only used with vllm.mode 'server' (a running server to send requests to)")
        if not v.url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}: {key}.vllm.url: expected an http:// or https:// address, got {v.url!r}")


# Well-known model-id prefixes -> model family, for the self-preference report when the config
# sets no `family`. Matched on the model id's last path part, case-insensitively.
FAMILY_PREFIXES = (
    (("gpt-", "gpt4", "chatgpt", "o1", "o3", "o4", "text-davinci"), "openai"),
    (("claude",), "anthropic"),
    (("llama", "meta-llama", "vicuna"), "llama"),
    (("qwen",), "qwen"),
    (("mistral", "mixtral", "ministral"), "mistral"),
    (("gemini", "gemma"), "google"),
    (("deepseek",), "deepseek"),
    (("phi-", "phi3", "phi4"), "microsoft"),
    (("command",), "cohere"),
)


def family_of(explicit: str | None, model_id: str | None) -> str | None:
    """The configured family, else one inferred from a well-known model id, else None."""
    if explicit:
        return explicit
    if not model_id:
        return None
    name = model_id.rsplit("/", 1)[-1].lower()
    return next((family for prefixes, family in FAMILY_PREFIXES if name.startswith(prefixes)), None)


def check_api_keys(config: RunConfig) -> None:
    """Before any call: every API provider that will run has its key in the environment.
    The message names the variable, never a value."""
    if config.dry_run:
        return
    where = str(config.source_path)
    wanted: list[tuple[str, str, ClientConfig]] = []
    if "answers" in config.stages or "scores" in config.stages:
        wanted += [(f"models[{i}]", m.provider, m.client) for i, m in enumerate(config.models)]
    if "reviews" in config.stages:
        wanted += [(f"judges[{i}]", j.provider, j.client) for i, j in enumerate(config.judges)]
    for key, provider, client in wanted:
        env = api_key_env(provider, client)
        if env is None:
            continue
        if not os.environ.get(env):
            raise ConfigError(
                f"{where}: {key}.client.api_key_env: environment variable {env} is not set; "
                f"export it (the key is read from the environment only)"
            )


# Prefixes of well-known providers' keys that would also pass as environment variable names.
KEY_PREFIXES = ("sk_", "gsk_", "fw_", "hf_", "xai_", "pk_", "r8_", "AIza", "pplx_", "nvapi_", "csk_")


def looks_like_key(value: str) -> bool:
    """Whether a would-be environment variable name looks like a key itself: a known key prefix,
    or long and mixing lower case, upper case and digits (variable names are UPPER_SNAKE or at
    least not random)."""
    if value.startswith(KEY_PREFIXES):
        return True
    mixed = any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value)
    return len(value) >= 24 and mixed


def api_key_env(provider: str, client: ClientConfig) -> str | None:
    """The environment variable holding this provider's key, or None where none is needed."""
    if client.api_key_env:
        return client.api_key_env
    return DEFAULT_KEY_ENV.get(provider)
