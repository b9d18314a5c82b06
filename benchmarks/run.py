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
  of 10,000 and 100,000 posts, each once with the public streams selected and once with
  all eleven.
- After each tap run, `benchmarks/baseline.py` replays the very requests the tap made (from
  the sandbox's request log) with plain `requests` and prints the same RECORD lines with
  `json.dumps`: the practical ceiling. Tap and baseline runs alternate; the best of
  `--repeat` runs (`--repeat-large` for the largest lookup) counts, so a noisy machine
  slows both alike.
- Latency: the largest lookup again against a sandbox that delays every response by 100 ms,
  compared with a sequential estimate (the tap's time without latency + requests x latency).

Columns
- requests: API requests in the sandbox's log; minimum: the fewest the API allows (formula
  printed with the table), derived from the sandbox's world;
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

from tap_twitter_metrics_sandbox import CREDENTIALS, MAIN_USER_ID, PARTNER_USER_ID
from tap_twitter_metrics_sandbox.world import PROTECTED_USER_ID

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.md"
TAP = [sys.executable, "-m", "tap_twitter_metrics"]
BASELINE = [sys.executable, str(HERE / "baseline.py")]
SNOWFLAKE_EPOCH_MS = 1288834974657
TIMELINE_CAP = 3200
PAGE = 100
SEED = 7
UNLIMITED = 10**9

MINIMUM_FORMULA = """\
Minimum requests = per-account constants + the sum, over the passes the API forces, of
ceil(posts in the pass / 100):
- timeline, public streams: 1 (`/2/users?ids=` for the users stream, one per 100 accounts)
  + ceil(W / 100), W = posts in the window (the 3,200 newest the API reaches);
- timeline, all streams: 1 (`/2/users/me`: whose private figures are readable; it also
  returns that account's users record) + ceil(R / 100) for the private pass (R = posts of
  the last 30 days, the only ones the API grants private fields) + ceil((W - R) / 100);
- lookups of N ids, public streams: ceil(N / 100);
- lookups, all streams: 1 (`/2/users/me`) + ceil(R / 100) for the ids whose snowflake time
  lies within 30 days (asked with private fields: the author is unknown until read)
  + ceil((N - R_own) / 100) for everything else, the posts the API dropped for refused
  fields included, read once with public fields in full batches (R_own = own posts among R)."""

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
- peak RSS is the tap process's own maximum resident set, reported by `wait4`."""

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


@dataclass
class Scenario:
    """One row of the table."""

    label: str
    selection: str
    config: dict[str, t.Any]
    streams: list[str]
    minimum: int
    breakdown: str
    requests: list[int] = field(default_factory=list)
    sandbox_cpu: list[float] = field(default_factory=list)
    tap: list[Measured] = field(default_factory=list)
    baseline: list[Measured] = field(default_factory=list)

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


def world_of(sandbox: SandboxProcess) -> World:
    """Read the sandbox's world."""
    posts = sandbox.posts()
    own = sorted(
        (post["id"] for post in posts if post["author_id"] == MAIN_USER_ID), key=int, reverse=True
    )
    accounts = {MAIN_USER_ID, PARTNER_USER_ID, PROTECTED_USER_ID}
    others = [post["id"] for post in posts if post["author_id"] not in accounts]
    return World(timeline_ids=own[:TIMELINE_CAP], lookup_ids=others, own_ids=set(own))


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


def timeline_minimum(ids: Sequence[str], selection: str) -> tuple[int, str]:
    """Minimum requests for a timeline read, and its breakdown."""
    if selection == "public":
        return 1 + pages(len(ids)), f"1 + {pages(len(ids))}"
    cutoff = private_cutoff()
    recent = sum(created(post_id) >= cutoff for post_id in ids)
    private, public = pages(recent), pages(len(ids) - recent)
    return 1 + private + public, f"1 + {private} + {public}"


def lookup_minimum(ids: Sequence[str], selection: str, own: set[str]) -> tuple[int, str]:
    """Minimum requests for an id lookup, and its breakdown; `own` holds the own posts."""
    if selection == "public":
        return pages(len(ids)), str(pages(len(ids)))
    cutoff = private_cutoff()
    recent = [post_id for post_id in ids if created(post_id) >= cutoff]
    own_recent = sum(post_id in own for post_id in recent)
    private, public = pages(len(recent)), pages(len(ids) - own_recent)
    return 1 + private + public, f"1 + {private} + {public}"


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
        calls = self.workdir / f"requests-{self.runs}.json"
        calls.write_text(json.dumps([[entry["path"], entry["params"]] for entry in logged]))
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
    for selection in ("public", "all"):
        ids = world.timeline_ids[: sizes.timeline]
        minimum, breakdown = timeline_minimum(ids, selection)
        config = {**oauth1(sandbox.url), "user_ids": [MAIN_USER_ID], "exclude": []}
        rows.append(
            Scenario(
                label=f"timeline {len(ids):,}",
                selection=selection,
                config=config,
                streams=bench.streams(selection),
                minimum=minimum,
                breakdown=breakdown,
            )
        )
    for size in sizes.lookups:
        ids = sample(world.lookup_ids, size)
        for selection in ("public", "all"):
            minimum, breakdown = lookup_minimum(ids, selection, world.own_ids)
            rows.append(
                Scenario(
                    label=f"lookup {len(ids):,}",
                    selection=selection,
                    config={**oauth1(sandbox.url), "tweet_ids": ids},
                    streams=bench.streams(selection),
                    minimum=minimum,
                    breakdown=breakdown,
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
        world = world_of(sandbox)
        ids = sample(world.lookup_ids, size)
        minimum, breakdown = lookup_minimum(ids, "public", world.own_ids)
        scenario = Scenario(
            label=f"lookup {size:,}",
            selection="public",
            config={**oauth1(sandbox.url), "tweet_ids": ids},
            streams=bench.streams("public"),
            minimum=minimum,
            breakdown=breakdown,
        )
        measured, logged = bench.run_tap(sandbox, scenario)
    return Latency(
        label=f"lookup {size:,}, {reference.selection} streams",
        requests=len(logged),
        minimum=minimum,
        latency_ms=sizes.latency_ms,
        wall_without_latency=reference.best_tap.wall,
        measured=measured,
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
                    max(scenario.requests),
                    f"{scenario.minimum} = {scenario.breakdown}"
                    if "+" in scenario.breakdown
                    else scenario.minimum,
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


def targets(rows: list[Scenario], latency: Latency, sizes: Sizes) -> list[str]:
    """One line per target of the benchmark issue."""
    out = []
    for scenario in rows:
        name = f"{scenario.label} {scenario.selection}"
        extra = max(scenario.requests) - scenario.minimum
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
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"write the report here too (default {RESULTS.relative_to(HERE.parent)}; "
        "with --quick, nowhere)",
    )
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
