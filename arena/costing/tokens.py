"""Counting a prompt's tokens before it is sent: exactly with the model's own tokenizer where one
is at hand here, otherwise an estimate from its length in characters that says it is one.

Exact: vLLM models (the model's tokenizer and chat template, through `transformers`, from local
files only) and OpenAI models (`tiktoken`, where its encoding files are already on this machine:
the plan makes no network call, so a download tiktoken would start is refused and counted as
"not installed"). Anthropic publishes no local tokenizer; its models, simulated ones and models
whose tokenizer is missing are estimated at CHARS_PER_TOKEN characters per token, or at the ratio
measured on that model's recorded calls of the same prompts where there are any (`calibrated`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from arena.config import JudgeConfig, ModelConfig

log = logging.getLogger(__name__)

#: English prose in the GPT-4 family's tokenizers runs at about four characters per token.
CHARS_PER_TOKEN = 4.0
#: OpenAI's chat format adds a few tokens per message (role and separators) and primes the reply.
OPENAI_TOKENS_PER_MESSAGE = 3
OPENAI_REPLY_PRIMING = 3


@dataclass
class TokenCounter:
    """Counts one model's prompt tokens. `exact` tells the report which kind of count it is;
    `basis` says how it was made, in words."""

    basis: str
    exact: bool = False
    chars_per_token: float = CHARS_PER_TOKEN
    encode: Any = None  # text -> token count (tiktoken)
    chat: Any = None  # messages -> token count (a chat template)

    def chat_tokens(self, messages: list[dict[str, str]]) -> int:
        if self.chat is not None:
            return int(self.chat(messages))
        if self.encode is not None:
            return sum(OPENAI_TOKENS_PER_MESSAGE + self.encode(m.get("content", "")) for m in messages) + OPENAI_REPLY_PRIMING
        return self.chars_tokens(sum(len(m.get("content", "")) for m in messages))

    def text_tokens(self, text: str) -> int:
        if self.encode is not None:
            return int(self.encode(text))
        return self.chars_tokens(len(text))

    def chars_tokens(self, chars: float) -> int:
        return int(round(chars / self.chars_per_token))

    def calibrated(self, recorded_tokens: int, chars: int, calls: int) -> TokenCounter:
        """This estimate with the ratio measured on `calls` recorded calls (exact counters stay)."""
        if self.exact or calls == 0 or recorded_tokens <= 0 or chars <= 0:
            return self
        ratio = chars / recorded_tokens
        return TokenCounter(basis=f"estimate: {ratio:.2f} characters per token, measured on {calls} recorded calls",
                            chars_per_token=ratio)


def estimate(why: str) -> TokenCounter:
    return TokenCounter(basis=f"estimate: {CHARS_PER_TOKEN:g} characters per token ({why})")


def counter_for(cfg: ModelConfig | JudgeConfig, dry_run: bool) -> TokenCounter:
    """The best counter for a model or judge's prompts on this machine."""
    if dry_run or cfg.provider == "simulated":
        return estimate("simulated")
    if cfg.provider == "vllm":
        return _hf_counter(cfg.model_id, cfg.vllm.trust_remote_code) or estimate("the model's tokenizer is not on this machine")
    if cfg.provider == "openai":
        return _tiktoken_counter(cfg.model_id) or estimate("tiktoken or its encoding files are not installed")
    if cfg.provider == "anthropic":
        return estimate("Anthropic publishes no local tokenizer")
    return estimate("no local tokenizer for this server's model")


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Refuse every outgoing connection in this block: a tokenizer library that would download
    its files fails at once instead of making a call the plan promised not to make."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError("arena plan makes no network calls")

    saved = socket.socket.connect, socket.create_connection, socket.getaddrinfo
    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.socket.connect, socket.create_connection, socket.getaddrinfo = saved  # type: ignore[method-assign]


@functools.cache
def _tiktoken_counter(model_id: str) -> TokenCounter | None:
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        with no_network():
            try:
                encoding = tiktoken.encoding_for_model(model_id)
            except KeyError:  # a model tiktoken does not know: the current generation's encoding
                encoding = tiktoken.get_encoding("o200k_base")
    except Exception as exc:  # a missing file (no download allowed), a corrupt one
        log.debug("tiktoken cannot count tokens for %s here: %s", model_id, exc)
        return None

    def encode(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    return TokenCounter(basis=f"exact: tiktoken {encoding.name}, plus {OPENAI_TOKENS_PER_MESSAGE} tokens of chat framing per message",
                        exact=True, encode=encode)


@functools.cache
def _hf_counter(model: str, trust_remote_code: bool) -> TokenCounter | None:
    try:
        import transformers
    except ImportError:
        return None
    try:
        with no_network():
            tokenizer = transformers.AutoTokenizer.from_pretrained(model, local_files_only=True,
                                                                   trust_remote_code=trust_remote_code)
    except Exception as exc:
        log.debug("no local tokenizer for %s: %s", model, exc)
        return None

    def chat(messages: list[dict[str, str]]) -> int:
        try:
            ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
        except Exception:  # no chat template: the text alone
            ids = tokenizer.encode("\n".join(m.get("content", "") for m in messages))
        if hasattr(ids, "keys"):  # newer transformers answer with a BatchEncoding
            ids = ids["input_ids"]
        return len(ids)

    def encode(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    return TokenCounter(basis="exact: the model's own tokenizer and chat template", exact=True, encode=encode, chat=chat)
