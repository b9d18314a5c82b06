"""The fault matrix: every fault the sandbox injects, at several points of a sync.

Each case runs the tap against its own sandbox serving the same world as a clean reference
run, with one fault planted. A case either recovers (records identical to the clean run,
the retry or wait it took visible in the log and in the requests) or stops with its one-line
message; a stopped run's last STATE lets a second run deliver everything the first did not
(without a bookmark in it, that second run is a first sync: the clean run).
Points on X's analytics are played on a world with two batches of young own posts, with the
analytics streams selected too, from a state holding old analytics bookmarks; there a 403
only skips the refused stream, which keeps its bookmark, while the other streams complete.
No case prints a secret. `python -m tests.test_faults` prints the README's table.
"""

from __future__ import annotations

import functools
import re
import time
import typing as t
from dataclasses import dataclass

import pytest

from tap_twitter_metrics_sandbox import MAIN_USER_ID, PARTNER_USER_ID
from tests.faultruns import (
    ANALYTICS_STREAMS,
    ANALYTICS_WORLD,
    TIMELINE,
    analytics_state,
    api_requests,
    assert_no_secret,
    assert_union_is_complete,
    bookmarks,
    reference,
    requests_in_order,
    run_all,
    sandbox,
    secrets_of,
    selected_params,
    sync_config,
    without_observed_at,
)
from tests.tapruns import CORE_STREAMS, PRIMARY_KEYS, TapRun, run_tap

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_twitter_metrics_sandbox import Sandbox
    from tap_twitter_metrics_sandbox.server import LoggedRequest

# The tap's defaults, and the settings the cases change.
MAX_TRIES = 5
FOREVER_TRIES = 3
MAX_WAIT = 5
REQUEST_TIMEOUT = 1
TIMEOUT_DELAY = 1.5
SHORT_RESET = 2
LONG_RESET = 3600


@dataclass(frozen=True)
class Point:
    """Where in a sync the fault fires: the nth request on a route."""

    label: str
    route: str
    nth: int
    # Accounts whose timelines are complete when the fault fires.
    finished: tuple[str, ...]
    # A request to X's analytics, played with them (see the module's docstring). They sync
    # last, tweet_analytics first: no analytics stream is complete when either point fires.
    analytics: bool = False

    @property
    def streams(self) -> tuple[str, ...]:
        """The streams the sync selects."""
        return (*CORE_STREAMS, *ANALYTICS_STREAMS) if self.analytics else CORE_STREAMS


# The clean sync asks, in order: /2/users/me, /2/users?ids=, the own account's timeline
# (recent posts with private metrics, then two pages of older posts), the partner's
# timeline, then the looked-up posts (test_clean_sync_makes_the_requests_the_points_name).
# With X's analytics selected, they come last, once both timelines are complete: the posts'
# analytics in batches of 100 (the own posts of the last 30 days, as the timeline read them),
# then the videos' (test_clean_sync_reads_x_analytics_in_the_batches_the_points_name).
MEDIA_ANALYTICS, TWEET_ANALYTICS = "/2/media/analytics", "/2/tweets/analytics"
# Analytics route -> its stream, and the parameter naming the batch's resources.
ANALYTICS_ROUTES = {
    TWEET_ANALYTICS: ("tweet_analytics", "ids"),
    MEDIA_ANALYTICS: ("media_analytics", "media_keys"),
}
POINTS = {
    "me": Point("first request (`GET /2/users/me`)", "/2/users/me", 1, ()),
    "first_page": Point("first timeline page", TIMELINE, 1, ()),
    "next_page": Point("next timeline page (`pagination_token`)", TIMELINE, 3, ()),
    "second_account": Point("second account's timeline", TIMELINE, 4, ("main",)),
    "lookup": Point("lookup batch (`GET /2/tweets?ids=`)", "/2/tweets", 1, ("main", "partner")),
    "analytics": Point(
        f"first request to X's analytics (`GET {TWEET_ANALYTICS}`)",
        TWEET_ANALYTICS,
        1,
        ("main", "partner"),
        analytics=True,
    ),
    "analytics_batch": Point(
        f"second batch of X's analytics (`GET {TWEET_ANALYTICS}`, own posts 101 on)",
        TWEET_ANALYTICS,
        2,
        ("main", "partner"),
        analytics=True,
    ),
}


