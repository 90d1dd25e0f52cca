"""Cost of calls from token counts and the registry's price table (or a config override).

Batch APIs (OpenAI's Batch API, Anthropic's Message Batches) charge their own rate, half the
standard one for every model both vendors list; where neither the table nor the override names a
batch price, it is taken as half the standard one.
"""

from __future__ import annotations

from arena.config import PriceConfig
from arena.registry import prices


def price_for(model_id: str, override: PriceConfig | None = None, *, batch: bool = False) -> tuple[float, float] | None:
    """(USD per million input tokens, per million output tokens), at batch rates with `batch`,
    or None where unknown."""
    if override is not None:
        if not batch:
            return override.input_per_mtok, override.output_per_mtok
        return (override.batch_input_per_mtok if override.batch_input_per_mtok is not None else override.input_per_mtok / 2,
                override.batch_output_per_mtok if override.batch_output_per_mtok is not None else override.output_per_mtok / 2)
    entry = prices().get(model_id)
    if entry is None:
        return None
    return (entry[2], entry[3]) if batch else (entry[0], entry[1])


def cost_usd(price: tuple[float, float] | None, prompt_tokens: int, output_tokens: int) -> float:
    if price is None:
        return 0.0
    return (prompt_tokens * price[0] + output_tokens * price[1]) / 1e6
