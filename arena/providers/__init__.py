"""Providers: one module per backend, each exposing `create(cfg) -> Provider`.

`make_provider` picks the module named by the config's `provider`, or the simulator in a dry run.
Modules are imported only when used, so vLLM (and even the API clients) load only where needed.
"""

from __future__ import annotations

import importlib

from arena.config import JudgeConfig, ModelConfig, RunConfig
from arena.providers.base import Provider
from arena.providers.simulated import SimulatedProvider, derived_strength

# provider name in configs -> module under arena.providers
MODULES = {
    "openai": "openai_api",
    "anthropic": "anthropic_api",
    "openai_compatible": "openai_api",
    "vllm": "vllm_engine",
}


def latent_strengths(run: RunConfig) -> dict[str, float]:
    """Every candidate's latent strength for the simulated judge (configured or derived)."""
    return {
        m.name: m.simulated.strength if m.simulated.strength is not None else derived_strength(m.name)
        for m in run.models
    }


def cache_identity(cfg: ModelConfig | JudgeConfig, run: RunConfig) -> tuple[str, ...]:
    """The identity a provider keys its cached answers by, without building the provider (no
    key needed): `arena plan` looks answers up with it. Empty where nothing is cached."""
    if run.dry_run or cfg.provider == "simulated":
        return ()
    if cfg.provider == "vllm":
        return ("vllm-server", cfg.model_id) if cfg.vllm.mode == "server" else ("vllm", cfg.model_id)
    return (cfg.provider, cfg.model_id, cfg.client.base_url or "")


def make_provider(cfg: ModelConfig | JudgeConfig, run: RunConfig) -> Provider:
    """The provider for a candidate or a judge; the seeded simulator when the run is a dry run."""
    if run.dry_run or cfg.provider == "simulated":
        if isinstance(cfg, JudgeConfig):
            return SimulatedProvider(
                cfg.name, seed=run.seed, strengths=latent_strengths(run), judge=cfg.simulated,
                latency_s=cfg.simulated.latency_s, client=cfg.client,
            )
        return SimulatedProvider(
            cfg.name, seed=run.seed, strengths=latent_strengths(run), verbosity=cfg.simulated.verbosity,
            latency_s=cfg.simulated.latency_s, client=cfg.client,
        )
    module = importlib.import_module(f"arena.providers.{MODULES[cfg.provider]}")
    return module.create(cfg)