@dataclass(frozen=True)
class Fault:
    """A fault kind, and how the tap's log lines name what happened."""

    label: str
    kind: t.Literal["transient", "rate_limit", "stop"]
    said: str


FAULTS = {
    "500": Fault("HTTP 500", "transient", "HTTP 500 Internal Server Error"),
    "503": Fault("HTTP 503", "transient", "HTTP 503 Service Unavailable"),
    "reset": Fault(
        "connection reset, no answer", "transient", "no HTTP status: the connection was reset"
    ),
    "timeout": Fault(
        "no answer within `request_timeout`",
        "transient",
        f"no response within request_timeout ({REQUEST_TIMEOUT} s)",
    ),
    "truncated": Fault(
        "HTTP 200, JSON body cut off",
        "transient",
        "HTTP 200 OK with a body that is not valid JSON (cut off?)",
    ),
    "invalid_json": Fault(
        "HTTP 200, body not JSON",
        "transient",
        "HTTP 200 OK with a body that is not valid JSON (cut off?)",
    ),
    "rate_limit": Fault("HTTP 429 rate limit", "rate_limit", "HTTP 429 Too Many Requests"),
    "usage_cap": Fault(
        "HTTP 429 `usage-capped`",
        "stop",
        "the X API monthly product usage cap is spent (title: UsageCapExceeded; detail: "
        "Usage cap exceeded: Monthly product cap). Waiting for a rate-limit window does not "
        "help, so the run stops now without retrying.",
    ),
    "401": Fault(
        "HTTP 401 Unauthorized",
        "stop",
        "was refused with HTTP 401 Unauthorized using the OAuth 1.0a user-context credentials. "
        "The API said: title: Unauthorized. Check that these credentials are complete",
    ),
    "403": Fault(
        "HTTP 403 Client Forbidden",
        "stop",
        "was refused with HTTP 403 Forbidden using the OAuth 1.0a user-context credentials. "
        "The API said: title: Client Forbidden; detail: When authenticating requests to the "
        "Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App "
        "that is attached to a Project. You can create a project via the developer portal.; "
        "reason: client-not-enrolled. Check that the app is attached to a Project",
    ),
}


@dataclass(frozen=True)
class Case:
    """One fault planted at one point of a sync."""

    fault: str
    point: str
    # How many tries in a row fail; 0: every one from the nth on.
    times: int = 1
    credentials: str = "oauth1"
    retry_after: int = SHORT_RESET

    @property
    def id(self) -> str:
        """Test id."""
        suffix = "-forever" if self.times == 0 else ""
        suffix += "-long-reset" if self.retry_after > MAX_WAIT else ""
        suffix += "-oauth2" if self.credentials == "oauth2" else ""
        return f"{self.fault}-{self.point}{suffix}"

    @property
    def refreshes(self) -> bool:
        """An OAuth 2.0 run answers a 401 by refreshing its access token once."""
        return self.fault == "401" and self.credentials == "oauth2"

    @property
    def skips(self) -> bool:
        """A 403 from X's analytics skips that stream only; the run completes without it."""
        return self.fault == "403" and POINTS[self.point].analytics

    @property
    def recovers(self) -> bool:
        """Whether the run completes despite the fault, with every record."""
        kind = FAULTS[self.fault].kind
        if kind == "transient":
            return self.times == 1
        if kind == "rate_limit":
            return self.retry_after <= MAX_WAIT
        return self.refreshes

    @property
    def tries(self) -> int:
        """Requests the fault answers."""
        return FOREVER_TRIES if self.times == 0 else self.times

    def settings(self) -> dict[str, t.Any]:
        """The settings the case changes."""
        settings: dict[str, t.Any] = {"rate_limit_max_wait_seconds": MAX_WAIT}
        if self.fault == "timeout":
            settings["request_timeout"] = REQUEST_TIMEOUT
        if self.times == 0:
            settings["max_retries"] = FOREVER_TRIES
        return settings

    def outcome(self) -> str:  # noqa: PLR0911 -- one wording per outcome
        """What the tap does, in the README's words."""
        if self.refreshes:
            return "refreshes the OAuth 2.0 access token once, sends the request again, completes"
        if self.skips:
            return (
                "X's analytics only: skips that stream with one WARNING line, the stream keeps "
                "its bookmark; the other streams complete, exit code 0"
            )
        if self.recovers and FAULTS[self.fault].kind == "transient":
            return "retries after a short backoff with jitter, completes"
        if self.recovers:
            return (
                "waits until `x-rate-limit-reset` + 1 s (one INFO line), sends the same "
                "request again, completes"
            )
        if FAULTS[self.fault].kind == "transient":
            return (
                f"retries with exponential backoff, {FOREVER_TRIES} tries in all "
                "(`max_retries`), then stops naming the endpoint, the status and what to do"
            )
        if self.fault == "rate_limit":
            return (
                "reset further away than `rate_limit_max_wait_seconds`: stops at once, says "
                "when to run again"
            )
        if self.fault == "usage_cap":
            return "stops at once without retrying, names the cap"
        return (
            "stops at once, names the credential, the API's title, detail and reason, "
            "and what to check"
        )


