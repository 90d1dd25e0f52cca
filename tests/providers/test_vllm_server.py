"""vLLM server mode with a stand-in server (tests/providers/fake_vllm_server.py): start, health,
streamed requests with bounded concurrency, TTFT, and a clean stop of the whole process group on
success, on errors and on Ctrl-C; a running server by URL is used and left running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from arena.cli import main
from arena.config import ModelConfig, VllmConfig
from arena.providers import vllm_server
from arena.providers.base import ChatRequest
from arena.providers.vllm_server import VllmServer, free_port, server_command
from arena.records import Answer
from arena.store import read_records
from tests.providers.fake_vllm import FakeEngine, install
from tests.providers.process_checks import alive, server_pids, wait_gone
from tests.providers.test_vllm_engine import summary_of, vllm_model, write_config

FAKE_SERVER = Path(__file__).with_name("fake_vllm_server.py")
REPO = Path(__file__).resolve().parents[2]


def fake_command(tmp_path: Path, *flags: str):
    """A command_for that starts the stand-in server (with `flags`) instead of vLLM."""

    def command(cfg: ModelConfig, port: int) -> list[str]:
        return [sys.executable, str(FAKE_SERVER), "--port", str(port), "--served-model-name", cfg.name,
                "--pidfile", str(tmp_path / "pids"), *flags]

    return command


def use_fake_server(monkeypatch, tmp_path: Path, *flags: str) -> None:
    monkeypatch.setattr(vllm_server, "server_command", fake_command(tmp_path, *flags))


def server_model(**vllm: Any) -> dict[str, Any]:
    settings = {"mode": "server", "port": 0, "startup_timeout_s": 20, **vllm}
    return vllm_model("srv", vllm=settings, generation={"max_tokens": 8, "ignore_eos": True})


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process-group checks read /proc")


@pytest.fixture(autouse=True)
def server_logs_in_tmp_path(tmp_path, monkeypatch):
    """Server logs kept after errors go to the test's folder, not the machine's /tmp."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))


