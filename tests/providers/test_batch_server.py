"""The loopback batch fake (batch_server.py) driven through the official openai and anthropic
SDKs: the round trips, answers equal to the real-time route's, each fault, the limits and the
counters. Every object the server sends is also validated strictly against the SDK's own types
(the SDKs build responses without validating, so a wrong shape would pass them silently)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import Message
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from openai.types import Batch, FileObject
from openai.types.chat import ChatCompletion

from tests.conftest import REPO
from tests.providers.batch_server import BatchPlan, BatchServer
from tests.providers.fault_server import FaultServer, Plan

KEY = "sk-test"
FORMATS = ("Answer with [[A]], [[B]] or [[C]].", "Say [[A>>B]], [[A>B]], [[A=B]], [[B>A]] or [[B>>A]].",
           "Rate the answer from 1 to 10.")


@pytest.fixture
def serve():
    servers: list[FaultServer] = []

    def start(plan: Plan | None = None, batch_plan: BatchPlan | None = None, *, fault_server: bool = False):
        server = FaultServer(plan) if fault_server else BatchServer(plan, batch_plan)
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


#: For the plain fault server, whose keep-alive replies wait out a delayed ACK (~40 ms) each.
CLOSE = {"Connection": "close"}


def openai_client(server: FaultServer, key: str = KEY, headers: dict[str, str] | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.openai_url, api_key=key, max_retries=0, default_headers=headers)


def anthropic_client(server: FaultServer, key: str = KEY, headers: dict[str, str] | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.anthropic_url, api_key=key, max_retries=0, default_headers=headers)


def chat_bodies(count: int, model: str = "judge-model") -> list[dict[str, Any]]:
    """Judge requests in each verdict format; every fifth a re-ask, every fourth asks logprobs."""
    bodies = []
    for i in range(count):
        messages = [{"role": "system", "content": f"You judge answers. {FORMATS[i % 3]}"},
                    {"role": "user", "content": f"Question {i}: which of the two answers is better?"}]
        if i % 5 == 4:
            messages += [{"role": "assistant", "content": "Both are fine."},
                         {"role": "user", "content": "Give only your verdict."}]
        body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": 64, "temperature": 0.0}
        if i % 4 == 1:
            body.update(logprobs=True, top_logprobs=3)
        bodies.append(body)
    return bodies


def message_params(count: int, model: str = "claude-judge") -> list[dict[str, Any]]:
    return [{"model": model, "max_tokens": 64, "system": f"You judge answers. {FORMATS[i % 3]}",
             "messages": [{"role": "user", "content": f"Question {i}: which of the two answers is better?"}]}
            for i in range(count)]


def submit_openai(client: openai.OpenAI, bodies: list[dict[str, Any]], ids: list[str] | None = None) -> Batch:
    ids = ids or [f"r{i}" for i in range(len(bodies))]
    lines = "".join(json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": body}) + "\n"
                    for cid, body in zip(ids, bodies))
    raw = client.files.with_raw_response.create(file=("requests.jsonl", lines.encode()), purpose="batch")
    uploaded = FileObject.model_validate(raw.http_response.json())
    assert uploaded.purpose == "batch" and uploaded.bytes == len(lines.encode()) and uploaded.id.startswith("file-")
    raw = client.batches.with_raw_response.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                                  completion_window="24h", metadata={"run": "test"})
    Batch.model_validate(raw.http_response.json())
    return raw.parse()


def submit_anthropic(client: anthropic.Anthropic, params: list[dict[str, Any]], ids: list[str] | None = None) -> MessageBatch:
    ids = ids or [f"a{i}" for i in range(len(params))]
    raw = client.messages.batches.with_raw_response.create(
        requests=[{"custom_id": cid, "params": p} for cid, p in zip(ids, params)])  # type: ignore[misc]
    MessageBatch.model_validate(raw.http_response.json())
    return raw.parse()


def poll_openai(client: openai.OpenAI, batch_id: str, polls: int = 10) -> list[Batch]:
    """Retrieve until the batch has ended: every answer seen, validated strictly."""
    seen = []
    for _ in range(polls):
        raw = client.batches.with_raw_response.retrieve(batch_id)
        seen.append(Batch.model_validate(raw.http_response.json()))
        if seen[-1].status in ("completed", "expired", "cancelled", "failed"):
            return seen
    raise AssertionError(f"batch {batch_id} did not end in {polls} retrieves: {[b.status for b in seen]}")


def poll_anthropic(client: anthropic.Anthropic, batch_id: str, polls: int = 10) -> list[MessageBatch]:
    seen = []
    for _ in range(polls):
        raw = client.messages.batches.with_raw_response.retrieve(batch_id)
        seen.append(MessageBatch.model_validate(raw.http_response.json()))
        if seen[-1].processing_status == "ended":
            return seen
    raise AssertionError(f"batch {batch_id} did not end in {polls} retrieves")


def jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines()]


def openai_rows(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    return jsonl(client.files.content(file_id).content) if file_id else []


def anthropic_rows(server: BatchServer, batch: MessageBatch) -> list[dict[str, Any]]:
    """The results file as raw rows, read from results_url as the SDK reads it; each validated."""
    with urllib.request.urlopen(batch.results_url) as response:
        rows = jsonl(response.read())
    for row in rows:
        MessageBatchIndividualResponse.model_validate(row)
    return rows


def test_openai_round_trip_answers_as_the_real_time_route(serve):
    # The plan's answer features all show up: snapshot, verdictless games (quoting the key),
    # logprobs and withheld logprobs.
    plan = Plan(seed=4, snapshot="-2025-01-01", verdictless_rate=0.3, no_logprobs_rate=0.5)
    server = serve(plan)
    reference = serve(plan, fault_server=True)  # the fault server itself: no drift from its answers
    client = openai_client(server)
    bodies = chat_bodies(24)
    created = submit_openai(client, bodies)
    assert created.status == "validating" and created.id.startswith("batch_")
    assert created.request_counts.total == 24 and created.metadata == {"run": "test"}

    seen = poll_openai(client, created.id)
    assert [b.status for b in seen] == ["in_progress", "finalizing", "completed"]
    done = seen[-1]
    assert done.request_counts.completed == 24 and done.request_counts.failed == 0
    assert done.error_file_id is None and done.completed_at is not None and done.in_progress_at is not None
    assert done.model == "judge-model"
    rows = openai_rows(client, done.output_file_id)
    assert [r["custom_id"] for r in rows] == [f"r{i}" for i in range(24)]  # input order unless shuffled
    assert all(r["error"] is None and r["response"]["status_code"] == 200 and r["id"].startswith("batch_req_")
               for r in rows)
    answers = {r["custom_id"]: r["response"]["body"] for r in rows}
    for answer in answers.values():
        ChatCompletion.model_validate(answer)

    real_time = {f"r{i}": client.post("/chat/completions", body=b, cast_to=object) for i, b in enumerate(bodies)}
    assert answers == real_time
    reference_client = openai_client(reference, headers=CLOSE)
    assert answers == {f"r{i}": reference_client.post("/chat/completions", body=b, cast_to=object)
                       for i, b in enumerate(bodies)}
    texts = [a["choices"][0]["message"]["content"] for a in answers.values()]
    assert all(a["model"] == "judge-model-2025-01-01" for a in answers.values())
    assert any(f"signed with {KEY}" in t for t in texts) and any("[[" in t for t in texts)
    asked = [answers[f"r{i}"]["choices"][0]["logprobs"] for i, b in enumerate(bodies) if b.get("logprobs")]
    assert None in asked and any(a and a["content"] for a in asked)
    assert done.usage.total_tokens == sum(a["usage"]["total_tokens"] for a in answers.values())
    # Each request paid once by batch and once in real time, under the same key.
    assert set(server.stats.batch_answered) == set(server.stats.done) and len(server.stats.done) == 24
    assert max(server.stats.batch_answered.values()) == 1 and max(server.stats.done.values()) == 1
    assert server.stats.result_downloads == 1 and server.stats.files_uploaded == 1
    output = FileObject.model_validate(client.files.with_raw_response.retrieve(done.output_file_id).http_response.json())
    assert output.purpose == "batch_output" and output.bytes == len(client.files.content(output.id).content)
    assert client.files.delete(created.input_file_id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.input_file_id)


def test_anthropic_round_trip_answers_as_the_real_time_route(serve):
    plan = Plan(seed=2, snapshot="-20250101", verdictless_rate=0.3)
    server = serve(plan)
    reference = serve(plan, fault_server=True)
    client = anthropic_client(server)
    params = message_params(15)
    created = submit_anthropic(client, params)
    assert created.processing_status == "in_progress" and created.id.startswith("msgbatch_")
    assert created.request_counts.processing == 15 and created.results_url is None and created.ended_at is None

    seen = poll_anthropic(client, created.id)
    assert [b.processing_status for b in seen] == ["in_progress", "in_progress", "ended"]
    done = seen[-1]
    assert done.request_counts.succeeded == 15 and done.request_counts.processing == 0 and done.ended_at
    assert done.results_url == f"http://127.0.0.1:{server.port}/v1/messages/batches/{created.id}/results"

    decoded = list(client.messages.batches.results(created.id))  # the SDK's own JSONL decoder
    assert [r.custom_id for r in decoded] == [f"a{i}" for i in range(15)]
    assert all(r.result.type == "succeeded" for r in decoded)
    rows = anthropic_rows(server, done)
    answers = {r["custom_id"]: r["result"]["message"] for r in rows}
    for answer in answers.values():
        Message.model_validate(answer)
    assert answers == {f"a{i}": client.post("/v1/messages", body=p, cast_to=object) for i, p in enumerate(params)}
    reference_client = anthropic_client(reference, headers=CLOSE)
    assert answers == {f"a{i}": reference_client.post("/v1/messages", body=p, cast_to=object)
                       for i, p in enumerate(params)}
    assert all(a["model"] == "claude-judge-20250101" for a in answers.values())
    assert any(f"signed with {KEY}" in a["content"][0]["text"] for a in answers.values())
    assert set(server.stats.batch_answered) == set(server.stats.done)
    assert server.stats.result_downloads == 2  # the SDK's read and ours


def test_expired_batches_keep_the_done_part_ordinals_count_over_both_apis(serve):
    server = serve(batch_plan=BatchPlan(polls_to_finish=0, expire_batches=frozenset({1, 2})))
    oa, an = openai_client(server), anthropic_client(server)

    first = poll_openai(oa, submit_openai(oa, chat_bodies(4)).id)[-1]  # ordinal 1
    assert first.status == "expired" and first.expired_at is not None and first.completed_at is None
    assert (first.request_counts.completed, first.request_counts.failed) == (2, 2)
    assert [r["custom_id"] for r in openai_rows(oa, first.output_file_id)] == ["r0", "r1"]
    errors = openai_rows(oa, first.error_file_id)
    assert [r["custom_id"] for r in errors] == ["r2", "r3"]
    assert all(r["response"] is None and r["error"]["code"] == "batch_expired" and r["error"]["message"] for r in errors)

    second = poll_anthropic(an, submit_anthropic(an, message_params(4)).id)[-1]  # ordinal 2
    assert second.processing_status == "ended"
    assert (second.request_counts.succeeded, second.request_counts.expired) == (2, 2)
    assert [r.result.type for r in an.messages.batches.results(second.id)] == ["succeeded"] * 2 + ["expired"] * 2

    third = poll_openai(oa, submit_openai(oa, chat_bodies(4)).id)[-1]  # ordinal 3: not listed
    assert third.status == "completed" and third.error_file_id is None
    assert server.stats.ended == {"expired": 2, "completed": 1}


def test_request_errors_strike_only_a_custom_ids_first_submission(serve):
    server = serve(batch_plan=BatchPlan(polls_to_finish=0, request_error_rate=0.5, seed=3))
    oa, an = openai_client(server), anthropic_client(server)
    bodies = chat_bodies(16)

    done = poll_openai(oa, submit_openai(oa, bodies).id)[-1]
    errors = openai_rows(oa, done.error_file_id)
    failed = [r["custom_id"] for r in errors]
    assert 0 < len(failed) < 16 and done.request_counts.failed == len(failed)
    for row in errors:
        assert row["error"] is None and row["response"]["status_code"] == 500
        assert row["response"]["body"]["error"]["type"] == "server_error" and row["response"]["request_id"]
    assert len(openai_rows(oa, done.output_file_id)) == 16 - len(failed)
    again = poll_openai(oa, submit_openai(oa, [bodies[int(c[1:])] for c in failed], failed).id)[-1]
    assert again.error_file_id is None and again.request_counts.completed == len(failed)
    assert all(server.stats.submissions[c] == (2 if c in failed else 1) for c in (f"r{i}" for i in range(16)))

    params = message_params(16)
    ended = poll_anthropic(an, submit_anthropic(an, params).id)[-1]
    results = list(an.messages.batches.results(ended.id))
    errored = [r.custom_id for r in results if r.result.type == "errored"]
    assert 0 < len(errored) < 16 and ended.request_counts.errored == len(errored)
    assert {r.result.error.error.type for r in results if r.result.type == "errored"} == {"api_error"}
    retry = poll_anthropic(an, submit_anthropic(an, [params[int(c[1:])] for c in errored], errored).id)[-1]
    assert retry.request_counts.succeeded == len(errored) and retry.request_counts.errored == 0
    assert server.stats.request_errors == len(failed) + len(errored)


def test_reject_me_errs_as_a_401_on_every_submission(serve):
    server = serve(batch_plan=BatchPlan(polls_to_finish=0))
    oa, an = openai_client(server), anthropic_client(server)
    for _ in range(2):
        done = poll_openai(oa, submit_openai(oa, chat_bodies(2, model="reject-me")).id)[-1]
        rows = openai_rows(oa, done.error_file_id)
        assert [r["response"]["status_code"] for r in rows] == [401, 401]
        assert rows[0]["response"]["body"]["error"]["type"] == "authentication_error"
        assert KEY in rows[0]["response"]["body"]["error"]["message"]  # echoed, as the real-time route does
    mixed = message_params(2) + message_params(1, model="reject-me")
    ended = poll_anthropic(an, submit_anthropic(an, mixed).id)[-1]
    assert (ended.request_counts.succeeded, ended.request_counts.errored) == (2, 1)
    last = list(an.messages.batches.results(ended.id))[-1]
    assert last.result.type == "errored" and last.result.error.error.type == "authentication_error"


def test_retrieve_500_counts_down_over_both_apis(serve):
    server = serve(batch_plan=BatchPlan(polls_to_finish=0, retrieve_500=2))
    oa, an = openai_client(server), anthropic_client(server)
    openai_batch = submit_openai(oa, chat_bodies(2))
    anthropic_batch = submit_anthropic(an, message_params(2))
    with pytest.raises(openai.InternalServerError):
        oa.batches.retrieve(openai_batch.id)
    with pytest.raises(anthropic.InternalServerError):
        an.messages.batches.retrieve(anthropic_batch.id)
    assert oa.batches.retrieve(openai_batch.id).status == "completed"  # a 500 did not count as a poll
    assert an.messages.batches.retrieve(anthropic_batch.id).processing_status == "ended"
    assert (server.stats.retrieves, server.stats.retrieve_500s) == (4, 2)


def test_shuffled_output_holds_every_row_in_another_order(serve):
    server = serve(batch_plan=BatchPlan(polls_to_finish=0, shuffle_output=True, seed=5))
    oa, an = openai_client(server), anthropic_client(server)
    ids = [f"r{i}" for i in range(30)]
    done = poll_openai(oa, submit_openai(oa, chat_bodies(30)).id)[-1]
    order = [r["custom_id"] for r in openai_rows(oa, done.output_file_id)]
    assert order != ids and sorted(order) == sorted(ids)
    ended = poll_anthropic(an, submit_anthropic(an, message_params(30)).id)[-1]
    order = [r.custom_id for r in an.messages.batches.results(ended.id)]
    assert order != [f"a{i}" for i in range(30)] and sorted(order) == sorted(f"a{i}" for i in range(30))


def test_a_malformed_row_loses_its_answer(serve):
    server = serve(batch_plan=BatchPlan(polls_to_finish=0, malformed_rows=1, request_error_rate=0.3, seed=1))
    oa, an = openai_client(server), anthropic_client(server)
    done = poll_openai(oa, submit_openai(oa, chat_bodies(10)).id)[-1]
    lines = oa.files.content(done.output_file_id).content.splitlines()
    good = []
    for line in lines:
        try:
            good.append(json.loads(line)["custom_id"])
        except ValueError:
            continue
    assert len(good) == len(lines) - 1 == done.request_counts.completed - 1
    errors = openai_rows(oa, done.error_file_id)  # error files are never torn
    assert errors and all(r["response"]["status_code"] == 500 for r in errors)
    lost = set(f"r{i}" for i in range(10)) - set(good) - {r["custom_id"] for r in errors}
    assert lost == set(server.stats.malformed_custom_ids)

    ended = poll_anthropic(an, submit_anthropic(an, message_params(10)).id)[-1]
    with pytest.raises(json.JSONDecodeError):  # the SDK's decoder stops at the torn line
        list(an.messages.batches.results(ended.id))
    raw = an.messages.batches.with_raw_response.results(ended.id).http_response.read()
    assert sum(1 for line in raw.splitlines() if not _is_json(line)) == 1
    assert len(server.stats.malformed_custom_ids) == 2


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def test_cancel_keeps_what_was_done_and_cancels_the_rest(serve):
    server = serve(batch_plan=BatchPlan(polls_to_finish=2))
    oa, an = openai_client(server), anthropic_client(server)
    created = submit_openai(oa, chat_bodies(6))
    assert oa.batches.retrieve(created.id).status == "in_progress"  # a third of the way
    cancelling = oa.batches.cancel(created.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    done = poll_openai(oa, created.id)
    assert [b.status for b in done] == ["cancelled"] and done[-1].cancelled_at is not None
    assert [r["custom_id"] for r in openai_rows(oa, done[-1].output_file_id)] == ["r0", "r1"]
    errors = openai_rows(oa, done[-1].error_file_id)
    assert [r["error"]["code"] for r in errors] == ["batch_cancelled"] * 4 and errors[0]["response"] is None
    assert oa.batches.cancel(created.id).status == "cancelled"  # an ended batch stays as it is

    batch = submit_anthropic(an, message_params(3))
    canceling = an.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    ended = poll_anthropic(an, batch.id)[-1]
    assert ended.request_counts.canceled == 3 and ended.ended_at is not None
    assert [r.result.type for r in an.messages.batches.results(batch.id)] == ["canceled"] * 3
    assert server.stats.ended == {"cancelled": 2}


def test_limits_and_bad_input_are_400s_and_create_nothing(serve):
    server = serve(batch_plan=BatchPlan(max_requests=3, max_bytes=3000))
    oa, an = openai_client(server), anthropic_client(server)

    def refused_openai(lines: list[Any], match: str) -> None:
        data = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines).encode()
        uploaded = oa.files.create(file=("bad.jsonl", data), purpose="batch")
        with pytest.raises(openai.BadRequestError, match=match):
            oa.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")

    def line(cid: str, body: dict[str, Any] | None = None, url: str = "/v1/chat/completions") -> dict[str, Any]:
        return {"custom_id": cid, "method": "POST", "url": url, "body": body or chat_bodies(1)[0]}

    refused_openai([line(f"r{i}") for i in range(4)], "at most 3")
    big = {**chat_bodies(1)[0], "messages": [{"role": "user", "content": "x" * 3000}]}
    refused_openai([line("r0", big)], "at most 3000")
    refused_openai([line("r0"), line("r0")], "twice")
    refused_openai([line("r0", url="/v1/embeddings")], "url")
    refused_openai([line("r0"), "{not json"], "Line 2")
    refused_openai([line("r0"), line("r1", chat_bodies(1, model="other")[0])], "one model")
    with pytest.raises(openai.NotFoundError):
        oa.batches.create(input_file_id="file-missing", endpoint="/v1/chat/completions", completion_window="24h")

    def refused_anthropic(ids: list[str], params: list[dict[str, Any]], match: str) -> None:
        with pytest.raises(anthropic.BadRequestError, match=match):
            an.messages.batches.create(requests=[{"custom_id": c, "params": p} for c, p in zip(ids, params)])  # type: ignore[misc]

    refused_anthropic([f"a{i}" for i in range(4)], message_params(4), "at most 3")
    refused_anthropic(["a0"], [{**message_params(1)[0], "system": "x" * 3000}], "at most 3000")
    refused_anthropic(["has space"], message_params(1), "custom_id")
    refused_anthropic(["a" * 65], message_params(1), "custom_id")
    refused_anthropic(["a0", "a0"], message_params(2), "not unique")
    refused_anthropic(["a0"], [{"model": "m", "messages": []}], "max_tokens")
    assert server.stats.batches_created == 0 and not server.stats.submissions
    assert submit_anthropic(an, message_params(3)).request_counts.processing == 3  # at the limit: fine
    assert server.stats.batches_created == 1


def test_real_limits_by_default(serve):
    server = serve()
    assert server.limits("openai") == (50_000, 200_000_000)
    assert server.limits("anthropic") == (100_000, 256_000_000)


def test_counters_keys_listing_and_stats(serve):
    server = serve(batch_plan=BatchPlan(polls_to_finish=0))
    oa, an = openai_client(server, "sk-first"), anthropic_client(server, "ak-second")
    openai_ids = [submit_openai(oa, chat_bodies(2)).id for _ in range(3)]
    anthropic_id = submit_anthropic(an, message_params(2)).id
    assert (server.stats.batches_created, server.stats.batches_by_api) == (4, {"openai": 3, "anthropic": 1})
    assert {"sk-first", "ak-second"} <= server.stats.auth
    assert server.stats.submissions == {"r0": 3, "r1": 3, "a0": 1, "a1": 1}

    assert [b.id for b in oa.batches.list(limit=2)] == openai_ids[::-1]  # newest first, over two pages
    assert all(b.status == "validating" for b in oa.batches.list())  # listing is not polling
    assert [b.id for b in an.messages.batches.list(limit=1)] == [anthropic_id]
    for batch_id in openai_ids:
        poll_openai(oa, batch_id)

    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/stats") as response:
        stats = json.loads(response.read())["batch"]
    assert stats["batches_created"] == 4 and stats["batches_by_api"] == {"openai": 3, "anthropic": 1}
    assert stats["max_submissions_per_custom_id"] == 3 and stats["resubmitted_custom_ids"] == 2
    assert stats["files_uploaded"] == 3 and stats["retrieves"] == 3 and stats["ended"] == {"completed": 3}
    assert stats["answered_total"] == 6 and stats["distinct_answered"] == 2  # same two bodies, thrice


def test_unknown_ids_are_404s(serve):
    server = serve()
    oa, an = openai_client(server), anthropic_client(server)
    with pytest.raises(openai.NotFoundError):
        oa.batches.retrieve("batch_nope")
    with pytest.raises(openai.NotFoundError):
        oa.files.content("file-nope")
    with pytest.raises(anthropic.NotFoundError):
        an.messages.batches.retrieve("msgbatch_nope")
    batch = submit_openai(oa, chat_bodies(1))
    with pytest.raises(anthropic.NotFoundError):  # an OpenAI batch is not an Anthropic one
        an.messages.batches.retrieve(batch.id)


def test_standalone_prints_its_port_and_serves():
    process = subprocess.Popen([sys.executable, "-m", "tests.providers.batch_server", "--polls-to-finish", "0"],
                               cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline().split()[1])  # type: ignore[union-attr]
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0)
        batch = submit_openai(client, chat_bodies(3))
        assert poll_openai(client, batch.id)[-1].status == "completed"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats") as response:
            assert json.loads(response.read())["batch"]["batches_created"] == 1
    finally:
        process.terminate()
        process.wait(timeout=5)
