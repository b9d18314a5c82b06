"""Benchmark the tap against the offline sandbox: requests, SCHEMA messages, speed, memory.

From the repository root, with the development environment active:

    python benchmarks/run.py            # full run: a few minutes on 2 cores
    python benchmarks/run.py --quick    # small smoke version: seconds

It prints a Markdown report and writes it to `benchmarks/results.md` (`--output`).

How it measures
- The sandbox runs as its own process (its command line, `tap_twitter_metrics_sandbox.cli`),
  so its CPU time is not charged to the tap; its rate limits are lifted so no run waits.
- The tap runs as a user runs it: `python -m tap_twitter_metrics --config ... --catalog ...`,
  with OAuth 1.0a user context, its stdout going to a file that is counted after it exits.
- Scenarios: the timeline of an account with 3,200 posts (none excluded), and id lookups
  of 10,000 and 100,000 posts, each once with the public streams (those selected by
  default) and once with all the catalogue's streams, X's analytics of the signed-in
  account's posts and videos included.
- After each tap run, `benchmarks/baseline.py` replays the very requests the tap made (from
  the sandbox's request log) with plain `requests` and prints the same RECORD lines with
  `json.dumps`: the practical ceiling. The requests the analytics streams make only to find
  the own posts feed no stream: the baseline sends them and prints nothing for them. Tap
  and baseline runs alternate; the best of `--repeat` runs (`--repeat-large` for the
  largest lookup) counts, so a noisy machine slows both alike.
- Latency: the largest lookup again against a sandbox that delays every response by 100 ms,
  compared with a sequential estimate (the tap's time without latency + requests x latency).

Columns
- requests: API requests in the sandbox's log; minimum: the fewest the API allows (formula
  printed with the table), derived from the sandbox's world at the start of each run; the
  row shows the run with the most requests over its minimum;
- SCHEMA/stream: the most SCHEMA messages any selected stream received (target: 1);
- records, records/s: RECORD messages, and their rate over the tap process's wall time
  (start-up included, as a user waits for it);
- CPU s: user + system time of the tap process; sandbox CPU s: the sandbox's, meanwhile;
- peak RSS: the tap process's own high-water mark (`wait4` resource usage of that child);
- baseline s, baseline records/s, ratio: the baseline on the same pages, and the tap's rate
  over the baseline's; CPU ratio: the same with records per CPU second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path

import requests

from tap_twitter_metrics.catalogue import CATALOGUE, Part
from tap_twitter_metrics_sandbox import CREDENTIALS, MAIN_USER_ID, PARTNER_USER_ID
from tap_twitter_metrics_sandbox.world import PROTECTED_USER_ID

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.md"
TAP = [sys.executable, "-m", "tap_twitter_metrics"]
BASELINE = [sys.executable, str(HERE / "baseline.py")]
SNOWFLAKE_EPOCH_MS = 1288834974657
TIMELINE_CAP = 3200
PAGE = 100
SEED = 7
UNLIMITED = 10**9
# The analytics streams' defaults: own posts younger than this many days are asked for.
ANALYTICS_POST_AGE_DAYS = 30
ANALYTICS_STREAMS = frozenset(
    spec.name for spec in CATALOGUE if spec.part in {Part.TWEET_ANALYTICS, Part.MEDIA_ANALYTICS}
)
# Streams whose selection makes the run read private families: the private metric streams
# (the daily snapshots hold the families read, and add only the public one).
PRIVATE_READERS = frozenset(spec.name for spec in CATALOGUE if spec.user_context and spec.family)
# The run's own record and X's usage count: neither comes from the pass measured here.
UNMEASURED = frozenset(spec.name for spec in CATALOGUE if spec.part in {Part.RUNS, Part.USAGE})
OWN_TIMELINE_ROUTE = "/2/users/:id/tweets"
PRIVATE_FAMILIES = ("non_public_metrics", "organic_metrics", "promoted_metrics")
# The tap's default `exclude`, which the lookup scenarios keep.
DEFAULT_EXCLUDE = ("retweets",)

MINIMUM_FORMULA = """\
Minimum requests = per-account constants + the sum, over the passes the API forces, of
ceil(posts in the pass / 100). A run reads private families when a private metric stream
is selected (the "all" rows).
- timeline, no private family read: 1 (`/2/users?ids=` for the users stream, one per 100
  accounts) + ceil(W / 100), W = posts in the window (the 3,200 newest the API reaches);
- timeline, private families read: 1 (`/2/users/me`: whose private figures are readable; it
  also returns that account's users record) + ceil(R / 100) for the private pass (R = posts
  of the last 30 days, the only ones the API grants private fields) + ceil((W - R) / 100);
- lookups of N ids, no private family read: ceil(N / 100);
- lookups, private families read: 1 (`/2/users/me`) + ceil(R / 100) for the ids whose
  snowflake time lies within 30 days (asked with private fields: the author is unknown
  until read) + ceil((N - R_own) / 100) for everything else, the posts the API dropped for
  refused fields included, read once with public fields in full batches (R_own = own posts
  among R);
