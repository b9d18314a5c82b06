"""Helpers for the fault, interrupt and secret tests: a pinned world, parallel runs, secrets."""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import typing as t
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path

from tap_twitter_metrics.catalogue import CATALOGUE
from tap_twitter_metrics.settings import SECRET_SETTINGS
from tap_twitter_metrics_sandbox import CREDENTIALS, MAIN_USER_ID, Sandbox, SandboxOptions
from tap_twitter_metrics_sandbox.world import default_now
from tests.tapruns import CORE_STREAMS, TAP, TapRun, catalog, run_tap

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    import pytest

    from tap_twitter_metrics_sandbox.server import LoggedRequest

T = t.TypeVar("T")

# Every sandbox of a test session serves the same world: a clean run made on one sandbox is
# the reference for faulty runs made on others.
NOW = default_now()
# Big enough for a timeline pass of two pages: the third timeline request carries a
# pagination_token. Two accounts and three looked-up foreign posts.
WORLD = {"seed": 7, "posts": 210, "partner_posts": 40, "lookup_posts": 3}
TIMELINE = "/2/users/:id/tweets"
WORKERS = 4
# X's analytics ask for the own posts younger than 30 days, 100 a request: a quarter of the
# world's posts are that young, so 500 make two batches. Synced with the core streams, from a
# state whose analytics bookmarks are older than those 30 days: such a run reads like a first
# sync, and a refused stream has a bookmark to keep.
ANALYTICS_STREAMS = ("tweet_analytics", "media_analytics")
ANALYTICS_WORLD = {"posts": 500}
FULL_KEYS = {spec.name: spec.key for spec in CATALOGUE}


def sandbox(**options: t.Any) -> Sandbox:
    """A sandbox serving the pinned world."""
    return Sandbox(SandboxOptions(**{**WORLD, **options}, now=NOW))


def lookup_ids(sb: Sandbox) -> list[str]:
    """Posts of neither account, read only through GET /2/tweets."""
    own = {sb.world.main_user_id, sb.world.partner_user_id}
    return [post.id for post in sb.world.posts if post.author_id not in own][-3:]


