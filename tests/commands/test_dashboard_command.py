"""`arena dashboard`: the streamlit command line it builds, and its argument checks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from arena.cli import build_parser
from arena.commands.dashboard import streamlit_command
from arena.errors import ConfigError


def test_command_line_for_a_run(tmp_path: Path):
    args = build_parser().parse_args(["dashboard", str(tmp_path), "--port", "8600", "--compare", "other"])
    cmd = streamlit_command(args)
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert Path(cmd[4]).is_file() and cmd[4].endswith("arena/dashboard/entry.py")
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8600"
    assert cmd[cmd.index("--") + 1 :] == ["--run", str(tmp_path), "--compare", "other"]


def test_command_line_for_a_battle_log(tmp_path: Path):
    log = tmp_path / "battles.jsonl"
    log.write_text("")
    cmd = streamlit_command(build_parser().parse_args(["dashboard", "--review-file", str(log)]))
    assert cmd[cmd.index("--") + 1 :] == ["--review-file", str(log)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dashboard"], "give a run folder or --review-file"),
        (["dashboard", "no/such/run"], "no/such/run: run folder not found"),
        (["dashboard", "--review-file", "no.jsonl"], "no.jsonl: battle log not found"),
    ],
)
def test_bad_arguments(argv, message):
    with pytest.raises(ConfigError, match=message):
        streamlit_command(build_parser().parse_args(argv))
