"""Nothing lost when a run is killed: the next run, from the last STATE, delivers the rest."""

from __future__ import annotations

import functools
import signal
import time
import typing as t
from dataclasses import dataclass

import pytest

from tap_twitter_metrics_sandbox import MAIN_USER_ID, PARTNER_USER_ID
from tests.faultruns import (
    assert_no_secret,
    assert_union_is_complete,
    bookmarks,
    reference,
    run_all,
    sandbox,
    secrets_of,
    selected_params,
    start_tap,
    sync_config,
)
from tests.tapruns import TapRun, run_tap

if t.TYPE_CHECKING:
    from pathlib import Path

# Each request takes this long, so that the kill lands while the tap waits for an answer.
LATENCY_MS = 300


@dataclass(frozen=True)
class Point:
    """Kill the run while the sandbox answers its nth request."""

    label: str
    nth: int
    finished: tuple[str, ...]


POINTS = (
    Point("first request", 1, ()),
    Point("own account's timeline, second page", 4, ()),
    Point("partner's timeline", 6, (MAIN_USER_ID,)),
    Point("lookup", 7, (MAIN_USER_ID, PARTNER_USER_ID)),
)
SIGNALS = (signal.SIGTERM, signal.SIGKILL)
# Ctrl-C: SIGINT at one point is enough, it takes the same path as SIGTERM.
SCENARIOS = [(sig, point) for sig in SIGNALS for point in POINTS] + [(signal.SIGINT, POINTS[1])]


def scenario_id(scenario: tuple[signal.Signals, Point]) -> str:
    sig, point = scenario
    return f"{sig.name}-{point.nth}"


@dataclass
class Interrupted:
    """A killed run, whether it was still running, and the run after it."""

    killed: TapRun
    was_running: bool
    rerun: TapRun
    secrets: set[str]


def interrupt(sig: signal.Signals, point: Point, tmp: Path) -> Interrupted:
    with sandbox(latency_ms=LATENCY_MS) as sb:
        config = sync_config(sb)
        started = start_tap(config, tmp / "killed")
        deadline = time.monotonic() + 60
        while len(sb.requests) < point.nth and time.monotonic() < deadline:
            if started.process.poll() is not None:
                break
            time.sleep(0.005)
        was_running = started.process.poll() is None
        started.process.send_signal(sig)
        killed = started.finish()
        sb.app.latency_ms = 0
        rerun = run_tap(config, tmp / "rerun", state=killed.state)
        return Interrupted(killed, was_running, rerun, secrets_of(config, sb))


@pytest.fixture(scope="module")
def interrupted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Interrupted]:
    jobs = {}
    for sig, point in selected_params(request, "scenario"):
        name = scenario_id((sig, point))
        jobs[name] = functools.partial(interrupt, sig, point, tmp_path_factory.mktemp(name))
    return run_all(jobs)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario_id(s) for s in SCENARIOS])
def test_a_killed_run_and_the_next_one_lose_nothing(
    scenario: tuple[signal.Signals, Point], interrupted: dict[str, Interrupted]
) -> None:
    sig, point = scenario
    outcome = interrupted[scenario_id(scenario)]
    killed = outcome.killed

    assert outcome.was_running
    if sig == signal.SIGKILL:
        assert killed.returncode == -signal.SIGKILL
    else:
        # The state it holds goes out first, and a scheduler sees a killed run, not a success.
        assert killed.messages[-1]["type"] == "STATE"
        assert killed.returncode == 128 + sig
    # The last state keeps the finished accounts' bookmarks and does not advance the others.
    clean = reference().run
    assert bookmarks(killed.state) == {
        author: bookmarks(clean.state)[author] for author in point.finished
    }
    assert outcome.rerun.returncode == 0, outcome.rerun.stderr
    assert_union_is_complete([killed, outcome.rerun], clean)
    assert_no_secret(killed.output + outcome.rerun.output, outcome.secrets)
