"""`arena compare` (and `arena power`) on 2M battles / 100 models, as whole processes.

Writes (or reuses, with --keep) the 2M-battle JSONL of bench_rating.py --end-to-end (4,000
questions, two turns, 100 models), then times, in one run: `arena compare` on the bare JSONL, the
same through a run folder's columnar copy, `arena power`, and beside them `arena rate` on the
overall table only (the same read and 1000 rounds of the battle bootstrap), so the ratio shows
what resampling questions instead of battles costs. Target: `arena compare` under 10 s on the
2-core box.

    python bench/bench_compare.py --keep /tmp/bench-compare --out docs/compare_bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_rating import timed, write_battles_jsonl  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", metavar="DIR", help="keep (and reuse) the files in DIR")
    parser.add_argument("--out", metavar="FILE", help="write the figures as JSON")
    parser.add_argument("--battles", type=int, default=2_000_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-compare-"))
    run = root / "run"
    run.mkdir(parents=True, exist_ok=True)
    jsonl = run / "battles.jsonl"
    if not jsonl.exists():
        start = time.perf_counter()
        write_battles_jsonl(jsonl, args.battles, args.models, args.seed)
        print(f"wrote {jsonl} ({jsonl.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.0f} s", flush=True)
    loose = root / "battles.jsonl"
    if not loose.exists():
        shutil.copyfile(jsonl, loose)
    (run / "run.json").write_text(json.dumps({"name": "bench", "config": None}))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.battles:,} battles, {args.models} models", flush=True)
    arena = [sys.executable, "-m", "arena.cli"]
    pair = ["--models", "model-000", "model-001"]
    results = [
        timed(arena + ["compare", str(loose), *pair], "arena compare JSONL"),
        timed(arena + ["rate", str(loose), "--out", str(root / "out-overall"), "--no-style-control", "--no-per-category",
                       "--method", "bt"], "arena rate JSONL, overall table only (battle bootstrap)"),
    ]
    (run / "battles.arrow").unlink(missing_ok=True)
    timed(arena + ["compare", str(run), *pair], "arena compare run folder, first read (writes battles.arrow)")
    results.append(timed(arena + ["compare", str(run), *pair], "arena compare run folder, columnar copy"))
    results.append(timed(arena + ["power", str(run)], "arena power run folder (3 sizes x 300 rounds, 99 pairs)"))
    compare_s = results[0]["wall_s"]
    print(f"arena compare / arena rate overall-only: {compare_s / results[1]['wall_s']:.2f}x; "
          f"arena compare JSONL {compare_s:.1f} s (target < 10 s)")
    if args.out:
        Path(args.out).write_text(json.dumps({"battles": args.battles, "models": args.models, "results": results}, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