CASES = [
    *(Case(fault, point) for fault in FAULTS for point in POINTS),
    *(Case(fault, "next_page", times=0) for fault, f in FAULTS.items() if f.kind == "transient"),
    Case("503", "analytics", times=0),
    Case("503", "analytics_batch", times=0),
    Case("rate_limit", "second_account", retry_after=LONG_RESET),
    Case("401", "next_page", credentials="oauth2"),
]


def params(cases: list[Case]) -> list[t.Any]:
    """The cases as test parameters."""
    return [pytest.param(case, id=case.id) for case in cases]


@dataclass
class Played:
    """A faulty run, the requests the sandbox saw, and the run that carried on after it."""

    run: TapRun
    requests: list[LoggedRequest]
    rerun: TapRun | None
    secrets: set[str]
    # The state the run started from, and the one the next run starts from.
    state_in: dict[str, t.Any] | None = None
    carried: dict[str, t.Any] | None = None


@dataclass
class Clean:
    """The reference: the same sync without faults."""

    run: TapRun
    routes: list[str]
    bookmarks: dict[str, str]
    accounts: dict[str, str]
    requests: list[LoggedRequest]


def config_for(case: Case, sb: Sandbox, tmp: Path) -> dict[str, t.Any]:
    """The sync's settings for `case`."""
    config = sync_config(sb, case.credentials, **case.settings())
    if case.credentials == "oauth2":
        config["oauth2_token_file"] = str(tmp / "tokens.json")
    return config


def play(case: Case, tmp: Path) -> Played:
    """Run the tap with the case's fault planted; run again from its state if it stopped."""
    point = POINTS[case.point]
    state_in = analytics_state() if point.analytics else None
    with sandbox(**(ANALYTICS_WORLD if point.analytics else {})) as sb:
        sb.add_fault(
            point.route,
            case.fault,
            nth=point.nth,
            times=case.times,
            retry_after=case.retry_after,
            delay=TIMEOUT_DELAY,
        )
        config = config_for(case, sb, tmp)
        run = run_tap(config, tmp / "run", streams=point.streams, state=state_in)
        # A timed-out request is logged once the sandbox answers it, after the tap moved on.
        deadline = time.monotonic() + TIMEOUT_DELAY * 2
        while sum(bool(r.fault) for r in sb.requests) < case.tries:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        requests = requests_in_order(sb)
        rerun = None
        # Without a message, the next run starts from the state the run was given.
        carried = run.state or state_in
        # Without a bookmark the next run is a first sync: the clean run shows what it reads.
        if run.returncode != 0 and (bookmarks(run.state) or point.analytics):
            sb.clear_faults()
            rerun = run_tap(config, tmp / "rerun", streams=point.streams, state=carried)
        return Played(run, requests, rerun, secrets_of(config, sb), state_in, carried)


def clean_run(*, analytics: bool = False) -> Clean:
    """The sync without faults; with X's analytics, the one their points are played on."""
    clean = reference(analytics=analytics)
    accounts = {"main": MAIN_USER_ID, "partner": PARTNER_USER_ID}
    return Clean(clean.run, clean.routes, bookmarks(clean.run.state), accounts, clean.requests)


@pytest.fixture(scope="module")
def played(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Played | Clean]:
    """Every selected case, and the clean run, played a few at a time."""
    jobs: dict[str, t.Callable[[], Played | Clean]] = {
        "clean": clean_run,
        "clean_analytics": functools.partial(clean_run, analytics=True),
    }
    for case in selected_params(request, "case"):
        tmp = tmp_path_factory.mktemp(case.id)
        jobs[case.id] = functools.partial(play, case, tmp)
    return run_all(jobs)


