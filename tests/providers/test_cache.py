"""The response cache around paid calls."""


def test_an_answer_the_cache_cannot_store_is_still_reported_with_one_warning(tmp_path, caplog):
    """A full disk or a broken cache folder costs a re-run's saving, never the paid answer."""
    from arena.providers.base import ChatRequest, ChatResponse, Provider
    from arena.providers.cache import ResponseCache, run_batch_cached

    class Paid(Provider):
        name = "paid"
        cache_identity = ("openai", "m", "")

        async def complete(self, request):
            return ChatResponse(texts=[f"answer to {request.messages[0]['content']}"])

    blocker = tmp_path / "file"
    blocker.write_text("x")
    requests = [ChatRequest(messages=[{"role": "user", "content": f"q{i}"}], max_tokens=4) for i in range(5)]
    got = {}
    with caplog.at_level("WARNING"):
        run_batch_cached(Paid(), requests, lambda i, r: got.__setitem__(i, r), ResponseCache(blocker / "cache"))
    assert sorted(got) == list(range(5)) and got[3].text == "answer to q3"
    assert sum("cannot store answers" in r.getMessage() for r in caplog.records) == 1
