"""The Review view in a real headless Chromium: two reviewers in two browser contexts vote in
parallel, on the same battles and on different ones; every vote is stored exactly once with its
reviewer; the page holds no model name before the vote (checked in the DOM); answers and notes
carrying script and fetching payloads run nothing and fetch nothing; a dashboard killed while
votes are being cast leaves no torn line."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
import yaml

from arena.config import load_config
from arena.human_votes import read_human_votes, votes_path
from arena.pipeline import plan_run, run_pipeline
from arena.store import read_jsonl
from tests.dashboard.browser import CHROMIUM, Page, chromium_browser, serve_dashboard
from tests.dashboard.conftest import XSS_IMG, XSS_SCRIPT, dry_run_config
from tests.dashboard.test_xss_browser import logging_server

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)"
)

MODELS = ("zebra-alpha", "yak-bravo", "koala-charlie")
NAME_FIELD = 'input[aria-label="Your name (stored with each of your votes)"]'
NOTE_FIELD = 'textarea[aria-label="note (optional)"]'


@pytest.fixture(scope="module")
def review_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dry run with distinctive model names (so a name in the page is a leak, not chance) and
    one pairwise judge."""
    base = tmp_path_factory.mktemp("review")
    config = dry_run_config(base / "runs" / "vote")
    config["models"] = [{"name": name, "provider": "simulated", "simulated": {"strength": 1100 - 100 * i}} for i, name in enumerate(MODELS)]
    config["judges"] = [{"name": "pj", "provider": "simulated", "mode": "pairwise-all", "simulated": {"position_bias": 80}}]
    config["stages"] = ["answers", "reviews", "ratings"]
    config.pop("benchmarks")
    path = base / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    run_pipeline(plan_run(load_config(path)))
    return base / "runs" / "vote"


