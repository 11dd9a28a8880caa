"""The spec report in a real headless browser (Debian chromium, driven over the DevTools
protocol): it loads without console errors and shows every automaton."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from speclang.cli import main

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
websocket = pytest.importorskip("websocket", reason="needs the websocket-client package")
if CHROMIUM is None:
    pytest.skip(
        "Debian chromium is not installed (apt-get install chromium)", allow_module_level=True
    )
if shutil.which("dot") is None:
    pytest.skip("Graphviz `dot` is not installed", allow_module_level=True)


class Page:
    """One headless chromium tab, recording console errors and uncaught exceptions."""

    def __init__(self, profile: Path) -> None:
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = self._targets(port, deadline)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.next_id = 0
        self.errors: list[str] = []
        for method in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.call(method)

    @staticmethod
    def _targets(port: int, deadline: float) -> list[dict]:
        from urllib.request import urlopen

        while True:
            try:
                with urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                    targets = json.load(r)
                if any(t["type"] == "page" for t in targets):
                    return targets
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("no page target in chromium")
            time.sleep(0.1)

    def _record(self, msg: dict) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", "")) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            self.errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(params["entry"].get("text", ""))

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._record(msg)

    def load(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        while True:
            msg = json.loads(self.ws.recv())
            self._record(msg)
            if msg.get("method") == "Page.loadEventFired":
                break
        # Let late console messages (after the load event) arrive.
        self.call(
            "Runtime.evaluate", expression="new Promise(r => setTimeout(r, 200))", awaitPromise=True
        )

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def page(tmp_path):
    p = Page(tmp_path / "profile")
    try:
        yield p
    finally:
        p.close()


def test_harness_sees_console_errors(page, tmp_path):
    # Without this control a broken harness would pass every page.
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><body><script>console.error('boom')</script></body></html>"
    )
    page.load(bad.as_uri())
    assert page.errors == ["boom"]


def test_report_loads_cleanly_and_shows_every_automaton(page, tmp_path):
    out = tmp_path / "gridworld.html"
    assert main(["report-spec", str(ROOT / "examples" / "gridworld.spec"), "-o", str(out)]) == 0
    page.load(out.as_uri())
    assert page.errors == []
    shown = page.evaluate(
        """[...document.querySelectorAll('section.spec')].map(s => ({
            id: s.id,
            states: Number(s.dataset.states),
            drawn: s.querySelectorAll('svg g.node[id^="state-"]').length,
            visible: s.querySelector('svg').getBoundingClientRect().width > 50,
            rows: s.querySelectorAll('table.states tr').length - 1,
        }))"""
    )
    assert [s["id"] for s in shown] == [
        "spec-no_lava",
        "spec-no_hazard",
        "spec-cooled_lava",
        "spec-light_first",
        "spec-reach_goal",
    ]
    for s in shown:
        assert s["drawn"] == s["states"] == s["rows"], s
        assert s["visible"], s
    assert page.evaluate("document.querySelectorAll('ol.progression li').length") == 3
