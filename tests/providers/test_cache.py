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


# --- the store: append-only shards -------------------------------------------------------------

def _answer(i: int, text: str = ""):
    from arena.providers.base import ChatResponse

    return ChatResponse(texts=[text or f"verdict {i} [[A]]"], prompt_tokens=10 + i, output_tokens=3,
                        finish_reasons=["stop"], model="judge-1")


def _key(i: int) -> str:
    import hashlib

    return hashlib.sha256(str(i).encode()).hexdigest()


def _shards(root):
    return sorted(p for p in root.iterdir() if p.suffix == ".jsonl")


def test_entries_go_to_one_shard_and_a_new_cache_object_finds_them(tmp_path):
    from arena.providers.cache import ResponseCache

    root = tmp_path / "cache"
    with ResponseCache(root) as cache:
        assert cache.get(_key(0)) is None
        for i in range(50):
            cache.put(_key(i), _answer(i))
        assert cache.get(_key(7)).texts == ["verdict 7 [[A]]"]  # its own entries, before closing
    assert [p.name for p in root.iterdir()] == [_shards(root)[0].name]  # one file, no folders
    assert _shards(root)[0].stat().st_size < 50 * 200  # small entries
    with ResponseCache(root) as again:
        hit = again.get(_key(42))
        assert hit.cached and hit.texts == ["verdict 42 [[A]]"] and hit.prompt_tokens == 52
        assert hit.finish_reasons == ["stop"] and hit.model == "judge-1"
        assert again.get(_key(50)) is None


def test_all_hits_write_nothing(tmp_path):
    from arena.providers.cache import ResponseCache

    root = tmp_path / "cache"
    with ResponseCache(root) as cache:
        cache.put(_key(1), _answer(1))
    with ResponseCache(root) as cache:
        assert cache.get(_key(1)) is not None
    assert len(_shards(root)) == 1


def test_torn_last_line_of_a_killed_writer_is_skipped(tmp_path):
    from arena.providers.cache import ResponseCache

    root = tmp_path / "cache"
    with ResponseCache(root) as cache:
        cache.put(_key(1), _answer(1))
        cache.put(_key(2), _answer(2))
    shard = _shards(root)[0]
    whole = shard.read_bytes()
    shard.write_bytes(whole[: whole.rindex(b"\n", 0, len(whole) - 1) + 30])  # the second line cut mid-way
    with ResponseCache(root) as cache:
        assert cache.get(_key(1)).texts == ["verdict 1 [[A]]"]
        assert cache.get(_key(2)) is None
        cache.put(_key(2), _answer(2, "asked again"))  # lands in a new shard, whole
    with ResponseCache(root) as cache:
        assert cache.get(_key(2)).texts == ["asked again"]


def test_two_writers_in_one_folder_keep_separate_shards_and_a_shared_key_is_either_answer(tmp_path):
    from arena.providers.cache import ResponseCache

    root = tmp_path / "cache"
    one, two = ResponseCache(root), ResponseCache(root)
    one.get(_key(0)), two.get(_key(0))  # both indexed the empty folder
    for i in range(20):
        one.put(_key(i), _answer(i, f"one {i}"))
        two.put(_key(i + 10), _answer(i + 10, f"two {i + 10}"))
    one.close(), two.close()
    assert len(_shards(root)) == 2
    with ResponseCache(root) as reader:
        assert reader.get(_key(3)).texts == ["one 3"] and reader.get(_key(25)).texts == ["two 25"]
        assert reader.get(_key(15)).texts[0] in ("one 15", "two 15")


def test_an_entry_that_does_not_parse_is_asked_again(tmp_path, caplog):
    from arena.providers.cache import ResponseCache

    root = tmp_path / "cache"
    with ResponseCache(root) as cache:
        cache.put(_key(1), _answer(1))
    shard = _shards(root)[0]
    shard.write_bytes(shard.read_bytes().replace(b'"texts":[', b'"texts":[}'))
    with caplog.at_level("WARNING"), ResponseCache(root) as cache:
        assert cache.get(_key(1)) is None
    assert any("unreadable" in r.getMessage() for r in caplog.records)


def test_entries_of_the_old_one_file_per_entry_layout_still_hit(tmp_path):
    import json

    from arena.providers.cache import ResponseCache

    root = tmp_path / "cache"
    key = _key(9)
    (root / key[:2]).mkdir(parents=True)
    (root / key[:2] / f"{key}.json").write_text(json.dumps(
        {"v": 1, "texts": ["old [[B]]"], "prompt_tokens": 5, "output_tokens": 2, "finish_reasons": ["stop"], "model": "m"}))
    with ResponseCache(root) as cache:
        assert cache.get(key).texts == ["old [[B]]"]
        assert cache.get(_key(8)) is None
        cache.put(_key(8), _answer(8))
    with ResponseCache(root) as cache:
        assert cache.get(_key(8)) is not None and cache.get(key) is not None


