"""`client.batch: true` through the reviews and answers stages, against the loopback fake of both
batch APIs (tests/providers/batch_server.py) driven by the official SDKs: verdicts equal a
real-time run's against the same fake, every fault recovered, a killed run resumes without
submitting anything twice, --no-wait submits and a later run collects, and the key is written
nowhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from arena.cli import main
from arena.config import ClientConfig
from arena.errors import DataError
from arena.providers.base import CallFailed, ChatRequest, ChatResponse, TransientError
from arena.providers.batch import BatchLookFailed, BatchProvider
from arena.providers.batch_apis import BatchState, Results, RowResult
from arena.providers.batch_journal import BatchJournal
from tests.conftest import REPO
from tests.providers.batch_server import BatchPlan, BatchServer
from tests.providers.judge_runs import KEY_ENV, judge_config, reviews, verdicts, write_questions

URLS = {"openai_compatible": "openai_url", "openai": "openai_url", "anthropic": "anthropic_url"}
PRICE = {"input_per_mtok": 4.0, "output_per_mtok": 16.0, "batch_input_per_mtok": 1.0, "batch_output_per_mtok": 3.0}


@pytest.fixture
def serve():
    servers: list[BatchServer] = []

    def start(batch_plan: BatchPlan | None = None) -> BatchServer:
        server = BatchServer(None, batch_plan)
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


def batch_config(tmp_path: Path, name: str, server: BatchServer, provider: str, questions: Path, *,
                 batch: bool = True, **client) -> Path:
    config = judge_config(tmp_path / name, questions, tmp_path / f"cache-{name}", provider=provider,
                          url=getattr(server, URLS[provider]), stream=False,
                          **({"batch": True, "batch_poll_s": 0.01, **client} if batch else client))
    config["judges"][0]["price"] = PRICE
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(path: Path, *extra: str) -> int:
    return main(["run", "-c", str(path), "--stages", "answers,reviews", *extra])


def summary(out: Path, judge: str = "judge") -> dict:
    return json.loads((out / "summary.json").read_text())["reviews"][judge]


@pytest.mark.parametrize("provider", ["openai_compatible", "anthropic"])
def test_every_fault_recovered_verdicts_equal_real_time(tmp_path, monkeypatch, serve, provider):
    """Expiry part-way, request-level errors, 500s on retrieve, shuffled rows and a torn row: every
    game gets the verdict a real-time run against the same fake gives, at batch prices."""
    monkeypatch.setenv(KEY_ENV, "sk-batch-test")
    questions = write_questions(tmp_path, count=10)  # 200 judge calls
    server = serve(BatchPlan(seed=4, polls_to_finish=2, expire_batches=frozenset({1}), expire_done_fraction=0.5,
                             request_error_rate=0.1, retrieve_500=3, shuffle_output=True, malformed_rows=2))
    assert run(batch_config(tmp_path, "batch", server, provider, questions)) == 0
    created = server.stats.batches_created
    assert run(batch_config(tmp_path, "live", server, provider, questions, batch=False)) == 0
    assert server.stats.batches_created == created  # the real-time run made no batch

    got, want = verdicts(tmp_path / "batch"), verdicts(tmp_path / "live")
    assert len(got) == 200 and got == want
    stats = server.stats
    assert stats.ended["expired"] == 1 and stats.retrieve_500s == 3 and stats.request_errors > 0
    assert len(stats.malformed_custom_ids) == 2
    # Every request was answered by batch; only expired, errored or torn ones went out twice.
    assert len(stats.submissions) == 200 and max(stats.submissions.values()) == 2
    assert created == 2  # the first batch, then one of everything it did not answer
    rows = reviews(tmp_path / "batch")
    assert all(r.status == "ok" and not r.cached for r in rows)
    tokens_in, tokens_out = sum(r.prompt_tokens for r in rows), sum(r.output_tokens for r in rows)
    s = summary(tmp_path / "batch")
    assert s["calls_batch_this_run"] == s["calls_paid_this_run"] == 200 and s["failed"] == 0
    assert s["cost_usd_total"] == pytest.approx((tokens_in * 1.0 + tokens_out * 3.0) / 1e6, rel=1e-6)
    assert s["cost_usd_batch_this_run"] == pytest.approx(s["cost_usd_total"], rel=1e-6)
    assert len(s["batches_this_run"]) == 2 and s["batch_pending"] == 0
    live = summary(tmp_path / "live")
    assert live["calls_batch_this_run"] == 0
    assert live["cost_usd_total"] == pytest.approx((tokens_in * 4.0 + tokens_out * 16.0) / 1e6, rel=1e-6)
    # The journal names both batches and holds every answer.
    journal = BatchJournal.open(tmp_path / "batch" / "batches" / "reviews-judge.jsonl")
    assert sorted(journal.batch_ids()) == sorted(s["batches_this_run"])
    assert len(journal.results) == 200 and not any(sub.open for sub in journal.submissions.values())


def test_rerun_after_batches_pays_nothing(tmp_path, monkeypatch, serve):
    monkeypatch.setenv(KEY_ENV, "sk-batch-test")
    questions = write_questions(tmp_path, count=3)
    server = serve(BatchPlan(polls_to_finish=1))
    path = batch_config(tmp_path, "batch", server, "openai_compatible", questions)
    assert run(path) == 0
    (tmp_path / "batch" / "reviews" / "judge.jsonl").unlink()  # the cache still holds every answer
    assert run(path) == 0
    assert server.stats.batches_created == 1 and len(verdicts(tmp_path / "batch")) == 60
    assert summary(tmp_path / "batch")["calls_cached_this_run"] == 60


def test_no_wait_submits_and_exits_3_then_the_next_runs_collect(tmp_path, monkeypatch, serve, capsys):
    monkeypatch.setenv(KEY_ENV, "sk-batch-test")
    questions = write_questions(tmp_path, count=3)
    server = serve(BatchPlan(polls_to_finish=2))
    path = batch_config(tmp_path, "batch", server, "anthropic", questions)
    assert run(path, "--no-wait") == 3
    err = capsys.readouterr().err
    assert "60 judge calls wait in submitted batches" in err and "run the same command again" in err
    assert server.stats.batches_created == 1
    assert not (tmp_path / "batch" / "reviews" / "judge.jsonl").exists() or not reviews(tmp_path / "batch")
    assert summary(tmp_path / "batch")["batch_pending"] == 60
    assert run(path, "--no-wait") == 3  # still running: looked at once more
    assert run(path, "--no-wait") == 0  # ended: collected, battles and all
    assert server.stats.batches_created == 1 and len(verdicts(tmp_path / "batch")) == 60
    assert (tmp_path / "batch" / "battles.jsonl").stat().st_size > 0


def _cli(path: Path) -> list[str]:
    return [sys.executable, "-m", "arena.cli", "run", "-c", str(path), "--stages", "answers,reviews"]


@pytest.mark.parametrize("provider", ["openai_compatible", "anthropic"])
def test_sigkill_while_polling_resumes_the_same_batches(tmp_path, monkeypatch, serve, provider):
    """SIGKILL while the run polls; the resumed run polls the batches the journal names and
    creates none for the requests already submitted. The canary key is in no file written."""
    canary = f"sk-CANARY-{uuid.uuid4().hex}"
    questions = write_questions(tmp_path, count=5)  # 100 judge calls
    server = serve(BatchPlan(polls_to_finish=10_000, request_error_rate=0.1, seed=2))
    path = batch_config(tmp_path, "killed", server, provider, questions, batch_poll_s=0.05)
    env = {**os.environ, "PYTHONPATH": str(REPO), KEY_ENV: canary}
    proc = subprocess.Popen(_cli(path), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while server.stats.retrieves < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()  # type: ignore[union-attr]
    assert server.stats.batches_created == 1
    server.batch_plan.polls_to_finish = 1  # the batch ends at the next look but one
    resumed = subprocess.run(_cli(path), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    stats = server.stats
    # One batch for the first asks, one for the request errors: nothing submitted twice but those.
    assert stats.batches_created == 2
    errored = stats.request_errors
    assert errored > 0 and sum(n == 2 for n in stats.submissions.values()) == errored
    assert max(stats.submissions.values()) == 2 and len(stats.submissions) == 100
    assert len(verdicts(tmp_path / "killed")) == 100
    assert canary in stats.auth  # the key did reach the server
    for folder in (tmp_path / "killed", tmp_path / "cache-killed", tmp_path):
        for file in folder.rglob("*"):
            if file.is_file():
                assert canary.encode() not in file.read_bytes(), file
    assert canary not in resumed.stdout + resumed.stderr


@pytest.mark.parametrize("provider", ["openai_compatible", "anthropic"])
def test_killed_between_create_and_journal_finds_its_batch(tmp_path, monkeypatch, serve, provider):
    """The API accepted a batch but the run died before writing its id: the next run finds it
    (OpenAI: by its metadata tag; Anthropic: the one new batch of that size) and submits nothing."""
    monkeypatch.setenv(KEY_ENV, "sk-batch-test")
    questions = write_questions(tmp_path, count=2)
    server = serve(BatchPlan(polls_to_finish=1))
    path = batch_config(tmp_path, "lost", server, provider, questions)

    def dies(self, tag, batch_id):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(BatchJournal, "submitted", dies)
        assert run(path) == 130
    assert server.stats.batches_created == 1
    assert run(path) == 0
    assert server.stats.batches_created == 1 and max(server.stats.submissions.values()) == 1
    assert len(verdicts(tmp_path / "lost")) == 40


def test_split_at_the_apis_request_and_byte_limits(tmp_path, monkeypatch, serve):
    monkeypatch.setenv(KEY_ENV, "sk-batch-test")
    questions = write_questions(tmp_path, count=5)  # 100 judge calls
    server = serve(BatchPlan(polls_to_finish=0, max_requests=30, max_bytes=40_000))
    monkeypatch.setattr("arena.providers.batch_apis.LIMITS", {"openai": (30, 40_000), "anthropic": (30, 40_000)})
    monkeypatch.setattr("arena.providers.batch_apis.ENVELOPE_BYTES", 0)
    for provider in ("openai_compatible", "anthropic"):
        before = server.stats.batches_created
        assert run(batch_config(tmp_path, provider, server, provider, questions)) == 0
        made = server.stats.batches_created - before
        assert made >= 4  # 100 requests at most 30 a batch; the bytes may cut sooner
        assert len(verdicts(tmp_path / provider)) == 100
    assert all(len(b.requests) <= 30 for b in server.batches.values())


def test_refused_requests_fail_at_once_and_retryable_ones_after_batch_retries(tmp_path, monkeypatch, serve, capsys):
    monkeypatch.setenv(KEY_ENV, "sk-refused-key")
    questions = write_questions(tmp_path, count=1)  # 20 judge calls
    for provider in ("openai_compatible", "anthropic"):
        server = serve(BatchPlan(polls_to_finish=0))
        path = batch_config(tmp_path, f"refused-{provider}", server, provider, questions)
        config = yaml.safe_load(path.read_text())
        config["judges"][0]["model"] = "reject-me"  # every request errs with a 401 that echoes the key
        path.write_text(yaml.safe_dump(config))
        assert run(path) == 1
        assert max(server.stats.submissions.values()) == 1  # a refusal is not resubmitted
        s = summary(tmp_path / f"refused-{provider}")
        assert s["failed"] == 20 and "authentication_error" in s["first_failure"], s["first_failure"]
        assert "sk-refused-key" not in s["first_failure"] and "***" in s["first_failure"]
        assert "sk-refused-key" not in capsys.readouterr().err

    server2 = serve(BatchPlan(polls_to_finish=0, expire_batches=frozenset(range(1, 20)), expire_done_fraction=0.0))
    path = batch_config(tmp_path, "expiring", server2, "anthropic", questions, batch_retries=2)
    assert run(path) == 1
    assert server2.stats.batches_created == 3 and max(server2.stats.submissions.values()) == 3
    s = summary(tmp_path / "expiring")
    assert s["failed"] == 20 and "expired" in s["first_failure"] and "after 3 batches" in s["first_failure"]
    # The next run (the API healthy again) asks exactly those.
    server2.batch_plan.expire_batches = frozenset()
    assert run(path) == 0 and len(verdicts(tmp_path / "expiring")) == 20


def test_api_candidates_answer_by_batch_turn_by_turn(tmp_path, monkeypatch, serve):
    monkeypatch.setenv(KEY_ENV, "sk-batch-test")
    server = serve(BatchPlan(polls_to_finish=1))
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"question_id": f"q{i}", "category": "writing",
                                             "turns": [f"First {i}?", f"Then {i}?"]}) + "\n" for i in range(4)))
    client = {"base_url": server.openai_url, "api_key_env": KEY_ENV, "batch": True, "batch_poll_s": 0.01}
    config = {
        "name": "cands", "output_dir": str(tmp_path / "cands"), "questions": str(questions),
        "cache_dir": str(tmp_path / "cache"), "stages": ["answers"],
        "models": [{"name": "api", "provider": "openai_compatible", "model": "cand-model", "client": client,
                    "generation": {"max_tokens": 32, "temperature": 0.0}},
                   {"name": "sim", "provider": "simulated"}],
        "judges": [],
    }
    path = tmp_path / "cands.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", "-c", str(path), "--no-wait"]) == 3  # turn 1 submitted, turn 2 must wait for it
    assert server.stats.batches_created == 1
    assert main(["run", "-c", str(path), "--no-wait"]) == 3  # turn 1 collected, turn 2 submitted
    assert server.stats.batches_created == 2
    assert main(["run", "-c", str(path)]) == 0
    # This run reported turn 1 from the journal (collected by the last one) and turn 2 by batch.
    answers = [json.loads(line) for line in (tmp_path / "cands" / "answers" / "api.jsonl").read_text().splitlines()]
    assert len(answers) == 4 and all(len(a["choices"][0]["turns"]) == 2 for a in answers)
    summary_answers = json.loads((tmp_path / "cands" / "summary.json").read_text())["answers"]["api"]
    assert summary_answers["batch_pending"] == 0 and summary_answers["calls_batch_this_run"] == 8
    assert server.stats.batches_created == 2 and max(server.stats.submissions.values()) == 1


@pytest.mark.parametrize("entry,message", [
    ({"provider": "vllm", "model": "m", "client": {"batch": True}}, "client.batch: batch APIs are OpenAI's and Anthropic's"),
    ({"provider": "openai", "model": "gpt-4o", "client": {"batch": True, "batch_poll_s": 0}}, "client.batch_poll_s"),
    ({"provider": "openai", "model": "gpt-4o", "client": {"batch": True, "batch_retries": -1}}, "client.batch_retries"),
])
def test_batch_settings_checked_up_front(tmp_path, capsys, entry, message):
    config = {"name": "bad", "output_dir": str(tmp_path / "out"), "questions": "mt_bench_sample",
              "models": [{"name": "a", "provider": "simulated"}, {"name": "b", "provider": "simulated"}],
              "judges": [{"name": "j", "mode": "pairwise-all", "template": "pairwise-abc", **entry}]}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", "-c", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"judges[0].{message}" in err[0] and str(path) in err[0]


def test_journal_survives_a_torn_line_and_refuses_a_foreign_one(tmp_path):
    path = tmp_path / "batches" / "reviews-j.jsonl"
    journal = BatchJournal.open(path)
    journal.submitting("t1", "openai", ["a" * 64, "b" * 64])
    journal.submitted("t1", "batch_1")
    journal.ended("t1", "completed", {"a" * 64: ChatResponse(texts=["[[A]]"], prompt_tokens=5, output_tokens=2)}, 1)
    journal.submitting("t2", "openai", ["b" * 64])
    journal.close()
    with path.open("ab") as handle:
        handle.write(b'{"e":"batch","tag":"t2","i')  # a killed writer's half line
    again = BatchJournal.open(path)
    assert again.submissions["t1"].ended and again.submissions["t2"].batch is None and again.submissions["t2"].open
    assert again.results["a" * 64].texts == ["[[A]]"]
    again.submitted("t2", "batch_2")  # the torn tail is cut before the next line
    again.close()
    third = BatchJournal.open(path)
    assert third.submissions["t2"].batch == "batch_2" and third.batch_ids() == ["batch_1", "batch_2"]
    with path.open("ab") as handle:
        handle.write(b'{"not": "ours"}\n')
    with pytest.raises(DataError, match=r"reviews-j.jsonl: line 7: not a batch journal entry"):
        BatchJournal.open(path)


def test_plan_counts_a_batched_judge_at_batch_rates(tmp_path, monkeypatch, serve, capsys):
    questions = write_questions(tmp_path, count=2)
    server = serve()
    path = batch_config(tmp_path, "planned", server, "anthropic", questions)
    assert main(["plan", "-c", str(path), "--json", "--stages", "reviews"]) == 0
    plan = json.loads(capsys.readouterr().out)
    line = next(entry for entry in plan["lines"] if entry["stage"] == "reviews")
    assert line["batch"] is True and line["batch_cost_usd"] > 0
    assert plan["total"]["expected_usd"] == pytest.approx(plan["total"]["batch_cost_usd"])
    assert plan["total"]["batch_cost_usd"] < plan["total"]["cost_usd"]
    assert server.stats.batches_created == 0 and not server.stats.auth  # no call made


# -- the orchestration against a scripted API (arena.providers.batch_apis.BatchApi's interface) --

class ScriptedApi:
    """A batch API in memory: batches end at their first look with every request answered,
    except as the test scripts it (creates lost in transit, 404s, errors, failed batches)."""

    api = "openai"
    limits = (1000, 10**9)

    def __init__(self, looks: int = 1):
        self.looks = looks  # a batch ends at this look
        self.seen: dict[str, int] = {}
        self.created: dict[str, tuple[str, list[str]]] = {}  # id -> (tag, custom ids)
        self.lose_create_replies = 0  # creates that reach the API but whose reply is lost
        self.not_found: set[str] = set()
        self.errors: set[str] = set()  # custom ids that always come back with a 500
        self.fail_whole = 0  # batches failed whole with token_limit_exceeded

    def encode(self, key, request):
        return key, 100

    def submit(self, items, tag):
        batch_id = f"batch_{len(self.created)}"
        self.created[batch_id] = (tag, list(items))
        if self.lose_create_replies:
            self.lose_create_replies -= 1
            raise TransientError("connection: ReadTimeout")
        return batch_id

    def state(self, batch_id):
        if batch_id in self.not_found:
            failed = CallFailed("HTTP 404: not_found_error")
            failed.status = 404
            raise failed
        self.seen[batch_id] = self.seen.get(batch_id, 0) + 1
        if self.seen[batch_id] < self.looks:
            return BatchState(batch_id, "in_progress", False)
        if self.fail_whole:
            self.fail_whole -= 1
            return BatchState(batch_id, "failed", True, failure="token_limit_exceeded: queue full", failure_retry=True)
        return BatchState(batch_id, "completed", True, total=len(self.created[batch_id][1]))

    def results(self, batch_id, state):
        return Results([RowResult(k, error="HTTP 500: boom") if k in self.errors
                        else RowResult(k, ChatResponse(texts=[f"answer {k[:6]}"], prompt_tokens=3, output_tokens=2, batch=True))
                        for k in self.created[batch_id][1]])

    def find(self, tag, count, since, known):
        return next((b for b, (t, _) in self.created.items() if t == tag and b not in known), None)


class Inner:
    name = "openai:scripted"
    cache_identity = ("openai", "scripted", "")
    client = ClientConfig(batch=True, batch_poll_s=0.001, batch_retries=2, max_retries=3)


def scripted_run(tmp_path, api, count=3, *, wait=True):
    provider = BatchProvider(Inner(), tmp_path / "batches" / "reviews-j.jsonl", wait=wait, api=api)
    got: dict[int, object] = {}
    try:
        requests = [ChatRequest(messages=[{"role": "user", "content": f"q{i}"}], max_tokens=8) for i in range(count)]
        provider.run_batch(requests, lambda i, r: got.__setitem__(i, r))
    finally:
        provider.close()
    return got, provider


def test_a_create_lost_in_transit_is_found_not_sent_again(tmp_path):
    api = ScriptedApi()
    api.lose_create_replies = 1
    got, _ = scripted_run(tmp_path, api)
    assert len(api.created) == 1 and all(isinstance(r, ChatResponse) for r in got.values()) and len(got) == 3


def test_a_batch_that_vanishes_is_resent_a_bounded_number_of_times(tmp_path):
    api = ScriptedApi()
    api.not_found = {f"batch_{i}" for i in range(100)}
    got, _ = scripted_run(tmp_path, api)
    assert len(api.created) == 3  # the first, then batch_retries (2) resubmissions
    assert all(isinstance(r, CallFailed) and "after 3 batches" in str(r) for r in got.values())


def test_an_earlier_runs_batch_unknown_now_stops_instead_of_paying_twice(tmp_path):
    api = ScriptedApi()
    _, provider = scripted_run(tmp_path, ScriptedApi(looks=2), wait=False)  # another API took it (another key)
    assert provider.pending == 3
    with pytest.raises(BatchLookFailed, match="submitted by an earlier run, is not known to the API"):
        api.not_found = {"batch_0"}
        api.created["batch_0"] = ("elsewhere", [])
        scripted_run(tmp_path, api)
    assert len(api.created) == 1  # nothing new sent


def test_misses_carry_over_between_no_wait_runs(tmp_path):
    api = ScriptedApi(looks=2)  # each no-wait run sees a batch end and sends its misses again
    keys = []
    for run_number in range(6):
        got, provider = scripted_run(tmp_path, api, count=1, wait=False)
        if run_number == 0:
            keys = [k for _, ks in api.created.values() for k in ks]
            api.errors = set(keys)
        if got:
            break
    assert len(api.created) == 3  # the first, then batch_retries (2) resubmissions, one per run
    assert isinstance(got[0], CallFailed) and "HTTP 500" in str(got[0])
    api.errors = set()  # a later run starts the count afresh, as for failed real-time calls
    got, _ = scripted_run(tmp_path, api, count=1)
    assert isinstance(got[0], ChatResponse)


def test_a_batch_failed_whole_for_a_full_queue_is_resubmitted(tmp_path):
    api = ScriptedApi()
    api.fail_whole = 1
    got, _ = scripted_run(tmp_path, api)
    assert len(api.created) == 2 and all(isinstance(r, ChatResponse) for r in got.values())


def test_a_torn_tail_longer_than_any_buffer_is_cut_whole(tmp_path):
    path = tmp_path / "j.jsonl"
    journal = BatchJournal.open(path)
    journal.submitting("t1", "openai", ["a" * 64])
    journal.submitted("t1", "b1")
    journal.close()
    with path.open("ab") as handle:
        handle.write(b'{"k":"' + b"a" * 64 + b'","v":1,"texts":["' + b"y" * 300_000)
    journal = BatchJournal.open(path)
    journal.submitting("t2", "openai", ["c" * 64])
    journal.close()
    again = BatchJournal.open(path)
    assert set(again.submissions) == {"t1", "t2"} and again.submissions["t1"].batch == "b1"