- analytics, in the "all" rows, per run: + ceil(P / 100) for tweet_analytics + ceil(V / 100)
  for media_analytics, P = the signed-in account's posts younger than 30 days
  (`analytics_post_age_days`) that its timeline returns (with the scenario's `exclude`),
  V = the videos those posts carry. Finding the P posts costs nothing more when the run
  reads that timeline anyway (the timeline rows); otherwise (the lookup rows) it costs
  ceil(P / 100): the own timeline from 30 days ago, 100 posts a page, is the only list of
  them. The breakdown's terms come in this order: `/2/users/me`, the passes above, the
  own-timeline reads (lookups only), tweet_analytics, media_analytics."""

NOTES = """\
Notes
- Looked-up ids are spread evenly over the sandbox's posts of other authors (about a quarter
  of them from the last 30 days), so both sizes have the same mix; the timeline excludes
  nothing (`exclude: []`), so every post the API reaches is read.
- records/s and ratio use the whole process's wall time, start-up (about 0.5 s) included.
- sandbox CPU s is the sandbox's own CPU time during the tap run: the sandbox builds every
  answer in Python, so no run can be faster. A ratio above 1 comes from the tap overlapping
  its lookup requests while the baseline reads one page after the other; CPU ratio (records
  per CPU second, tap / baseline) compares the work per record alone.
- peak RSS is the tap process's own maximum resident set, reported by `wait4`.
- The daily snapshot streams (selected by default, so in every row) are built from the same
  responses: no request of their own. They hold the families the run reads: the public
  one in the public rows, all of them in the "all" rows. The analytics streams (all streams
  only) run with no state: one window of daily buckets from 30 days ago, over every own
  post younger than 30 days and its videos.
- own-timeline reads: requests of the own timeline from a start time without private
  fields. With no state, `tweets` reads the own timeline either from the 30-day line with
  private fields or up to it with no start time, so such a request is the analytics
  streams' search for own posts."""

# Processes are started from this small helper, not from the benchmark: Linux carries the
# parent's memory high-water mark over fork and exec into the child's ru_maxrss, and the
# benchmark holds the sandbox's world. The helper times the child and reports its usage.
SPAWN = """\
import os, sys, time
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as result:
    cpu = usage.ru_utime + usage.ru_stime
    result.write(f"{os.waitstatus_to_exitcode(status)} {wall} {cpu} {usage.ru_maxrss}")
"""

_MESSAGE = re.compile(rb'^\{"type": ?"([A-Z_]+)"(?:, ?"stream": ?"([^"]*)")?', re.MULTILINE)


@dataclass(frozen=True)
class Sizes:
    """How big the scenarios are."""

    timeline: int
    lookups: tuple[int, int]
    latency_ms: int


FULL = Sizes(timeline=3200, lookups=(10_000, 100_000), latency_ms=100)
QUICK = Sizes(timeline=300, lookups=(500, 1_000), latency_ms=100)


@dataclass
class Measured:
    """One process run."""

    wall: float
    cpu: float
    peak_rss_kib: int
    counts: Counter[tuple[str, str]]

    @property
    def records(self) -> int:
        """RECORD messages printed."""
        return sum(n for (kind, _), n in self.counts.items() if kind == "RECORD")

    def per_stream(self, kind: str) -> Counter[str]:
        """Messages of one type per stream."""
        return Counter({stream: n for (k, stream), n in self.counts.items() if k == kind})

    @property
    def rate(self) -> float:
        """Records per second of wall time."""
        return self.records / self.wall


@dataclass(frozen=True)
class AnalyticsMinimum:
    """The fewest requests the analytics streams need in one run, and what they cover."""

    posts: int
    """Own posts younger than 30 days the own timeline returns."""
    videos: int
    """Videos those posts carry."""
    own_reads: int
    """Own-timeline requests to find the posts: 0 when the run reads that timeline anyway."""

    @property
    def tweet(self) -> int:
        """tweet_analytics: one request per 100 posts."""
        return pages(self.posts)

    @property
    def media(self) -> int:
        """media_analytics: one request per 100 videos."""
        return pages(self.videos)


@dataclass(frozen=True)
class Minimum:
    """The fewest requests a run needs, its breakdown and the analytics part of it."""

    total: int
    breakdown: str
    analytics: AnalyticsMinimum | None = None


@dataclass(frozen=True)
class AnalyticsRequests:
    """The requests one tap run made for the analytics streams."""

    tweet: int
    media: int
    own_reads: int