def test_server_command_from_config():
    cfg = ModelConfig(
        name="m", provider="vllm", model="/models/m",
        vllm=VllmConfig(mode="server", dtype="bfloat16", max_model_len=2048, gpu_memory_utilization=0.85,
                        tensor_parallel_size=2, data_parallel_size=2, chat_template="t.jinja",
                        enforce_eager=True, extra_args=["--max-num-seqs", "512"]),
    )
    cfg.generation.seed = 5
    argv = server_command(cfg, 8123)
    assert argv[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    flags = " ".join(argv[3:])
    for part in ("--model /models/m", "--served-model-name m", "--host 127.0.0.1", "--port 8123",
                 "--dtype bfloat16", "--gpu-memory-utilization 0.85", "--tensor-parallel-size 2",
                 "--data-parallel-size 2", "--max-model-len 2048", "--seed 5", "--chat-template t.jinja",
                 "--enforce-eager", "--disable-uvicorn-access-log"):
        assert part in flags
    assert argv[-2:] == ["--max-num-seqs", "512"] and "--trust-remote-code" not in argv


def test_stage_in_server_mode_takes_ttft_from_server_metrics_and_stops_the_server(tmp_path, monkeypatch):
    """Plain requests by default: no per-answer TTFT, the session's from the server's histogram."""
    use_fake_server(monkeypatch, tmp_path, "--token-delay", "0.03")
    config = write_config(tmp_path, [server_model(max_concurrency=3)])
    assert main(["run", "-c", str(config)]) == 0
    answers = read_records(tmp_path / "run" / "answers" / "srv.jsonl", Answer)
    assert len(answers) == 8 and all(t is None for a in answers for t in a.ttft_s)
    summary = summary_of(tmp_path)["answers"]["srv"]
    assert summary["ttft_source"] == "server histogram"
    # Every first token came after 0.03 s: inside the (0.02, 0.04] bucket, interpolated.
    assert 0.02 < summary["ttft_p50_s"] <= summary["ttft_p99_s"] <= 0.04
    assert wait_gone(server_pids(tmp_path), 1.0), "server or its child outlived the stage"


def test_stage_in_server_mode_streams_when_asked_and_stops_the_server(tmp_path, monkeypatch):
    use_fake_server(monkeypatch, tmp_path, "--token-delay", "0.01")
    model = server_model(max_concurrency=3)
    model["client"] = {"stream": True}
    config = write_config(tmp_path, [model])
    assert main(["run", "-c", str(config)]) == 0
    answers = read_records(tmp_path / "run" / "answers" / "srv.jsonl", Answer)
    assert len(answers) == 8
    for answer in answers:
        assert answer.output_tokens == [8, 8] and all(p > 0 for p in answer.prompt_tokens)
        assert all(t is not None and 0 < t <= lat for t, lat in zip(answer.ttft_s, answer.latency_s))
        assert answer.choices[0].turns[0].startswith("reply 0 to:")
    summary = summary_of(tmp_path)["answers"]["srv"]
    assert summary["ttft_p50_s"] > 0 and summary["latency_p99_s"] >= summary["latency_p50_s"]
    assert summary["ttft_source"] == "client"
    assert summary["requests"] == 16 and summary["engine_start_s"] > 0
    assert wait_gone(server_pids(tmp_path), 1.0), "server or its child outlived the stage"
    assert not list(tmp_path.glob("arena-vllm-*.log"))  # a clean run leaves no server log behind


def test_concurrency_is_bounded_by_max_concurrency(tmp_path):
    cfg = ModelConfig(name="srv", provider="vllm", model="/m",
                      vllm=VllmConfig(mode="server", port=0, max_concurrency=3, startup_timeout_s=20))
    cfg.generation.max_tokens = 4
    provider = vllm_server.VllmServerProvider(cfg, command_for=lambda port: fake_command(tmp_path, "--hold-until", "3")(cfg, port))
    try:
        requests = [ChatRequest(messages=[{"role": "user", "content": f"question {i}"}], max_tokens=4, temperature=0.7,
                                seed=1, ignore_eos=True) for i in range(12)]
        results: dict[int, Any] = {}
        provider.run_batch(requests, lambda i, r: results.__setitem__(i, r))
        with urllib.request.urlopen(f"{provider.server.root}/stats") as reply:
            stats = json.loads(reply.read())
    finally:
        provider.close()
    assert len(results) == 12 and all(r.text.startswith("reply 0 to: question") for r in results.values())
    assert stats["max_in_flight"] == 3  # the server held requests until 3 were in flight, never more
    sent = stats["requests"][0]
    assert sent == {"max_tokens": 4, "temperature": 0.7, "n": 1, "seed": 1, "ignore_eos": True, "stream": None,
                    "structured_outputs": None, "continue_final_message": None, "logprobs": None}


def test_server_that_fails_to_start_gives_cause_and_setting(tmp_path, monkeypatch, capsys):
    use_fake_server(monkeypatch, tmp_path, "--fail-start", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB")
    config = write_config(tmp_path, [server_model(), {"name": "api", "provider": "simulated"}])
    assert main(["run", "-c", str(config)]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "model 'srv'" in line and "exited with code 1 while starting" in line
    assert "CUDA out of memory" in line and "vllm.tensor_parallel_size" in line and "log: " in line
    log_file = Path(line.split("log: ")[1].rstrip(")"))
    assert "CUDA out of memory" in log_file.read_text()  # kept: the error sends the user there
    assert len(read_records(tmp_path / "run" / "answers" / "api.jsonl", Answer)) == 8


def test_only_the_logs_error_lines_choose_the_hint(tmp_path, monkeypatch, capsys):
    use_fake_server(monkeypatch, tmp_path, "--fail-start", "RuntimeError: Engine core initialization failed.")
    config = write_config(tmp_path, [server_model()])
    assert main(["run", "-c", str(config)]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    # The settings dump names trust_remote_code and chat_template; the error line names neither.
    assert "Engine core initialization failed" in line and "vLLM's log names the cause" in line


def test_server_never_healthy_times_out_and_is_stopped(tmp_path, monkeypatch, capsys):
    use_fake_server(monkeypatch, tmp_path, "--never-healthy")
    config = write_config(tmp_path, [server_model(startup_timeout_s=1.5)])
    start = time.monotonic()
    assert main(["run", "-c", str(config)]) == 1
    assert time.monotonic() - start < 15
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "not healthy within 1.5 s" in line and "vllm.startup_timeout_s" in line
    assert wait_gone(server_pids(tmp_path), 1.0)


def test_ctrl_c_during_the_stage_stops_the_server(tmp_path, monkeypatch):
    use_fake_server(monkeypatch, tmp_path)
    from arena.stages import answers

    def interrupted(*args: Any, **kwargs: Any) -> None:
        assert all(alive(p) for p in server_pids(tmp_path))  # the server is up when Ctrl-C comes
        raise KeyboardInterrupt

    monkeypatch.setattr(answers, "_run_turn", interrupted)
    config = write_config(tmp_path, [server_model()])
    assert main(["run", "-c", str(config)]) == 130
    assert wait_gone(server_pids(tmp_path), 1.0)


def test_server_dying_mid_run_is_one_error_not_a_retry_storm(tmp_path, monkeypatch, capsys):
    use_fake_server(monkeypatch, tmp_path, "--die-after", "5", "--token-delay", "0.01")
    config = write_config(tmp_path, [server_model(max_concurrency=2)])
    start = time.monotonic()
    assert main(["run", "-c", str(config)]) == 1
    assert time.monotonic() - start < 20
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "exited with code 1 while generating" in line and "vllm.tensor_parallel_size" in line
    assert wait_gone(server_pids(tmp_path), 5.0)


def test_group_members_that_ignore_sigterm_are_killed(tmp_path):
    cfg = ModelConfig(name="srv", provider="vllm", model="/m", vllm=VllmConfig(mode="server", port=0, startup_timeout_s=20))
    server = VllmServer(cfg, command_for=lambda port: fake_command(tmp_path, "--stubborn-child")(cfg, port))
    server.start()
    pids = server_pids(tmp_path)
    server.stop(grace_s=1.0)
    assert wait_gone(pids, 2.0)


def test_server_is_stopped_when_this_process_is_killed(tmp_path):
    """SIGKILL leaves no time to clean up: the kernel's parent-death signal stops the server."""
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from arena.config import ModelConfig, VllmConfig
        from arena.providers.vllm_server import VllmServer
        cfg = ModelConfig(name="srv", provider="vllm", model="/m", vllm=VllmConfig(mode="server", port=0))
        command = [sys.executable, {str(FAKE_SERVER)!r}, "--served-model-name", "srv", "--pidfile", {str(tmp_path / "pids")!r}]
        server = VllmServer(cfg, command_for=lambda port: command + ["--port", str(port)])
        server.start()
        print("up", flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "up"
        pids = server_pids(tmp_path)
        assert all(alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_gone(pids, 10.0), "the server outlived the process that started it"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_running_server_by_url_is_used_and_left_running(tmp_path, monkeypatch, capsys):
    port = free_port()
    server = subprocess.Popen([sys.executable, str(FAKE_SERVER), "--port", str(port), "--served-model-name", "/models/srv",
                               "--pidfile", str(tmp_path / "pids")])
    try:
        deadline = time.monotonic() + 20
        while not vllm_server.healthy(f"http://127.0.0.1:{port}") and time.monotonic() < deadline:
            time.sleep(0.1)
        config = write_config(tmp_path, [server_model(url=f"http://127.0.0.1:{port}/v1")])
        assert main(["run", "-c", str(config)]) == 0
        assert len(read_records(tmp_path / "run" / "answers" / "srv.jsonl", Answer)) == 8
        assert server.poll() is None  # not ours to stop

        other = write_config(tmp_path, [vllm_model("other", model="/models/other",
                                                    vllm={"mode": "server", "url": f"http://127.0.0.1:{port}"})])
        assert main(["run", "-c", str(other)]) == 1
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert "serves /models/srv, not '/models/other'" in line
    finally:
        server.terminate()
        server.wait()


def test_no_server_at_url_is_a_one_line_error(tmp_path, capsys):
    config = write_config(tmp_path, [server_model(url=f"http://127.0.0.1:{free_port()}")])
    assert main(["run", "-c", str(config)]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no vLLM server answers at" in line and "vllm.url" in line


def test_port_in_use_names_the_setting(tmp_path, monkeypatch, capsys):
    use_fake_server(monkeypatch, tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(tmp_path, [server_model(port=port)])
        assert main(["run", "-c", str(config)]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"port {port} is already in use" in line and "vllm.port" in line
    assert not (tmp_path / "pids").exists()


@pytest.mark.parametrize(
    ("vllm", "message"),
    [
        ({"url": "http://127.0.0.1:8000"}, "vllm.url: only used with vllm.mode 'server'"),
        ({"mode": "server", "url": "localhost:8000"}, "vllm.url: expected an http"),
        ({"port": 70000}, "vllm.port"),
        ({"startup_timeout_s": 0}, "vllm.startup_timeout_s"),
        ({"extra_args": ["--max-num-seqs", "8"]}, "vllm.extra_args: only used with vllm.mode 'server'"),
    ],
)
def test_bad_server_settings_stop_before_any_work(tmp_path, capsys, vllm, message):
    config = write_config(tmp_path, [vllm_model(vllm=vllm)])
    assert main(["run", "-c", str(config)]) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "run")


def test_shipped_gpu_config_runs_end_to_end_with_the_fakes(tmp_path, monkeypatch):
    """configs/gpu_vllm.yaml: one offline model and one server model, both answer everything."""
    engine = FakeEngine()
    install(monkeypatch, engine)
    use_fake_server(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)  # the config writes to data/runs/gpu-vllm under the working folder
    assert main(["run", "-c", str(REPO / "configs" / "gpu_vllm.yaml")]) == 0
    run = tmp_path / "data" / "runs" / "gpu-vllm"
    for name in ("qwen2-0.5b", "qwen2-1.5b"):
        assert len(read_records(run / "answers" / f"{name}.jsonl", Answer)) == 80
    assert engine.engines[0]["gpu_memory_utilization"] == 0.45 and len(engine.batches) == 2
    summary = json.loads((run / "summary.json").read_text())["answers"]
    assert summary["qwen2-1.5b"]["ttft_p50_s"] is not None and summary["qwen2-0.5b"]["ttft_p50_s"] is None
    assert wait_gone(server_pids(tmp_path), 1.0)
