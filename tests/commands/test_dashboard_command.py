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


@pytest.mark.parametrize("host", ["0.0.0.0", "", "10.1.2.3", "dashboard.example.org", "::"])
def test_a_host_beyond_this_machine_needs_allow_remote(tmp_path: Path, host: str):
    with pytest.raises(ConfigError, match="--allow-remote"):
        streamlit_command(build_parser().parse_args(["dashboard", str(tmp_path), "--host", host]))
    cmd = streamlit_command(build_parser().parse_args(["dashboard", str(tmp_path), "--host", host, "--allow-remote"]))
    assert cmd[cmd.index("--server.address") + 1] == host
    assert cmd[-1] == "--allow-remote"  # the page accepts votes on that address only when told


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.5"])
def test_loopback_hosts_need_nothing(tmp_path: Path, host: str):
    cmd = streamlit_command(build_parser().parse_args(["dashboard", str(tmp_path), "--host", host]))
    assert "--allow-remote" not in cmd


def test_allow_remote_prints_who_can_vote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    from arena.cli import main

    launched = []
    monkeypatch.setattr("os.execv", lambda path, argv: launched.append(argv))
    assert main(["dashboard", str(tmp_path), "--host", "0.0.0.0", "--allow-remote"]) == 0
    err = capsys.readouterr().err
    assert "warning: serving on 0.0.0.0:8501: anyone who can reach this port" in err
    assert launched and launched[0][-1] == "--allow-remote"
    assert main(["dashboard", str(tmp_path), "--host", "0.0.0.0"]) == 2
    assert "add --allow-remote" in capsys.readouterr().err


def test_reviewer_options_reach_the_page(tmp_path: Path):
    cmd = streamlit_command(build_parser().parse_args(["dashboard", str(tmp_path), "--reviewer", "ana"]))
    assert cmd[cmd.index("--") + 1 :] == ["--run", str(tmp_path), "--reviewer", "ana"]
    cmd = streamlit_command(build_parser().parse_args(["dashboard", str(tmp_path), "--reviewer-header", "X-Forwarded-User"]))
    assert cmd[cmd.index("--") + 1 :] == ["--run", str(tmp_path), "--reviewer-header", "X-Forwarded-User"]
    with pytest.raises(ConfigError, match="--reviewer: a reviewer name is needed"):
        streamlit_command(build_parser().parse_args(["dashboard", str(tmp_path), "--reviewer", "  "]))
    with pytest.raises(ConfigError, match="give one"):
        streamlit_command(build_parser().parse_args(["dashboard", str(tmp_path), "--reviewer", "a", "--reviewer-header", "X"]))