@dataclass
class Scenario:
    """One row of the table."""

    label: str
    selection: str
    config: dict[str, t.Any]
    streams: list[str]
    minimum_now: Callable[[], Minimum]
    """The minimum at this instant: the 30-day lines move while the benchmark runs."""
    minimums: list[Minimum] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    analytics: list[AnalyticsRequests] = field(default_factory=list)
    sandbox_cpu: list[float] = field(default_factory=list)
    tap: list[Measured] = field(default_factory=list)
    baseline: list[Measured] = field(default_factory=list)

    @property
    def worst(self) -> int:
        """The run with the most requests over its minimum (the last of equals)."""
        extra = [n - m.total for n, m in zip(self.requests, self.minimums, strict=True)]
        return max(range(len(extra)), key=lambda run: (extra[run], run))

    @property
    def minimum(self) -> Minimum:
        """The worst run's minimum."""
        return self.minimums[self.worst]

    @property
    def extra(self) -> int:
        """Requests over the minimum, in the worst run."""
        return self.requests[self.worst] - self.minimum.total

    @property
    def analytics_selected(self) -> bool:
        """Whether an analytics stream is selected."""
        return not ANALYTICS_STREAMS.isdisjoint(self.streams)

    @property
    def best_tap(self) -> Measured:
        """The fastest tap run."""
        return min(self.tap, key=lambda run: run.wall)

    @property
    def best_baseline(self) -> Measured:
        """The fastest baseline run."""
        return min(self.baseline, key=lambda run: run.wall)

    @property
    def peak_rss_mib(self) -> float:
        """The highest peak RSS of all tap runs."""
        return max(run.peak_rss_kib for run in self.tap) / 1024

    @property
    def schema_max(self) -> int:
        """The most SCHEMA messages any selected stream received in any run."""
        return max(
            max((run.per_stream("SCHEMA").get(stream, 0) for stream in self.streams), default=0)
            for run in self.tap
        )

    @property
    def schema_min(self) -> int:
        """The fewest SCHEMA messages any selected stream received in any run."""
        return min(
            min((run.per_stream("SCHEMA").get(stream, 0) for stream in self.streams), default=0)
            for run in self.tap
        )

    @property
    def ratio(self) -> float:
        """The tap's rate over the baseline's."""
        return self.best_tap.rate / self.best_baseline.rate

    @property
    def cpu_ratio(self) -> float:
        """The tap's records per CPU second over the baseline's."""
        tap = self.best_tap.records / min(run.cpu for run in self.tap)
        return tap / (self.best_baseline.records / min(run.cpu for run in self.baseline))


