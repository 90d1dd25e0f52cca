"""A content-addressed cache of chat responses: the same question to the same model is paid once.

The key is a SHA-256 over what decides the answer: the provider kind, the model id, the endpoint
(`Provider.cache_identity`), the full messages and the sampling settings. Nothing else goes in,
so a re-run, a resumed run or a second config asking the same question of the same judge all
hit the same entry. Entries hold the response only (texts, token counts, finish reasons, the
model that answered); never a key or header.

One JSON file per entry under `<root>/<first two hex digits>/<key>.json`, written to a temporary
file and renamed, so a reader (another process too) sees a whole entry or none; two writers of
one key write the same answer, and the last rename wins. Entries are not fsynced: the cache
guards against paying twice after a crash of the process (the entry reaches the OS before the
caller records the result), not against a power cut, which the records files do not survive
either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from arena.providers.base import CallFailed, ChatRequest, ChatResponse, OnResult, Provider

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path("data") / "cache"
FORMAT = 1


def cache_key(identity: tuple[str, ...], request: ChatRequest) -> str:
    """The entry's name: a hash of the provider identity, the messages and the sampling."""
    blob = json.dumps(
        {"v": FORMAT, "identity": list(identity), "messages": request.messages, "sampling": request.sampling()},
        ensure_ascii=False, sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._folders: set[Path] = set()  # made already: one mkdir per folder, not per entry

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> ChatResponse | None:
        path = self.path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.warning("cache entry %s is unreadable; asking again", path)
            return None
        if not isinstance(data, dict) or data.get("v") != FORMAT or not isinstance(data.get("texts"), list):
            return None
        return ChatResponse(
            texts=[str(t) for t in data["texts"]],
            prompt_tokens=int(data.get("prompt_tokens", 0)),
            output_tokens=int(data.get("output_tokens", 0)),
            latency_s=0.0,
            finish_reasons=list(data.get("finish_reasons", [])),
            model=str(data.get("model", "")),
            cached=True,
        )

    def put(self, key: str, response: ChatResponse) -> None:
        entry: dict[str, Any] = {
            "v": FORMAT,
            "texts": response.texts,
            "prompt_tokens": response.prompt_tokens,
            "output_tokens": response.output_tokens,
            "finish_reasons": response.finish_reasons,
            "model": response.model,
        }
        data = json.dumps(entry, ensure_ascii=False).encode("utf-8")
        path = self.path(key)
        # Named by process and thread, so concurrent writers never share a temporary file (and
        # no mkstemp: its random names and chmod were half the cost of a put).
        tmp = path.parent / f".{key[:12]}.{os.getpid()}.{threading.get_ident()}.tmp"
        if path.parent not in self._folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except FileNotFoundError:  # the folder was removed under us (cache cleared mid-run)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def run_batch_cached(
    provider: Provider, requests: list[ChatRequest], on_result: OnResult, cache: ResponseCache | None, *, progress: Any = None
) -> None:
    """`provider.run_batch` with the cache in front: hits are reported at once (cached=True),
    misses go to the provider and are stored before they are reported, so a crash after the
    caller's record was lost still finds the answer here instead of paying again."""
    if cache is None or not provider.cache_identity:
        provider.run_batch(requests, on_result, progress=progress)
        return
    misses: list[tuple[int, str]] = []
    for index, request in enumerate(requests):
        key = cache_key(provider.cache_identity, request)
        hit = cache.get(key)
        if hit is None:
            misses.append((index, key))
        else:
            on_result(index, hit)
    if not misses:
        return

    warned: list[bool] = []

    def store_then_report(j: int, result: ChatResponse | CallFailed) -> None:
        index, key = misses[j]
        if isinstance(result, ChatResponse):
            try:
                cache.put(key, result)
            except OSError as exc:
                # The answer is paid for: record it anyway; only a re-run's saving is lost.
                if not warned:
                    log.warning("response cache %s: cannot store answers (%s); results are kept in the run folder, "
                                "but a re-run will pay for them again", cache.root, exc.strerror or exc)
                    warned.append(True)
        on_result(index, result)

    provider.run_batch([requests[i] for i, _ in misses], store_then_report, progress=progress)