@pytest.fixture(scope="module")
def clean(played: dict[str, Played | Clean]) -> Clean:
    """The clean reference run."""
    return t.cast("Clean", played["clean"])


@pytest.fixture(scope="module")
def clean_analytics(played: dict[str, Played | Clean]) -> Clean:
    """The clean reference run of the points on X's analytics."""
    return t.cast("Clean", played["clean_analytics"])


def analytics_partition(state: t.Mapping[str, t.Any] | None, stream: str) -> dict[str, t.Any]:
    """The bookmark of an analytics stream (its one partition: the own account)."""
    assert state is not None
    (partition,) = state["bookmarks"][stream]["partitions"]
    return t.cast("dict[str, t.Any]", partition)


def progress(state: t.Mapping[str, t.Any] | None, stream: str) -> tuple[t.Any, ...]:
    """How far an analytics stream got: its bookmark and the own resources it asked for."""
    partition = analytics_partition(state, stream)
    return partition["replication_key_value"], partition.get("own_resources")


def log_lines(run: TapRun, pattern: str) -> list[str]:
    """The message part of the stderr lines matching `pattern`."""
    return [
        line.split(" | ", 3)[-1]
        for line in run.stderr.splitlines()
        if re.search(pattern, line) and " | " in line
    ]


def test_clean_sync_makes_the_requests_the_points_name(clean: Clean) -> None:
    assert clean.run.returncode == 0, clean.run.stderr
    assert clean.routes[:7] == ["/2/users/me", "/2/users", *[TIMELINE] * 4, "/2/tweets"]
    assert set(clean.routes[7:]) <= {"/2/tweets"}
    assert clean.bookmarks.keys() == set(clean.accounts.values())
    assert all(len(clean.run.records(stream)) for stream in CORE_STREAMS)


def test_clean_sync_reads_x_analytics_in_the_batches_the_points_name(
    clean_analytics: Clean,
) -> None:
    clean = clean_analytics
    assert clean.run.returncode == 0, clean.run.stderr
    # The core sync first: the own account's timeline (two pages of the last 30 days, with
    # private metrics, then four of older posts), the partner's, the lookup. Then the posts'
    # analytics in two batches and the videos', with no second read of the own timeline.
    assert clean.routes == [
        "/2/users/me",
        "/2/users",
        *[TIMELINE] * 7,
        "/2/tweets",
        TWEET_ANALYTICS,
        TWEET_ANALYTICS,
        MEDIA_ANALYTICS,
    ]
    timelines = [(r.path, tuple(sorted(r.params.items()))) for r in clean.requests[2:9]]
    assert len(set(timelines)) == len(timelines)
    posts = [r.params["ids"].split(",") for r in clean.requests if r.route == TWEET_ANALYTICS]
    assert [len(batch) for batch in posts] == [
        100,
        len({r["tweet_id"] for r in clean.run.records("tweet_analytics")}) - 100,
    ]
    assert clean.bookmarks.keys() == set(clean.accounts.values())
    assert all(len(clean.run.records(stream)) for stream in POINTS["analytics"].streams)
    # Every analytics stream moved its bookmark on from the old one it started from.
    for stream in ANALYTICS_STREAMS:
        moved, old = progress(clean.run.state, stream), progress(analytics_state(), stream)
        assert moved[0] > old[0]
        assert moved[1]