def analytics_state() -> dict[str, t.Any]:
    """The state analytics runs start from: each analytics stream's bookmark, 60 days old."""
    old = (NOW - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    partition = {
        "context": {"author_id": MAIN_USER_ID},
        "replication_key": "timestamp",
        "replication_key_value": old,
    }
    return {"bookmarks": {name: {"partitions": [dict(partition)]} for name in ANALYTICS_STREAMS}}


def sync_config(sb: Sandbox, credentials: str = "oauth1", **settings: t.Any) -> dict[str, t.Any]:
    """Both accounts' timelines and three lookups: every kind of request the tap makes."""
    return {
        **sb.config_for(credentials),
        "user_ids": [sb.world.main_user_id, sb.world.partner_user_id],
        "tweet_ids": lookup_ids(sb),
        **settings,
    }


@dataclass
class Reference:
    """`sync_config` on the pinned world without faults: what it emitted and asked."""

    run: TapRun
    routes: list[str]
    requests: list[LoggedRequest] = field(default_factory=list)


_reference_lock = threading.Lock()


@cache
def _reference(analytics: bool) -> Reference:
    world = ANALYTICS_WORLD if analytics else {}
    streams = (*CORE_STREAMS, *ANALYTICS_STREAMS) if analytics else CORE_STREAMS
    state = analytics_state() if analytics else None
    with sandbox(**world) as sb, tempfile.TemporaryDirectory() as tmp:
        run = run_tap(sync_config(sb), Path(tmp), streams=streams, state=state)
        requests = requests_in_order(sb)
    assert run.returncode == 0, run.stderr
    return Reference(run, [request.route for request in requests], requests)


def reference(*, analytics: bool = False) -> Reference:
    """The clean reference run, made once a session; with X's analytics on their own world."""
    with _reference_lock:
        return _reference(analytics)


def run_all(jobs: Mapping[str, Callable[[], T]], workers: int = WORKERS) -> dict[str, T]:
    """Run independent jobs (tap runs against their own sandboxes) a few at a time."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def selected_params(request: pytest.FixtureRequest, argname: str) -> list[t.Any]:
    """Values of `argname` of this module's tests that the session will run."""
    return [
        item.callspec.params[argname]  # type: ignore[attr-defined]
        for item in request.session.items
        if item.module is request.module  # type: ignore[attr-defined]
        and argname in getattr(getattr(item, "callspec", None), "params", {})
    ]


def requests_in_order(sb: Sandbox) -> list[LoggedRequest]:
    """The request log by arrival: a timed-out request is logged when its answer is sent."""
    return sorted(sb.requests, key=lambda request: request.at)


def api_requests(requests: Iterable[LoggedRequest]) -> list[LoggedRequest]:
    """Requests to the API itself, not to the OAuth 2.0 token endpoint."""
    return [
        request
        for request in requests
        if request.route.startswith("/2/") and not (request.route.startswith("/2/oauth2/"))
    ]


def keys(run: TapRun, stream: str) -> set[tuple[t.Any, ...]]:
    """Primary keys of a stream's records (all their columns)."""
    return {tuple(record[name] for name in FULL_KEYS[stream]) for record in run.records(stream)}


def without_observed_at(records: Iterable[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Records with the read time left out, in output order."""
    return [{k: v for k, v in record.items() if k != "observed_at"} for record in records]


def bookmarks(state: Mapping[str, t.Any]) -> dict[str, str]:
    """author_id -> replication_key_value of the tweets stream's partitions."""
    partitions = state.get("bookmarks", {}).get("tweets", {}).get("partitions", [])
    return {
        partition["context"]["author_id"]: partition["replication_key_value"]
        for partition in partitions
        if "author_id" in partition.get("context", {}) and "replication_key_value" in partition
    }


def assert_union_is_complete(
    runs: Iterable[TapRun], reference: TapRun, streams: Iterable[str] = CORE_STREAMS
) -> None:
    """Every record key of the reference run appears in one of `runs`, stream by stream."""
    runs = list(runs)
    for stream in streams:
        union = set().union(*(keys(run, stream) for run in runs))
        missing = keys(reference, stream) - union
        assert not missing, f"{stream}: {len(missing)} records lost"


def secrets_of(config: Mapping[str, t.Any], sb: Sandbox | None = None) -> set[str]:
    """Every secret a run could print: configured ones, and tokens the sandbox issued."""
    found = {str(config[name]) for name in SECRET_SETTINGS if config.get(name)}
    found |= {
        value
        for name, value in CREDENTIALS.items()
        if isinstance(value, str) and name not in ("consumer_key", "oauth2_client_id")
    }
    if sb is not None:
        issued = sb.authenticator
        found |= set(issued._access) | set(issued._refresh)
    return found


def assert_no_secret(text: str, secrets: Iterable[str]) -> None:
    """None of `secrets` appears in `text` (names, not values, in the failure message)."""
    shown = [secret[:6] + "…" for secret in secrets if secret and secret in text]
    assert not shown, f"secrets printed: {shown}"


class Started:
    """A tap run in progress, to be signalled; its output is drained as it comes."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self._out: dict[str, bytes] = {}
        self._readers = [
            threading.Thread(target=self._drain, args=(name, pipe), daemon=True)
            for name, pipe in (("stdout", process.stdout), ("stderr", process.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _drain(self, name: str, pipe: t.IO[bytes] | None) -> None:
        if pipe is None:
            self._out[name] = b""
            return
        with pipe:
            self._out[name] = pipe.read()

    def finish(self, timeout: float = 60) -> TapRun:
        """Wait for the end and parse what it wrote; a cut-off last line is dropped."""
        self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=timeout)
        *lines, _partial = self._out["stdout"].split(b"\n")
        messages = [json.loads(line) for line in lines if line.strip()]
        stderr = self._out["stderr"].decode("utf-8", "replace")
        return TapRun(self.process.returncode, messages, stderr)


def start_tap(
    config: dict[str, t.Any],
    tmp_path: Path,
    *,
    streams: Iterable[str] = CORE_STREAMS,
    state: dict[str, t.Any] | None = None,
) -> Started:
    """Start a sync in the background, like `tapruns.run_tap` but without waiting."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog(streams)))
    command = [
        *TAP,
        "--config",
        str(tmp_path / "config.json"),
        "--catalog",
        str(tmp_path / "catalog.json"),
    ]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        command += ["--state", str(tmp_path / "state.json")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return Started(process)