def test_many_finished_shards_are_merged_but_a_live_writers_shard_is_left_alone(tmp_path, monkeypatch):
    from arena.providers import cache as cache_mod
    from arena.providers.cache import ResponseCache

    root = tmp_path / "cache"
    live = ResponseCache(root)
    live.put(_key(1000), _answer(1000, "live before"))
    monkeypatch.setattr(cache_mod, "COMPACT_ABOVE", 10**6)  # no merging while the runs pile up
    for run in range(16 + 2):  # finished runs: one shard each
        with ResponseCache(root) as cache:
            cache.put(_key(run), _answer(run))
            cache.put(_key(999), _answer(999, "same question, every run"))
    monkeypatch.setattr(cache_mod, "COMPACT_ABOVE", 16)
    live_shard = next(p for p in _shards(root) if b"live before" in p.read_bytes())
    assert len(_shards(root)) == 16 + 3
    with ResponseCache(root) as opened:
        assert opened.get(_key(5)).texts == ["verdict 5 [[A]]"]
    shards = _shards(root)
    assert len(shards) == 2 and live_shard in shards  # the merged one and the live writer's
    merged = next(p for p in shards if p != live_shard).read_bytes()
    assert merged.count(_key(999).encode()) == 1  # duplicates collapsed
    live.put(_key(1001), _answer(1001, "live after"))  # the live writer's shard still receives
    live.close()
    with ResponseCache(root) as cache:
        got = {i: cache.get(_key(i)) for i in [*range(16 + 2), 999, 1000, 1001]}
    assert all(r is not None for r in got.values())
    assert got[1001].texts == ["live after"] and got[999].texts == ["same question, every run"]


def test_a_shard_merged_away_after_the_listing_is_found_in_the_merged_one(tmp_path, monkeypatch):
    import os

    from arena.providers.cache import ResponseCache

    root = tmp_path / "cache"
    with ResponseCache(root) as cache:
        cache.put(_key(1), _answer(1))
    shard = _shards(root)[0]
    stale = [shard.name]
    shard.rename(root / "merged.jsonl")  # what another run's compaction does between our listing and our reads
    real = os.listdir
    calls = []

    def listdir(path):
        calls.append(path)
        return stale if len(calls) <= 2 else real(path)

    monkeypatch.setattr("arena.providers.cache.os.listdir", listdir)
    with ResponseCache(root) as cache:
        assert cache.get(_key(1)).texts == ["verdict 1 [[A]]"]
    assert len(calls) == 3


def test_a_fragment_left_by_a_short_write_never_hides_a_good_copy(tmp_path, monkeypatch):
    """A full disk cut an entry short and the next entry's newline ended the fragment: reading
    and merging both skip it in favour of the whole entry in another shard."""
    from arena.providers import cache as cache_mod
    from arena.providers.cache import ResponseCache, encode_entry

    root = tmp_path / "cache"
    root.mkdir()
    whole = encode_entry(_key(1), _answer(1, "the good answer"))
    # Named to sort (and be read) first.
    (root / "000-fragment.jsonl").write_bytes(whole[: len(whole) // 2] + b"\n" + encode_entry(_key(2), _answer(2)))
    (root / "999-good.jsonl").write_bytes(whole)
    with ResponseCache(root) as cache:
        assert cache.get(_key(1)).texts == ["the good answer"] and cache.get(_key(2)) is not None
    monkeypatch.setattr(cache_mod, "COMPACT_ABOVE", 1)  # merge the two
    with ResponseCache(root) as cache:
        cache.get(_key(2))
    assert len(_shards(root)) == 1
    with ResponseCache(root) as cache:
        assert cache.get(_key(1)).texts == ["the good answer"]


def test_a_failed_write_is_cut_back_so_the_shard_holds_whole_entries_only(tmp_path, monkeypatch):
    from arena.providers import cache as cache_mod
    from arena.providers.cache import ResponseCache

    root = tmp_path / "cache"
    cache = ResponseCache(root)
    cache.put(_key(1), _answer(1))
    real_write = cache_mod.os.write
    monkeypatch.setattr(cache_mod.os, "write", lambda fd, data: real_write(fd, data[:10]))  # a full disk
    try:
        cache.put(_key(2), _answer(2))
    except OSError:
        pass
    monkeypatch.setattr(cache_mod.os, "write", real_write)
    cache.put(_key(3), _answer(3))
    cache.close()
    (shard,) = _shards(root)
    assert shard.read_bytes().count(b"\n") == 2 and all(line.endswith(b"}") for line in shard.read_bytes().split(b"\n")[:-1])
    with ResponseCache(root) as again:
        assert again.get(_key(1)) and again.get(_key(3)) and again.get(_key(2)) is None


def test_answers_stored_after_the_folder_was_cleared_mid_run_are_found_by_the_next_run(tmp_path):
    import shutil

    from arena.providers.cache import ResponseCache

    root = tmp_path / "cache"
    cache = ResponseCache(root)
    cache.put(_key(1), _answer(1))
    shutil.rmtree(root)  # the user cleared the cache while a run was writing to it
    cache.put(_key(2), _answer(2))
    cache.close()
    with ResponseCache(root) as later:
        assert later.get(_key(2)).texts == ["verdict 2 [[A]]"]


def test_temporaries_of_a_killed_merge_are_removed_once_stale(tmp_path):
    import os
    import time

    from arena.providers.cache import STALE_TEMPORARY_S, ResponseCache

    root = tmp_path / "cache"
    with ResponseCache(root) as cache:
        cache.put(_key(1), _answer(1))
    old, fresh = root / ".123-abc.new", root / ".456-def.new"
    old.write_bytes(b"partial merge")
    fresh.write_bytes(b"a merge in progress elsewhere")
    past = time.time() - STALE_TEMPORARY_S - 60
    os.utime(old, (past, past))
    with ResponseCache(root) as cache:
        assert cache.get(_key(1)) is not None
    assert not old.exists() and fresh.exists()