@pytest.mark.parametrize("case", params(CASES))
def test_fault(case: Case, played: dict[str, Played | Clean]) -> None:
    outcome = t.cast("Played", played[case.id])
    run, point, fault = outcome.run, POINTS[case.point], FAULTS[case.fault]
    clean = t.cast("Clean", played["clean_analytics" if point.analytics else "clean"])
    requests = api_requests(outcome.requests)
    faulted = [index for index, request in enumerate(requests) if request.fault]
    retries = log_lines(run, r"; retry \d+ of \d+ in ")
    waits = log_lines(run, r"\| Waiting ")

    assert_no_secret(run.output + (outcome.rerun.output if outcome.rerun else ""), outcome.secrets)
    # The fault fired where planned, on as many tries in a row as planned.
    assert len(faulted) == case.tries
    assert faulted == list(range(faulted[0], faulted[0] + case.tries))
    assert [request.route for request in requests[: faulted[0]]] == clean.routes[: faulted[0]]
    assert requests[faulted[0]].route == point.route
    assert [request.route for request in requests[: faulted[0]]].count(point.route) == (
        point.nth - 1
    )
    if case.skips:
        assert_skipped(
            case, outcome, clean, requests=requests, at=faulted[0], retries=retries, waits=waits
        )
        return
    if case.recovers:
        assert_recovered(
            case, outcome, clean, requests=requests, at=faulted[0], retries=retries, waits=waits
        )
        return

    # A clean stop: the one-line message is the last line, nothing is sent after the fault.
    assert run.returncode == 1
    assert faulted[-1] == len(requests) - 1
    last = run.stderr.strip().splitlines()[-1]
    assert "| ERROR " in last
    message = last.split(" | ", 3)[-1]
    assert message.startswith(f"GET {point.route}")
    if fault.kind == "transient":
        assert message == (
            f"GET {point.route} failed {FOREVER_TRIES} times in a row (max_retries), the last "
            f"time with {fault.said}. The X API or the network is failing: run the sync again "
            "later, it carries on from the last state. If it keeps failing, check api_url and "
            "the X API status page."
        )
        assert [re.sub(r" in \d+\.\d s\.$", "", line) for line in retries] == [
            f"GET {point.route}: {fault.said}; retry {n} of {FOREVER_TRIES - 1}"
            for n in range(1, FOREVER_TRIES)
        ]
        assert len({(r.path, tuple(sorted(r.params.items()))) for r in requests[faulted[0] :]}) == 1
    elif fault.kind == "rate_limit":
        assert re.fullmatch(
            rf"GET {re.escape(point.route)}: HTTP 429 Too Many Requests; the next window opens "
            r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, in 36\d\d s, longer than "
            rf"rate_limit_max_wait_seconds \({MAX_WAIT}\)\. Stopping now: run the sync again "
            r"after .+ UTC, it carries on from the last state\.",
            message,
        )
        assert retries == waits == []
    else:
        assert fault.said in message
        assert retries == waits == []
    # The last state keeps the finished accounts' bookmarks and does not advance the others:
    # at the points on X's analytics, both accounts' are the clean run's.
    assert bookmarks(run.state) == {
        clean.accounts[name]: clean.bookmarks[clean.accounts[name]] for name in point.finished
    }
    # No analytics stream is complete there: each keeps the bookmark it started from.
    if point.analytics:
        assert outcome.carried == run.state
        for stream in ANALYTICS_STREAMS:
            assert analytics_partition(outcome.carried, stream) == analytics_partition(
                outcome.state_in, stream
            ), stream
    if point.finished or point.analytics:
        assert outcome.rerun is not None
        assert outcome.rerun.returncode == 0, outcome.rerun.stderr
        assert_union_is_complete([run, outcome.rerun], clean.run, point.streams)


def assert_recovered(
    case: Case,
    outcome: Played,
    clean: Clean,
    *,
    requests: list[LoggedRequest],
    at: int,
    retries: list[str],
    waits: list[str],
) -> None:
    run, point, fault = outcome.run, POINTS[case.point], FAULTS[case.fault]
    assert run.returncode == 0, run.stderr
    for stream in point.streams:
        assert without_observed_at(run.records(stream)) == without_observed_at(
            clean.run.records(stream)
        ), stream
    assert bookmarks(run.state) == clean.bookmarks
    if point.analytics:
        for stream in ANALYTICS_STREAMS:
            assert progress(run.state, stream) == progress(clean.run.state, stream), stream
    # The same request again, and otherwise the clean run's requests.
    again = requests[at + 1]
    assert (again.path, again.params, again.fault) == (
        requests[at].path,
        requests[at].params,
        None,
    )
    assert [request.route for request in requests] == [
        *clean.routes[:at],
        point.route,
        *clean.routes[at:],
    ]
    if fault.kind == "transient":
        assert len(retries) == 1
        assert re.fullmatch(
            rf"GET {re.escape(point.route)}: {re.escape(fault.said)}; retry 1 of "
            rf"{MAX_TRIES - 1} in 0\.\d s\.",
            retries[0],
        )
        assert waits == []
        assert " 1 retries, 0 waits " in run.stderr
    elif fault.kind == "rate_limit":
        assert len(waits) == 1
        assert re.fullmatch(
            rf"Waiting \d\.\d s for GET {re.escape(point.route)} \(HTTP 429 Too Many "
            r"Requests\) until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.",
            waits[0],
        )
        seconds = float(waits[0].split()[1])
        assert 0 < seconds <= SHORT_RESET + 2
        assert again.at - requests[at].at >= seconds - 0.1
        assert retries == []
        assert " 0 retries, 1 waits " in run.stderr
    else:
        # OAuth 2.0: one refresh between the refused request and the same one again.
        refused_at, again_at = requests[at].at, again.at
        refreshes = [
            r
            for r in outcome.requests
            if r.route == "/2/oauth2/token" and refused_at <= r.at <= again_at
        ]
        assert len(refreshes) == 1
        assert retries == waits == []


