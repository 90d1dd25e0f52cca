"""The client's side of 20,000 judge calls by batch (client.batch) against the same calls in
real time, through the loopback fake of both batch APIs, which answers at once (no latency).

One run folder with simulated candidates' answers is made first (11 models, pairwise-all, both
orders: 110 games per question, 182 questions = 20,020 judge calls). Then each mode runs the
reviews stage on its own copy of that folder, with a fresh response cache, as a whole process
(`arena run --stages reviews`), one after another, in this order each round:

- realtime:  openai_compatible judge, plain calls, max_concurrency 16;
- openai:    the same judge with client.batch: the JSONL file built and uploaded, the batch
             polled, the output file downloaded and every answer recorded;
- anthropic: an anthropic judge with client.batch (requests inline, results as JSONL).

Measured per mode: the process's wall time, its CPU time (user + system: the client's own work,
the fake server runs in another process) and its peak RSS (os.wait4). The fake ends a batch at
its second look (--polls-to-finish 1) and the poll interval is 0.2 s, so a batch run's wall time
is its own work plus under a second of waiting. Printed: each figure and the ratio batch /
real-time, side by side from the same run.

usage: python bench/bench_batch.py [--questions 182] [--models 11] [--rounds 1] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.providers.judge_runs import KEY_ENV, judge_config, write_questions  # noqa: E402

PRICE = {"input_per_mtok": 2.5, "output_per_mtok": 10.0}


def start_server() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.providers.batch_server", "--polls-to-finish", "1"],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    return proc, int(line.split()[1])


def config(work: Path, name: str, questions: Path, models: int, url: str, provider: str, batch: bool) -> Path:
    cfg = judge_config(work / name, questions, work / f"cache-{name}", provider=provider, url=url, stream=False,
                       timeout_s=120.0, max_concurrency=16,
                       **({"batch": True, "batch_poll_s": 0.2} if batch else {}))
    cfg["models"] = [{"name": f"m{i}", "provider": "simulated", "simulated": {"strength": 1000 + 20 * i}} for i in range(models)]
    cfg["judges"][0]["price"] = PRICE
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_process(args: list[str], env: dict[str, str]) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{stderr.decode()[-3000:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=182)
    parser.add_argument("--models", type=int, default=11)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out")
    args = parser.parse_args()
    calls = args.questions * args.models * (args.models - 1)
    env = {**os.environ, "PYTHONPATH": str(REPO), KEY_ENV: "sk-bench"}
    server, port = start_server()
    base = f"http://127.0.0.1:{port}"
    modes = {"realtime": ("openai_compatible", f"{base}/v1", False), "openai": ("openai_compatible", f"{base}/v1", True),
             "anthropic": ("anthropic", base, True)}
    results: dict[str, list[dict]] = {mode: [] for mode in modes}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            questions = write_questions(work, count=args.questions)
            seed_cfg = config(work, "answers", questions, args.models, f"{base}/v1", "openai_compatible", False)
            run_process([sys.executable, "-m", "arena.cli", "run", "-c", str(seed_cfg), "--stages", "answers"], env)
            for round_ in range(args.rounds):
                for mode, (provider, url, batch) in modes.items():
                    name = f"{mode}-{round_}"
                    shutil.copytree(work / "answers", work / name)
                    path = config(work, name, questions, args.models, url, provider, batch)
                    result = run_process([sys.executable, "-m", "arena.cli", "run", "-c", str(path), "--stages", "reviews"], env)
                    summary = json.loads((work / name / "summary.json").read_text())["reviews"]["judge"]
                    assert summary["reviews"] == calls and summary["failed"] == 0, summary
                    assert summary["calls_batch_this_run"] == (calls if batch else 0), summary
                    result["cost_usd"] = summary["cost_usd_this_run"]
                    results[mode].append(result)
                    print(f"{mode:9s} round {round_ + 1}: {result}", flush=True)
                    shutil.rmtree(work / name)
                    shutil.rmtree(work / f"cache-{name}", ignore_errors=True)
    finally:
        server.kill()
    best = {mode: min(runs, key=lambda r: r["wall_s"]) for mode, runs in results.items()}
    report = {"calls": calls, "machine": f"{os.cpu_count()} cores", "modes": best,
              "ratios_vs_realtime": {mode: {k: round(best[mode][k] / best["realtime"][k], 2)
                                            for k in ("wall_s", "cpu_s", "peak_rss_mib")}
                                     for mode in ("openai", "anthropic")}}
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