class SandboxProcess:
    """The sandbox in its own process, driven through its admin endpoints."""

    def __init__(self, *, posts: int, lookup_posts: int, latency_ms: int = 0) -> None:
        command = [
            *(sys.executable, "-m", "tap_twitter_metrics_sandbox"),
            *("--port", "0", "--seed", str(SEED), "--posts", str(posts)),
            *("--lookup-posts", str(lookup_posts), "--latency-ms", str(latency_ms)),
            *("--rate-limit", str(UNLIMITED)),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            msg = f"the sandbox did not start: {self.url!r}"
            raise RuntimeError(msg)
        self.http = requests.Session()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the sandbox process."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU time the sandbox process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def clear_requests(self) -> None:
        """Empty the request log."""
        self.http.delete(f"{self.url}/_sandbox/requests", timeout=60).raise_for_status()

    def logged(self) -> list[dict[str, t.Any]]:
        """API requests served since the log was last cleared."""
        response = self.http.get(f"{self.url}/_sandbox/requests", timeout=60)
        response.raise_for_status()
        return [entry for entry in response.json() if entry["route"]]

    def videos(self, post_ids: Sequence[str]) -> frozenset[str]:
        """Media keys of the videos the posts carry, as the API types them (100 posts a call).

        Called before the tap runs: the request log is cleared before every run.
        """
        found: set[str] = set()
        headers = {"Authorization": f"Bearer {CREDENTIALS['bearer_token']}"}
        for start in range(0, len(post_ids), PAGE):
            params = {
                "ids": ",".join(post_ids[start : start + PAGE]),
                "expansions": "attachments.media_keys",
            }
            response = self.http.get(
                f"{self.url}/2/tweets", params=params, headers=headers, timeout=60
            )
            response.raise_for_status()
            media = response.json().get("includes", {}).get("media", [])
            found.update(item["media_key"] for item in media if item.get("type") == "video")
        return frozenset(found)

    def posts(self) -> list[dict[str, t.Any]]:
        """Every post of the world: id, author_id, created_at, kind, ..."""
        response = self.http.get(f"{self.url}/_sandbox/world", params={"full": "1"}, timeout=120)
        response.raise_for_status()
        posts: list[dict[str, t.Any]] = response.json()["posts"]
        return posts


@dataclass
class World:
    """What the minimum number of requests is derived from."""

    timeline_ids: list[str]
    """The main account's posts a timeline reaches, newest first."""
    lookup_ids: list[str]
    """Posts of other authors, in the order the sandbox made them (newest first)."""
    own_ids: set[str]
    """Every post of the main account."""
    own_posts: list[OwnPost]
    """The main account's posts a timeline reaches, newest first, with what the analytics
    minimum needs."""
    videos: frozenset[str]
    """Media keys of the videos among the main account's media."""


@dataclass(frozen=True)
class OwnPost:
    """A post of the main account."""

    id: str
    created: datetime
    kind: str
    media_keys: tuple[str, ...]


def world_of(sandbox: SandboxProcess, *, videos: bool = True) -> World:
    """Read the sandbox's world, and (`videos`) which media of the main account are videos."""
    posts = sandbox.posts()
    own_posts = sorted(
        (
            OwnPost(
                id=post["id"],
                created=datetime.fromisoformat(post["created_at"].replace("Z", "+00:00")),
                kind=post["kind"],
                media_keys=tuple(post["media_keys"]),
            )
            for post in posts
            if post["author_id"] == MAIN_USER_ID
        ),
        key=lambda post: int(post.id),
        reverse=True,
    )
    reached = own_posts[:TIMELINE_CAP]
    accounts = {MAIN_USER_ID, PARTNER_USER_ID, PROTECTED_USER_ID}
    others = [post["id"] for post in posts if post["author_id"] not in accounts]
    return World(
        timeline_ids=[post.id for post in reached],
        lookup_ids=others,
        own_ids={post.id for post in own_posts},
        own_posts=reached,
        videos=sandbox.videos([post.id for post in reached if post.media_keys])
        if videos
        else frozenset(),
    )


def sample(ids: list[str], size: int) -> list[str]:
    """`size` ids spread evenly over `ids`, so every sample has the same mix of ages."""
    return ids[:: max(1, len(ids) // size)][:size]


def created(post_id: str) -> datetime:
    """Creation time encoded in a snowflake id."""
    return datetime.fromtimestamp(
        ((int(post_id) >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, tz=timezone.utc
    )


def private_cutoff() -> datetime:
    """The tap's 30-day line, with its one-hour margin, rounded up to the second."""
    cutoff = datetime.now(timezone.utc) - timedelta(days=30) + timedelta(hours=1)
    return cutoff.replace(microsecond=0) + timedelta(seconds=1)


def pages(posts: int) -> int:
    """Requests a pass over `posts` posts needs."""
    return -(-posts // PAGE)


def minimum_of(terms: Sequence[int], analytics: AnalyticsMinimum | None = None) -> Minimum:
    """The sum of the terms, written out."""
    return Minimum(sum(terms), " + ".join(str(term) for term in terms), analytics)


def analytics_minimum(
    world: World, exclude: Iterable[str], *, timeline_read: bool
) -> AnalyticsMinimum:
    """The analytics streams' minimum now; `timeline_read`: the run reads the own timeline."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    oldest = now - timedelta(days=ANALYTICS_POST_AGE_DAYS)
    skipped = {{"retweets": "retweet", "replies": "reply"}[name] for name in exclude}
    young = [post for post in world.own_posts if post.created >= oldest]
    young = [post for post in young if post.kind not in skipped]
    videos = {key for post in young for key in post.media_keys if key in world.videos}
    return AnalyticsMinimum(
        posts=len(young), videos=len(videos), own_reads=0 if timeline_read else pages(len(young))
    )


def timeline_minimum(
    ids: Sequence[str], *, private: bool, analytics: AnalyticsMinimum | None = None
) -> Minimum:
    """Minimum requests for a timeline read of the own account, and its breakdown."""
    if not private:
        return minimum_of((1, pages(len(ids))))
    cutoff = private_cutoff()
    recent = sum(created(post_id) >= cutoff for post_id in ids)
    terms = [1, pages(recent), pages(len(ids) - recent)]
    if analytics:
        # The run's own timeline brings the posts: finding them costs nothing more.
        terms += [analytics.tweet, analytics.media]
    return minimum_of(terms, analytics)


def lookup_minimum(
    ids: Sequence[str],
    own: set[str],
    *,
    private: bool,
    analytics: AnalyticsMinimum | None = None,
) -> Minimum:
    """Minimum requests for an id lookup, and its breakdown; `own` holds the own posts."""
    if not private:
        return minimum_of((pages(len(ids)),))
    cutoff = private_cutoff()
    recent = [post_id for post_id in ids if created(post_id) >= cutoff]
    own_recent = sum(post_id in own for post_id in recent)
    terms = [1, pages(len(recent)), pages(len(ids) - own_recent)]
    if analytics:
        terms += [analytics.own_reads, analytics.tweet, analytics.media]
    return minimum_of(terms, analytics)


def planner(
    world: World, ids: list[str], streams: Sequence[str], config: dict[str, t.Any]
) -> Callable[[], Minimum]:
    """The scenario's minimum, worked out afresh at each call."""
    lookup = "tweet_ids" in config
    exclude = config.get("exclude", DEFAULT_EXCLUDE)
    private = not PRIVATE_READERS.isdisjoint(streams)
    analytics = not ANALYTICS_STREAMS.isdisjoint(streams)

    def minimum() -> Minimum:
        part = analytics_minimum(world, exclude, timeline_read=not lookup) if analytics else None
        if lookup:
            return lookup_minimum(ids, world.own_ids, private=private, analytics=part)
        return timeline_minimum(ids, private=private, analytics=part)

    return minimum


def is_own_post_search(entry: dict[str, t.Any]) -> bool:
    """A read of the own timeline from a start time without private fields (see the notes)."""
    params = entry["params"]
    fields = set(params.get("tweet.fields", "").split(","))
    return (
        entry["route"] == OWN_TIMELINE_ROUTE
        and entry["path"] == f"/2/users/{MAIN_USER_ID}/tweets"
        and "start_time" in params
        and not fields.intersection(PRIVATE_FAMILIES)
    )


def analytics_requests(logged: list[dict[str, t.Any]]) -> AnalyticsRequests:
    """The requests of one run made for the analytics streams."""
    routes = Counter(entry["route"] for entry in logged)
    return AnalyticsRequests(
        tweet=routes["/2/tweets/analytics"],
        media=routes["/2/media/analytics"],
        own_reads=sum(map(is_own_post_search, logged)),
    )


def count_messages(path: Path) -> Counter[tuple[str, str]]:
    """Singer messages per (type, stream) in a file of JSON lines."""
    counts: Counter[tuple[str, str]] = Counter()
    lines = 0
    with path.open("rb") as stream:
        rest = b""
        while chunk := stream.read(1 << 22):
            chunk = rest + chunk
            cut = chunk.rfind(b"\n") + 1
            block, rest = chunk[:cut], chunk[cut:]
            lines += block.count(b"\n")
            for kind, name in _MESSAGE.findall(block):
                counts[kind.decode(), name.decode()] += 1
    if rest.strip() or sum(counts.values()) != lines:
        # Some line did not start the usual way: count every line the slow, exact way.
        counts.clear()
        with path.open("rb") as stream:
            for line in stream:
                if line.strip():
                    message = json.loads(line)
                    counts[message["type"], message.get("stream", "")] += 1
    return counts


def measure(command: Sequence[str], workdir: Path, name: str) -> Measured:
    """Run a command with stdout to a file; its wall time, CPU time, peak RSS and messages."""
    out_path, err_path = workdir / f"{name}.out", workdir / f"{name}.err"
    result_path = workdir / f"{name}.usage"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        subprocess.run(
            [sys.executable, "-S", "-c", SPAWN, str(result_path), *command],
            stdout=out,
            stderr=err,
            check=True,
        )
    returncode, wall, cpu, peak = result_path.read_text().split()
    if returncode != "0":
        tail = err_path.read_text(errors="replace")[-3000:]
        msg = f"{name} exited with {returncode}:\n{tail}"
        raise RuntimeError(msg)
    counts = count_messages(out_path)
    out_path.unlink()
    return Measured(wall=float(wall), cpu=float(cpu), peak_rss_kib=int(peak), counts=counts)


def discover_catalog() -> dict[str, t.Any]:
    """The tap's discovered catalog."""
    result = subprocess.run([*TAP, "--discover"], capture_output=True, check=True)
    catalog: dict[str, t.Any] = json.loads(result.stdout)
    return catalog


def select(catalog: dict[str, t.Any], selection: str) -> tuple[dict[str, t.Any], list[str]]:
    """The catalog with the public (selected by default) or all streams selected."""
    chosen: list[str] = []
    streams = []
    for entry in catalog["streams"]:
        metadata = []
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                on = selection == "all" or bool(item["metadata"].get("selected-by-default"))
                on = on and entry["tap_stream_id"] not in UNMEASURED
                metadata.append({**item, "metadata": {**item["metadata"], "selected": on}})
                if on:
                    chosen.append(entry["tap_stream_id"])
            else:
                metadata.append(item)
        streams.append({**entry, "metadata": metadata})
    return {**catalog, "streams": streams}, sorted(chosen)


def oauth1(url: str) -> dict[str, t.Any]:
    """Tap config with the sandbox's main-account OAuth 1.0a credentials."""
    return {
        "api_url": url,
        "consumer_key": CREDENTIALS["consumer_key"],
        "consumer_secret": CREDENTIALS["consumer_secret"],
        "access_token": CREDENTIALS["access_token"],
        "access_token_secret": CREDENTIALS["access_token_secret"],
    }


def progress(text: str) -> None:
    """A line on stderr, so that stdout holds only the report."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class Bench:
    """Runs scenarios and keeps their files apart."""

    def __init__(self, workdir: Path, catalog: dict[str, t.Any]) -> None:
        self.workdir = workdir
        self.catalogs: dict[str, tuple[Path, list[str]]] = {}
        for selection in ("public", "all"):
            selected, streams = select(catalog, selection)
            path = workdir / f"catalog-{selection}.json"
            path.write_text(json.dumps(selected))
            self.catalogs[selection] = (path, streams)
        self.runs = 0

    def streams(self, selection: str) -> list[str]:
        """Stream names a selection selects."""
        return self.catalogs[selection][1]

    def run_tap(
        self, sandbox: SandboxProcess, scenario: Scenario
    ) -> tuple[Measured, list[dict[str, t.Any]]]:
        """One tap run and the requests it made."""
        self.runs += 1
        config = self.workdir / f"config-{self.runs}.json"
        config.write_text(json.dumps(scenario.config))
        catalog = self.catalogs[scenario.selection][0]
        scenario.minimums.append(scenario.minimum_now())
        sandbox.clear_requests()
        before = sandbox.cpu_seconds()
        measured = measure(
            [*TAP, "--config", str(config), "--catalog", str(catalog)],
            self.workdir,
            f"tap-{self.runs}",
        )
        scenario.sandbox_cpu.append(sandbox.cpu_seconds() - before)
        return measured, sandbox.logged()

    def run_pair(self, sandbox: SandboxProcess, scenario: Scenario) -> None:
        """The tap, then the baseline on the same requests."""
        measured, logged = self.run_tap(sandbox, scenario)
        scenario.tap.append(measured)
        scenario.requests.append(len(logged))
        searches = scenario.analytics_selected
        if searches:
            scenario.analytics.append(analytics_requests(logged))
        calls = self.workdir / f"requests-{self.runs}.json"
        calls.write_text(
            json.dumps(
                [
                    # The own-post searches feed no stream: the baseline prints nothing for them.
                    [entry["path"], entry["params"], not (searches and is_own_post_search(entry))]
                    for entry in logged
                ]
            )
        )
        config = self.workdir / f"config-{self.runs}.json"
        sandbox.clear_requests()
        scenario.baseline.append(
            measure(
                [
                    *BASELINE,
                    *("--config", str(config), "--requests", str(calls)),
                    *("--streams", ",".join(scenario.streams)),
                ],
                self.workdir,
                f"baseline-{self.runs}",
            )
        )


def scenarios_for(bench: Bench, sandbox: SandboxProcess, sizes: Sizes) -> list[Scenario]:
    """The table's rows: timeline and both lookups, public and all streams."""
    world = world_of(sandbox)
    rows = []
    timeline = world.timeline_ids[: sizes.timeline]
    plans: list[tuple[str, list[str], dict[str, t.Any]]] = [
        (
            f"timeline {len(timeline):,}",
            timeline,
            {**oauth1(sandbox.url), "user_ids": [MAIN_USER_ID], "exclude": []},
        )
    ]
    for size in sizes.lookups:
        ids = sample(world.lookup_ids, size)
        plans.append((f"lookup {len(ids):,}", ids, {**oauth1(sandbox.url), "tweet_ids": ids}))
    for label, ids, config in plans:
        for selection in ("public", "all"):
            streams = bench.streams(selection)
            rows.append(
                Scenario(
                    label=label,
                    selection=selection,
                    config=config,
                    streams=streams,
                    minimum_now=planner(world, ids, streams, config),
                )
            )
    return rows


@dataclass
class Latency:
    """The latency scenario's outcome."""

    label: str
    requests: int
    minimum: int
    latency_ms: int
    wall_without_latency: float
    measured: Measured

    @property
    def sequential(self) -> float:
        """The time one request after the other would take."""
        return self.wall_without_latency + self.requests * self.latency_ms / 1000

    @property
    def share(self) -> float:
        """Measured time over the sequential estimate."""
        return self.measured.wall / self.sequential


def run_latency(bench: Bench, sizes: Sizes, reference: Scenario) -> Latency:
    """The largest public lookup against a sandbox that delays every response."""
    size = sizes.lookups[-1]
    progress(f"latency: lookup {size:,} with {sizes.latency_ms} ms per response")
    with SandboxProcess(
        posts=sizes.timeline, lookup_posts=size, latency_ms=sizes.latency_ms
    ) as sandbox:
        world = world_of(sandbox, videos=False)
        ids = sample(world.lookup_ids, size)
        config = {**oauth1(sandbox.url), "tweet_ids": ids}
        scenario = Scenario(
            label=f"lookup {size:,}",
            selection="public",
            config=config,
            streams=bench.streams("public"),
            minimum_now=planner(world, ids, bench.streams("public"), config),
        )
        measured, logged = bench.run_tap(sandbox, scenario)
    return Latency(
        label=f"lookup {size:,}, {reference.selection} streams",
        requests=len(logged),
        minimum=scenario.minimums[-1].total,
        latency_ms=sizes.latency_ms,
        wall_without_latency=reference.best_tap.wall,
        measured=measured,
    )


def add_output_argument(parser: argparse.ArgumentParser, results: Path) -> None:
    """`--output`: where the report is written too, besides stdout."""
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"write the report here too (default {results.relative_to(HERE.parent)}; "
        "with --quick, nowhere)",
    )


def mark(ok: bool) -> str:
    """yes, or a bold no."""
    return "yes" if ok else "**no**"


def machine() -> str:
    """CPU model, cores, Python and SDK versions."""
    model = platform.processor() or "unknown CPU"
    with Path("/proc/cpuinfo").open() as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"singer-sdk {version('singer-sdk')}, {platform.system()} {platform.release()}"
    )


def python_flags() -> str:
    """Environment variables that change how Python runs the tap."""
    names = ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONOPTIMIZE", "PYTHONMALLOC")
    flags = [f"{name}={os.environ[name]}" for name in names if os.environ.get(name)]
    return ", ".join(flags) if flags else "no PYTHON* variables set"


def row(cells: Iterable[object]) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


MAIN_HEADER = (
    "scenario",
    "streams",
    "requests",
    "minimum",
    "SCHEMA/stream (max)",
    "records",
    "tap s",
    "records/s",
    "CPU s",
    "sandbox CPU s",
    "peak RSS MiB",
    "baseline s",
    "baseline records/s",
    "ratio",
    "CPU ratio",
)
ANALYTICS_HEADER = (
    "scenario",
    "own posts < 30 days",
    "own videos",
    "tweet_analytics requests",
    "tweet_analytics minimum",
    "media_analytics requests",
    "media_analytics minimum",
    "own-timeline reads",
    "own-timeline reads minimum",
)
LATENCY_HEADER = (
    "scenario",
    "requests",
    "minimum",
    "latency",
    "sequential estimate s",
    "measured s",
    "measured / sequential",
    "target <= 0.33",
)


def report(rows: list[Scenario], latency: Latency, runs: str, sizes: Sizes) -> str:
    """The Markdown report."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark: tap-twitter-metrics against the offline sandbox",
        "",
        f"Date: {now}. Machine: {machine()}.",
        f"Best of {runs}, tap and baseline alternating; sandbox in its own process "
        f"(seed {SEED}); OAuth 1.0a user context; {python_flags()}.",
        "",
        row(MAIN_HEADER),
        row("---" if i < 2 else "---:" for i in range(len(MAIN_HEADER))),
    ]
    for scenario in rows:
        tap, base = scenario.best_tap, scenario.best_baseline
        lines.append(
            row(
                (
                    scenario.label,
                    f"{scenario.selection} ({len(scenario.streams)})",
                    scenario.requests[scenario.worst],
                    f"{scenario.minimum.total} = {scenario.minimum.breakdown}"
                    if "+" in scenario.minimum.breakdown
                    else scenario.minimum.total,
                    scenario.schema_max,
                    f"{tap.records:,}",
                    f"{tap.wall:.2f}",
                    f"{tap.rate:,.0f}",
                    f"{tap.cpu:.2f}",
                    f"{min(scenario.sandbox_cpu):.2f}",
                    f"{scenario.peak_rss_mib:.1f}",
                    f"{base.wall:.2f}",
                    f"{base.rate:,.0f}",
                    f"{scenario.ratio:.2f}",
                    f"{scenario.cpu_ratio:.2f}",
                )
            )
        )
    lines += [
        "",
        "Analytics streams: requests per run and their minimum, in the run the table above shows:",
        "",
        *analytics_table(rows),
        "",
        row(LATENCY_HEADER),
        row("---" if i == 0 else "---:" for i in range(len(LATENCY_HEADER))),
        row(
            (
                latency.label,
                latency.requests,
                latency.minimum,
                f"{latency.latency_ms} ms",
                f"{latency.sequential:.1f}",
                f"{latency.measured.wall:.1f}",
                f"{latency.share:.2f}",
                mark(latency.share <= 1 / 3),
            )
        ),
        "",
        "Sequential estimate: the tap's best time for the same lookup without latency + "
        "requests x latency.",
        "",
        NOTES,
        "",
        "## Targets",
        "",
        *targets(rows, latency, sizes),
        "",
        "## Minimum requests",
        "",
        MINIMUM_FORMULA,
        "",
    ]
    return "\n".join(lines)


def analytics_table(rows: list[Scenario]) -> list[str]:
    """One row per scenario with the analytics streams selected."""
    lines = [
        row(ANALYTICS_HEADER),
        row("---" if i == 0 else "---:" for i in range(len(ANALYTICS_HEADER))),
    ]
    for scenario in rows:
        minimum = scenario.minimum.analytics
        if minimum is None or not scenario.analytics:
            continue
        made = scenario.analytics[scenario.worst]
        lines.append(
            row(
                (
                    f"{scenario.label}, {scenario.selection} streams",
                    f"{minimum.posts:,}",
                    f"{minimum.videos:,}",
                    made.tweet,
                    minimum.tweet,
                    made.media,
                    minimum.media,
                    made.own_reads,
                    minimum.own_reads,
                )
            )
        )
    return lines


def analytics_targets(scenario: Scenario) -> str | None:
    """The analytics streams' requests against their minimum, in the worst run."""
    minimum = scenario.minimum.analytics
    if minimum is None or not scenario.analytics:
        return None
    made = scenario.analytics[scenario.worst]
    parts = []
    for name, got, least in (
        ("tweet_analytics", made.tweet, minimum.tweet),
        ("media_analytics", made.media, minimum.media),
        ("own-timeline reads", made.own_reads, minimum.own_reads),
    ):
        extra = got - least
        parts.append(
            f"{name} {got} = minimum {least} {mark(extra == 0)}"
            if not extra
            else f"{name} {got}, minimum {least} {mark(False)} ({extra:+d})"
        )
    return f"- {scenario.label} {scenario.selection}, analytics per run: " + "; ".join(parts)


OWN_READS_EXCESS = """\
- Own-timeline reads over the minimum: the analytics streams read the own timeline again
  although `tweets` read it in the same run. X bills a post read twice on the same UTC day
  once, but each read costs a request."""


def targets(rows: list[Scenario], latency: Latency, sizes: Sizes) -> list[str]:
    """One line per target of the benchmark issue."""
    out = []
    excess_reads = False
    for scenario in rows:
        name = f"{scenario.label} {scenario.selection}"
        extra = scenario.extra
        out.append(
            f"- {name}: requests = minimum {mark(extra == 0)}"
            + (f" ({extra:+d})" if extra else "")
            + f"; one SCHEMA per stream {mark(scenario.schema_min == scenario.schema_max == 1)}"
            + f"; throughput >= 0.5 x baseline {mark(scenario.ratio >= 0.5)}"
            + f" ({scenario.ratio:.2f}); records = baseline's "
            + mark(
                scenario.best_tap.per_stream("RECORD")
                == scenario.best_baseline.per_stream("RECORD")
            )
        )
        if line := analytics_targets(scenario):
            out.append(line)
            made, least = scenario.analytics[scenario.worst], scenario.minimum.analytics
            excess_reads |= least is not None and made.own_reads > least.own_reads
    small, large = sizes.lookups
    for selection in ("public", "all"):
        by_label = {s.label: s for s in rows if s.selection == selection}
        low, high = by_label[f"lookup {small:,}"], by_label[f"lookup {large:,}"]
        growth = high.peak_rss_mib / low.peak_rss_mib - 1
        out.append(
            f"- peak RSS, lookup {large:,} vs {small:,}, {selection}: {growth:+.0%} "
            f"(target within 20%) {mark(abs(growth) <= 0.2)}"
        )
    out.append(
        f"- latency: {latency.share:.2f} of the sequential time (target <= 0.33) "
        f"{mark(latency.share <= 1 / 3)}"
    )
    if excess_reads:
        out.append(OWN_READS_EXCESS)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(
        description="Benchmark the tap against the offline sandbox and print a Markdown table.",
        epilog="Full run: timeline 3,200, lookups 10,000 and 100,000, latency 100 ms.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (timeline 300, lookups 500 and 1,000), one run each",
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs per scenario (default 3, quick 1)"
    )
    parser.add_argument(
        "--repeat-large",
        type=int,
        default=None,
        help="runs of the largest lookups (default 2, at most --repeat)",
    )
    add_output_argument(parser, RESULTS)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    repeat = args.repeat or (1 if args.quick else 3)
    repeat_large = min(repeat, args.repeat_large or 2)
    output = args.output or (None if args.quick else RESULTS)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tap-bench-") as tmp:
        bench = Bench(Path(tmp), discover_catalog())
        progress(f"sandbox: {sizes.timeline:,} posts, {sizes.lookups[-1]:,} lookup posts")
        with SandboxProcess(posts=sizes.timeline, lookup_posts=sizes.lookups[-1]) as sandbox:
            rows = scenarios_for(bench, sandbox, sizes)
            largest = f"lookup {sizes.lookups[-1]:,}"
            for attempt in range(1, repeat + 1):
                for scenario in rows:
                    if scenario.label == largest and attempt > repeat_large:
                        continue
                    progress(f"run {attempt}/{repeat}: {scenario.label} {scenario.selection}")
                    bench.run_pair(sandbox, scenario)
        reference = next(
            s
            for s in rows
            if s.label == f"lookup {sizes.lookups[-1]:,}" and s.selection == "public"
        )
        latency = run_latency(bench, sizes, reference)
    runs = f"{repeat} run" + ("s" if repeat > 1 else "")
    if repeat_large < repeat:
        runs += f" ({repeat_large} for {largest})"
    text = report(rows, latency, runs, sizes)
    sys.stdout.write(text)
    sys.stdout.flush()
    if output:
        output.write_text(text)
    progress(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