def _fresh(review_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "vote"
    shutil.copytree(review_run, run)
    return run


def _with_payloads(run: Path, url: str) -> None:
    """Every answer of the first model carries script and fetching payloads."""
    path = run / "answers" / f"{MODELS[0]}.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        row["choices"][0]["turns"] = [f"{XSS_SCRIPT} {XSS_IMG} ![leak]({url}/answer.png) {t}" for t in row["choices"][0]["turns"]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _sign_in(page: Page, url: str, name: str) -> None:
    page.goto(f"{url}/?view=review")
    page.type_into(NAME_FIELD, name)
    page.click_button("Start reviewing")
    page.wait_for_selector(NOTE_FIELD)


def _names_in(page: Page) -> list[str]:
    html = page.html()
    return [m for m in MODELS if m in html]


def _vote(page: Page, choice: str, note: str = "") -> dict:
    """Cast one vote once the blind battle is up; the reveal's facts as the page states them."""
    page.wait_without_text("Vote recorded")
    page.wait_for_selector(NOTE_FIELD)
    page.settle()
    leaked = _names_in(page)
    if note:
        page.type_into(NOTE_FIELD, note)
    page.click_button(choice)
    page.wait_for_text("Vote recorded")
    page.wait_for_text("Answer A was")
    text = page.evaluate("document.body.innerText")
    line = next(t for t in text.splitlines() if t.startswith("Answer A was"))
    first, second = line[len("Answer A was "):].rstrip(".").split(", answer B was ")
    question = next(t for t in text.splitlines() if t.startswith("question ") and " · turn " in t)
    return {"leaked": leaked, "revealed": _names_in(page), "shown": [first, second], "question": question.split(" ")[1], "note": note}


def _review(page: Page, choices: list[str], out: list, errors: list) -> None:
    try:
        for k, choice in enumerate(choices):
            out.append({**_vote(page, choice, note=f"note {k}"), "choice": choice})
            page.click_button("Next battle")
    except Exception as exc:  # reported in the main thread
        errors.append(exc)


def test_two_reviewers_vote_in_parallel_blind_and_each_vote_is_stored_once(review_run: Path, tmp_path: Path):
    run = _fresh(review_run, tmp_path)
    with logging_server() as (leak_url, hits):
        _with_payloads(run, leak_url)
        with serve_dashboard("--run", str(run)) as url, chromium_browser() as browser:
            alice, bob = browser.new_page(), browser.new_page()
            _sign_in(alice, url, "alice")
            _sign_in(bob, url, "bob <b>")
            assert _names_in(alice) == [] and _names_in(bob) == []
            # Bob spreads out (skips battles others voted on) after his first votes: the two
            # meet on the first battles of the shared order, then part.
            cast: dict[str, list] = {"alice": [], "bob <b>": []}
            errors: list = []
            choices = ["A is better", "B is better", "Tie", "Both are bad", "A is better", "B is better"]
            threads = [threading.Thread(target=_review, args=(alice, choices, cast["alice"], errors)),
                       threading.Thread(target=_review, args=(bob, choices[:3], cast["bob <b>"], errors))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=300)
            assert errors == []
            bob.wait_for_selector(NOTE_FIELD)
            bob.settle()
            bob.click_label("skip battles others voted on")
            bob.settle()
            assert bob.evaluate("[...document.querySelectorAll('label')].find(l => l.innerText.includes('skip battles others')).querySelector('input').checked")
            for k, choice in enumerate(choices[3:]):
                cast["bob <b>"].append({**_vote(bob, choice, note=f"bob {k} {XSS_IMG} ![n]({leak_url}/note.png)"), "choice": choice})
                bob.click_button("Next battle")
            # A double click on a vote button is one vote.
            alice.wait_without_text("Vote recorded")
            alice.wait_for_selector(NOTE_FIELD)
            alice.evaluate("""(() => { const b = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Tie');
                                        b.click(); b.click(); })()""")
            alice.wait_for_text("Vote recorded")
            alice.evaluate("new Promise(r => setTimeout(r, 1500))")
            # The results page shows the notes (payloads as text) and nothing ran or loaded.
            alice.click_button("Next battle")
            alice.settle()
            alice.click_label("agreement and leaderboards")
            alice.wait_for_text("Votes")
            alice.wait_for_text("Leaderboards: people")
            for page in (alice, bob):
                page.evaluate("new Promise(r => setTimeout(r, 1000))")
                assert page.evaluate("window.__pwned === undefined")
                assert "PWNED" not in page.evaluate("document.title")
                assert page.evaluate("document.querySelectorAll('img[onerror]').length") == 0
        assert hits == []
    stored = read_human_votes(votes_path(run))
    by_reviewer = {name: [v for v in stored if v.reviewer == name] for name in cast}
    assert len(by_reviewer["alice"]) == len(cast["alice"]) + 1  # the double click stored once
    assert len(by_reviewer["bob <b>"]) == len(cast["bob <b>"]) == 6
    assert len({v.vote_id for v in stored}) == len(stored)
    letters = {"A is better": "A", "B is better": "B", "Tie": "tie", "Both are bad": "both bad"}
    for name, votes in cast.items():
        for page_vote, line in zip(votes, by_reviewer[name]):
            assert page_vote["leaked"] == []  # no model name in the DOM before this vote
            assert set(page_vote["shown"]) <= set(page_vote["revealed"])  # and the probe sees them after it
            assert (str(line.question_id), line.shown, line.vote) == (page_vote["question"], page_vote["shown"], letters[page_vote["choice"]])
    items = {name: [(str(v.question_id), v.turn, tuple(sorted(v.shown))) for v in votes] for name, votes in by_reviewer.items()}
    assert len(set(items["bob <b>"])) == 6 and len(set(items["alice"])) == 7
    assert set(items["alice"]) & set(items["bob <b>"]), "the two reviewers met on no battle"
    assert set(items["bob <b>"]) - set(items["alice"]), "bob never voted on a battle alice did not"
    # Each reviewer saw the answers in an order of their own (a coin per reviewer and battle).
    assert any(v.shown[0] != v.shown[1] for v in stored)


def test_a_dashboard_killed_while_votes_are_cast_leaves_no_torn_line(review_run: Path, tmp_path: Path):
    run = _fresh(review_run, tmp_path)
    path = votes_path(run)
    path.parent.mkdir(parents=True)
    # A torn tail as a writer killed mid-line would leave: the next vote cuts it before appending.
    path.write_bytes(b'{"vote_id":"half","reviewer":"x","question_id":')
    servers: list = []
    with serve_dashboard("--run", str(run), process_out=servers) as url, chromium_browser() as browser:
        page = browser.new_page()
        _sign_in(page, url, "carol")
        for _ in range(3):
            _vote(page, "A is better")
            page.click_button("Next battle")
        page.wait_without_text("Vote recorded")
        page.wait_for_selector(NOTE_FIELD)
        page.click_button("B is better")  # and kill the server while it stores the vote
        servers[0].kill()
        servers[0].wait()
    data = path.read_bytes()
    assert data.endswith(b"\n")
    lines = [obj for _, obj in read_jsonl(path)]
    assert all(obj["reviewer"] == "carol" for obj in lines)
    assert 3 <= len(lines) <= 4
    assert b"half" not in data