def assert_skipped(
    case: Case,
    outcome: Played,
    clean: Clean,
    *,
    requests: list[LoggedRequest],
    at: int,
    retries: list[str],
    waits: list[str],
) -> None:
    """A 403 from X's analytics: that stream is skipped, the rest of the run as if clean."""
    run, point, fault = outcome.run, POINTS[case.point], FAULTS[case.fault]
    skipped, batch = ANALYTICS_ROUTES[point.route]
    assert run.returncode == 0, run.stderr
    # One WARNING line naming the stream, the refusal and what to do; no retry, no wait.
    (warning,) = log_lines(run, r"\| WARNING ")
    assert warning.startswith(
        f"{skipped} is skipped this run and keeps its bookmark; the other streams are synced. "
        f"GET {point.route} {fault.said} "
    )
    assert warning.endswith(" Deselect it if the plan or account has no access to X's analytics.")
    assert retries == waits == []
    assert " 0 retries, 0 waits " in run.stderr
    # The skipped stream asks nothing more; the others ask what the clean run asks.
    assert [request.route for request in requests] == [
        *clean.routes[: at + 1],
        *(route for route in clean.routes[at + 1 :] if route != point.route),
    ]
    # The other streams' records are the clean run's; the skipped one's, those of the
    # batches it was given before the refusal.
    for stream in point.streams:
        if stream != skipped:
            assert without_observed_at(run.records(stream)) == without_observed_at(
                clean.run.records(stream)
            ), stream
    given = {
        key
        for request in requests[:at]
        if request.route == point.route
        for key in request.params[batch].split(",")
    }
    before = [r for r in clean.run.records(skipped) if r[PRIMARY_KEYS[skipped]] in given]
    assert len(given) == (point.nth - 1) * 100
    assert without_observed_at(run.records(skipped)) == without_observed_at(before)
    # The skipped stream keeps the bookmark it started from; the others move on.
    assert bookmarks(run.state) == clean.bookmarks
    for stream in ANALYTICS_STREAMS:
        if stream == skipped:
            assert analytics_partition(run.state, stream) == analytics_partition(
                outcome.state_in, stream
            )
        else:
            assert progress(run.state, stream) == progress(clean.run.state, stream), stream


def readme_table() -> str:
    """The README's fault matrix, from the cases above."""
    rows: dict[tuple[str, str], list[str]] = {}
    for case in CASES:
        fault = FAULTS[case.fault].label
        if case.times == 0:
            fault += ", on every try"
        if case.retry_after > MAX_WAIT:
            fault += f", reset {LONG_RESET} s away"
        if case.credentials == "oauth2":
            fault += " (OAuth 2.0)"
        rows.setdefault((fault, case.outcome()), []).append(case.point)
    points = "; ".join(f"{n}. {point.label}" for n, point in enumerate(POINTS.values(), 1))
    lines = [
        f"Points of the sync: {points}.",
        "",
        "| Fault | Where | What the tap does | Records lost |",
        "|---|---|---|---|",
    ]
    numbers = {name: str(n) for n, name in enumerate(POINTS, 1)}
    for (fault, outcome), where in rows.items():
        lost = "0" if "completes" in outcome else "0: the next run carries on from the last state"
        at = "all" if len(where) == len(POINTS) else ", ".join(numbers[name] for name in where)
        lines.append(f"| {fault} | {at} | {outcome} | {lost} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(readme_table())
