"""The dashboard served on 127.0.0.1 and a headless Chromium driving it over the DevTools
protocol (a websocket; no selenium or driver binary needed). Used by the XSS test and by the
screenshot script (tests/dashboard/take_screenshots.py)."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-allow-origins=*",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:4]} exited with {process.returncode} before serving {url}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        time.sleep(0.2)
    raise TimeoutError(f"{url}: no answer within {timeout:.0f} s")


@contextlib.contextmanager
def serve_dashboard(*page_args: str, timeout: float = 60, process_out: list | None = None) -> Iterator[str]:
    """`streamlit run viz.py -- PAGE_ARGS` on a free port of 127.0.0.1; yields its URL (and
    puts the server's Popen in `process_out`, for a test that kills it)."""
    port = free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", str(REPO / "viz.py"),
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",
        "--", *page_args,
    ]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if process_out is not None:
        process_out.append(process)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/_stcore/health", timeout, process)
        yield url
    finally:
        _stop(process)


class Page:
    """One Chromium tab over the DevTools protocol: navigate, evaluate, screenshot."""

    def __init__(self, socket_url: str):
        from websockets.sync.client import connect

        self._stack = contextlib.ExitStack()
        self._ws = self._stack.enter_context(connect(socket_url, max_size=64 << 20, open_timeout=20))
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        self._ws.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=60))
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def _until(self, expression: str, timeout: float, failure: str, *, every: float = 0.1, calm: int = 1) -> None:
        """Evaluate `expression` until it is true `calm` times in a row, or raise TimeoutError."""
        deadline, streak = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            streak = streak + 1 if self.evaluate(expression) else 0
            if streak >= calm:
                return
            time.sleep(every)
        raise TimeoutError(failure)

    def wait_for_text(self, text: str, timeout: float = 45) -> None:
        # Word joiners (invisible; the dashboard puts them in bare URLs so they stay text) ignored.
        probe = f"document.body && document.body.innerText.replaceAll('\\u2060', '').includes({json.dumps(text)})"
        try:
            self._until(probe, timeout, "", every=0.25)
        except TimeoutError:
            raise TimeoutError(f"page never showed {text!r}; it shows: {self.evaluate('document.body && document.body.innerText')!r:.500}") from None

    def wait_for_selector(self, selector: str, timeout: float = 45) -> None:
        self._until(f"!!document.querySelector({json.dumps(selector)})", timeout, f"page never showed an element {selector!r}", every=0.25)

    def screenshot(self, path: Path, *, full_page: bool = True) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", **params)["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def settle(self, timeout: float = 45) -> None:
        """Wait until the script run is over and Streamlit removed what it left over from the
        last one (stale elements): the page as it stands between interactions."""
        probe = ("!document.querySelector('[data-stale=\"true\"]') && "
                 "!document.querySelector('[data-testid^=\"stStatusWidgetRunning\"]')")
        self._until(probe, timeout, "the page never settled (a script run that does not end)", calm=3)

    def wait_without_text(self, text: str, timeout: float = 45) -> None:
        """Wait until the page no longer shows `text` (a rerun replaced it)."""
        probe = f"document.body && !document.body.innerText.includes({json.dumps(text)})"
        self._until(probe, timeout, f"page still shows {text!r}")

    def click_button(self, label: str, timeout: float = 45) -> None:
        """Click the (enabled) button whose text is `label`, waiting for it to appear."""
        script = f"""(() => {{
            const b = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === {json.dumps(label)} && !b.disabled);
            if (!b) return false; b.click(); return true; }})()"""
        self._until(script, timeout, f"page never showed a button {label!r}")

    def click_label(self, text: str, timeout: float = 45) -> None:
        """Click the checkbox or radio option whose label holds `text` (its input, where the
        label has one: react-aria widgets ignore a synthetic click on the label), waiting for it."""
        script = f"""(() => {{
            const l = [...document.querySelectorAll('label')].find(l => l.innerText.includes({json.dumps(text)}));
            if (!l) return false; (l.querySelector('input') || l).click(); return true; }})()"""
        self._until(script, timeout, f"page never showed a label {text!r}")

    def type_into(self, selector: str, text: str) -> None:
        """Focus the field `selector` and type `text` as keystrokes would (React sees it)."""
        self.wait_for_selector(selector)
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", text=text)

    def html(self) -> str:
        """The whole document as it stands (every element and attribute, hidden or not)."""
        return self.evaluate("document.documentElement.outerHTML")

    def close(self) -> None:
        self._stack.close()


class Browser:
    """One headless Chromium; `new_page()` opens a tab in a fresh browser context (its own
    cookies and storage: another user, as an incognito window is)."""

    def __init__(self, port: int):
        self.port = port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=5) as reply:
            self._control = Page(json.load(reply)["webSocketDebuggerUrl"])
        self._pages: list[Page] = []

    def new_page(self, width: int = 1400, height: int = 1000) -> Page:
        context = self._control.call("Target.createBrowserContext", disposeOnDetach=True)["browserContextId"]
        target = self._control.call("Target.createTarget", url="about:blank", browserContextId=context)["targetId"]
        page = Page(f"ws://127.0.0.1:{self.port}/devtools/page/{target}")
        page.call("Page.enable")
        page.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self._pages.append(page)
        return page

    def close(self) -> None:
        for page in self._pages:
            page.close()
        self._control.close()


@contextlib.contextmanager
def _launch(*flags: str) -> Iterator[int]:
    """A fresh headless Chromium (own profile, no network beyond what pages ask for); yields
    its DevTools port once it answers."""
    profile = Path(tempfile.mkdtemp(prefix="arena-chromium-"))
    port = free_port()
    process = subprocess.Popen(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--remote-debugging-port={port}", *flags, "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/json/version", 30, process)
        yield port
    finally:
        _stop(process)
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.contextmanager
def chromium_browser() -> Iterator[Browser]:
    """A fresh headless Chromium whose tabs are separate users (see `Browser`)."""
    with _launch() as port:
        browser = Browser(port)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator[Page]:
    """A fresh headless Chromium with its first tab (one user)."""
    with _launch(f"--window-size={width},{height}") as port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as reply:
            targets = [t for t in json.load(reply) if t.get("type") == "page"]
        page = Page(targets[0]["webSocketDebuggerUrl"])
        try:
            page.call("Page.enable")
            page.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
            yield page
        finally:
            page.close()


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL for a process that outlives ten seconds of grace."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
