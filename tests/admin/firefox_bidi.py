"""Debian's Firefox ESR driven over WebDriver BiDi, the W3C protocol Firefox speaks natively.

Playwright drives only its own patched Firefox (which cannot be downloaded here), and geckodriver
is in no Debian package; Firefox itself has served WebDriver BiDi on ``--remote-debugging-port``
since version 129, so the browser tests speak it directly, over aiohttp's WebSocket client (no
extra package): a session, tabs, navigation, ``script.evaluate``, real pointer clicks
(``input.performActions``), and the console, network and CSP errors each tab met.

Every call is awaited on the test's event loop; nothing here blocks it (Firefox runs in its own
process and is only talked to over the socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

FIREFOX = "/usr/bin/firefox-esr"
#: What every test profile sets: no first-run pages, no network of its own (the machine is
#: offline; Firefox would log errors for each attempt), no update checks.
BASE_PREFS: dict[str, bool | int | str] = {
    "app.update.disabledForTesting": True,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.normandy.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "services.settings.server": "http://127.0.0.1:9/",
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
}
#: A fake microphone (Firefox's own: a tone, not a file) and no permission prompt. Autoplay keeps
#: Firefox's default (audio only after a click): the tests click with real pointer events, so the
#: page must start its audio from the click, as it has to for people.
MEDIA_PREFS: dict[str, bool | int | str] = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
}
_LISTENING = "WebDriver BiDi listening on "
#: Catches what BiDi's log events do not: the page's Content-Security-Policy violations.
_CSP_WATCH = """() => {
  window.cwCspViolations = [];
  window.addEventListener("securitypolicyviolation",
    (e) => window.cwCspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
}"""


class BidiError(Exception):
    """Firefox answered a command with an error (or did not start); the message is its own."""


@dataclass
class Problems:
    """What went wrong in a tab: console errors, uncaught exceptions, failed requests."""

    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Firefox:
    """A running Firefox with one BiDi session (from :meth:`launch`; :meth:`close` it)."""

    def __init__(
        self, process: asyncio.subprocess.Process, http: aiohttp.ClientSession,
        ws: aiohttp.ClientWebSocketResponse, output: deque[str],
    ) -> None:
        """``output``: Firefox's last lines on stderr, read on from here so that the pipe never
        fills."""
        self.process = process
        self.output = output
        self._http = http
        self._ws = ws
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._problems: dict[str, Problems] = {}
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read())
        assert process.stderr is not None
        self._drain = loop.create_task(_drain(process.stderr, output))

    @classmethod
    async def launch(
        cls, profile: Path, prefs: Mapping[str, bool | int | str] | None = None,
        timeout_s: float = 60.0,
    ) -> Firefox:
        """Start headless Firefox on a fresh ``profile`` directory with ``prefs`` (on top of
        :data:`BASE_PREFS`), and open a BiDi session on it."""
        await asyncio.to_thread(_write_prefs, profile, {**BASE_PREFS, **(prefs or {})})
        process = await asyncio.create_subprocess_exec(
            FIREFOX, "--headless", "--no-remote", "--profile", str(profile),
            "--remote-debugging-port", "0", "about:blank",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        log: deque[str] = deque(maxlen=200)
        try:
            url = await asyncio.wait_for(_listening_url(process, log), timeout_s)
            http = aiohttp.ClientSession()
            try:
                ws = await http.ws_connect(url + "/session", max_msg_size=0)
            except BaseException:
                await http.close()
                raise
        except TimeoutError:
            await _stop(process)
            raise BidiError(f"Firefox did not start its BiDi server within {timeout_s} s; its "
                            "output ends with:\n" + "\n".join(log)) from None
        except BaseException:
            await _stop(process)
            raise
        firefox = cls(process, http, ws, log)
        try:
            await firefox.command("session.new", {"capabilities": {}})
            await firefox.command("session.subscribe", {"events": [
                "log.entryAdded", "network.responseCompleted", "network.fetchError"]})
            await firefox.command("script.addPreloadScript", {"functionDeclaration": _CSP_WATCH})
        except BaseException:
            await firefox.close()
            raise
        return firefox

    async def command(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send one BiDi command; its result, or :class:`BidiError`."""
        self._next_id += 1
        ident = self._next_id
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = answer
        try:
            await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
            message = await answer
        finally:
            self._waiting.pop(ident, None)
        if message.get("type") == "error":
            raise BidiError(f"{method}: {message.get('error')}: {message.get('message')}")
        result: dict[str, Any] = message.get("result", {})
        return result

    async def tab(self) -> Tab:
        """The window's first tab (Firefox opens with one)."""
        tree = await self.command("browsingContext.getTree", {"maxDepth": 0})
        context = tree["contexts"][0]["context"]
        return Tab(self, context, self._problems.setdefault(context, Problems()))

    async def close(self) -> None:
        with contextlib.suppress(BidiError, ConnectionError, RuntimeError):
            if not self._ws.closed:
                await asyncio.wait_for(self.command("browser.close", {}), 10)
        with contextlib.suppress(TimeoutError):  # a browser that will not close is killed
            await asyncio.wait_for(self.process.wait(), 10)
        await _stop(self.process)
        await self._ws.close()
        await self._http.close()
        for task in (self._reader, self._drain):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data:
                waiting = self._waiting.get(data["id"])
                if waiting is not None and not waiting.done():
                    waiting.set_result(data)
            elif data.get("type") == "event":
                self._on_event(data["method"], data["params"])
        for waiting in self._waiting.values():  # the browser went away
            if not waiting.done():
                waiting.set_result({"type": "error", "error": "closed",
                                    "message": "Firefox closed the BiDi socket"})

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "log.entryAdded":
            if params.get("level") != "error":
                return
            context = params.get("source", {}).get("context", "")
            self._problems.setdefault(context, Problems()).console.append(
                f"{params.get('type')}: {params.get('text')}")
            return
        context = params.get("context") or ""
        url = params.get("request", {}).get("url", "")
        if method == "network.fetchError":
            problem = f"{url}: {params.get('errorText')}"
        else:
            status = params.get("response", {}).get("status", 0)
            if status < 400:
                return
            problem = f"{url}: HTTP {status}"
        self._problems.setdefault(context, Problems()).requests.append(problem)


class Tab:
    """One browsing context of a :class:`Firefox`."""

    def __init__(self, firefox: Firefox, context: str, problems: Problems) -> None:
        self.firefox = firefox
        self.context = context
        self.problems = problems

    async def goto(self, url: str) -> None:
        await self.firefox.command("browsingContext.navigate",
                                   {"context": self.context, "url": url, "wait": "complete"})

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if a promise), through
        JSON (``undefined`` is None)."""
        result = await self._evaluate(
            f"(async () => JSON.stringify(await ({expression})))()", await_promise=True)
        return json.loads(result["value"]) if result.get("type") == "string" else None

    async def wait_for(self, expression: str, timeout_s: float = 20.0) -> Any:
        """Evaluate ``expression`` every 100 ms until it is truthy; its value. A page that is
        navigating between two tries is tried again."""
        deadline = time.monotonic() + timeout_s
        last: object = None
        while True:
            try:
                last = await self.evaluate(expression)
                if last:
                    return last
            except BidiError as exc:  # the page went on to another document meanwhile
                last = exc
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression!r} still not true after {timeout_s} s "
                                   f"(last: {last!r})")
            await asyncio.sleep(0.1)

    async def text(self, selector: str) -> str:
        found = await self.evaluate(
            f"document.querySelector({json.dumps(selector)})?.innerText ?? null")
        if found is None:
            raise BidiError(f"no element matches {selector!r}")
        return str(found)

    async def fill(self, selector: str, value: str) -> None:
        """Set a field's value as typing would (an ``input`` event follows)."""
        done = await self.evaluate(f"""(() => {{
            const field = document.querySelector({json.dumps(selector)});
            if (!field) return false;
            field.focus();
            field.value = {json.dumps(value)};
            field.dispatchEvent(new Event("input", {{ bubbles: true }}));
            return true;
        }})()""")
        if not done:
            raise BidiError(f"no field matches {selector!r}")

    async def click(self, selector: str) -> None:
        """A real mouse click (trusted events, user activation) in the middle of the element."""
        found = await self._evaluate(f"""(() => {{
            const element = document.querySelector({json.dumps(selector)});
            if (element) element.scrollIntoView({{ block: "center" }});
            return element;
        }})()""", await_promise=False)
        if found.get("type") != "node":
            raise BidiError(f"no element matches {selector!r}")
        origin = {"type": "element", "element": {"sharedId": found["sharedId"]}}
        await self.firefox.command("input.performActions", {"context": self.context, "actions": [
            {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
             "actions": [{"type": "pointerMove", "x": 0, "y": 0, "origin": origin},
                         {"type": "pointerDown", "button": 0},
                         {"type": "pointerUp", "button": 0}]},
        ]})

    async def csp_violations(self) -> list[str]:
        found = await self.evaluate("window.cwCspViolations || []")
        return [str(item) for item in found]

    async def _evaluate(self, expression: str, *, await_promise: bool) -> dict[str, Any]:
        answer = await self.firefox.command("script.evaluate", {
            "expression": expression, "target": {"context": self.context},
            "awaitPromise": await_promise, "resultOwnership": "none",
        })
        if answer.get("type") == "exception":
            details = answer.get("exceptionDetails", {})
            raise BidiError(f"the page threw: {details.get('text')}")
        result: dict[str, Any] = answer["result"]
        return result


def _write_prefs(profile: Path, prefs: Mapping[str, bool | int | str]) -> None:
    profile.mkdir(parents=True, exist_ok=True)
    lines = [f"user_pref({json.dumps(name)}, {json.dumps(value)});"
             for name, value in prefs.items()]
    (profile / "user.js").write_text("\n".join(lines) + "\n")


async def _listening_url(process: asyncio.subprocess.Process, log: deque[str]) -> str:
    """The BiDi server's address, which Firefox prints once it listens (its lines into ``log``)."""
    assert process.stderr is not None
    stderr = process.stderr
    while line := (await stderr.readline()).decode(errors="replace"):
        log.append(line.rstrip())
        if line.startswith(_LISTENING):
            return line[len(_LISTENING):].strip()
    raise BidiError(f"Firefox exited (code {await process.wait()}) before it listened; its "
                    "output ends with:\n" + "\n".join(log))


async def _drain(stderr: asyncio.StreamReader, log: deque[str]) -> None:
    while line := await stderr.readline():
        log.append(line.decode(errors="replace").rstrip())


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
