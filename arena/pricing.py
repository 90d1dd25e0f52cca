"""Cost of calls from token counts and the registry's price table (or a config override)."""

from __future__ import annotations

from arena.config import PriceConfig
from arena.registry import prices


def price_for(model_id: str, override: PriceConfig | None = None) -> tuple[float, float] | None:
    """(USD per million input tokens, per million output tokens), or None where unknown."""
    if override is not None:
        return override.input_per_mtok, override.output_per_mtok
    return prices().get(model_id)


def cost_usd(price: tuple[float, float] | None, prompt_tokens: int, output_tokens: int) -> float:
    if price is None:
        return 0.0
    return (prompt_tokens * price[0] + output_tokens * price[1]) / 1e6
